"""A sandbox for running model-written Python programs (arithmetic, loops, functions).

Why
---
A program that a language model wrote is untrusted input. ``exec`` on it can read or delete files,
open network connections, start processes, or simply never finish (``while True: pass``) or eat all
memory (``10**10**10``, ``[0] * 10**12``). A model need not be malicious for this: a slip (``**`` for
``*``) or a prompt injected into the question is enough. In a notebook any of these takes down the
kernel, or worse, the machine it runs on. A course runs such programs anyway, because running the
model's program is the point of program-aided reasoning (PAL); it runs them here.

Threat model
------------
*Defended.* A program that tries to escape, to do harm, or to exhaust resources, written by a model
that may be adversarial, in the Python subset below, running as the same user as the notebook:

- **Out of process by default.** Every program runs in a *worker process* (a small pool of warm
  workers, reused, so that a trivial program costs about a millisecond). A worker runs under
  operating-system limits set before it reads any program: address space (``max_memory_mb`` above its
  start-up size), CPU seconds, no file writes (file size 0), no new file descriptors at all (so no file
  can be opened and no socket created: no network), no child processes, no core dumps; it inherits no
  file descriptor, runs in an empty scratch directory (deleted as soon as the worker has started in it,
  so nothing is ever left on disk and no file can be created there), with an empty environment, and
  drops root to ``nobody`` when started as root. Any limit that trips, any crash and any wrong reply gets the worker
  killed and replaced; a wall-clock backstop far above the CPU limit kills one that stops answering.
  A worker ends as soon as its caller does (it watches its request pipe, even while a program runs),
  however the caller ends: a kernel restarted, killed or shut down leaves no process behind.
  One shape of program needs no worker: *straight-line arithmetic* (every line ``name = number`` or
  ``name = a OP b`` with ``+ - * / // %``), which is read with a regular expression and computed with the
  same checked operators, so no program code runs in the caller (lesson 07's programs have this shape;
  :func:`utils.reasoning.sandbox_worker.calculate`). Everything else goes to a worker.
- **Inside the worker, defence in depth** (the same checks run with ``isolate=False``):
  static checks on the syntax tree (a whitelist of node types, names and attributes; no ``import``,
  ``class``, ``try``, ``with``, ``global``, ``async``, decorators, or any name starting with ``_``, so no
  ``__class__``/``__subclasses__``/``__globals__``/frame walk; identifiers are compared after Python's
  NFKC normalisation, so look-alike letters do not help); every operation that would run in C on
  unbounded data is checked before it runs (``a ** b`` and ``a * b`` estimate the size of the result,
  comparing, hashing, ``str``/f-strings/``print`` measure the nesting and shared parts of containers,
  ``*args`` unpacking is bounded, ``range``/``sum``/``sorted``/``zip``... consume at most ``max_items``);
  a line tracer counts steps and call depth; a CPU timer independent of the tracer (a signal in the
  worker) stops a program that disabled the tracer; every refusal is *sticky*: once tripped the run fails,
  whatever the program swallows or finalises afterwards. Warnings and exceptions Python cannot raise are
  never printed in the caller.
- **Only numbers come back.** An answer is an ``int``, ``float`` or ``Fraction``; anything else (a string,
  a list, a function, NaN, infinity) is :class:`NoAnswer`. The caller receives numbers and bounded text
  (refusal messages, what the program printed), never an object of the program. :func:`safe_run` never
  raises; :class:`Outcome` has a bounded ``text``. Results are cached by a digest of the program, within
  a fixed number of bytes.

*Bounded only by the OS layer.* Work inside one C call that is quadratic in a bounded input (for example
a set of 100 000 keys that all hash alike) cannot be interrupted by the in-worker timer: the worker's
OS CPU limit stops it, about 2 s after ``max_seconds``.

*Not defended.* A bug in the Linux kernel or in CPython itself that a program in this subset could
reach (an exploit of the OS or the interpreter); side channels (timing, CPU load); a program that is
*wrong* but harmless (the sandbox checks that code is safe to run, not that its answer is right: that
is the verifier's job); with ``isolate=False``, a crash inside C code or a quadratic C call (they take
the caller with them: the OS limits do not apply); on Windows and macOS some OS limits are missing (the worker reports which
applied: :func:`worker_info`), and the in-worker checks and the wall-clock backstop remain; when the
notebook does not run as root the worker cannot change its user, so it can still *read* files that
the user can read, if it ever escaped the checks above (it cannot open them: no file descriptors).

Use
---
:func:`run_program` returns the answer or raises a :class:`SandboxError` subclass; :func:`safe_run`
returns an :class:`Outcome` and never raises. ``isolate=True`` (the default) uses the warm pool;
``isolate="fresh"`` starts a new process for this one program (slower, about 0.1 s); ``isolate=False``
runs in the calling process (only for trusted code, or to compare speeds). A program gives its answer by
setting a variable ``answer`` (or ``result``), or by defining ``solution()`` that returns it (PAL style).

Every refusal is a subclass of :class:`SandboxError`; a program that raises an ordinary error
(``ZeroDivisionError``, ``NameError``...) gives :class:`ProgramRaised`. ``python -m
utils.reasoning.sandbox --bench`` measures the cost per program of each mode.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from utils.reasoning import sandbox_worker as _engine
from utils.reasoning.sandbox_worker import (  # noqa: F401 - re-exported: the public names live here
    DEFAULT_LIMITS, ContainerTooLarge, ForbiddenOperation, IntegerTooLarge, Limits, MalformedProgram,
    MemoryLimitExceeded, NoAnswer, OutputLimitExceeded, ProgramRaised, RecursionTooDeep, ResourceLimitExceeded,
    SandboxError, SandboxUnavailable, StepLimitExceeded, TimeLimitExceeded, WorkerCrashed)

__all__ = [
    "Limits", "Outcome", "run_program", "safe_run", "check_program", "normalise_answer", "warm_up", "shutdown",
    "worker_info", "clear_cache", "stats", "SandboxError", "MalformedProgram", "ForbiddenOperation", "ResourceLimitExceeded",
    "TimeLimitExceeded", "StepLimitExceeded", "MemoryLimitExceeded", "OutputLimitExceeded", "IntegerTooLarge",
    "RecursionTooDeep", "ContainerTooLarge", "ProgramRaised", "NoAnswer", "WorkerCrashed", "SandboxUnavailable",
    "RUN_COUNT",
]

RUN_COUNT = [0]  # how many programs the sandbox has been asked to run (checks use it)
_WORKER_FILE = Path(__file__).with_name("sandbox_worker.py")
_POOL_SIZE = 2                 # one worker in use, one warm spare for when a worker is killed
_RUNS_PER_WORKER = 2_000       # then a worker is retired (bounds whatever state builds up in it)
_CPU_PER_WORKER = 300          # CPU seconds a worker may use over its life (its hard RLIMIT_CPU is above)
_START_TIMEOUT = 60.0          # seconds a new worker may take to say hello (a loaded laptop is slow)
_TEXT_MAX = 300                # Outcome.text is at most this long


def _backstop(limits: Limits) -> float:
    """Wall-clock seconds after which a worker that has not answered is killed. Generous: the real
    limit is CPU time, measured in the worker, and a busy machine stretches wall time, not CPU time."""
    return 10.0 + 10.0 * limits.max_seconds


# ------------------------------------------------------------------------------------ outcome
def _clean(text: str, limit: int) -> str:
    """Text from a program made safe to print anywhere: bounded, lone surrogates escaped."""
    return _engine.printable(text[:limit])


def _number_text(v) -> str:
    """A bounded text for an answer (``repr`` for short numbers, a summary for long ones)."""
    try:
        if isinstance(v, int) and not isinstance(v, bool):
            if v.bit_length() <= 200:
                return repr(v)
            s = str(v)
            return f"{s[:12]}...{s[-6:]} ({len(s.lstrip('-'))} digits)"
        if isinstance(v, Fraction):
            if max(v.numerator.bit_length(), v.denominator.bit_length()) <= 100:
                return f"Fraction({v.numerator}, {v.denominator})"
            return f"a fraction of about {float(v):.6g}" if math.isfinite(float(v)) else "a huge fraction"
        if isinstance(v, float):
            return repr(v)
    except (ValueError, OverflowError):   # e.g. a caller that lowered sys.set_int_max_str_digits
        pass
    return _engine.describe(v)


@dataclass
class Outcome:
    """What :func:`safe_run` returns: ``ok`` and ``value`` (a number), or the refusal (``error`` and ``kind``).
    ``str(outcome)`` (or ``outcome.text``) is short and safe to print, whatever the program did."""

    ok: bool
    value: Any = None
    error: str = ""
    kind: str = ""                    # "" when ok, else the refusal kind ("forbidden", "time", ...)
    error_type: str = ""              # the exception class name
    stdout: str = ""
    steps: int = 0
    seconds: float = 0.0              # wall-clock time of this call, in the caller
    program: str = field(default="", repr=False)

    @property
    def text(self) -> str:
        if self.ok:
            s = f"answer = {_number_text(self.value)}"
        else:
            s = f"refused ({self.error_type}): {self.error}"
        return s if len(s) <= _TEXT_MAX else s[:_TEXT_MAX - 3] + "..."

    def __str__(self) -> str:
        return self.text


# -------------------------------------------------------------------------------------- cache
class _ResultCache:
    """Results of programs, keyed by a digest of (program, limits): at most ``max_bytes`` in all, least
    recently used first out. Only answers and refusals that depend on the text alone are kept (never
    time, memory or crash refusals, which depend on the machine)."""

    DETERMINISTIC = (MalformedProgram, ForbiddenOperation, ProgramRaised, NoAnswer, IntegerTooLarge,
                     OutputLimitExceeded, StepLimitExceeded, RecursionTooDeep, ContainerTooLarge)

    def __init__(self, max_bytes: int = 8 * 2**20):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.items: collections.OrderedDict = collections.OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(source: str, limits: Limits) -> bytes:
        h = hashlib.sha256(source.encode("utf-8", "surrogatepass"))
        h.update(repr(sorted(limits.as_dict().items())).encode())
        return h.digest()

    def get(self, key: bytes):
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return hit

    def put(self, key: bytes, entry: tuple) -> None:
        size = 200 + sum(len(x) if isinstance(x, str) else 64 + _engine._bits(x) // 8
                         for x in entry if isinstance(x, (str, int, Fraction)))
        if size > self.max_bytes // 64:      # one entry never takes more than 1/64 of the cache
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = (size,) + entry
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, old = self.items.popitem(last=False)
                self.bytes -= old[0]

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.bytes = 0


_CACHE = _ResultCache()


def clear_cache() -> None:
    """Forget cached results (the benchmark and tests use it)."""
    _CACHE.clear()


def stats() -> dict:
    """Counters: programs asked for, cache hits and misses, cache bytes, workers started and killed."""
    pool = _POOL if _POOL is not None and _POOL.pid == os.getpid() else None
    return {"runs": RUN_COUNT[0], "cache_hits": _CACHE.hits, "cache_misses": _CACHE.misses,
            "cache_entries": len(_CACHE.items), "cache_bytes": _CACHE.bytes,
            "workers_started": pool.started if pool else 0, "workers_killed": pool.killed if pool else 0}


# ------------------------------------------------------------------------------------ workers
class _WorkerGone(Exception):
    def __init__(self, why: str, returncode=None, killed_by_us: bool = False):
        super().__init__(why)
        self.returncode = returncode
        self.killed_by_us = killed_by_us


def _signal_name(code) -> str:
    try:
        import signal
        return signal.Signals(-code).name
    except (ValueError, TypeError, AttributeError, ImportError):
        return f"exit code {code}"


class _Worker:
    """One worker process and the two pipes to it (requests on its stdin, replies on its stdout)."""

    def __init__(self, mem_mb: float):
        self.mem_mb = mem_mb
        self.runs = 0
        self.cpu = 0.0
        self.info: dict | None = None
        params = json.dumps({"mem_mb": mem_mb, "cpu_life": _CPU_PER_WORKER + 60})
        # -P: no script directory on sys.path; -s -S: no site-packages, no .pth or sitecustomize; -B: no .pyc
        # written. The environment is empty but for a fixed hash seed (answers must not depend on it).
        flags = ["-P", "-s", "-S", "-B"] if sys.version_info >= (3, 11) else ["-I", "-B"]
        kwargs: dict = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True      # a Ctrl-C in a terminal does not reach the workers
        # The working directory is a new empty one, removed as soon as Popen returns (the child has changed
        # into it and started Python by then): the worker sits in a deleted directory, where nothing can be
        # created, and no directory is left behind however the caller ends (even killed).
        scratch = tempfile.mkdtemp(prefix="course-sandbox-")
        try:
            os.chmod(scratch, 0o700)
            self.proc = subprocess.Popen([sys.executable, *flags, str(_WORKER_FILE), params], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=scratch,
                                         env={"PYTHONHASHSEED": "0"}, close_fds=True, bufsize=0, **kwargs)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        if os.name == "posix":
            os.set_blocking(self.wfd, False)
            os.set_blocking(self.rfd, False)

    # -- framing with deadlines
    def _gone(self, why: str) -> _WorkerGone:
        code = self.proc.poll()
        return _WorkerGone(why, code)

    def _wait(self, fd: int, write: bool, deadline: float) -> None:
        import select
        left = deadline - time.monotonic()
        if left <= 0:
            raise _WorkerGone("timeout")
        poller = select.poll()          # not select.select: a kernel may hold file descriptors above 1024
        poller.register(fd, select.POLLOUT if write else select.POLLIN)
        if not poller.poll(max(1, math.ceil(left * 1000))):
            raise _WorkerGone("timeout")

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.wfd, view)
            except BlockingIOError:
                if os.name == "posix":
                    self._wait(self.wfd, True, deadline)
                continue
            except OSError as e:         # BrokenPipeError: the worker is gone
                raise self._gone(f"the worker closed its pipe ({type(e).__name__})") from None
            view = view[n:]

    def _recv_exact(self, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            try:
                b = os.read(self.rfd, min(n - got, 1 << 20))
            except BlockingIOError:
                if os.name == "posix":
                    self._wait(self.rfd, False, deadline)
                continue
            except OSError as e:
                raise self._gone(f"the worker's pipe failed ({type(e).__name__})") from None
            if not b:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                raise self._gone("the worker exited")
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def _recv_frame(self, deadline: float, max_bytes: int) -> dict:
        (n,) = _engine.HEADER.unpack(self._recv_exact(_engine.HEADER.size, deadline))
        if n > max_bytes:
            raise _WorkerGone(f"the worker sent a reply of {n} bytes (limit {max_bytes})")
        try:
            reply = json.loads(self._recv_exact(n, deadline).decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise _WorkerGone("the worker sent an unreadable reply") from None
        if not isinstance(reply, dict):
            raise _WorkerGone("the worker sent an unreadable reply")
        return reply

    def _exchange(self, fn, timeout: float):
        """Run ``fn(deadline)``; on Windows (no select on pipes) in a helper thread, killing on timeout."""
        deadline = time.monotonic() + timeout
        if os.name == "posix":
            return fn(deadline)
        box: list = []

        def target():
            try:
                box.append(("ok", fn(float("inf"))))
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                box.append(("err", e))
        t = threading.Thread(target=target, daemon=True)
        t.start()
        t.join(timeout)
        if not box:
            self.kill()
            t.join(5)
            raise _WorkerGone("timeout")
        kind, value = box[0]
        if kind == "err":
            raise value
        return value

    # -- API
    def ready(self) -> None:
        if self.info is None:
            hello = self._exchange(lambda d: self._recv_frame(d, 1 << 16), _START_TIMEOUT)
            if not isinstance(hello.get("hello"), dict):
                raise _WorkerGone("the worker did not say hello")
            self.info = hello["hello"]

    def request(self, source: str, limits: Limits) -> dict:
        body = json.dumps({"source": source, "limits": limits.as_dict()}, ensure_ascii=True).encode("ascii")
        frame = _engine.HEADER.pack(len(body)) + body
        max_reply = 65_536 + 8 * limits.max_output_chars

        def go(deadline):
            self._send(frame, deadline)
            return self._recv_frame(deadline, max_reply)
        reply = self._exchange(go, _backstop(limits))
        self.runs += 1
        cpu = reply.get("cpu", 0.0)
        self.cpu += cpu if isinstance(cpu, (int, float)) else 0.0
        return reply

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        self._reap()

    def close(self) -> None:
        """Let the worker exit by itself (EOF on its stdin); kill it if it does not."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap()

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass

    def forget(self) -> None:
        """In a forked child: drop the parent's pipes without touching the parent's worker."""
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass


