"""Lesson 02 (``02_adversarial_data.ipynb``): attacks on text and the limits of adversarial data collection.

- :mod:`utils.text.sentiment`: the course's generated sentiment sentences (``assets/``, documented in
  ``assets/README.md``), a bag-of-words classifier, the trusted greedy word-substitution attack
  (``greedy_attack``) and adversarial training step (``adversarial_training_step``), and six text transformation
  families with a benchmark.
- :mod:`utils.text.collection`: a simulation of rounds of data collection over a task made of phenomena: the trusted
  annotator (``dynamic_annotator``) and round loop (``collection_rounds``), the three strategies (non-adversarial,
  static and dynamic adversarial) and the data-matched oracle (``EvenCoverage``).
- :mod:`utils.text.checks`: the learner checks; each compares with the trusted implementation above and names the
  typical mistake it finds.

A learner reads ``assets/README.md`` (how the data was written) and the module docstring of
:mod:`utils.text.collection` (the simulated world, and where it departs from Wallace et al.).
Tests: ``tests/text/`` (the checks' tables of typical mistakes are in ``tests/text/test_mistakes.py``).
"""
