"""Lesson 04 (``04_anomaly_detection.ipynb``): anomaly detection and localisation.

- :mod:`utils.anomaly.ood`: out-of-distribution test sets for a digit classifier (held-out digits, noise,
  corrupted digits).
- :mod:`utils.anomaly.localisation`: woven textures with test defects and masks, synthetic (pasted-patch)
  anomalies, the localisation network, anomaly maps, image and pixel AUROC, and the lesson's figures.
- :mod:`utils.anomaly.checks`: the learner checks.

A learner reads :func:`~utils.anomaly.localisation.add_defects` (what the test defects look like) and
:func:`~utils.anomaly.localisation.train_localiser`. Tests: ``tests/anomaly/``.
"""
