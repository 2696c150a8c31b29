"""The assertion behind the lessons' tables of typical mistakes (``tests/<topic>/test_mistakes.py`` import it;
lesson 00 introduces the checks). New lessons: write your table against these helpers.

A row is rejected properly when the check raises ``CheckFailed`` (not another error), when the first line of its
diagnosis (the text after the case label) matches a pattern naming the mistake, and when the message prints plain
Python numbers rather than ``np.float64(...)`` or ``tensor(...)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from utils.checks import CheckFailed


def diagnosis(message: str) -> str:
    """The check's first line after the case label: the diagnosis that must name the mistake."""
    first = message.splitlines()[0]
    return first.split("': ", 1)[1] if "': " in first else first


def assert_rejected_and_named(check: Callable, wrong: Callable, pattern: str, mistake: str = "") -> None:
    with pytest.raises(CheckFailed) as err:
        check(wrong)
    message = str(err.value)
    assert re.search(pattern, diagnosis(message), re.S), f"{mistake}: the message does not name it:\n{message}"
    assert not re.search(r"np\.(float|int|bool)|tensor\(\[?-?\d", message), f"print plain numbers: {message}"


def row_ids(table) -> list[str]:
    """Readable test ids for a table of (exercise, mistake, wrong, pattern) rows."""
    return [f"{exercise}: {mistake}" for exercise, mistake, *_ in table]


def assert_five_per_exercise(table, exercises) -> None:
    counts = {e: sum(1 for row in table if row[0] == e) for e in exercises}
    assert all(n >= 5 for n in counts.values()), f"each exercise needs at least five typical mistakes: {counts}"


def assert_stub_not_implemented(check: Callable) -> None:
    """The learner's untouched stub is reported as "not implemented yet", not as a failure."""

    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise: replace this line with your code")

    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check(stub)


def assert_endless_loop_fails_quickly(check: Callable, timeout_s: float = 0.3, within_s: float = 10.0,
                                      match: str = "did not finish") -> None:
    """A function that never returns fails the check with "did not finish", within a few seconds."""
    import time

    def loop(*args, **kwargs):
        while True:
            pass

    start = time.monotonic()
    with pytest.raises(CheckFailed, match=match):
        check(loop, timeout_s=timeout_s)
    assert time.monotonic() - start < within_s
