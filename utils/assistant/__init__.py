"""Lesson 09 (``09_hhh_assistant.ipynb``): a helpful, honest and harmless assistant. Data, tiny language models and preference models.

What is in it:

* :mod:`utils.assistant.data` - the generated dialogue corpus, the HHH evaluation pairs, training pairs for
  preference models and the cheap edit-based comparison set (documented in ``assets/README.md``);
* :mod:`utils.assistant.lm` - the word vocabulary and tiny word-level language models (a linear-recurrent
  ``DecayLM`` in three sizes), trained with the course's :func:`utils.training.train`;
* :mod:`utils.assistant.scoring` - the trusted implementations of what the exercises ask for (response
  log-likelihood, comparison accuracy, the context-distillation KL, the Bradley-Terry loss) and the scoring of
  pairs with and without a prompt;
* :mod:`utils.assistant.prefs` - context distillation, and preference models learnt by imitation, binary
  discrimination and ranked (Bradley-Terry) preference modelling on frozen language-model features;
* :mod:`utils.assistant.widget` - the plain function behind the lesson's comparison widget;
* :mod:`utils.assistant.checks` - the learner checks.

A learner is expected to read ``assets/README.md`` and the docstrings of ``data`` and ``lm``; the rest is there to
be read when curious, not needed for the exercises.
"""
