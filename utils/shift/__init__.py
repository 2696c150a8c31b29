"""Lesson 03 (``03_ood_robustness.ipynb``): robustness to distribution shift.

- :mod:`utils.shift.corruptions`: ten corruptions x five severities for small images (ImageNet-C style), and a
  spurious-cue dataset shift; also used by lessons 01 and 04.
- :mod:`utils.shift.augmix`: mild augmentation operations kept apart from the test corruptions, and the AugMix
  training loss.
- :mod:`utils.shift.checks`: the learner checks.

A learner reads the table at the top of :mod:`~utils.shift.corruptions` and the list of operations in
:mod:`~utils.shift.augmix` (which ones overlap the test corruptions and why that matters). Tests: ``tests/shift/``.
"""
