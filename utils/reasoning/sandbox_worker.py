"""The engine of :mod:`utils.reasoning.sandbox`: the code that checks, rewrites and runs one program.

It runs inside the sandbox's worker processes (this file is started as a script, ``python -P -s -S -B
sandbox_worker.py``, and answers requests on its stdin/stdout) and, when a caller asks for it, in the
calling process (``isolate=False``). Learners read :mod:`utils.reasoning.sandbox` (the threat model and
the API); this module holds the layers *inside* the worker:

1. static checks on the syntax tree (a whitelist of node types, names and attributes; no async, no
   decorators, no names starting with ``_``), refused with :class:`ForbiddenOperation` before anything runs;
2. a rewrite of the tree so that every operation that could run in C on unbounded data goes through a
   checking function first: arithmetic (result size estimated before computing), comparisons, hashing
   (subscripts, set and dict keys), formatting (``str``, f-strings, ``print``), attribute access, and
   argument unpacking;
3. bounded builtins (``range``, ``sum``, ``sorted``, ``zip``... consume at most ``max_items`` items and
   look at the clock while they do);
4. a line tracer (steps, call depth), a CPU-time timer that does not depend on the tracer (a signal in
   the worker, a watchdog thread in-process), and a memory meter (the OS limit in the worker,
   ``tracemalloc`` in-process). Every refusal is *sticky*: once the guard has refused something the run
   fails, whatever the program catches or finalises afterwards.

Standard library only, and never an import of the course package: the worker loads this one file.
"""

from __future__ import annotations

import ast
import functools
import gc
import itertools
import json
import keyword
import math
import os
import re
import struct
import sys
import threading
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

try:                      # POSIX only; imported now: a worker that dropped root may not read the stdlib later
    import resource
    import select
    import signal
except ImportError:       # pragma: no cover - Windows
    resource = None
    select = None
    signal = None

# ------------------------------------------------------------------------------------ errors


class SandboxError(Exception):
    """Base class: the sandbox refused or stopped the program. ``str(e)`` says why."""

    kind = "refused"


class MalformedProgram(SandboxError):
    """Not valid Python, empty, or too long."""

    kind = "malformed"


class ForbiddenOperation(SandboxError):
    """The program uses something the sandbox does not allow (import, dunder, open, eval...)."""

    kind = "forbidden"


class ResourceLimitExceeded(SandboxError):
    """Base class of the resource limits. A worker that reports one is killed and replaced."""

    kind = "limit"


class TimeLimitExceeded(ResourceLimitExceeded):
    """Used more than ``Limits.max_seconds`` of CPU time (or far more wall-clock time)."""

    kind = "time"


class StepLimitExceeded(TimeLimitExceeded):
    """Executed more than ``Limits.max_steps`` lines (an endless loop, usually)."""

    kind = "steps"


class MemoryLimitExceeded(ResourceLimitExceeded):
    """Allocated more than ``Limits.max_memory_mb``, or built a sequence longer than ``max_items``."""

    kind = "memory"


class OutputLimitExceeded(ResourceLimitExceeded):
    """Printed more than ``Limits.max_output_chars`` characters."""

    kind = "output"


class IntegerTooLarge(ResourceLimitExceeded):
    """An integer (or fraction) would need more than ``Limits.max_int_bits`` bits."""

    kind = "integer"


class RecursionTooDeep(ResourceLimitExceeded):
    """Function calls nested deeper than ``Limits.max_depth``."""

    kind = "recursion"


class ContainerTooLarge(ResourceLimitExceeded):
    """A container too large or too deeply nested to compare, hash or format in one step."""

    kind = "container"


class ProgramRaised(SandboxError):
    """The program itself raised an ordinary exception (ZeroDivisionError, NameError, ...)."""

    kind = "raised"


class NoAnswer(SandboxError):
    """The program ran but gave no numeric answer (no ``answer``/``result`` variable or ``solution()``,
    or its value is not a finite number)."""

    kind = "no-answer"


class WorkerCrashed(SandboxError):
    """The worker process died while running the program (for example a crash in C code); it was replaced."""

    kind = "crashed"


class SandboxUnavailable(SandboxError):
    """No worker process could be started (the program was not run)."""

    kind = "unavailable"


ERRORS = {c.__name__: c for c in (
    SandboxError, MalformedProgram, ForbiddenOperation, ResourceLimitExceeded, TimeLimitExceeded,
    StepLimitExceeded, MemoryLimitExceeded, OutputLimitExceeded, IntegerTooLarge, RecursionTooDeep,
    ContainerTooLarge, ProgramRaised, NoAnswer, WorkerCrashed, SandboxUnavailable)}


# ------------------------------------------------------------------------------------ limits
_INT_BOUNDS = {                      # name: (low, high)
    "max_source_chars": (1, 1_000_000),
    "max_steps": (1, 10_000_000_000),
    "max_output_chars": (1, 1_000_000),
    "max_int_bits": (1, 14_000),     # every answer then has a decimal form under Python's 4300-digit limit
    "max_items": (1, 10_000_000),
    "max_depth": (1, 500),
}
_FLOAT_BOUNDS = {"max_seconds": (0.001, 600.0), "max_memory_mb": (1.0, 16_384.0)}


@dataclass(frozen=True)
class Limits:
    """What one program may use. ``max_seconds`` is CPU time of the program (in the worker, the CPU
    time of its process; in-process, of the calling thread); a wall-clock backstop far above it only
    catches a worker that stopped answering. Invalid values raise ``ValueError`` here."""

    max_source_chars: int = 20_000
    max_steps: int = 200_000          # traced line events
    max_seconds: float = 2.0          # CPU seconds
    max_memory_mb: float = 64.0
    max_output_chars: int = 10_000
    max_int_bits: int = 8_192         # about 2466 decimal digits
    max_items: int = 1_000_000        # longest list / string / range; work of one compare, hash or format
    max_depth: int = 100              # nested calls of the program's own functions

    def __post_init__(self):
        for name, (lo, hi) in _INT_BOUNDS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"Limits.{name} must be an int between {lo} and {hi:,}, got {v!r}")
        for name, (lo, hi) in _FLOAT_BOUNDS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo <= v <= hi):  # NaN fails too
                raise ValueError(f"Limits.{name} must be a finite number between {lo:g} and {hi:g}, got {v!r}")

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


DEFAULT_LIMITS = Limits()

# ------------------------------------------------------------------------------ static check
_ALLOWED_NODES = {
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Name, ast.Load, ast.Store, ast.Del,
    ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.If, ast.For, ast.While,
    ast.Break, ast.Continue, ast.Pass, ast.FunctionDef, ast.Return, ast.Lambda, ast.arguments, ast.arg,
    ast.Call, ast.keyword, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.Subscript, ast.Slice, ast.Attribute, ast.Starred, ast.Assert,
    ast.Delete, ast.NamedExpr, ast.JoinedStr, ast.FormattedValue,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift,
    ast.BitAnd, ast.BitOr, ast.BitXor, ast.USub, ast.UAdd, ast.Not, ast.Invert, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
}
_NODE_WHY = {
    ast.Import: "import statements are not allowed (the sandbox provides math functions directly)",
    ast.ImportFrom: "import statements are not allowed (the sandbox provides math functions directly)",
    ast.ClassDef: "class definitions are not allowed",
    ast.Try: "try/except is not allowed (it could swallow the sandbox's limits)",
    ast.With: "with statements are not allowed",
    ast.Global: "global/nonlocal are not allowed",
    ast.Nonlocal: "global/nonlocal are not allowed",
    ast.Raise: "raise is not allowed",
    ast.Yield: "generators (yield) are not allowed",
    ast.YieldFrom: "generators (yield) are not allowed",
    ast.AsyncFunctionDef: "async code is not allowed",
    ast.AsyncFor: "async code is not allowed",
    ast.AsyncWith: "async code is not allowed",
    ast.Await: "async code is not allowed",
    ast.MatMult: "the @ operator is not allowed",
}
ALLOWED_ATTRS = frozenset({
    "append", "extend", "insert", "pop", "remove", "index", "count", "sort", "reverse", "copy", "clear",
    "items", "keys", "values", "get", "setdefault", "update", "add", "discard", "union", "intersection",
    "difference", "numerator", "denominator", "real", "imag", "is_integer", "limit_denominator",
    "lower", "upper", "strip", "split", "startswith", "endswith", "isdigit",
})
FORBIDDEN_NAMES = frozenset({
    "open", "eval", "exec", "compile", "input", "getattr", "setattr", "delattr", "hasattr", "globals", "locals",
    "vars", "dir", "type", "object", "super", "memoryview", "bytearray", "bytes", "breakpoint", "help", "exit",
    "quit", "classmethod", "staticmethod", "property", "id", "hash", "iter", "next", "format", "repr", "ascii",
    "chr", "ord", "callable", "issubclass", "frozenset", "slice", "license", "credits", "copyright", "print_function",
    "os", "sys", "subprocess", "socket", "shutil", "pathlib", "importlib", "builtins", "math", "random",
    "aiter", "anext", "__import__",
})
_MAX_NODES = 20_000