class _Pool:
    """A few warm workers, reused; one is killed and replaced whenever it reports a limit or misbehaves."""

    def __init__(self, size: int = _POOL_SIZE):
        self.size = size
        self.idle: list[_Worker] = []
        self.in_use: list[_Worker] = []
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.started = 0              # workers started, over the pool's life
        self.killed = 0               # workers killed after a violation, crash or timeout

    def _spawn(self, mem_mb: float) -> _Worker:
        try:
            w = _Worker(mem_mb)
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            raise SandboxUnavailable(f"could not start a sandbox worker ({type(e).__name__}: {e})"[:300]) from None
        self.started += 1
        return w

    def acquire(self, mem_mb: float) -> _Worker:
        with self.lock:
            match = [w for w in self.idle if w.mem_mb == mem_mb and w.alive()]
            ready = [w for w in match if w.info is not None]
            w = (ready or match or [None])[0]
            if w is not None:
                self.idle.remove(w)
            else:
                w = self._spawn(mem_mb)
            self.in_use.append(w)
            # keep a spare warming up for this memory limit; retire workers for other limits
            spares = [x for x in self.idle if x.mem_mb == mem_mb]
            for x in [x for x in self.idle if x.mem_mb != mem_mb][: max(0, len(self.idle) + 1 - self.size)]:
                self.idle.remove(x)
                x.close()
            if not spares and len(self.idle) + len(self.in_use) < self.size:
                self.idle.append(self._spawn(mem_mb))
        return w

    def release(self, w: _Worker, healthy: bool) -> None:
        with self.lock:
            if w in self.in_use:
                self.in_use.remove(w)
            keep = healthy and w.alive() and w.runs < _RUNS_PER_WORKER and w.cpu < _CPU_PER_WORKER \
                and os.getpid() == self.pid and len(self.idle) < self.size
            if keep:
                self.idle.insert(0, w)      # most recently used first: its caches are warm
        if not keep:
            if healthy:
                w.close()
            else:
                self.killed += 1
                w.kill()

    def shutdown(self) -> None:
        with self.lock:
            workers, self.idle = self.idle, []
            running, self.in_use = self.in_use, []
        for w in workers:
            w.close()
        for w in running:          # at exit, a program still running in another thread is stopped
            w.kill()


