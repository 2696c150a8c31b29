"""A small sandbox for running model-written Python programs (arithmetic, loops, functions).

Why: a program that a model wrote is untrusted input. ``exec`` on it can read or delete files,
open network connections, start processes, or simply never finish (``while True: pass``) or eat
all memory (``10**10**10``, ``[0] * 10**12``). In a notebook any of these takes down the
kernel, or worse, the machine it runs on.

How (defence in depth, all in the standard library):

1. **Static checks** on the syntax tree: a whitelist of node types (no ``import``, ``class``,
   ``try``, ``with``, ``global``; functions and lambdas are fine), no name or attribute that starts with an
   underscore (so no ``__class__``, ``__globals__``, ``__builtins__``), attributes only from a short
   whitelist (``append``, ``items``, ...), and no dangerous builtins (``open``, ``eval``, ``exec``,
   ``getattr``, ``type``, ...). Refused with :class:`ForbiddenOperation` before anything runs.
2. **Checked arithmetic**: every ``a OP b`` is rewritten into a call that checks the size of the
   result *before* computing it, so ``10**10**10`` raises :class:`IntegerTooLarge` instantly and
   ``[0] * 10**9`` raises :class:`MemoryLimitExceeded`.
3. **Safe builtins** only (``abs``, ``min``, ``max``, ``sum``, ``range``, ``len``, ``round``, ...,
   plus ``Fraction``, ``comb``, ``factorial``, ``sqrt``...), each bounded (``range`` at most
   ``max_items`` long, ``factorial`` of at most a few thousand).
4. **A tracer** (``sys.settrace``) counts executed lines and checks the clock and the memory
   allocated (``tracemalloc``): :class:`StepLimitExceeded`, :class:`TimeLimitExceeded`,
   :class:`MemoryLimitExceeded`, :class:`RecursionTooDeep`. ``print`` output is captured and
   bounded (:class:`OutputLimitExceeded`).
5. Optionally (``isolate=True``) all of this runs again inside a separate Python process with
   operating-system limits on memory and CPU time, killed after a wall-clock timeout, so that even
   an unknown escape cannot reach the notebook's process.

Every refusal is a subclass of :class:`SandboxError`; a program that raises an ordinary error
(``ZeroDivisionError``, ``NameError``...) gives :class:`ProgramRaised`. Use :func:`run_program` to get
the answer or an exception, or :func:`safe_run` to get an :class:`Outcome` that never raises.

A program gives its answer by setting a variable ``answer`` (or ``result``), or by defining
``solution()`` that returns it (the PAL prompt style).
"""

from __future__ import annotations

import ast
import functools
import json
import math
import os
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

__all__ = [
    "Limits", "Outcome", "run_program", "safe_run", "check_program", "normalise_answer",
    "SandboxError", "MalformedProgram", "ForbiddenOperation", "ResourceLimitExceeded", "TimeLimitExceeded",
    "StepLimitExceeded", "MemoryLimitExceeded", "OutputLimitExceeded", "IntegerTooLarge", "RecursionTooDeep",
    "ProgramRaised", "NoAnswer", "RUN_COUNT",
]


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
    """Base class of the resource limits."""

    kind = "limit"


class TimeLimitExceeded(ResourceLimitExceeded):
    """Ran longer than ``Limits.max_seconds``."""

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


class ProgramRaised(SandboxError):
    """The program itself raised an ordinary exception (ZeroDivisionError, NameError, ...)."""

    kind = "raised"


class NoAnswer(SandboxError):
    """The program ran but gave no numeric answer (no ``answer`` variable or ``solution()``)."""

    kind = "no-answer"


RUN_COUNT = [0]  # how many programs the sandbox has been asked to run (checks use it)