def parse_program(source: str, limits: Limits) -> ast.Module:
    """Parse a program's text, refusing oversized, empty or unparsable programs with MalformedProgram.
    Compile-time warnings (``SyntaxWarning``, ``DeprecationWarning``) are silenced here."""
    if not isinstance(source, str):
        raise MalformedProgram(f"a program must be a string, got {type(source).__name__}")
    if len(source) > limits.max_source_chars:
        raise MalformedProgram(f"program is {len(source)} characters long; the limit is {limits.max_source_chars}")
    if not source.strip():
        raise MalformedProgram("the program is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source, filename="<sandbox>", mode="exec")
    except SyntaxError as e:
        msg = f"not valid Python: {e.msg} (line {e.lineno})"
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        msg = f"could not parse the program: {type(e).__name__}: {e}"
    raise MalformedProgram(msg[:300])


def _validate(node: ast.AST, t: type, limits: Limits) -> None:
    """The static rules for one syntax node (raise ForbiddenOperation / IntegerTooLarge)."""
    line = getattr(node, "lineno", "?")
    if t not in _ALLOWED_NODES:
        why = _NODE_WHY.get(t, f"{t.__name__} is not allowed")
        raise ForbiddenOperation(f"line {line}: {why}")
    if t is ast.Name:
        if node.id.startswith("_"):
            raise ForbiddenOperation(f"line {line}: names starting with '_' are not allowed ({node.id!r})")
        if node.id in FORBIDDEN_NAMES:
            raise ForbiddenOperation(f"line {line}: {node.id!r} is not available in the sandbox")
    elif t is ast.Constant:
        v = node.value
        if type(v) is int and v.bit_length() > limits.max_int_bits:
            raise IntegerTooLarge(f"line {line}: an integer literal with {v.bit_length()} bits "
                                  f"(limit {limits.max_int_bits})")
        if isinstance(v, (bytes, complex)) or v is Ellipsis:
            raise ForbiddenOperation(f"line {line}: {type(v).__name__} literals are not allowed")
    elif t is ast.Attribute:
        if node.attr.startswith("_"):
            raise ForbiddenOperation(f"line {line}: attribute {node.attr!r}: dunder and private attributes "
                                     f"are not allowed")
        if node.attr not in ALLOWED_ATTRS:
            raise ForbiddenOperation(f"line {line}: attribute {node.attr!r} is not allowed")
        if type(node.ctx) is not ast.Load:
            raise ForbiddenOperation(f"line {line}: assigning to or deleting attributes is not allowed")
    elif t is ast.FunctionDef:
        if node.decorator_list:
            raise ForbiddenOperation(f"line {line}: decorators are not allowed")
        if node.name.startswith("_") or node.name in FORBIDDEN_NAMES:
            raise ForbiddenOperation(f"line {line}: function name {node.name!r} is not allowed")
    elif t is ast.arg:
        if node.arg.startswith("_") or node.arg in FORBIDDEN_NAMES:
            raise ForbiddenOperation(f"line {line}: argument name {node.arg!r} is not allowed")
    elif t is ast.keyword:
        if node.arg is not None and node.arg.startswith("_"):
            raise ForbiddenOperation(f"line {line}: keyword {node.arg!r} is not allowed")
    elif t is ast.FormattedValue:
        if node.format_spec is not None:
            raise ForbiddenOperation(f"line {line}: format specifications in f-strings are not allowed")
    elif t is ast.AugAssign and type(node.target) is not ast.Name:
        raise ForbiddenOperation(f"line {line}: augmented assignment (+=) only to plain variable names")
    elif t is ast.comprehension and node.is_async:
        raise ForbiddenOperation(f"line {line}: async code is not allowed")


def _children(node: ast.AST):
    for f in node._fields:
        value = getattr(node, f, None)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, ast.AST):
                    yield item
        elif isinstance(value, ast.AST):
            yield value


def check_tree(tree: ast.Module, limits: Limits) -> None:
    """Apply the static rules to every node (iteratively: a deep tree cannot overflow the stack)."""
    stack, count = [(tree, 1)], 0
    while stack:
        node, line = stack.pop()
        count += 1
        if count > _MAX_NODES:
            raise MalformedProgram("the program has too many syntax nodes")
        if not hasattr(node, "lineno"):      # e.g. a comprehension clause: report its parent's line
            node.lineno = line
        _validate(node, type(node), limits)
        stack.extend((child, node.lineno) for child in _children(node))


# ------------------------------------------------------------------------------------ rewrite
# Names of the checking functions. User code can never name them: names starting with '_' are refused.
G_BINOP, G_CMP, G_IN, G_KEY, G_KEYS, G_STAR, G_SPREAD, G_KWSTAR, G_FSTR, G_ATTR, G_VALUE = (
    "__sb_binop__", "__sb_cmp__", "__sb_in__", "__sb_key__", "__sb_keys__", "__sb_star__", "__sb_spread__",
    "__sb_kwstar__", "__sb_fstr__", "__sb_attr__", "__sb_value__")
OP_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
             ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|",
             ast.BitXor: "^"}
_EMPTY_DISPLAYS = (ast.List, ast.Tuple, ast.Set, ast.Dict)


def _at(node: ast.AST, where: ast.AST) -> ast.AST:
    for attr in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
        setattr(node, attr, getattr(where, attr, 1 if attr == "lineno" else 0))
    return node


def _call(fname: str, args: list, where: ast.AST) -> ast.Call:
    return _at(ast.Call(func=_at(ast.Name(fname, ast.Load()), where), args=args, keywords=[]), where)


def _const(value, where):
    return _at(ast.Constant(value), where)


def _is_trivial(node: ast.AST) -> bool:
    """Operands whose comparison is O(1) whatever the other side: constants and empty displays."""
    if type(node) is ast.Constant:
        return True
    if isinstance(node, _EMPTY_DISPLAYS):
        return not (node.keys if isinstance(node, ast.Dict) else node.elts)
    return False


def _replace(node: ast.AST) -> ast.AST:
    """The node that takes ``node``'s place: checked calls for arithmetic, f-strings and attributes."""
    t = type(node)
    if t is ast.BinOp:
        return _call(G_BINOP, [_const(OP_SYMBOL[type(node.op)], node), node.left, node.right], node)
    if t is ast.AugAssign:
        value = _call(G_BINOP, [_const(OP_SYMBOL[type(node.op)], node),
                                _at(ast.Name(node.target.id, ast.Load()), node), node.value], node)
        return _at(ast.Assign(targets=[node.target], value=value), node)
    if t is ast.Attribute:    # only loads pass the static check
        return _call(G_ATTR, [node.value, _const(node.attr, node)], node)
    if t is ast.Subscript and type(node.slice) is ast.Slice and type(node.ctx) is ast.Load \
            and not getattr(node, "sb_checked", False):
        node.sb_checked = True    # xs[a:b] copies: a large copy is measured at once, not 64 steps later
        return _call(G_VALUE, [node], node)
    if t is ast.JoinedStr:
        parts, kinds = [], []
        for v in node.values:
            if type(v) is ast.FormattedValue:
                parts.append(v.value)
                kinds.append({-1: "n", 115: "s", 114: "r", 97: "a"}.get(v.conversion, "n"))
            else:
                parts.append(v)
                kinds.append("L")
        return _call(G_FSTR, [_at(ast.Tuple(parts, ast.Load()), node), _const("".join(kinds), node)], node)
    return node