_POOL_LOCK = threading.Lock()
_POOL: _Pool | None = None


def _pool() -> _Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():
            _POOL = _Pool()
        return _POOL


def _after_fork_in_child() -> None:
    """A forked child must not talk to its parent's workers: forget them (the parent still owns them)."""
    global _POOL
    if _POOL is not None:
        for w in _POOL.idle + _POOL.in_use:
            w.forget()
        _POOL.idle, _POOL.in_use = [], []
        _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def shutdown() -> None:
    """Stop the warm workers (they restart on the next program). Runs at exit."""
    if _POOL is not None and _POOL.pid == os.getpid():
        _POOL.shutdown()


atexit.register(shutdown)


def warm_up() -> None:
    """Start the pool now (a notebook's set-up cell may call this, so the first program is fast)."""
    _run_pooled("answer = 1", DEFAULT_LIMITS, _pool())


def worker_info() -> dict:
    """What the operating system granted the workers (limits applied, user), and pool counters."""
    pool = _pool()
    w = pool.acquire(DEFAULT_LIMITS.max_memory_mb)
    healthy = False
    try:
        w.ready()
        healthy = True
        info = dict(w.info or {})
    except _WorkerGone as e:
        info = {"error": str(e)}
    finally:
        pool.release(w, healthy)
    info.update(started=pool.started, killed=pool.killed, pool_size=pool.size)
    return info


