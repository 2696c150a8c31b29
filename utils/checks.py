"""The learner-facing check framework.

A lesson's check runs the learner's function on a few small cases and compares each result
with a reference implementation. It reports, in this order of cases:

* the function is still the stub      -> a friendly ``NotImplementedError`` ("not implemented yet"),
* the function raises something else  -> that exception, with a note naming the failing case,
* the result is wrong                 -> :class:`CheckFailed` naming the case, expected vs got
                                         (type, shape, dtype, first mismatch) and a hint,
* every case passes                   -> one short confirmation line.

Checks run inside :func:`isolated_rng`, so calling a check never changes the random numbers the
notebook draws afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckFailed",
    "Case",
    "run_check",
    "assert_close",
    "expect",
    "isolated_rng",
    "need",
    "not_implemented",
    "plain",
    "time_limit",
]


class CheckFailed(AssertionError):
    """The learner's function returned a wrong result. The message says which case and why."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a long traceback
        return ["\x1b[31m✗ " + str(self) + "\x1b[0m"]


def _friendly(exc: BaseException, text: str) -> BaseException:
    exc._render_traceback_ = lambda: [text]  # type: ignore[attr-defined]
    return exc


def not_implemented(name: str) -> NotImplementedError:
    """The error a check raises when the learner's function is still the stub."""
    msg = (
        f"`{name}` is not implemented yet. Replace the `raise NotImplementedError` under "
        f"`# YOUR CODE HERE` with your code, then run this cell again."
    )
    return _friendly(NotImplementedError(msg), "⏳ " + msg)  # type: ignore[return-value]


@contextlib.contextmanager
def isolated_rng(seed: int = 0) -> Iterator[None]:
    """Seed Python, NumPy and torch for the block, then restore their previous states."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@dataclass
class Case:
    """One check case: call ``fn(*args, **kwargs)`` and compare with ``expected``.

    ``validate(got)`` replaces the comparison when the right answer is not a single value (it
    raises :class:`CheckFailed` or returns). ``prepare()`` may build fresh ``(args, kwargs)`` per
    run, for inputs the learner's function might modify in place.
    """

    label: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    validate: Callable[[Any], None] | None = None
    hint: str = ""
    atol: float = 1e-5
    rtol: float = 1e-4


def expect(condition: bool, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def plain(v: Any) -> Any:
    """``v`` with NumPy scalars turned into Python ones, so messages read ``0.5`` and ``True``, not
    ``np.float64(0.5)`` (recursively inside lists, tuples and dicts)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return type(v)(plain(x) for x in v) if not hasattr(v, "_fields") else v
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    return v


def _describe(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor of shape {tuple(v.shape)} and dtype {v.dtype}"
    if isinstance(v, np.ndarray):
        return f"array of shape {v.shape} and dtype {v.dtype}"
    v = plain(v)
    return f"{type(v).__name__} {v!r}"[:120]


def _fmt_idx(flat: int, shape: Sequence[int]) -> str:
    if not shape:
        return "()"
    return str(tuple(int(i) for i in np.unravel_index(flat, tuple(shape))))


def assert_close(got: Any, expected: Any, what: str = "the result", atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Compare ``got`` with ``expected`` (tensors, arrays, numbers, strings, sequences, dicts).

    Raises :class:`CheckFailed` that names what differs: the type, the shape, the dtype kind,
    or the first mismatching entry with both values and how many entries are wrong.
    """
    if got is None and expected is not None:
        raise CheckFailed(f"{what} is None: did you forget a `return` statement?")
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        is_torch = isinstance(expected, torch.Tensor)
        want_type = torch.Tensor if is_torch else np.ndarray
        if not isinstance(got, want_type):
            raise CheckFailed(f"{what} should be a {want_type.__module__.split('.')[0]} {want_type.__name__}, "
                              f"got {_describe(got)}")
        g = got.detach().cpu().numpy() if is_torch else got
        e = expected.detach().cpu().numpy() if is_torch else expected
        if g.shape != e.shape:
            raise CheckFailed(f"{what} has shape {tuple(g.shape)}, expected {tuple(e.shape)}")
        if np.issubdtype(e.dtype, np.floating) != np.issubdtype(g.dtype, np.floating) or (
            e.dtype == np.bool_) != (g.dtype == np.bool_):
            raise CheckFailed(f"{what} has dtype {got.dtype}, expected {expected.dtype}")
        if np.issubdtype(e.dtype, np.floating):
            ok = np.isclose(g, e, atol=atol, rtol=rtol, equal_nan=False)
        else:
            ok = g == e
        if not ok.all():
            bad = np.flatnonzero(~ok)
            i = int(bad[0])
            gv, ev = g.reshape(-1)[i], e.reshape(-1)[i]
            vals = f"expected {ev:.6g}, got {gv:.6g}" if np.issubdtype(e.dtype, np.floating) else f"expected {plain(ev)!r}, got {plain(gv)!r}"
            raise CheckFailed(f"{what} differs in {len(bad)} of {ok.size} entries; "
                              f"first at index {_fmt_idx(i, e.shape)}: {vals}")
        return
    if isinstance(expected, (bool, str)) or expected is None:
        g = got.item() if isinstance(got, np.generic) else got
        if type(g) is not type(expected) or g != expected:
            raise CheckFailed(f"{what} is {_describe(got)}, expected {plain(expected)!r}")
        return
    if isinstance(expected, (int, float, np.integer, np.floating)):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if not isinstance(got, (int, float, np.integer, np.floating)) or isinstance(got, bool):
            raise CheckFailed(f"{what} should be a number, got {_describe(got)}")
        if isinstance(expected, (int, np.integer)) and isinstance(got, (int, np.integer)):
            if got != expected:
                raise CheckFailed(f"{what} is {plain(got)}, expected {plain(expected)}")
            return
        if math.isnan(float(got)) or not math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            raise CheckFailed(f"{what} is {float(got):.6g}, expected {float(expected):.6g}")
        return
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            raise CheckFailed(f"{what} should be a dict, got {_describe(got)}")
        if set(got) != set(expected):
            raise CheckFailed(f"{what} has keys {sorted(map(str, got))}, expected {sorted(map(str, expected))}")
        for k in expected:
            assert_close(got[k], expected[k], f"{what}[{k!r}]", atol, rtol)
        return
    if isinstance(expected, Sequence):
        if not isinstance(got, Sequence) or isinstance(got, str):
            raise CheckFailed(f"{what} should be a {type(expected).__name__}, got {_describe(got)}")
        if len(got) != len(expected):
            raise CheckFailed(f"{what} has length {len(got)}, expected {len(expected)}")
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, f"{what}[{i}]", atol, rtol)
        return
    if got != expected:
        raise CheckFailed(f"{what} is {_describe(got)}, expected {plain(expected)!r}")


class _OutOfTime(BaseException):
    """Raised inside the learner's function when a check case runs out of time (a BaseException, so that a
    learner's ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`_OutOfTime` in the block after ``seconds`` of wall time (main thread only; elsewhere the block
    runs unbounded). Nested limits work: the outer limit's remaining time is restored afterwards."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise _OutOfTime()

    outer_handler = signal.signal(signal.SIGALRM, on_alarm)
    outer_remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    start = time.monotonic()
    limit = seconds if not outer_remaining else min(seconds, outer_remaining)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_remaining:
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, outer_remaining - (time.monotonic() - start)))