def _wrap_children(node: ast.AST) -> None:
    """Wrap ``node``'s own operands that C code would hash, compare or unpack in a checking call. Only
    direct fields are touched, and only after they were replaced (see :func:`rewrite_tree`)."""
    t = type(node)
    if t is ast.Compare:
        operands = [node.left, *node.comparators]
        need: list = [None] * len(operands)
        for i, op in enumerate(node.ops):
            to = type(op)
            if to in (ast.Is, ast.IsNot):
                continue
            if to in (ast.In, ast.NotIn):
                need[i] = G_CMP
                need[i + 1] = need[i + 1] or G_IN
            elif not (_is_trivial(operands[i]) or _is_trivial(operands[i + 1])):
                need[i] = need[i + 1] = G_CMP
        wrapped = [x if f is None or type(x) is ast.Constant else _call(f, [x], x) for x, f in zip(operands, need)]
        node.left, node.comparators = wrapped[0], wrapped[1:]
    elif t is ast.Subscript:
        if type(node.slice) not in (ast.Constant, ast.Slice):
            node.slice = _call(G_KEY, [node.slice], node.slice)
    elif t is ast.Set:
        for i, e in enumerate(node.elts):
            if type(e) is ast.Starred:
                e.sb_keys = True             # {*xs}: every item is hashed
            elif type(e) is not ast.Constant:
                node.elts[i] = _call(G_KEY, [e], e)
    elif t is ast.Dict:
        node.keys = [k if k is None or type(k) is ast.Constant else _call(G_KEY, [k], k) for k in node.keys]
    elif t is ast.SetComp:
        node.elt = _call(G_KEY, [node.elt], node.elt)
    elif t is ast.DictComp:
        node.key = _call(G_KEY, [node.key], node.key)
    elif t is ast.Call:
        for a in node.args:
            if type(a) is ast.Starred:
                a.sb_call = True             # f(*xs): a bounded number of arguments
    elif t is ast.Starred and type(node.ctx) is ast.Load:     # f(*xs), [*xs], {*xs}
        fname = G_KEYS if getattr(node, "sb_keys", False) else G_STAR if getattr(node, "sb_call", False) else G_SPREAD
        node.value = _call(fname, [node.value], node.value)
    elif t is ast.keyword and node.arg is None:              # f(**d)
        node.value = _call(G_KWSTAR, [node.value], node.value)


def rewrite_tree(tree: ast.Module) -> ast.Module:
    """Rewrite a checked tree in place (iteratively) so that every risky operation goes through the guard."""
    stack = [tree]
    while stack:
        node = stack.pop()
        # 1. children that are replaced as a whole (a op b -> checked call, f"..." -> checked call, ...)
        for f in node._fields:
            value = getattr(node, f, None)
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        value[i] = _replace(item)
            elif isinstance(value, ast.AST):
                setattr(node, f, _replace(value))
        # 2. remember the children to visit, then 3. wrap operands that C code would hash/compare/unpack
        children = list(_children(node))
        _wrap_children(node)
        stack.extend(children)
    return tree


@functools.lru_cache(maxsize=128)
def compile_program(source: str, limits: Limits):
    """Checked, rewritten and compiled program (cached: best-of-N runs the same text many times)."""
    tree = parse_program(source, limits)
    check_tree(tree, limits)
    rewrite_tree(tree)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compile(tree, "<sandbox>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError) as e:
        msg = f"could not compile the program: {type(e).__name__}: {e}"
    raise MalformedProgram(msg[:300])


# --------------------------------------------------------------------------- checked operations
_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))
_ATOMS = frozenset({int, float, bool, complex, str, type(None), Fraction})
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict, *_DICT_VIEWS})
_SIZED = frozenset({list, tuple, str, range, dict, set, frozenset, *_DICT_VIEWS})
_KEY_SAFE = frozenset({set, frozenset, dict, _DICT_VIEWS[0]})  # their elements already passed the key check
_ATTR_TYPES = frozenset({list, dict, set, str, int, float, bool, complex, tuple, Fraction, *_DICT_VIEWS})
_NUMBER_TYPES = (int, float, Fraction)
_NESTING = 100          # deepest container nesting that may be compared or formatted
_KEY_NESTING = 50       # ... or hashed
_KEY_BUDGET = 100_000   # expanded size of one dict/set key
_MAX_STAR = 1_000       # most arguments from one * or ** unpacking
_MAX_SEP = 100          # longest sep/end of print()
_CHECK_EVERY = 64       # look at the clock and the memory every N steps / builtin calls


def _expand(level):
    for x in level:
        if type(x) is dict:
            yield x.keys()
            yield x.values()
        else:
            yield x


def _bits(v) -> int:
    if isinstance(v, int):
        return v.bit_length()
    if isinstance(v, Fraction):
        return max(v.numerator.bit_length(), v.denominator.bit_length())
    return 0


def describe(v) -> str:
    """A short, bounded description of any value (never formats a big container or integer)."""
    t = type(v)
    if t is bool or v is None:
        return repr(v)
    if t is int:
        return repr(v) if v.bit_length() <= 64 else f"an integer of {v.bit_length()} bits"
    if t is float:
        return repr(v)
    if t is Fraction:
        return f"Fraction({v.numerator}, {v.denominator})" if _bits(v) <= 64 else f"a fraction of {_bits(v)} bits"
    if t is str:
        return repr(v) if len(v) <= 40 else repr(v[:30]) + f"... ({len(v)} characters)"
    if t in _SIZED:
        return f"a {t.__name__} of {len(v)} item{'' if len(v) == 1 else 's'}"
    return f"a {t.__name__}"


