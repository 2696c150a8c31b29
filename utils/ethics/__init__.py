"""Lesson 06 (``06_rl_ethics.ipynb``): machine ethics for reinforcement-learning agents.

- :mod:`utils.ethics.textgame`: *Lamplight*, a small text adventure with moral annotations kept apart from reward.
- :mod:`utils.ethics.qlearning`: tabular Q-learning for any environment with the same API, with the hooks where a
  conscience shapes the action values or screens actions.
- :mod:`utils.ethics.conscience`: the "artificial conscience", a text classifier trained on ``assets/morality.tsv``
  (documented in ``assets/README.md``).
- :mod:`utils.ethics.gridworld`: a lawn gridworld with irreversible trampling, and the temporal-order model used to
  estimate reversibility.
- :mod:`utils.ethics.proxy`: a learned proxy objective under optimisation pressure, and an ensemble that resists it.
- :mod:`utils.ethics.checks`: the learner checks.

A learner reads :func:`~utils.ethics.qlearning.train_q_agent` and ``assets/README.md``. Tests: ``tests/ethics/``.
"""