def _crash_error(gone: _WorkerGone, limits: Limits) -> SandboxError:
    code = gone.returncode
    if str(gone) == "timeout":
        return TimeLimitExceeded(f"no answer within {_backstop(limits):g} s of wall-clock time; the worker was killed")
    if code is None:
        return WorkerCrashed(f"the sandbox worker failed ({gone}); it was replaced")
    name = _signal_name(code)
    if name == "SIGXCPU":
        return TimeLimitExceeded(f"used more than {limits.max_seconds:g} s of CPU time (stopped by the OS limit)")
    if name == "SIGKILL":
        return MemoryLimitExceeded("the operating system killed the worker (out of memory or CPU); it was replaced")
    if name == "SIGXFSZ":
        return ForbiddenOperation("the program tried to write a file")
    return WorkerCrashed(f"the program crashed the sandbox worker ({name}); it was replaced")


def _run_on(w: _Worker, source: str, limits: Limits) -> tuple[tuple[Any, str, int] | SandboxError, bool]:
    """One request on worker ``w``: (the result or the refusal, whether ``w`` may be reused)."""
    try:
        w.ready()
        reply = w.request(source, limits)
    except _WorkerGone as gone:
        w.kill()
        return _crash_error(gone, limits), False
    except KeyboardInterrupt:
        w.kill()        # the user stopped the kernel mid-run: the worker's state is unknown
        raise
    try:
        if reply.get("ok") is True:
            value = _engine.decode_value(reply["v"])
            out, steps = reply.get("out", ""), reply.get("steps", 0)
            if not isinstance(out, str) or not isinstance(steps, int) or len(out) > limits.max_output_chars:
                raise ValueError("bad fields")
            why = _engine.answer_problem(value)
            if why is not None or _engine._bits(value) > limits.max_int_bits:
                raise ValueError("not an answer")
            return (value, out, steps), True
        cls = _engine.ERRORS.get(reply.get("et"))
        msg = reply.get("e")
        if cls is None or not isinstance(msg, str):
            raise ValueError("bad error")
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        w.kill()
        return WorkerCrashed("the sandbox worker sent an invalid reply; it was replaced"), False
    # a worker that reports a limit (or an unknown error) is replaced; plain program errors keep it
    healthy = not issubclass(cls, ResourceLimitExceeded) and cls is not SandboxError
    return cls(_clean(msg, 500)), healthy