class _Guard:
    """The runtime half of the sandbox: checked operators, bounded builtins, the tracer, sticky refusals."""

    def __init__(self, limits: Limits, clock, meter=None):
        self.limits = limits
        self.clock = clock                # CPU clock: time.process_time (worker) or the thread's CPU clock
        self.meter = meter                # bytes allocated so far (tracemalloc), or None (the OS limit applies)
        self.cpu_deadline = clock() + limits.max_seconds
        self.mem_base = meter() if meter else 0
        self.out: list[str] = []
        self.out_len = 0
        self.steps = 0
        self.depth = 0
        self.calls = 0
        self.tripped: SandboxError | None = None
        self.unraisable = 0

    # -- sticky refusals
    def trip(self, exc: SandboxError) -> SandboxError:
        """Remember the first refusal; every later check raises it again."""
        if self.tripped is None:
            self.tripped = exc
        return exc

    def again(self) -> SandboxError:
        t = self.tripped
        return type(t)(str(t))

    def check_resources(self):
        """Raise if the run is over its CPU or memory budget (called by the tracer and by every builtin
        that loops, since those run untraced)."""
        if self.tripped is not None:
            raise self.again()
        self.calls += 1
        if self.calls % _CHECK_EVERY == 0:
            self._measure()

    def _measure(self):
        if self.clock() > self.cpu_deadline:
            raise self.trip(TimeLimitExceeded(f"used more than {self.limits.max_seconds:g} s of CPU time"))
        if self.meter is not None and self.meter() - self.mem_base > self.limits.max_memory_mb * 2**20:
            raise self.trip(MemoryLimitExceeded(f"allocated more than {self.limits.max_memory_mb:g} MB"))

    # -- tracer
    def tracer(self, frame, event, arg):
        if frame.f_code.co_filename != "<sandbox>":
            return None
        if self.tripped is not None:
            raise self.again()
        if event == "call":
            self.depth += 1
            if self.depth > self.limits.max_depth:
                raise self.trip(RecursionTooDeep(f"calls nested deeper than {self.limits.max_depth}"))
        self._tick()
        return self._local

    def _local(self, frame, event, arg):
        if event == "line":
            self._tick()
        elif event == "return":
            self.depth -= 1
        return self._local

    def _tick(self):
        if self.tripped is not None:
            raise self.again()
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise self.trip(StepLimitExceeded(f"executed more than {self.limits.max_steps} steps (an endless loop?)"))
        if self.steps % _CHECK_EVERY == 0:
            self._measure()

    def on_unraisable(self, unraisable):
        """An exception Python could not raise (in a finaliser) is dropped, never printed; the refusal
        behind it, if any, is already sticky."""
        self.unraisable += 1

    # -- structures: the work that one C-level compare / hash / format would do
    def _too_big(self, what: str, v, why: str, exc: type = ContainerTooLarge) -> SandboxError:
        return self.trip(exc(f"{what} {describe(v)}: {why}"))

    def walk(self, v, budget: int, nesting: int, what: str) -> int:
        """The number of items C code visits to compare or hash ``v`` (shared parts counted every time
        they are reached, as C code does); refuse when over ``budget`` or nested deeper than ``nesting``."""
        if type(v) not in _CONTAINERS:
            return 1
        if _ATOMS.issuperset(map(type, v)) and (type(v) is not dict or _ATOMS.issuperset(map(type, v.values()))):
            n = len(v) * (2 if type(v) is dict else 1)
            if n > budget:
                raise self._too_big(what, v, f"more than {budget:,} items")
            return n
        # Level by level. While nothing is shared, a level is a plain list (copied at C speed); once a
        # container is reached by several paths, a level holds distinct containers with the number of
        # paths to each: C code pays once per path, this walk once per container.
        level, weights, total, depth = [v], None, 0, 0
        while level:
            depth += 1
            if depth > nesting:
                raise self._too_big(what, v, f"nested more than {nesting} levels deep")
            self.check_resources()
            if weights is None:
                total += sum(map(len, level)) + sum(len(x) for x in level if type(x) is dict)
            else:
                total += sum(len(x) * w * (2 if type(x) is dict else 1) for x, w in zip(level, weights))
            if total > budget:
                raise self._too_big(what, v, f"more than {budget:,} items once nested and shared parts are counted")
            if weights is None:
                kids = [c for c in itertools.chain.from_iterable(_expand(level)) if type(c) in _CONTAINERS]
                if len(set(map(id, kids))) == len(kids):
                    level = kids
                    continue
                nxt: dict = {}
                for c in kids:
                    entry = nxt.get(id(c))
                    if entry is None:
                        nxt[id(c)] = [c, 1]
                    else:
                        entry[1] += 1
            else:
                nxt = {}
                for x, w in zip(level, weights):
                    for c in itertools.chain.from_iterable(_expand([x])):
                        if type(c) in _CONTAINERS:
                            entry = nxt.get(id(c))
                            if entry is None:
                                nxt[id(c)] = [c, w]
                            else:
                                entry[1] += w
            level = [c for c, _ in nxt.values()]
            weights = [w for _, w in nxt.values()]
        return total

    def format_cost(self, v, budget: int, what: str, exc: type = ContainerTooLarge) -> int:
        """About how many characters ``str(v)``/``repr(v)`` produce; refuse (``exc``) when over ``budget``."""
        level, total, depth = [v], 0, 0
        while level:
            depth += 1
            if depth > _NESTING:
                raise self._too_big(what, v, f"nested more than {_NESTING} levels deep", exc)
            self.check_resources()
            if depth == 1:
                children = level
            else:
                children = list(itertools.islice(itertools.chain.from_iterable(_expand(level)), budget - total + 1))
                total += 2 * len(children)
            nxt = []
            for c in children:
                t = type(c)
                if t is str:
                    total += len(c) + 2
                elif t is int:
                    total += (c.bit_length() * 78 >> 8) + 2      # digits: bits * log10(2), rounded up
                elif t is Fraction:
                    total += ((c.numerator.bit_length() + c.denominator.bit_length()) * 78 >> 8) + 14
                elif t in _CONTAINERS:
                    total += 12
                    nxt.append(c)
                else:
                    total += 60
                if total > budget:
                    raise self._too_big(what, v, f"its text would be longer than {budget:,} characters", exc)
            level = nxt
        return total

    def key(self, k):
        """Check a value that will be hashed (a dict or set key) and return it."""
        t = type(k)
        if t in _ATOMS:
            if self.tripped is not None:
                raise self.again()
            return k
        if t is tuple:
            self.walk(k, _KEY_BUDGET, _KEY_NESTING, "hashing")
        return k

    def keys(self, items):
        """Check every element of ``items`` as a key; return a list of them (for ``{*items}`` and set())."""
        if type(items) in _KEY_SAFE:
            return items
        items = self.materialise(items)
        self.walk(items, self.limits.max_items, _KEY_NESTING + 1, "hashing the items of")
        return items

    def cmp(self, v):
        """Check an operand of ``==``, ``<``, ``in``... and return it."""
        if self.tripped is not None:
            raise self.again()
        if type(v) in _CONTAINERS and v:
            self.walk(v, self.limits.max_items, _NESTING, "comparing")
        return v

    def container_for_in(self, v):
        """The right side of ``in``: hashed containers only hash the left side, which is checked."""
        if self.tripped is not None:
            raise self.again()
        t = type(v)
        if t in _KEY_SAFE or t is str or t is range:
            return v
        if t in _CONTAINERS and v:
            self.walk(v, self.limits.max_items, _NESTING, "a membership test in")
        return v

    def star(self, v):
        """``f(*v)`` and ``[*v]``: at most a bounded number of items, materialised with the clock running."""
        items = self.materialise(v)
        if len(items) > _MAX_STAR:
            raise self.trip(MemoryLimitExceeded(f"unpacking {len(items)} arguments with * (limit {_MAX_STAR})"))
        return items

    def kwstar(self, v):
        if type(v) is not dict:
            raise self.trip(ForbiddenOperation("** unpacking needs a dict"))
        if len(v) > _MAX_STAR:
            raise self.trip(MemoryLimitExceeded(f"unpacking {len(v)} keyword arguments (limit {_MAX_STAR})"))
        return v

    def text(self, v, conversion: str, budget: int, what: str, exc: type = ContainerTooLarge) -> str:
        """``str``/``repr``/``ascii`` of ``v`` after checking the text it produces is at most ``budget`` long."""
        self.format_cost(v, budget, what, exc)
        s = str(v) if conversion in "sn" else repr(v) if conversion == "r" else ascii(v)
        if len(s) > budget:
            raise self.trip(exc(f"{what} {describe(v)}: its text is longer than {budget:,} characters"))
        return s

    def pair_keys(self, pairs: list, what: str) -> None:
        """Check the keys of ``dict(pairs)`` / ``d.update(pairs)`` (the first item of each pair)."""
        keys = []
        for i, p in enumerate(pairs):
            if (i & 255) == 0:
                self.check_resources()
            if type(p) in (tuple, list) and p:
                keys.append(p[0])
        self.walk(keys, self.limits.max_items, _KEY_NESTING + 1, what)

    def fstring(self, parts, kinds):
        budget = self.limits.max_items
        out, n = [], 0
        for part, kind in zip(parts, kinds):
            s = part if kind == "L" else self.text(part, kind, budget - n, "an f-string of")
            n += len(s)
            if n > budget:
                raise self.trip(MemoryLimitExceeded(f"an f-string longer than {budget:,} characters"))
            out.append(s)
        return "".join(out)

    def check_value(self, v):
        t = type(v)
        if t is int or t is Fraction:
            b = _bits(v)
            if b > self.limits.max_int_bits:
                raise self.trip(IntegerTooLarge(f"a number with {b} bits (limit {self.limits.max_int_bits} bits, "
                                                f"about {int(self.limits.max_int_bits * 0.30103)} digits)"))
        elif t in (str, list, tuple, dict, set) and len(v) > 65_536:
            if len(v) > self.limits.max_items:
                raise self.trip(MemoryLimitExceeded(f"a {t.__name__} of {len(v)} items (limit {self.limits.max_items})"))
            self._measure()                   # a large allocation: look at the memory now, not in 64 steps
        return v

    def materialise(self, it) -> list:
        """``list(it)``, at most ``max_items`` long, looking at the clock and memory while it consumes."""
        lim = self.limits.max_items
        if type(it) in _SIZED:
            if len(it) > lim:
                raise self.trip(MemoryLimitExceeded(f"{describe(it)} (limit {lim} items)"))
            return self.check_value(list(it))
        out = []
        append = out.append
        for i, x in enumerate(it):
            if i & 255 == 0:
                self.check_resources()
                if i >= lim:
                    raise self.trip(MemoryLimitExceeded(f"more than {lim} items from one iterator"))
            append(x)
        return out

    # -- operators
    def binop(self, op: str, a, b):
        if self.tripped is not None:
            raise self.again()
        lim = self.limits
        ta, tb = type(a), type(b)
        if op == "**":
            e = b.numerator if tb is Fraction and b.denominator == 1 else b if tb is int or tb is bool else None
            if (ta is int or ta is Fraction) and e is not None and abs(a) not in (0, 1) and \
                    (e > 0 or ta is Fraction):
                est = abs(e) * max(1, _bits(a) - 1)
                if est > lim.max_int_bits:
                    raise self.trip(IntegerTooLarge(f"{describe(a)} ** {describe(b)} would have about {est} bits "
                                                    f"(limit {lim.max_int_bits})"))
            return self.check_value(a ** b)
        if op == "*":
            seq, n = (a, b) if ta in (str, list, tuple) and isinstance(b, int) else \
                (b, a) if tb in (str, list, tuple) and isinstance(a, int) else (None, None)
            if seq is not None:
                if len(seq) * max(n, 0) > lim.max_items:
                    raise self.trip(MemoryLimitExceeded(f"a sequence of {len(seq)} items repeated {n} times "
                                                        f"(limit {lim.max_items} items)"))
                return self.check_value(seq * n)
            if (ta is int or ta is Fraction) and (tb is int or tb is Fraction):
                if _bits(a) + _bits(b) > lim.max_int_bits + 1:
                    raise self.trip(IntegerTooLarge(f"a product of a {_bits(a)}-bit and a {_bits(b)}-bit number "
                                                    f"(limit {lim.max_int_bits} bits)"))
            return self.check_value(a * b)
        if op == "<<":
            if isinstance(b, int) and b > lim.max_int_bits:
                raise self.trip(IntegerTooLarge(f"shift by {describe(b)} bits (limit {lim.max_int_bits})"))
            return self.check_value(a << b)
        if op == "+":
            if ta in (str, list, tuple) and tb in (str, list, tuple) and len(a) + len(b) > lim.max_items:
                raise self.trip(MemoryLimitExceeded(f"concatenation of {len(a) + len(b)} items "
                                                    f"(limit {lim.max_items})"))
            return self.check_value(a + b)
        if op == "%" and (ta is str or ta in _CONTAINERS):
            raise self.trip(ForbiddenOperation("%-formatting of strings is not allowed"))
        if op in ("|", "&", "^", "-") and (ta in _DICT_VIEWS or tb in _DICT_VIEWS):
            raise self.trip(ForbiddenOperation("set operations on dict views are not allowed; use set(...) first"))
        return self.check_value(_BINOPS[op](a, b))

    def attr(self, obj, name: str):
        if self.tripped is not None:
            raise self.again()
        t = type(obj)
        if name not in ALLOWED_ATTRS or name.startswith("_"):
            raise self.trip(ForbiddenOperation(f"attribute {name!r} is not allowed"))
        if t not in _ATTR_TYPES:
            raise self.trip(ForbiddenOperation(f"attributes of {describe(obj)} are not allowed"))
        value = getattr(obj, name)
        wrap = _METHOD_CHECKS.get(name)
        return value if wrap is None else wrap(self, obj, value)

    # -- builtins
    def builtins(self) -> dict[str, Any]:
        lim = self.limits
        g = self

        def safe_range(*args):
            r = range(*args)
            if len(r) > lim.max_items:
                raise g.trip(MemoryLimitExceeded(f"range of {len(r)} items (limit {lim.max_items})"))
            return r

        def safe_sum(iterable, start=0):
            if type(start) not in (int, float, Fraction, bool):
                raise g.trip(ForbiddenOperation("sum() start value must be a number"))
            items = iterable if type(iterable) in _SIZED and len(iterable) <= lim.max_items else \
                g.materialise(iterable)
            if set(map(type, items)) <= {int, bool, float}:
                return g.check_value(sum(items, start))   # n <= max_items ints of <= max_int_bits: bounded
            total = start
            for i, x in enumerate(items):
                if (i & 255) == 0:
                    g.check_resources()
                total = g.binop("+", total, x)
            return total

        def safe_map(fn, *iterables):
            for i, args in enumerate(zip(*iterables)):
                if (i & 255) == 0:
                    g.check_resources()
                yield fn(*args)

        def safe_filter(fn, iterable):
            for i, x in enumerate(iterable):
                if (i & 255) == 0:
                    g.check_resources()
                if (bool(x) if fn is None else fn(x)):
                    yield x

        def safe_zip(*iterables):
            if len(iterables) > _MAX_STAR:
                raise g.trip(MemoryLimitExceeded(f"zip() of {len(iterables)} iterables (limit {_MAX_STAR})"))
            for i, t in enumerate(zip(*iterables)):
                if (i & 255) == 0:
                    g.check_resources()
                yield t

        def safe_lcm(*args):
            result = 1
            for a in args:
                product = g.binop("*", result, a)  # the size check on the product bounds the lcm
                result = abs(product) // math.gcd(result, a) if product else 0
            return result

        def safe_pow(a, b, mod=None):
            if mod is None:
                return g.binop("**", a, b)
            return g.check_value(pow(a, b, mod))

        def safe_round(x, ndigits=None):
            if ndigits is not None and (type(ndigits) is not int or abs(ndigits) > 100):
                raise g.trip(ForbiddenOperation("round() ndigits must be an int between -100 and 100"))
            return g.check_value(round(x) if ndigits is None else round(x, ndigits))

        def safe_int(x=0, *args):
            g.check_resources()
            if args:
                raise g.trip(ForbiddenOperation("int() with a base is not allowed"))
            return g.check_value(int(x))

        def safe_str(x=""):
            g.check_resources()
            return g.check_value(g.text(x, "s", lim.max_items, "str() of"))

        def safe_fraction(a=0, b=None):
            g.check_resources()
            if isinstance(a, str) or isinstance(b, str):
                raise g.trip(ForbiddenOperation("Fraction() from a string is not allowed; pass numbers"))
            return g.check_value(Fraction(a) if b is None else Fraction(a, b))

        def safe_factorial(n):
            if type(n) is not int or n < 0:
                raise ValueError("factorial() needs a non-negative int")
            if n > 1000:
                raise g.trip(IntegerTooLarge(f"factorial({describe(n)}) is too large (limit 1000)"))
            return g.check_value(math.factorial(n))

        def safe_comb(n, k):
            if type(n) is not int or type(k) is not int or n > lim.max_int_bits:
                raise g.trip(IntegerTooLarge(f"comb({describe(n)}, ...) needs ints, n at most {lim.max_int_bits}"))
            return g.check_value(math.comb(n, k))

        def safe_perm(n, k=None):
            if type(n) is not int or n > 10_000:
                raise g.trip(IntegerTooLarge(f"perm({describe(n)}, ...) needs an int n of at most 10000"))
            kk = n if k is None else k
            if type(kk) is not int or kk * max(1, n.bit_length()) > lim.max_int_bits:
                raise g.trip(IntegerTooLarge(f"perm({n}, {describe(kk)}) is too large"))
            return g.check_value(math.perm(n, k))

        def safe_print(*args, sep=" ", end="\n"):
            g.check_resources()
            for s in (sep, end):
                if s is not None and (type(s) is not str or len(s) > _MAX_SEP):
                    raise g.trip(ForbiddenOperation(f"print() sep/end must be short strings (at most {_MAX_SEP})"))
            sep = " " if sep is None else sep
            end = "\n" if end is None else end
            pieces, room = [], lim.max_output_chars - g.out_len
            for a in args:
                pieces.append(g.text(a, "s", max(room, 0), "print() of", OutputLimitExceeded))
                room -= len(pieces[-1]) + len(sep)
            text = sep.join(pieces) + end
            g.out_len += len(text)
            if g.out_len > lim.max_output_chars:
                raise g.trip(OutputLimitExceeded(f"printed more than {lim.max_output_chars} characters"))
            g.out.append(text)

        def safe_list(iterable=()):
            return g.check_value(g.materialise(iterable))

        def safe_tuple(iterable=()):
            return g.check_value(tuple(g.materialise(iterable)))

        def safe_set(iterable=()):
            return g.check_value(set(g.keys(iterable)))

        def safe_dict(*args, **kwargs):
            if len(args) > 1:
                raise TypeError(f"dict expected at most 1 argument, got {len(args)}")
            out = {}
            if args:
                src = args[0]
                if type(src) is dict:
                    out.update(src)
                else:
                    pairs = g.materialise(src)
                    g.pair_keys(pairs, "hashing the keys of")
                    out.update(pairs)
            out.update(kwargs)
            return g.check_value(out)

        def ordered(items, key, what):
            """Check what sorting/min/max would compare; return the key function to use."""
            if key is None:
                g.walk(items, lim.max_items, _NESTING + 1, what)
                return None
            spent = [0]

            def checked_key(x):
                k = key(x)
                spent[0] += g.walk(k, lim.max_items - spent[0], _NESTING, what) if type(k) in _CONTAINERS else 1
                return k
            return checked_key

        def safe_sorted(iterable, key=None, reverse=False):
            items = g.materialise(iterable)
            return sorted(items, key=ordered(items, key, "sorting"), reverse=reverse)

        def extreme(fn):
            missing = object()

            def pick(*args, key=None, default=missing):
                if not args:
                    raise TypeError(f"{fn.__name__} expected at least 1 argument, got 0")
                items = g.materialise(args[0]) if len(args) == 1 else list(args)
                k = ordered(items, key, f"{fn.__name__}() of")
                kw = {} if k is None else {"key": k}
                if default is not missing:
                    kw["default"] = default
                return fn(items, **kw)
            pick.__name__ = fn.__name__
            return pick

        return {
            "abs": abs, "min": extreme(min), "max": extreme(max), "len": len, "bool": bool, "float": float,
            "divmod": divmod, "all": all, "any": any, "enumerate": enumerate, "zip": safe_zip, "reversed": reversed,
            "sorted": safe_sorted, "isinstance": isinstance, "map": safe_map, "filter": safe_filter,
            "int": safe_int, "str": safe_str, "list": safe_list, "tuple": safe_tuple, "dict": safe_dict,
            "set": safe_set, "range": safe_range, "sum": safe_sum, "pow": safe_pow, "round": safe_round,
            "print": safe_print, "Fraction": safe_fraction, "factorial": safe_factorial, "comb": safe_comb,
            "perm": safe_perm, "sqrt": math.sqrt, "floor": math.floor, "ceil": math.ceil, "gcd": math.gcd,
            "lcm": safe_lcm, "log": math.log, "exp": math.exp, "isclose": math.isclose, "pi": math.pi, "e": math.e,
            "True": True, "False": False, "None": None,
        }

    def globals(self) -> dict[str, Any]:
        return {"__builtins__": self.builtins(), G_BINOP: self.binop, G_CMP: self.cmp, G_IN: self.container_for_in,
                G_KEY: self.key, G_KEYS: self.keys, G_STAR: self.star, G_SPREAD: self.materialise,
                G_KWSTAR: self.kwstar, G_FSTR: self.fstring, G_ATTR: self.attr, G_VALUE: self.check_value}


