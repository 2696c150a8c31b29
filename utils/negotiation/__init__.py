"""Lesson 08 (``08_deception_negotiation.ipynb``): deception in negotiation. A simulator whose messages carry the speaker's true intent, and the
detectors that try to recover it.

In it:
- ``simulator``: a seeded, offline negotiation between two traders with private values, outside options and
  deceptive types; every message has a ground-truth ``lie`` label (from private state) and the listener's
  ``belief``/``suspected`` (from a heuristic that reads only the public dialogue). Its design and limits are in
  ``assets/README.md``.
- ``metrics``: precision, recall, lie-class F1, macro F1 and PR-AUC for a rare class, and seed summaries.
- ``detectors``: the text-only bag-of-words detector, the context features (what the speaker said before, what
  it did later, the state of the game) and the detector that uses them, and an evasive re-wording.
- ``generator``: the small neural message generator conditioned on the speaker's private state and intent, and
  the linear probe on its hidden state.
- ``widget``: step through a negotiation with each detector's score.
- ``checks``: the learner checks of the lesson's exercises.

A learner is expected to read ``simulator`` (to see what "a lie" means here) and the docstrings of the others.
"""