def _run_pooled(source: str, limits: Limits, pool: _Pool) -> tuple[Any, str, int]:
    w = pool.acquire(limits.max_memory_mb)
    healthy = False
    try:
        result, healthy = _run_on(w, source, limits)
    finally:
        pool.release(w, healthy)
    if isinstance(result, SandboxError):
        raise result
    return result


def _run_fresh(source: str, limits: Limits) -> tuple[Any, str, int]:
    try:
        w = _Worker(limits.max_memory_mb)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        raise SandboxUnavailable(f"could not start a sandbox process ({type(e).__name__}: {e})"[:300]) from None
    try:
        result, _ = _run_on(w, source, limits)
    finally:
        w.kill()
    if isinstance(result, SandboxError):
        raise result
    return result


# ------------------------------------------------------------------------------------ running
def _mode(isolate) -> str:
    if isolate is True:
        return "pool"
    if isolate is False:
        return "inprocess"
    if isolate in ("pool", "fresh", "inprocess"):
        return isolate
    raise ValueError(f"isolate must be True (warm worker pool, the default), 'fresh' (a new process) or "
                     f"False (in this process, trusted code only), got {isolate!r}")


def _run(source: str, limits: Limits | None, isolate) -> tuple[Any, str, int]:
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a sandbox.Limits (or None for the defaults), got {type(limits).__name__}")
    mode = _mode(isolate)
    if not isinstance(source, str):
        raise MalformedProgram(f"a program must be a string, got {type(source).__name__}")
    if len(source) > limits.max_source_chars:
        raise MalformedProgram(f"program is {len(source)} characters long; the limit is {limits.max_source_chars}")
    key = _CACHE.key(source, limits)
    hit = _CACHE.get(key)
    if hit is not None:
        if hit[1] == "ok":
            return hit[2], hit[3], hit[4]
        raise _engine.ERRORS[hit[2]](hit[3])
    try:
        if mode == "pool":
            done = _engine.calculate(source, limits)      # straight-line arithmetic: no code to run
            value, out, steps = done if done is not None else _run_pooled(source, limits, _pool())
        elif mode == "fresh":
            value, out, steps = _run_fresh(source, limits)
        else:
            value, out, steps = _engine.run_in_process(source, limits)
    except _ResultCache.DETERMINISTIC as e:
        _CACHE.put(key, ("err", type(e).__name__, str(e)))
        raise
    _CACHE.put(key, ("ok", value, out, steps))
    return value, out, steps