_BINOPS = {
    "-": lambda a, b: a - b, "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    ">>": lambda a, b: a >> b, "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
}


# methods that hash or compare their arguments (or the receiver's items) in C: checked first
def _m_keyarg(g: _Guard, obj, method):
    def call(*args, **kwargs):
        if args:
            g.key(args[0]) if type(obj) in _KEY_SAFE else g.cmp(args[0])
        return method(*args, **kwargs)
    return call


def _m_search(g: _Guard, obj, method):          # list.index / count / remove: compare with every item
    def call(*args, **kwargs):
        g.container_for_in(obj)
        if args:
            g.cmp(args[0])
        return method(*args, **kwargs)
    return call


def _m_many_keys(g: _Guard, obj, method):       # set.update / union / ..., dict.update
    def call(*args, **kwargs):
        if type(obj) is dict:
            if args and type(args[0]) is not dict:
                pairs = g.materialise(args[0])
                g.pair_keys(pairs, "hashing the keys of")
                args = (pairs,) + args[1:]
        else:
            args = tuple(g.keys(a) for a in args)
        result = method(*args, **kwargs)
        g.check_value(obj)
        return g.check_value(result)          # union / intersection / difference build a new set
    return call


def _m_result(g: _Guard, obj, method):           # copy / split / lower / ...: a new object as large as obj
    def call(*args, **kwargs):
        return g.check_value(method(*args, **kwargs))
    return call