# ------------------------------------------------------------------------------------ limits
@dataclass(frozen=True)
class Limits:
    max_source_chars: int = 20_000
    max_steps: int = 200_000          # traced line events
    max_seconds: float = 2.0
    max_memory_mb: float = 64.0
    max_output_chars: int = 10_000
    max_int_bits: int = 8_192         # about 2466 decimal digits
    max_items: int = 1_000_000        # longest list / string / range
    max_depth: int = 100              # nested calls of the program's own functions

    def __post_init__(self):
        for name in ("max_source_chars", "max_steps", "max_output_chars", "max_int_bits", "max_items", "max_depth"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Limits.{name} must be a positive int, got {v!r}")
        for name in ("max_seconds", "max_memory_mb"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {v!r}")


_DEFAULT_LIMITS = Limits()


@dataclass
class Outcome:
    """What :func:`safe_run` returns: ``ok`` and ``value``, or the refusal (``error`` and ``kind``)."""

    ok: bool
    value: Any = None
    error: str = ""
    kind: str = ""                    # "" when ok, else the refusal kind ("forbidden", "time", ...)
    error_type: str = ""              # the exception class name
    stdout: str = ""
    steps: int = 0
    seconds: float = 0.0
    program: str = field(default="", repr=False)

    def __str__(self) -> str:
        if self.ok:
            return f"answer = {self.value!r}"
        return f"refused ({self.error_type}): {self.error}"


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
    ast.Await: "async code is not allowed",
    ast.MatMult: "the @ operator is not allowed",
}
_ALLOWED_ATTRS = {
    "append", "extend", "insert", "pop", "remove", "index", "count", "sort", "reverse", "copy", "clear",
    "items", "keys", "values", "get", "setdefault", "update", "add", "discard", "union", "intersection",
    "difference", "numerator", "denominator", "real", "imag", "is_integer", "limit_denominator",
    "lower", "upper", "strip", "split", "startswith", "endswith", "isdigit",
}
_FORBIDDEN_NAMES = {
    "open", "eval", "exec", "compile", "input", "getattr", "setattr", "delattr", "hasattr", "globals", "locals",
    "vars", "dir", "type", "object", "super", "memoryview", "bytearray", "bytes", "breakpoint", "help", "exit",
    "quit", "classmethod", "staticmethod", "property", "id", "hash", "iter", "next", "format", "repr", "ascii",
    "chr", "ord", "callable", "issubclass", "frozenset", "slice", "license", "credits", "copyright", "print_function",
    "os", "sys", "subprocess", "socket", "shutil", "pathlib", "importlib", "builtins", "math", "random",
}


def check_program(source: str, limits: Limits | None = None) -> ast.Module:
    """Parse ``source`` and apply the static rules; return the tree or raise a :class:`SandboxError`."""
    limits = limits or _DEFAULT_LIMITS
    if not isinstance(source, str):
        raise MalformedProgram(f"a program must be a string, got {type(source).__name__}")
    tree = _parse(source, limits)
    _walk(tree, limits, rewrite=False)
    return tree


def _validate(node: ast.AST, t: type, limits: Limits) -> None:
    """The static rules for one syntax node (raise ForbiddenOperation / IntegerTooLarge)."""
    if t not in _ALLOWED_NODES:
        why = _NODE_WHY.get(t, f"{t.__name__} is not allowed")
        raise ForbiddenOperation(f"line {getattr(node, 'lineno', '?')}: {why}")
    if t is ast.Name:
        if node.id.startswith("_"):
            raise ForbiddenOperation(f"line {node.lineno}: names starting with '_' are not allowed ({node.id!r})")
        if node.id in _FORBIDDEN_NAMES:
            raise ForbiddenOperation(f"line {node.lineno}: {node.id!r} is not available in the sandbox")
    elif t is ast.Constant:
        v = node.value
        if type(v) is int and v.bit_length() > limits.max_int_bits:
            raise IntegerTooLarge(f"line {node.lineno}: an integer literal with {v.bit_length()} bits "
                                  f"(limit {limits.max_int_bits})")
        if isinstance(v, (bytes, complex)) or v is Ellipsis:
            raise ForbiddenOperation(f"line {node.lineno}: {type(v).__name__} literals are not allowed")
    elif t is ast.Attribute:
        if node.attr.startswith("_"):
            raise ForbiddenOperation(f"line {node.lineno}: attribute {node.attr!r}: dunder and private attributes "
                                     f"are not allowed")
        if node.attr not in _ALLOWED_ATTRS:
            raise ForbiddenOperation(f"line {node.lineno}: attribute {node.attr!r} is not allowed")
    elif t is ast.FunctionDef:
        if node.decorator_list:
            raise ForbiddenOperation(f"line {node.lineno}: decorators are not allowed")
        if node.name.startswith("_") or node.name in _FORBIDDEN_NAMES:
            raise ForbiddenOperation(f"line {node.lineno}: function name {node.name!r} is not allowed")
    elif t is ast.arg:
        if node.arg.startswith("_"):
            raise ForbiddenOperation(f"line {node.lineno}: argument names starting with '_' are not allowed")
    elif t is ast.keyword:
        if node.arg is not None and node.arg.startswith("_"):
            raise ForbiddenOperation(f"line {node.lineno}: keyword {node.arg!r} is not allowed")
    elif t is ast.FormattedValue:
        if node.format_spec is not None:
            raise ForbiddenOperation(f"line {node.lineno}: format specifications in f-strings are not allowed")
    elif t is ast.AugAssign and type(node.target) is not ast.Name:
        raise ForbiddenOperation(f"line {node.lineno}: augmented assignment (+=) only to plain variable names")


def _guard_call(op: str, left: ast.AST, right: ast.AST, where: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name(_GUARD_NAME, ast.Load()), args=[ast.Constant(op), left, right], keywords=[])
    for n in (call, call.func, call.args[0]):
        ast.copy_location(n, where)
    return call


def _walk(tree: ast.AST, limits: Limits, rewrite: bool) -> None:
    """Validate every node (iteratively: deep trees cannot overflow the stack) and, with
    ``rewrite``, replace ``a OP b`` by a checked call and ``x OP= b`` by ``x = <checked call>``."""
    stack: list = [(tree, None, None, None)]
    count = 0
    while stack:
        node, parent, field, index = stack.pop()
        count += 1
        if count > 20_000:
            raise MalformedProgram("the program has too many syntax nodes")
        t = type(node)
        _validate(node, t, limits)
        new = None
        if rewrite and t is ast.BinOp:
            new = _guard_call(_OP_SYMBOL[type(node.op)], node.left, node.right, node)
            children = [(node.left, new.args, None, 1), (node.right, new.args, None, 2)]
        elif rewrite and t is ast.AugAssign:
            name = node.target.id
            value = _guard_call(_OP_SYMBOL[type(node.op)], ast.copy_location(ast.Name(name, ast.Load()), node),
                                node.value, node)
            new = ast.copy_location(ast.Assign(targets=[node.target], value=value), node)
            children = [(node.target, None, None, None), (node.value, value.args, None, 2)]
        if new is not None:
            if isinstance(parent, list):
                parent[index] = new
            else:
                setattr(parent, field, new)
            for child, p, f, i in children:
                if p is None:
                    _validate(child, type(child), limits)
                else:
                    stack.append((child, p, f, i))
            continue
        for f in node._fields:
            value = getattr(node, f, None)
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        stack.append((item, value, None, i))
            elif isinstance(value, ast.AST):
                stack.append((value, node, f, None))


# --------------------------------------------------------------------------- checked operations
_NUMBER = (int, float, Fraction)


class _Guard:
    """The runtime half of the sandbox: checked operators, safe builtins and the tracer."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.out: list[str] = []
        self.out_len = 0
        self.steps = 0
        self.depth = 0
        self.deadline = 0.0
        self.mem_base = 0
        self.mem_checks = 0

    # -- size checks
    def _bits(self, v) -> int:
        if isinstance(v, bool):
            return 1
        if isinstance(v, int):
            return v.bit_length()
        if isinstance(v, Fraction):
            return max(v.numerator.bit_length(), v.denominator.bit_length())
        return 0

    def check_value(self, v):
        if isinstance(v, (int, Fraction)) and not isinstance(v, bool):
            b = self._bits(v)
            if b > self.limits.max_int_bits:
                raise IntegerTooLarge(f"a number with {b} bits (limit {self.limits.max_int_bits} bits, "
                                      f"about {int(self.limits.max_int_bits * 0.30103)} digits)")
        elif isinstance(v, (str, list, tuple, dict, set)) and len(v) > self.limits.max_items:
            raise MemoryLimitExceeded(f"a {type(v).__name__} of {len(v)} items (limit {self.limits.max_items})")
        return v

    def binop(self, op: str, a, b):
        lim = self.limits
        if op == "**":
            if isinstance(a, (int, Fraction)) and isinstance(b, int) and not isinstance(a, bool):
                if b > 0 and abs(a) not in (0, 1):
                    est = b * max(1, self._bits(a) - 1)
                    if est > lim.max_int_bits:
                        raise IntegerTooLarge(f"{_short(a)} ** {_short(b)} would have about {est} bits "
                                              f"(limit {lim.max_int_bits})")
                elif b < 0 and abs(a) not in (0, 1) and isinstance(a, Fraction):
                    est = -b * max(1, self._bits(a))
                    if est > lim.max_int_bits:
                        raise IntegerTooLarge(f"{_short(a)} ** {_short(b)} is too large")
            return self.check_value(a ** b)
        if op == "*":
            if isinstance(a, (str, list, tuple)) and isinstance(b, int) or isinstance(b, (str, list, tuple)) and \
                    isinstance(a, int):
                seq, n = (a, b) if isinstance(b, int) and not isinstance(a, int) else (b, a)
                if len(seq) * max(n, 0) > lim.max_items:
                    raise MemoryLimitExceeded(f"a sequence of {len(seq)} items repeated {n} times "
                                              f"(limit {lim.max_items} items)")
                return seq * n
            if isinstance(a, (int, Fraction)) and isinstance(b, (int, Fraction)):
                if self._bits(a) + self._bits(b) > lim.max_int_bits + 1:
                    raise IntegerTooLarge(f"a product of a {self._bits(a)}-bit and a {self._bits(b)}-bit number "
                                          f"(limit {lim.max_int_bits} bits)")
            return self.check_value(a * b)
        if op == "<<":
            if isinstance(b, int) and b > lim.max_int_bits:
                raise IntegerTooLarge(f"shift by {b} bits (limit {lim.max_int_bits})")
            return self.check_value(a << b)
        if op == "+":
            if isinstance(a, (str, list, tuple)) and isinstance(b, (str, list, tuple)):
                if len(a) + len(b) > lim.max_items:
                    raise MemoryLimitExceeded(f"concatenation of {len(a) + len(b)} items (limit {lim.max_items})")
            return self.check_value(a + b)
        if op == "%" and isinstance(a, str):
            raise ForbiddenOperation("%-formatting of strings is not allowed")
        fn = _BINOPS[op]
        return self.check_value(fn(a, b))

    # -- builtins
    def builtins(self) -> dict[str, Any]:
        lim = self.limits
        g = self

        def safe_range(*args):
            r = range(*args)
            if len(r) > lim.max_items:
                raise MemoryLimitExceeded(f"range of {len(r)} items (limit {lim.max_items})")
            return r

        def safe_sum(iterable, start=0):
            if not isinstance(start, _NUMBER):
                raise ForbiddenOperation("sum() start value must be a number")
            total = start
            for i, x in enumerate(iterable):
                if (i & 1023) == 0:
                    g.check_resources()
                total = g.binop("+", total, x)
            return total

        def safe_map(fn, *iterables):
            for args in zip(*iterables):
                g.check_resources()
                yield fn(*args)

        def safe_filter(fn, iterable):
            for x in iterable:
                g.check_resources()
                if (bool(x) if fn is None else fn(x)):
                    yield x

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
            if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 100):
                raise ForbiddenOperation("round() ndigits must be an int between -100 and 100")
            return round(x) if ndigits is None else round(x, ndigits)

        def safe_int(x=0, *args):
            g.check_resources()
            if args:
                raise ForbiddenOperation("int() with a base is not allowed")
            return g.check_value(int(x))

        def safe_str(x=""):
            g.check_resources()
            s = str(x)
            return g.check_value(s)

        def safe_fraction(a=0, b=None):
            g.check_resources()
            if isinstance(a, str) or isinstance(b, str):
                raise ForbiddenOperation("Fraction() from a string is not allowed; pass numbers")
            f = Fraction(a) if b is None else Fraction(a, b)
            return g.check_value(f)

        def safe_factorial(n):
            if not isinstance(n, int) or n < 0:
                raise ValueError("factorial() needs a non-negative int")
            if n > 1000:
                raise IntegerTooLarge(f"factorial({n}) is too large (limit 1000)")
            return g.check_value(math.factorial(n))

        def safe_comb(n, k):
            if not isinstance(n, int) or n > lim.max_int_bits:
                raise IntegerTooLarge(f"comb({n}, ...) is too large (n at most {lim.max_int_bits})")
            return math.comb(n, k)

        def safe_perm(n, k=None):
            if not isinstance(n, int) or n > 10_000:
                raise IntegerTooLarge(f"perm({n}, ...) is too large (n at most 10000)")
            kk = n if k is None else k
            if isinstance(kk, int) and kk * max(1, n.bit_length()) > lim.max_int_bits:
                raise IntegerTooLarge(f"perm({n}, {kk}) is too large")
            return math.perm(n, k)

        def safe_print(*args, sep=" ", end="\n"):
            g.check_resources()
            text = str(sep).join(str(a) for a in args) + str(end)
            g.out_len += len(text)
            if g.out_len > lim.max_output_chars:
                raise OutputLimitExceeded(f"printed more than {lim.max_output_chars} characters")
            g.out.append(text)

        def seq(kind):
            def make(*args, **kwargs):
                g.check_resources()
                v = kind(*args, **kwargs)
                return g.check_value(v)
            make.__name__ = kind.__name__
            return make

        safe = {
            "abs": abs, "min": min, "max": max, "len": len, "bool": bool, "float": float, "divmod": divmod,
            "all": all, "any": any, "enumerate": enumerate, "zip": zip, "reversed": reversed, "sorted": seq(sorted),
            "isinstance": isinstance, "map": safe_map, "filter": safe_filter,
            "int": safe_int, "str": safe_str, "list": seq(list), "tuple": seq(tuple), "dict": seq(dict), "set": seq(set),
            "range": safe_range, "sum": safe_sum, "pow": safe_pow, "round": safe_round, "print": safe_print,
            "Fraction": safe_fraction, "factorial": safe_factorial, "comb": safe_comb, "perm": safe_perm,
            "sqrt": math.sqrt, "floor": math.floor, "ceil": math.ceil, "gcd": math.gcd, "lcm": safe_lcm,
            "log": math.log, "exp": math.exp, "isclose": math.isclose, "pi": math.pi, "e": math.e,
            "True": True, "False": False, "None": None,
            # exceptions that a program may name in isinstance checks are not needed: none exposed
        }
        return safe

    # -- tracer
    def tracer(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename != "<sandbox>":
            return None
        if event == "call":
            self.depth += 1
            if self.depth > self.limits.max_depth:
                raise RecursionTooDeep(f"calls nested deeper than {self.limits.max_depth}")
        self._tick()
        return self._local

    def _local(self, frame, event, arg):
        if event == "return":
            self.depth -= 1
        elif event == "line":
            self._tick()
        return self._local

    def _tick(self):
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise StepLimitExceeded(f"executed more than {self.limits.max_steps} steps (an endless loop?)")
        self.check_resources()

    def check_resources(self):
        """Raise if the run is over its time or memory budget (called on every traced line and by
        every builtin that can allocate or loop, since those run untraced)."""
        if time.perf_counter() > self.deadline:
            raise TimeLimitExceeded(f"ran longer than {self.limits.max_seconds:g} s")
        if tracemalloc.is_tracing():
            cur = tracemalloc.get_traced_memory()[0]
            if cur - self.mem_base > self.limits.max_memory_mb * 2**20:
                raise MemoryLimitExceeded(f"allocated more than {self.limits.max_memory_mb:g} MB")


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 20 else s[:8] + "..." + s[-4:]


_BINOPS = {
    "-": lambda a, b: a - b, "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    ">>": lambda a, b: a >> b, "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
}
_OP_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
              ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|",
              ast.BitXor: "^"}
_GUARD_NAME = "__sandbox_binop__"   # user code can never name it: names starting with '_' are refused


def _parse(source: str, limits: Limits) -> ast.Module:
    """Parse a program's text, refusing oversized, empty or unparsable programs with MalformedProgram."""
    if len(source) > limits.max_source_chars:
        raise MalformedProgram(f"program is {len(source)} characters long; the limit is {limits.max_source_chars}")
    if not source.strip():
        raise MalformedProgram("the program is empty")
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as e:
        raise MalformedProgram(f"not valid Python: {e.msg} (line {e.lineno})") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise MalformedProgram(f"could not parse the program: {type(e).__name__}: {e}"[:300]) from None
    return tree


@functools.lru_cache(maxsize=4096)
def _compile(source: str, limits: Limits):
    """Checked, rewritten and compiled program (cached: best-of-N runs the same text many times)."""
    tree = _parse(source, limits)
    _walk(tree, limits, rewrite=True)
    try:
        return compile(tree, "<sandbox>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError) as e:
        raise MalformedProgram(f"could not compile the program: {type(e).__name__}: {e}"[:300]) from None


# ------------------------------------------------------------------------------------ running
def _is_number(v) -> bool:
    return isinstance(v, (int, float, Fraction)) and not isinstance(v, bool)


def _run_inprocess(source: str, limits: Limits) -> tuple[Any, str, int]:
    if not isinstance(source, str):
        raise MalformedProgram(f"a program must be a string, got {type(source).__name__}")
    code = _compile(source, limits)
    guard = _Guard(limits)
    env: dict[str, Any] = {"__builtins__": guard.builtins(), _GUARD_NAME: guard.binop}
    started_tracemalloc = not tracemalloc.is_tracing()
    if started_tracemalloc:
        tracemalloc.start(1)
    guard.mem_base = tracemalloc.get_traced_memory()[0]
    old_trace = sys.gettrace()
    guard.deadline = time.perf_counter() + limits.max_seconds
    value: Any = None
    try:
        sys.settrace(guard.tracer)
        try:
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
            sys.settrace(old_trace)
    except SandboxError:
        raise
    except RecursionError:
        raise RecursionTooDeep("recursion too deep") from None
    except MemoryError:
        raise MemoryLimitExceeded("ran out of memory") from None
    except Exception as e:  # the program's own error
        line = _error_line(e)
        raise ProgramRaised(f"{type(e).__name__}: {e}"[:300] + (f" (line {line})" if line else "")) from None
    finally:
        if started_tracemalloc:
            tracemalloc.stop()
        env.clear()
    if callable(value) and not _is_number(value):
        raise NoAnswer("the answer is a function; did you forget to call it?")
    if value is None:
        raise NoAnswer("the answer is None")
    return value, "".join(guard.out), guard.steps


def _error_line(e: BaseException) -> int | None:
    tb = e.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<sandbox>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_RESULTS: dict = {}
_RESULTS_MAX = 50_000
# refusals that depend only on the program text, never on the machine's load
_DETERMINISTIC = (MalformedProgram, ForbiddenOperation, ProgramRaised, NoAnswer, IntegerTooLarge,
                  OutputLimitExceeded, StepLimitExceeded, RecursionTooDeep)


def _run_cached(source: str, limits: Limits) -> tuple[Any, str, int]:
    """Programs have no randomness and no input, so the same text gives the same result: remember
    results (numbers, strings) and deterministic refusals. Time and memory refusals are not kept."""
    if not isinstance(source, str):
        raise MalformedProgram(f"a program must be a string, got {type(source).__name__}")
    key = (source, limits)
    hit = _RESULTS.get(key)
    if hit is not None:
        if hit[0] == "ok":
            return hit[1], hit[2], hit[3]
        raise hit[1](hit[2])
    if len(_RESULTS) >= _RESULTS_MAX:
        _RESULTS.clear()
    try:
        value, out, steps = _run_inprocess(source, limits)
    except _DETERMINISTIC as e:
        _RESULTS[key] = ("err", type(e), str(e))
        raise
    if type(value) in (int, float, Fraction, str, bool):
        _RESULTS[key] = ("ok", value, out, steps)
    return value, out, steps


def run_program(source: str, limits: Limits | None = None, isolate: bool = False) -> Any:
    """Run a program in the sandbox and return its answer (the value of ``answer``/``result`` or of
    ``solution()``). Raises a :class:`SandboxError` subclass on any refusal or failure.

    ``isolate=True`` also runs it in a separate process with OS limits (slower, about 0.1 s).
    """
    RUN_COUNT[0] += 1
    limits = limits or _DEFAULT_LIMITS
    if isolate:
        return _run_isolated(source, limits)[0]
    return _run_cached(source, limits)[0]


def safe_run(source: str, limits: Limits | None = None, isolate: bool = False) -> Outcome:
    """Like :func:`run_program` but never raises: returns an :class:`Outcome`."""
    RUN_COUNT[0] += 1
    limits = limits or _DEFAULT_LIMITS
    t0 = time.perf_counter()
    try:
        value, out, steps = _run_isolated(source, limits) if isolate else _run_cached(source, limits)
    except SandboxError as e:
        return Outcome(False, None, str(e), e.kind, type(e).__name__, seconds=time.perf_counter() - t0,
                       program=source if isinstance(source, str) else "")
    return Outcome(True, value, stdout=out, steps=steps, seconds=time.perf_counter() - t0, program=source)


def normalise_answer(value) -> int | float | None:
    """A program's answer as a plain number: integral floats/fractions become ints; other
    fractions become floats; anything that is not a finite real number becomes None."""
    if isinstance(value, bool) or not _is_number(value):
        return None
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    return value


# ------------------------------------------------------------------------- isolated process
_CHILD = r"""
import json, sys
lim = json.loads(sys.argv[1])
mem = int(lim.pop("_rlimit_mb")) * 2**20
try:
    import resource  # POSIX only; elsewhere the in-process limits and the timeout still apply
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = int(lim["max_seconds"]) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
except (ImportError, ValueError, OSError):
    pass
sys.path.insert(0, lim.pop("_path"))
from utils.reasoning.sandbox import Limits, safe_run
src = sys.stdin.read()
o = safe_run(src, Limits(**lim))
v = o.value
if isinstance(v, (int, float)) and not isinstance(v, bool):
    enc = ["num", repr(v)]
elif v is not None and type(v).__name__ == "Fraction":
    enc = ["frac", [str(v.numerator), str(v.denominator)]]
elif v is None:
    enc = ["none", None]
else:
    enc = ["repr", repr(v)[:1000]]
print(json.dumps({"ok": o.ok, "value": enc, "error": o.error, "error_type": o.error_type, "stdout": o.stdout,
                  "steps": o.steps}))
"""


def _run_isolated(source: str, limits: Limits) -> tuple[Any, str, int]:
    if not isinstance(source, str):
        raise MalformedProgram(f"a program must be a string, got {type(source).__name__}")
    check_program(source, limits)  # fail fast, same messages
    lim = {k: getattr(limits, k) for k in Limits.__dataclass_fields__}
    lim["_rlimit_mb"] = int(limits.max_memory_mb) + 256
    lim["_path"] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
    try:
        proc = subprocess.run([sys.executable, "-I", "-S", "-c", _CHILD, json.dumps(lim)], input=source,
                              capture_output=True, text=True, timeout=limits.max_seconds + 5,
                              env={"PATH": os.environ.get("PATH", "")})
    except subprocess.TimeoutExpired:
        raise TimeLimitExceeded(f"the isolated process ran longer than {limits.max_seconds + 5} s and was killed") \
            from None
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ResourceLimitExceeded(f"the isolated process died (exit code {proc.returncode}): "
                                    f"{proc.stderr.strip()[-200:]}")
    try:
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise ProgramRaised("the isolated process returned no readable result") from None
    if not res["ok"]:
        cls = _ERRORS.get(res["error_type"], SandboxError)
        raise cls(res["error"])
    kind, payload = res["value"]
    if kind == "num":
        value = ast.literal_eval(payload)
    elif kind == "frac":
        value = Fraction(int(payload[0]), int(payload[1]))
    elif kind == "none":
        value = None
    else:
        value = payload
    return value, res["stdout"], res["steps"]


_ERRORS = {c.__name__: c for c in (SandboxError, MalformedProgram, ForbiddenOperation, ResourceLimitExceeded,
                                   TimeLimitExceeded, StepLimitExceeded, MemoryLimitExceeded, OutputLimitExceeded,
                                   IntegerTooLarge, RecursionTooDeep, ProgramRaised, NoAnswer)}

