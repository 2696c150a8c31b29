"""Lesson 01 (``01_adversarial_training.ipynb``): adversarial examples and adversarial training.

- :mod:`utils.adversarial.attacks`: the course's trusted FGSM and PGD (L-infinity, random start, restarts),
  robust and worst-case accuracy, the "more effort never helps the model" sanity check on final iterates
  (``effort_curve``), pyramid perturbations (Herrmann et al. 2022), the adversarial-training losses to plug into
  :func:`utils.training.train`, and the epsilon explorer's logic. Every reported number of the lesson uses it.
- :mod:`utils.adversarial.checks`: the learner checks; they compare against :mod:`~utils.adversarial.attacks` (the one
  trusted implementation of each algorithm) and name the typical mistake they recognise.

The lesson also evaluates on the corruption suite of :mod:`utils.shift.corruptions` (shared with lessons 03, 04).
A learner reads :func:`~utils.adversarial.attacks.pgd` after writing their own. Tests: ``tests/adversarial/``.
"""