def _m_sort(g: _Guard, obj, method):
    def call(*, key=None, reverse=False):
        g.check_resources()
        if key is None:
            g.walk(obj, g.limits.max_items, _NESTING + 1, "sorting")
            return method(reverse=reverse)
        spent = [0]

        def checked_key(x):
            k = key(x)
            spent[0] += g.walk(k, g.limits.max_items - spent[0], _NESTING, "sorting") if type(k) in _CONTAINERS else 1
            return k
        return method(key=checked_key, reverse=reverse)
    return call


def _m_extend(g: _Guard, obj, method):
    def call(iterable):
        method(g.materialise(iterable))
        g.check_value(obj)
    return call


def _m_grow(g: _Guard, obj, method):             # append / insert: a list grows at most to max_items
    def call(*args):
        if len(obj) >= g.limits.max_items:
            raise g.trip(MemoryLimitExceeded(f"a list of more than {g.limits.max_items} items"))
        return method(*args)
    return call


_METHOD_CHECKS = {
    "get": _m_keyarg, "setdefault": _m_keyarg, "pop": _m_keyarg, "add": _m_keyarg, "discard": _m_keyarg,
    "remove": _m_search, "index": _m_search, "count": _m_search,
    "update": _m_many_keys, "union": _m_many_keys, "intersection": _m_many_keys, "difference": _m_many_keys,
    "sort": _m_sort, "extend": _m_extend, "append": _m_grow, "insert": _m_grow,
    "copy": _m_result, "split": _m_result, "lower": _m_result, "upper": _m_result, "strip": _m_result,
}


# ------------------------------------------------------------------------------------ timers
class _NoTimer:
    def arm(self, guard, seconds):
        pass

    def disarm(self):
        pass


class SignalTimer:
    """In the worker: a CPU-time interval timer (SIGPROF). It fires whether or not the tracer still runs,
    and fires again every 50 ms until the run ends, so a swallowed refusal cannot buy more time."""

    def __init__(self):
        self._signal = signal
        self.guard = None
        signal.signal(signal.SIGPROF, self._fire)

    def arm(self, guard, seconds):
        self.guard = guard
        self._signal.setitimer(self._signal.ITIMER_PROF, seconds, 0.05)

    def disarm(self):
        self.guard = None
        self._signal.setitimer(self._signal.ITIMER_PROF, 0, 0)

    def _fire(self, signum, frame):
        g = self.guard
        if g is not None:
            raise g.trip(TimeLimitExceeded(f"used more than {g.limits.max_seconds:g} s of CPU time"))


class ThreadTimer:
    """In-process: a watchdog thread that measures the running thread's CPU time and, past the budget,
    raises TimeLimitExceeded in it (``PyThreadState_SetAsyncExc``), every 20 ms until the run ends."""

    def __init__(self):
        import ctypes
        self._set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
        self._set_async.argtypes = (ctypes.c_ulong, ctypes.py_object)
        self._cond = threading.Condition()
        self._target = None
        self._thread = None

    def _clock_for(self, tid):
        try:
            cid = time.pthread_getcpuclockid(tid)
            return lambda: time.clock_gettime(cid)
        except (AttributeError, OSError, OverflowError):
            return time.perf_counter   # no per-thread CPU clock here: wall-clock time

    def arm(self, guard, seconds):
        tid = threading.get_ident()
        clock = self._clock_for(tid)
        with self._cond:
            self._target = (guard, tid, clock, clock() + seconds, seconds)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="sandbox-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def disarm(self):
        # After this nothing is sent any more. An exception sent just before is raised at the next check
        # point of this thread (a Python call): _restore makes one inside its try. (Clearing it with
        # PyThreadState_SetAsyncExc(id, NULL) instead leaves CPython 3.11's eval breaker set: the thread spins.)
        with self._cond:
            self._target = None

    def _watch(self):
        with self._cond:
            while True:
                target = self._target
                if target is None:
                    self._cond.wait()
                    continue
                guard, tid, clock, deadline, seconds = target
                left = deadline - clock()
                if left > 0:
                    self._cond.wait(min(left + 0.002, 0.5))
                    continue
                guard.trip(TimeLimitExceeded(f"used more than {seconds:g} s of CPU time"))
                self._set_async(tid, TimeLimitExceeded)
                self._cond.wait(0.02)


_THREAD_TIMER = None


def thread_timer():
    global _THREAD_TIMER
    if _THREAD_TIMER is None:
        try:
            _THREAD_TIMER = ThreadTimer()
        except (ImportError, AttributeError):   # no ctypes (e.g. some embedded Pythons): the tracer still times
            _THREAD_TIMER = _NoTimer()
    return _THREAD_TIMER


def thread_cpu_clock():
    try:
        cid = time.pthread_getcpuclockid(threading.get_ident())
        time.clock_gettime(cid)
        return lambda: time.clock_gettime(cid)
    except (AttributeError, OSError, OverflowError):
        return time.thread_time


# ------------------------------------------------------------------------------------ running
def _error_line(e: BaseException) -> int | None:
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<sandbox>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _exception_text(e: BaseException) -> str:
    """``Name: message`` of a program's exception, bounded, never formatting a big argument."""
    args = getattr(e, "args", ())
    if all(type(a) is str for a in args):
        msg = ": ".join(a[:300] for a in args)
    else:
        msg = ", ".join(describe(a) for a in args[:3])
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _classify(e: BaseException, guard: _Guard) -> tuple[type, str]:
    if guard.tripped is not None:
        return type(guard.tripped), str(guard.tripped)
    if isinstance(e, SandboxError):
        return type(e), str(e) or e.__doc__.split("\n")[0]
    if isinstance(e, RecursionError):
        return RecursionTooDeep, "recursion too deep"
    if isinstance(e, MemoryError):
        return MemoryLimitExceeded, f"ran out of memory (limit {guard.limits.max_memory_mb:g} MB)"
    line = _error_line(e)
    return ProgramRaised, _exception_text(e)[:300] + (f" (line {line})" if line else "")


