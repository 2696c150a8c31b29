"""Lesson 07 (``07_program_aided_math.ipynb``): program-aided math reasoning.

- :mod:`utils.reasoning.mathgen`: a generator of multi-step arithmetic word problems with their step programs.
- :mod:`utils.reasoning.solvers`: two small neural solvers (answer directly, or write a program) and their training.
- :mod:`utils.reasoning.pal`: the trusted pipeline pieces (reading answers, writing and running a program, the
  verifier and the vote, the constant-answer baseline) that the checks compare with.
- :mod:`utils.reasoning.baselines`: word-blind baselines (a fixed rule over the question's numbers, the copy oracle)
  that the direct solver is read against.
- :mod:`utils.reasoning.probability` and :mod:`utils.reasoning.forecast`: the trusted versions of the probability and
  forecasting exercises.
- :mod:`utils.reasoning.sandbox`: runs model-written programs under limits; read its threat model.
- :mod:`utils.reasoning.sandbox_worker`: the sandbox's engine (checks, rewrite, bounded builtins), which
  runs inside its worker processes.
- :mod:`utils.reasoning.llm_client`: an optional client for an OpenAI-compatible model server (off by default).
- :mod:`utils.reasoning.checks`: the learner checks.
- ``assets/gsm8k_results.csv``: published GSM8K results with their sources, for the forecasting part (see
  ``assets/README.md``).

A learner reads the docstring of :mod:`~utils.reasoning.sandbox` (what it defends against and what it does not), and
after the exercises may compare their functions with :mod:`~utils.reasoning.pal`.
Tests: ``tests/reasoning/``.
"""
