"""Lesson 05 (``05_interpretability.ipynb``): do feature visualisations help people predict a unit?

- :mod:`utils.interpret.experiment`: units and activations, observers, the two-alternative forced-choice (2AFC)
  experiment with confidence intervals, its figures, and the 2AFC game the learner plays.
- :mod:`utils.interpret.saliency`: the model-randomisation sanity check for saliency maps (Adebayo et al. 2018).
- :mod:`utils.interpret.checks`: the learner checks.

A learner reads :func:`~utils.interpret.experiment.run_experiment` (how a trial is built and scored).
Tests: ``tests/interpret/``.
"""
