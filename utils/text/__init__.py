"""Lesson 02 (``02_adversarial_data.ipynb``): attacks on text and the limits of adversarial data collection.

- :mod:`utils.text.sentiment`: the course's generated sentiment sentences (``assets/``, documented in
  ``assets/README.md``), a bag-of-words classifier, word-substitution attacks and six text transformation families.
- :mod:`utils.text.collection`: a simulation of rounds of data collection (non-adversarial, static and dynamic
  adversarial) over a task made of phenomena.
- :mod:`utils.text.checks`: the learner checks.

A learner reads ``assets/README.md`` (how the data was written) and :func:`~utils.text.sentiment.attack_accuracy`.
Tests: ``tests/text/``.
"""
