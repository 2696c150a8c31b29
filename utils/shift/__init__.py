"""Lesson 03 (``03_ood_robustness.ipynb``): robustness to distribution shift.

- :mod:`utils.shift.corruptions`: ten corruptions x five severities for small images (ImageNet-C style), and a
  spurious-cue dataset shift; also used by lessons 01 and 04.
- :mod:`utils.shift.suite`: evaluating a model on the suite, and the corruption errors (CE, mCE, relative mCE).
- :mod:`utils.shift.augmix`: mild augmentation operations kept apart from the test corruptions, the trusted AugMix and
  its Jensen-Shannon consistency loss (with a gradient that stays finite on saturated predictions), and the training
  loss built from them.
- :mod:`utils.shift.checks`: the learner checks; each compares with the trusted version above and names the typical
  mistake it recognises.

A learner reads the table at the top of :mod:`~utils.shift.corruptions` and the list of operations in
:mod:`~utils.shift.augmix` (which ones overlap the test corruptions and why that matters). Tests: ``tests/shift/``.
"""
