"""Learner checks: the framework (:mod:`utils.checks.core`) and one module of checks per lesson.

Use in a notebook::

    from utils.checks.welcome import check_softmax
    check_softmax(softmax)
"""

from .core import Case, CheckFailed, assert_close, expect, isolated_rng, need, not_implemented, run_check

__all__ = ["Case", "CheckFailed", "assert_close", "expect", "isolated_rng", "need", "not_implemented", "run_check"]