def answer_problem(value) -> str | None:
    """Why ``value`` is not an answer (None when it is one: an int, float or Fraction that is finite)."""
    t = type(value)
    if value is None:
        return "the answer is None"
    if t is bool:
        return f"the answer is {value} (a bool), not a number"
    if t not in _NUMBER_TYPES:
        if callable(value):
            return "the answer is a function; did you forget to call it?"
        return f"the answer is {describe(value)}, not a number"
    if t is float and not math.isfinite(value):
        return f"the answer is {value!r}, not a finite number"
    return None


def execute(source: str, limits: Limits, *, timer, clock, meter=None) -> tuple[Any, str, int]:
    """Compile and run one program under the guard; return ``(answer, printed text, steps)`` or raise
    a :class:`SandboxError`. ``timer`` enforces CPU time apart from the tracer; ``meter`` (optional)
    returns the bytes allocated so far."""
    guard = None
    failure = None
    value = None
    old_trace, old_hook = sys.gettrace(), sys.unraisablehook
    env: dict = {}
    try:
        guard = _Guard(limits, clock, meter)
        timer.arm(guard, limits.max_seconds)
        try:
            code = compile_program(source, limits)
            env = guard.globals()
            sys.unraisablehook = guard.on_unraisable
            sys.settrace(guard.tracer)
            exec(code, env)
            if "answer" in env:
                value = env["answer"]
            elif "result" in env:
                value = env["result"]
            elif callable(env.get("solution")):
                value = env["solution"]()
            else:
                raise NoAnswer("the program set no variable `answer` (or `result`) and defined no `solution()`")
        finally:
            _restore(timer, old_trace, old_hook)
    except KeyboardInterrupt:
        _restore(timer, old_trace, old_hook)
        if guard is None or guard.tripped is None:
            raise                         # the user stopped the kernel: not the program's doing
        failure = type(guard.tripped), str(guard.tripped)
    except BaseException as e:            # noqa: BLE001 - the program's own SystemExit etc. included
        _restore(timer, old_trace, old_hook)
        failure = _classify(e, guard) if guard is not None else (type(e), str(e))
        e = None                          # drop the traceback and the program's frames now
    finally:
        env.clear()
    if failure is None and guard.tripped is not None:   # a refusal that the program swallowed
        failure = type(guard.tripped), str(guard.tripped)
    if failure is None:
        why = answer_problem(value)
        if why is not None:
            failure = NoAnswer, why
        elif _bits(value) > limits.max_int_bits:
            failure = IntegerTooLarge, f"the answer has {_bits(value)} bits (limit {limits.max_int_bits})"
    if failure is not None:
        cls, msg = failure
        if not (isinstance(cls, type) and issubclass(cls, SandboxError)):
            cls, msg = SandboxError, f"{getattr(cls, '__name__', cls)}: {msg}"
        raise cls(printable(msg[:500]))
    return value, printable("".join(guard.out)), guard.steps


def printable(text: str) -> str:
    """Text that prints anywhere: lone surrogates (which cannot be encoded) escaped as ``\\udXXX``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_point() -> None:
    """Calling a Python function lets the interpreter raise a pending asynchronous exception here."""


def _restore(timer, old_trace, old_hook) -> None:
    """Stop the timer, then put the tracer and the unraisable hook back. A timer that fires during
    this (its exception is in flight) makes us try again; after ``disarm`` nothing fires any more."""
    for _ in range(20):
        try:
            timer.disarm()
            _check_point()
            sys.settrace(old_trace)
            sys.unraisablehook = old_hook
            return
        except SandboxError:
            continue


class _RssMeter:
    """Resident memory of this process, from a kept-open ``/proc/self/statm`` (Linux; about 5 us a read).
    Re-opened after a fork, since the open file would still describe the parent."""

    def __init__(self):
        self.fd, self.pid = None, None
        self.page = os.sysconf("SC_PAGE_SIZE")
        self()
        try:
            import ctypes
            self._trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError, ImportError):
            self._trim = None

    def release_free_heap(self) -> None:
        """Give the C heap's free pages back to the system (glibc ``malloc_trim``; 1-3 ms), so that resident
        memory grows with what the program allocates: otherwise the caller's freed-but-resident memory hides
        the first hundreds of MB a program allocates, and the CPU limit can come before the memory limit."""
        if self._trim is not None:
            self._trim(0)

    def __call__(self) -> int:
        if self.pid != os.getpid():
            if self.fd is not None:
                os.close(self.fd)
            self.fd, self.pid = os.open("/proc/self/statm", os.O_RDONLY), os.getpid()
        return int(os.pread(self.fd, 128, 0).split()[1]) * self.page


_RSS: Any = None


def _rss_meter():
    global _RSS
    if _RSS is None:
        try:
            _RSS = _RssMeter()
        except (OSError, ValueError, IndexError, AttributeError):
            _RSS = False
    return _RSS or None


def run_in_process(source: str, limits: Limits) -> tuple[Any, str, int]:
    """Run a program in the calling process: the same checks, a watchdog thread for CPU time and a
    memory meter (resident memory where Linux reports it, else ``tracemalloc``), but no operating-system
    limits (a crash in C takes the caller with it)."""
    meter = _rss_meter()
    if meter is not None:
        meter.release_free_heap()
    started = False
    if meter is None:
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start(1)
        meter = lambda: tracemalloc.get_traced_memory()[0]  # noqa: E731
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return execute(source, limits, timer=thread_timer(), clock=thread_cpu_clock(), meter=meter)
    finally:
        if started:
            tracemalloc.stop()


# --------------------------------------------------------------------- straight-line arithmetic
SANDBOX_BUILTINS = frozenset({
    "abs", "min", "max", "len", "bool", "float", "divmod", "all", "any", "enumerate", "zip", "reversed", "sorted",
    "isinstance", "map", "filter", "int", "str", "list", "tuple", "dict", "set", "range", "sum", "pow", "round",
    "print", "Fraction", "factorial", "comb", "perm", "sqrt", "floor", "ceil", "gcd", "lcm", "log", "exp", "isclose",
    "pi", "e", "True", "False", "None"})
_CALC_NAME = r"[A-Za-z][A-Za-z0-9_]{0,63}"
_CALC_ATOM = rf"(?:{_CALC_NAME}|[0-9]{{1,18}}\.[0-9]{{1,18}}|0|[1-9][0-9]{{0,17}})"
_CALC_LINE = re.compile(rf"({_CALC_NAME})[ \t]*=[ \t]*({_CALC_ATOM})(?:[ \t]*(//|[-+*/%])[ \t]*({_CALC_ATOM}))?[ \t]*")
_CALC_RESERVED = frozenset(keyword.kwlist) | FORBIDDEN_NAMES | SANDBOX_BUILTINS


def calculate(source: str, limits: Limits):
    """Evaluate a *straight-line arithmetic* program without running any code, or return None when the
    program is anything else.

    The subset: every non-blank line is ``name = operand`` or ``name = operand OP operand``, where an operand
    is a name or a decimal literal (an int of at most 18 digits, or ``digits.digits``), OP is one of
    ``+ - * / // %``, and names are ASCII identifiers that are not keywords, sandbox builtins or forbidden
    names. Such a program cannot call, loop, index or import anything: reading it needs a regular
    expression, not an interpreter, and its arithmetic goes through the same checked operators as in a
    worker. The result (answer, refusal and message, steps) is the one a worker gives; the tests check
    that. Lesson 07's programs have this shape, so they cost microseconds instead of a round trip to a
    worker process."""
    if "\r" in source or not source.strip():
        return None
    statements = []
    for number, line in enumerate(source.split("\n"), 1):
        if not line.strip(" \t"):
            continue
        m = _CALC_LINE.fullmatch(line)
        if m is None:
            return None
        target, a, op, b = m.groups()
        if any(x is not None and x[0].isalpha() and x in _CALC_RESERVED for x in (target, a, b)):
            return None
        statements.append((number, target, a, op, b))
    if len(statements) + 1 > limits.max_steps or limits.max_int_bits < 64:
        return None
    guard = _Guard(limits, time.process_time)
    env: dict = {}

    def operand(x, number):
        if x[0].isalpha():
            if x not in env:
                raise ProgramRaised(f"NameError: name {x!r} is not defined (line {number})")
            return env[x]
        return float(x) if "." in x else int(x)
    for number, target, a, op, b in statements:
        x = operand(a, number)
        if op is not None:
            y = operand(b, number)
            try:
                x = guard.binop(op, x, y)
            except SandboxError:
                raise
            except Exception as e:  # noqa: BLE001 - the program's own error, as a worker reports it
                msg = _exception_text(e)[:300] + f" (line {number})"
                raise ProgramRaised(msg) from None
        env[target] = x
    if "answer" in env:
        value = env["answer"]
    elif "result" in env:
        value = env["result"]
    else:
        raise NoAnswer("the program set no variable `answer` (or `result`) and defined no `solution()`")
    why = answer_problem(value)
    if why is not None:
        raise NoAnswer(why)
    if _bits(value) > limits.max_int_bits:
        raise IntegerTooLarge(f"the answer has {_bits(value)} bits (limit {limits.max_int_bits})")
    return value, "", len(statements) + 1


# ------------------------------------------------------------------------------------ protocol
# Frames: a 4-byte big-endian length, then that many bytes of ASCII JSON.
MAX_REQUEST_BYTES = 16 * 2**20
HEADER = struct.Struct(">I")


def encode_value(v) -> list:
    t = type(v)
    if t is int:
        return ["i", hex(v)]
    if t is float:
        return ["f", v.hex()]
    return ["q", hex(v.numerator), hex(v.denominator)]


def decode_value(enc):
    """A value sent by a worker: only an int, float or Fraction, with a well-formed text."""
    kind = enc[0]
    if kind == "i" and len(enc) == 2 and isinstance(enc[1], str) and len(enc[1]) < 8_000:
        return int(enc[1], 16)
    if kind == "f" and len(enc) == 2 and isinstance(enc[1], str) and len(enc[1]) < 40:
        return float.fromhex(enc[1])
    if kind == "q" and len(enc) == 3 and all(isinstance(x, str) and len(x) < 8_000 for x in enc[1:]):
        den = int(enc[2], 16)
        if den > 0:
            return Fraction(int(enc[1], 16), den)
    raise ValueError("malformed value")


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            raise EOFError
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _write_frame(fd: int, obj) -> None:
    data = json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    data = HEADER.pack(len(data)) + data
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _proc_vm_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _apply_os_limits(mem_mb: float, cpu_life: int, keep_fds: int, vm: int | None) -> dict:
    """Operating-system limits of this worker, for all the programs it will run. Returns what applied."""
    applied: dict[str, Any] = {}
    if resource is None:             # not POSIX (Windows): the in-worker checks and the parent's timeout remain
        return {"resource": "unavailable"}

    def setlim(name, soft, hard=None):
        what = getattr(resource, name, None)
        if what is None:
            return
        try:
            resource.setrlimit(what, (soft, soft if hard is None else hard))
            applied[name] = soft
        except (ValueError, OSError) as e:
            applied[name] = f"failed: {e}"

    setlim("RLIMIT_CORE", 0)                  # no core files from a crash or SIGXCPU
    setlim("RLIMIT_FSIZE", 0)                 # writing to any file fails (EFBIG)
    setlim("RLIMIT_NOFILE", keep_fds)         # no new file descriptor: no file, pipe or socket can be opened
    setlim("RLIMIT_MEMLOCK", 0)
    setlim("RLIMIT_MSGQUEUE", 0)
    if vm is not None:
        cap = vm + int((mem_mb + 32) * 2**20)
        setlim("RLIMIT_AS", cap)              # address space: the program's budget above what is mapped now
        applied["baseline_vm_mb"] = round(vm / 2**20, 1)
    else:
        setlim("RLIMIT_DATA", int((mem_mb + 64) * 2**20))
    used = resource.getrusage(resource.RUSAGE_SELF)
    now = int(used.ru_utime + used.ru_stime) + 1
    setlim("RLIMIT_CPU", now + 2, now + cpu_life)   # soft limit moved before each program; hard = lifetime
    setlim("RLIMIT_NPROC", 0)                 # no fork (applies to non-root users: we drop root first)
    return applied


def _exit_with_the_caller(rfd: int) -> None:
    """A thread that ends this worker as soon as its caller is gone (the request pipe hung up, or the parent
    process changed), even while a program runs: a kernel killed mid-program leaves no worker behind.
    Between programs the main loop sees the end of the pipe anyway; this covers a program in progress."""
    parent = os.getppid()

    def watch():
        poller = select.poll() if select is not None and hasattr(select, "poll") else None
        if poller is not None:
            poller.register(rfd, 0)          # only POLLHUP / POLLERR / POLLNVAL are reported
        while True:
            if poller is not None:
                if poller.poll(1000):
                    os._exit(0)
            else:                            # pragma: no cover - no poll (Windows)
                time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)
    threading.Thread(target=watch, name="caller-watch", daemon=True).start()


def _drop_root() -> str:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root"
    try:
        if hasattr(os, "setgroups"):
            os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)                      # nobody: the program's process owns no file
        return "dropped to uid 65534"
    except OSError as e:
        return f"failed: {e}"


_WARM_UP = """
ｘé = [3, 1, 2]
ｘé.sort()
d = {(1, 'a'): Fraction(1, 3)}
print(f'{ｘé!r} {d} {1.5}'[:0], 'ÄÖ'.lower().split())
def solution():
    return sum(x * x for x in range(3)) + max(ｘé) + len(str(2 ** 100)) + int(sqrt(4)) + round(2.5)
