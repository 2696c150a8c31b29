"""Lesson 07 (``07_program_aided_math.ipynb``): program-aided math reasoning.

- :mod:`utils.reasoning.mathgen`: a generator of multi-step arithmetic word problems with their step programs.
- :mod:`utils.reasoning.solvers`: two small neural solvers (answer directly, or write a program) and their training.
- :mod:`utils.reasoning.sandbox`: runs model-written programs under limits; read its threat model.
- :mod:`utils.reasoning.sandbox_worker`: the sandbox's engine (checks, rewrite, bounded builtins), which
  runs inside its worker processes.
- :mod:`utils.reasoning.llm_client`: an optional client for an OpenAI-compatible model server (off by default).
- :mod:`utils.reasoning.checks`: the learner checks.
- ``assets/gsm8k_results.csv``: published GSM8K results with their sources, for the forecasting part.

A learner reads the docstring of :mod:`~utils.reasoning.sandbox` (what it defends against and what it does not).
Tests: ``tests/reasoning/``.
"""