def run_program(source: str, limits: Limits | None = None, isolate: bool | str = True) -> Any:
    """Run a program in the sandbox and return its answer (an int, float or Fraction: the value of
    ``answer``/``result`` or of ``solution()``). Raises a :class:`SandboxError` subclass on any refusal
    or failure (and ``TypeError``/``ValueError`` for a wrong ``limits``/``isolate`` argument).

    ``isolate``: True (default) runs it in a warm worker process; ``"fresh"`` in a new process;
    False in this process (trusted code only: no OS limits)."""
    RUN_COUNT[0] += 1
    return _run(source, limits, isolate)[0]


def safe_run(source: str, limits: Limits | None = None, isolate: bool | str = True) -> Outcome:
    """Like :func:`run_program` but never raises (whatever the program, the limits or the arguments):
    returns an :class:`Outcome`. Only a KeyboardInterrupt of the user goes through."""
    RUN_COUNT[0] += 1
    t0 = time.perf_counter()
    program = source if isinstance(source, str) else ""
    try:
        value, out, steps = _run(source, limits, isolate)
    except SandboxError as e:
        return Outcome(False, None, _clean(str(e), 500), e.kind, type(e).__name__, seconds=time.perf_counter() - t0,
                       program=program)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - a wrong argument, or a bug: reported, never raised
        return Outcome(False, None, f"{type(e).__name__}: {e}"[:500], "bad-call", type(e).__name__,
                       seconds=time.perf_counter() - t0, program=program)
    return Outcome(True, value, stdout=_clean(out, len(out)), steps=steps, seconds=time.perf_counter() - t0,
                   program=program)


