"""Lesson 06 (``06_rl_ethics.ipynb``): machine ethics for reinforcement-learning agents.

- :mod:`utils.ethics.textgame`: *Lamplight*, a small text adventure with moral annotations kept apart from reward.
- :mod:`utils.ethics.qlearning`: tabular Q-learning for any environment with the same API, with the hooks where a
  conscience shapes the action values or screens actions; the course's shaping rule and the one of the Jiminy
  Cricket code (shaped value regressed, softmax acting); the trusted ``q_update``, ``shape_q``, ``screen_actions``.
- :mod:`utils.ethics.conscience`: the "artificial conscience", a text classifier trained on ``assets/morality.tsv``
  (documented in ``assets/README.md``).
- :mod:`utils.ethics.gridworld`: two lawn gridworlds with irreversible trampling (one to choose a threshold on, one to
  report), and the temporal-order model that estimates reversibility, with the trusted ``order_pairs`` and
  ``fit_order_model``.
- :mod:`utils.ethics.proxy`: a learned proxy objective under optimisation pressure, and an ensemble that resists it.
- :mod:`utils.ethics.checks`: the learner checks (they compare with the trusted versions above and name the mistake).

A learner reads :func:`~utils.ethics.qlearning.train_q_agent` and ``assets/README.md``. Tests: ``tests/ethics/``
(``test_mistakes.py`` holds the tables of typical wrong answers each check must reject).
"""
