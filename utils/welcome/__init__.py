"""Lesson 00 (``00_welcome.ipynb``): how the course works.

- :mod:`utils.welcome.checks`: the checks of the warm-up exercises (softmax and cross-entropy from scratch).

A learner reads nothing here; the notebook shows how a check reports a stub, a wrong answer and a right one.
Tests: ``tests/welcome/``.
"""