def _copy_args(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    def cp(v):
        if isinstance(v, torch.nn.Module):
            return v  # models are shared on purpose; checks put them in eval mode themselves
        if isinstance(v, torch.Tensor):
            return v.detach().clone()
        try:
            return copy.deepcopy(v)
        except Exception:
            return v
    return tuple(cp(a) for a in args), {k: cp(v) for k, v in kwargs.items()}


CASE_SECONDS = 30.0  # a check case is tiny: the reference answers in milliseconds


def run_check(name: str, fn: Callable, cases: Iterable[Case], *, hint: str = "", seed: int = 0,
              quiet: bool = False, timeout_s: float | None = CASE_SECONDS) -> None:
    """Run ``fn`` on each case and report (see the module docstring). ``name`` is the function's name.

    Each case (the call and its validation) may take at most ``timeout_s`` seconds of wall time; a function that
    runs longer (an endless loop, say) fails the check with a message that says so instead of hanging it.
    """
    if not callable(fn):
        raise TypeError(f"check_{name} expects your function `{name}` itself, got {_describe(fn)}. "
                        f"Call it as check_{name}({name}).")
    cases = list(cases)
    with isolated_rng(seed):
        for case in cases:
            args, kwargs = _copy_args(case.args, case.kwargs)
            try:
                with time_limit(timeout_s):
                    try:
                        got = fn(*args, **kwargs)
                    except NotImplementedError:
                        raise not_implemented(name) from None
                    except CheckFailed:
                        raise
                    except Exception as e:
                        e.add_note(f"(raised by your `{name}` in check case '{case.label}')")
                        raise
                    try:
                        if case.validate is not None:
                            case.validate(got)
                        else:
                            assert_close(got, case.expected, f"the output of `{name}`", case.atol, case.rtol)
                    except CheckFailed as e:
                        lines = [f"`{name}` failed check case '{case.label}': {e}"]
                        if case.hint or hint:
                            lines.append(f"Hint: {case.hint or hint}")
                        raise CheckFailed("\n  ".join(lines)) from None
            except _OutOfTime:
                raise CheckFailed(
                    f"`{name}` did not finish check case '{case.label}' within {timeout_s:g} s, although the "
                    f"reference answers it in well under a second: look for a loop that never ends (a `while` whose "
                    f"condition never changes, a retry without a limit) or work repeated far more often than needed."
                ) from None
    if not quiet:
        print(f"✓ {name}: all {len(cases)} check cases passed.")


STUB_MESSAGE = "Exercise: replace this line with your code"  # what tools/build_course.py writes


def _is_stub(obj: Any) -> bool:
    """True for a function whose body is still the course's stub (``raise NotImplementedError(STUB_MESSAGE)``)."""
    code = getattr(obj, "__code__", None)
    return code is not None and STUB_MESSAGE in code.co_consts


def need(*names: str) -> None:
    """Raise a friendly ``NotImplementedError`` unless every name exists in the caller's namespace.

    A notebook cell that uses the result of an earlier exercise starts with ``need("adv_model")``:
    in a course notebook whose exercise is not done yet, the learner then reads which result is
    missing instead of a ``NameError``. A function that is still the stub counts as missing.
    """
    frame = inspect.currentframe()
    caller = frame.f_back if frame is not None else None
    scope = {**(caller.f_globals if caller else {}), **(caller.f_locals if caller else {})}
    missing = [n for n in names if n not in scope or _is_stub(scope[n])]
    if missing:
        msg = (f"This cell needs {', '.join(f'`{n}`' for n in missing)}, made by an earlier exercise that has "
               f"not been completed yet. Finish that exercise, run its cell, then run this cell again.")
        raise _friendly(NotImplementedError(msg), "⏳ " + msg)