"""


def serve() -> None:
    """The worker: set up, send a hello frame, then answer one request per program until EOF."""
    params = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    mem_mb = float(params.get("mem_mb", DEFAULT_LIMITS.max_memory_mb))
    # private copies of the request/reply pipes; stdin/stdout/stderr become /dev/null
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    if rfd < 3 or wfd < 3:
        raise SystemExit("unexpected file descriptors")
    top = max(rfd, wfd)
    os.closerange(top + 1, 1 << 16)           # nothing inherited survives
    for fd in range(3, top):
        if fd not in (rfd, wfd):
            try:
                os.close(fd)
            except OSError:
                pass
    warnings.simplefilter("ignore")
    sys.unraisablehook = lambda unraisable: None
    if signal is not None and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent decides when a worker stops
        if hasattr(signal, "SIGXFSZ"):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        timer = SignalTimer()
    else:
        timer = thread_timer()
    # Load everything a program can need now: once root is dropped and no file descriptor is left, no
    # module can be imported (the parser imports unicodedata for non-ASCII names, for instance).
    import unicodedata  # noqa: F401
    execute(_WARM_UP, DEFAULT_LIMITS, timer=_NoTimer(), clock=time.process_time)
    compile_program.cache_clear()
    gc.collect()
    gc.freeze()
    vm = _proc_vm_bytes()                      # read before dropping root and before the fd limit
    info = {"pid": os.getpid(), "user": _drop_root()}
    _exit_with_the_caller(rfd)                # started before RLIMIT_NPROC forbids new threads
    info.update(_apply_os_limits(mem_mb, int(params.get("cpu_life", 300)), max(rfd, wfd) + 1, vm))
    _write_frame(wfd, {"hello": info})
    while True:
        try:
            (n,) = HEADER.unpack(_read_exact(rfd, HEADER.size))
            if n > MAX_REQUEST_BYTES:
                return
            req = json.loads(_read_exact(rfd, n).decode("ascii"))
        except (EOFError, OSError, ValueError):
            return
        _write_frame(wfd, _handle(req, timer, mem_mb))


def _handle(req: dict, timer, mem_mb: float) -> dict:
    try:
        limits = Limits(**req["limits"])
        source = req["source"]
    except (KeyError, TypeError, ValueError) as e:
        return {"ok": False, "et": "SandboxError", "e": f"bad request: {e}"[:300]}
    if limits.max_memory_mb != mem_mb:
        return {"ok": False, "et": "SandboxError", "e": "this worker was started for another memory limit"}
    if resource is not None:
        try:
            used = resource.getrusage(resource.RUSAGE_SELF)
            soft = int(used.ru_utime + used.ru_stime + limits.max_seconds) + 2
            hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
            resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))
        except (ValueError, OSError):
            pass
    t0 = time.process_time()
    try:
        value, out, steps = execute(source, limits, timer=timer, clock=time.process_time)
        reply = {"ok": True, "v": encode_value(value), "out": out, "steps": steps}
    except SandboxError as e:
        reply = {"ok": False, "et": type(e).__name__, "e": str(e)[:500]}
    except MemoryError:
        reply = {"ok": False, "et": "MemoryLimitExceeded", "e": f"ran out of memory (limit {mem_mb:g} MB)"}
    reply["cpu"] = round(time.process_time() - t0, 6)
    gc.collect()
    return reply


if __name__ == "__main__":
    serve()