def check_program(source: str, limits: Limits | None = None):
    """Parse ``source`` and apply the static rules (in this process; nothing runs). Returns the syntax
    tree or raises a :class:`SandboxError`."""
    limits = DEFAULT_LIMITS if limits is None else limits
    tree = _engine.parse_program(source, limits)
    _engine.check_tree(tree, limits)
    return tree


def normalise_answer(value) -> int | float | None:
    """A program's answer as a plain number: integral floats/fractions become ints; other
    fractions become floats; anything that is not a finite real number becomes None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        return None
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return int(value)
        try:
            f = float(value)
        except OverflowError:
            return None
        return f if math.isfinite(f) else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    return value


# ------------------------------------------------------------------------------------ benchmark
def benchmark(n: int = 200) -> dict:
    """Median wall-clock seconds per program, per kind of program and mode, with the cache bypassed (every
    program text is new). Kinds: a trivial program (``def solution(): return i + 1``), a PAL-style one
    (a function of six lines), and lesson 07's straight-line arithmetic (evaluated without a worker).
    Returns ``{(kind, mode): (median seconds, runs)}``."""
    import statistics

    def trivial(i):
        return f"def solution():\n    return {i} + 1"

    def pal(i):
        return ("def solution():\n    eggs = 3 * 12\n    eaten = 4\n    sold = eggs - eaten\n"
                f"    price = {i % 7 + 2}\n    return sold * price + {i}")

    def straight(i):
        return f"n0 = {i}\nn1 = 7\nn2 = 3\nr1 = n0 - n1\nr2 = r1 / 2\nr3 = n2 * r2\nanswer = r3"
    plan = [("trivial", trivial, "warm pool", True, n), ("trivial", trivial, "fresh process", "fresh", max(5, n // 20)),
            ("trivial", trivial, "in-process", False, n),
            ("PAL-style", pal, "warm pool", True, n), ("PAL-style", pal, "fresh process", "fresh", max(5, n // 20)),
            ("PAL-style", pal, "in-process", False, n),
            ("straight-line", straight, "default (no worker)", True, n),
            ("straight-line", straight, "in-process", False, n)]
    shutdown()
    warm_up()
    base = 10_000_000 + int(time.time() * 1000) % 1_000_000 * 100
    rows = {}
    for k, (kind, make, mode, isolate, count) in enumerate(plan):
        times = []
        for i in range(count):
            src = make(base + 1_000_000 * k + i)
            t0 = time.perf_counter()
            o = safe_run(src, isolate=isolate)
            times.append(time.perf_counter() - t0)
            if not o.ok:
                raise RuntimeError(f"benchmark program refused: {o}")
        rows[(kind, mode)] = (statistics.median(times), count)
    return rows


def pool_start_cost(n: int = 5) -> tuple[float, float]:
    """Median wall-clock seconds to start the pool from nothing until its first program has answered
    (:func:`shutdown`, then :func:`warm_up`), and the median CPU seconds one worker spends getting ready
    (Python start-up, loading the engine, its warm-up program), over ``n`` starts."""
    import statistics
    walls, cpus = [], []
    for _ in range(n):
        shutdown()
        t0 = time.perf_counter()
        warm_up()
        walls.append(time.perf_counter() - t0)
        w = _pool().idle[0]
        try:
            with open(f"/proc/{w.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpus.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        except (OSError, ValueError, IndexError):
            pass
    return statistics.median(walls), (statistics.median(cpus) if cpus else float("nan"))


def _main(argv: list[str]) -> int:
    if "--bench" not in argv:
        print("usage: python -m utils.reasoning.sandbox --bench [N]   (median time per program, per mode)")
        return 2
    rest = [a for a in argv if a != "--bench"]
    n = int(rest[0]) if rest else 200
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"(1, 5, 15 min); Python {sys.version.split()[0]}")
    start_wall, start_cpu = pool_start_cost()
    print(f"pool start (shutdown, then warm_up until the first answer): median {start_wall * 1000:.0f} ms wall; "
          f"a worker uses {start_cpu * 1000:.0f} ms of CPU to get ready")
    rows = benchmark(n)
    print(f"{'program':<14} {'mode':<20} {'median ms/program':>18} {'runs':>6}")
    for (name, mode), (med, count) in rows.items():
        print(f"{name:<14} {mode:<20} {med * 1000:>18.3f} {count:>6}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"load average after: {load[0]:.2f}; worker info: {worker_info()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
