"""Multi-step arithmetic word problems in the GSM8K format, with a reference program for each.

A problem is a short story about somebody's collection of things: a start clause, a few event
clauses that each change the count (buy more, give some away, double it, split it into equal
groups, buy boxes of ten, ...) and a question, which may add one last operation. Every clause
has several phrasings; some phrasings (and one story frame) are *held out*: they never appear in
the ``"train"`` phrasing set and are used only by the ``"heldout"`` generalisation split.

Knobs
-----
``steps``  the number of arithmetic operations (1 to :data:`MAX_STEPS`).
``size``   ``"small"`` (numbers up to 20, answers below 10,000) or ``"hard"`` (numbers of
           2 to 6 digits, mostly 3 or more, answers up to 10**15), like GSM-Hard (Gao et al. 2022), which kept
           GSM8K's questions and replaced their numbers by large ones. :func:`harden` does
           exactly that to a problem: same words, new large numbers.

Each :class:`Problem` carries

* ``question`` and ``answer``: the answer is a worked solution with calculator annotations
  ``<<12+5=17>>`` and a last line ``#### 17``, as in GSM8K (Cobbe et al. 2021);
* ``program``: a readable Python program (PAL style, Gao et al. 2022) that sets ``answer``;
* ``numbers`` and ``steps``: the same computation as a small operation list, where
  ``("+", "n0", "n1")`` adds the first and second number of the question, ``"r2"`` is the result
  of step 2, and ``"2"``, ``"3"``, ``"7"``, ``"12"`` are constants that a word implies
  ("doubles", "triples", "a week", "a dozen");
* ``tags``: the same steps sentence by sentence, in local terms (``("+", "t", "x1")``: the running
  total plus this sentence's first number). The program-aided solver learns these;
  :func:`compile_tags` turns them into ``steps``.

Everything is deterministic given the seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Problem", "generate", "generate_problem", "harden", "make_splits", "steps_value", "split_sentences",
    "compile_tags", "numbers_in", "OPS", "LOCAL_OPS", "LOCAL_REFS", "MAX_STEPS", "SMALL_LIMIT", "HARD_LIMIT",
]

OPS = ("+", "-", "*", "/")
CONSTANTS = ("2", "3", "7", "12")
MAX_STEPS = 7
MAX_NUMBERS = 12
SMALL_LIMIT = 9_999          # every intermediate value of a small problem stays at or below this
HARD_LIMIT = 10**15          # ... of a hard problem (below 2**53, so float division stays exact)


@dataclass(frozen=True)
class Problem:
    question: str
    answer: str                                  # GSM8K format: worked steps, then "#### <value>"
    value: int                                   # the final answer
    program: str                                 # readable Python that sets `answer`
    numbers: tuple[int, ...]                     # the numbers of the question, in order
    steps: tuple[tuple[str, str, str], ...]      # (op, a, b); operands "n<i>", "r<k>" or a constant
    tags: tuple[tuple[tuple[str, str, str], ...], ...]  # per sentence: its steps in local terms
    size: str                                    # "small" or "hard"
    phrasing: str                                # "train" or "heldout"
    frame: str                                   # story frame (fruit, stickers, ...)
    clauses: tuple[tuple[str, int], ...] = field(repr=False, default=())  # (clause kind, phrasing index)
    spec: dict = field(repr=False, default_factory=dict, compare=False, hash=False)  # for harden()

    @property
    def n_steps(self) -> int:
        return len(self.steps)


# --------------------------------------------------------------------------------------------
# Story frames: the things being counted. The last one is held out.

_FRAMES = {
    "fruit": dict(items="apples", item="apple", box="crate", boxes="crates", place="the kitchen"),
    "stickers": dict(items="stickers", item="sticker", box="sheet", boxes="sheets", place="the album"),
    "marbles": dict(items="marbles", item="marble", box="bag", boxes="bags", place="the jar"),
    "books": dict(items="books", item="book", box="box", boxes="boxes", place="the shelf"),
    "eggs": dict(items="eggs", item="egg", box="carton", boxes="cartons", place="the fridge"),
    "cards": dict(items="cards", item="card", box="pack", boxes="packs", place="the drawer"),
    "shells": dict(items="shells", item="shell", box="bucket", boxes="buckets", place="the beach"),   # held out
}
_HELDOUT_FRAMES = ("shells",)
_NAMES = [("Maria", "she", "her"), ("Tom", "he", "his"), ("Aisha", "she", "her"), ("Ken", "he", "his"),
          ("Lena", "she", "her"), ("Omar", "he", "his"), ("Priya", "she", "her"), ("Jack", "he", "his"),
          ("Sofia", "she", "her"), ("Ravi", "he", "his")]
_FRIENDS = ["her cousin", "a neighbour", "his teacher", "a classmate", "their uncle", "a friend"]

# --------------------------------------------------------------------------------------------
# Clauses. Each kind has phrasings; the index in _HELDOUT marks the held-out ones.
# Placeholders: {N} name, {p} pronoun, {P} capitalised pronoun, {pos} possessive, {items},
# {item}, {box}, {place}, {friend}; numbers are {a} (and {b}).
# `ops` describes the steps with "t" for the running total, "a"/"b" for the clause's numbers,
# "s" for the start number, constants as strings.

_START = [
    "{N} has {a} {items}.",
    "There are {a} {items} in {place}, and they belong to {N}.",
    "{N} starts the day with {a} {items}.",
    "{N} has a collection of {a} {items}.",
    "{N} owns {a} {items}.",                                   # held out
]

_CLAUSES: dict[str, dict] = {
    "add": dict(ops=[("+", "t", "a")], nums=("a",), phrasings=[
        "{P} buys {a} more {items}.",
        "Then {p} finds {a} more {items}.",
        "{Friend} gives {pos} {a} {items}.",
        "Later {p} gets {a} more.",
        "{P} receives another {a} {items} as a present.",     # held out
    ]),
    "sub": dict(ops=[("-", "t", "a")], nums=("a",), phrasings=[
        "{P} gives {a} {items} to {friend}.",
        "{P} loses {a} of them.",
        "{P} sells {a} {items} at the market.",
        "Then {p} uses {a} of the {items}.",
        "{P} donates {a} {items} to the school.",              # held out
    ]),
    "mul": dict(ops=[("*", "t", "a")], nums=("a",), phrasings=[
        "By the next month {pos} {items} grow to {a} times as many.",
        "{P} ends up with {a} times as many {items} as before.",
        "The number of {items} becomes {a} times bigger.",
        "{P} multiplies the pile so that there are {a} times as many.",   # held out
    ]),
    "div": dict(ops=[("/", "t", "a")], nums=("a",), phrasings=[
        "{P} splits the {items} into {a} equal groups and keeps one group.",
        "{P} shares the {items} equally among {a} boxes and keeps one box.",
        "{P} divides them equally between {a} friends, and {p} is one of the friends.",
        "{P} makes {a} equal piles of the {items} and keeps only one pile.",   # held out
    ]),
    "double": dict(ops=[("*", "t", "2")], nums=(), phrasings=[
        "{P} doubles the number of {items}.",
        "Then the number of {items} doubles.",
        "{P} ends up with twice as many {items}.",             # held out
    ]),
    "triple": dict(ops=[("*", "t", "3")], nums=(), phrasings=[
        "{P} triples the number of {items}.",
        "Then the number of {items} triples.",
        "{P} ends up with three times as many {items}.",       # held out
    ]),
    "half": dict(ops=[("/", "t", "2")], nums=(), phrasings=[
        "{P} gives away half of the {items}.",
        "Half of the {items} get lost.",
        "{P} keeps only half of them.",                        # held out
    ]),
    "group_add": dict(ops=[("*", "a", "b"), ("+", "t", "r")], nums=("a", "b"), phrasings=[
        "{P} buys {a} {boxes} with {b} {items} in each {box}.",
        "{P} gets {a} {boxes} of {b} {items} each.",
        "{Friend} brings {a} {boxes}, each holding {b} {items}, and gives them to {N}.",
        "{P} collects {a} more {boxes} that each contain {b} {items}.",   # held out
    ]),
    "group_sub": dict(ops=[("*", "a", "b"), ("-", "t", "r")], nums=("a", "b"), phrasings=[
        "{P} sells {a} {boxes} with {b} {items} in each {box}.",
        "{P} gives away {a} {boxes} of {b} {items} each.",
        "{P} packs {a} {boxes} of {b} {items} each and mails them away.",  # held out
    ]),
    "dozen": dict(ops=[("*", "a", "12"), ("+", "t", "r")], nums=("a",), phrasings=[
        "{P} buys {a} dozen {items}.",
        "{Friend} gives {pos} {a} dozen {items}.",
        "{P} picks up another {a} dozen {items}.",             # held out
    ]),
    "week": dict(ops=[("*", "7", "a"), ("-", "t", "r")], nums=("a",), phrasings=[
        "Every day for a week, {p} uses {a} {items}.",
        "For one week {p} gives away {a} {items} each day.",
        "Each day of the week, {a} {items} get used up.",      # held out
    ]),
}
_HELDOUT = {"start": {4}, "add": {4}, "sub": {4}, "mul": {3}, "div": {3}, "double": {2}, "triple": {2},
            "half": {2}, "group_add": {3}, "group_sub": {2}, "dozen": {2}, "week": {2}}

_QUESTIONS: dict[str, dict] = {
    "have": dict(ops=[], nums=(), phrasings=[
        "How many {items} does {N} have now?",
        "How many {items} does {p} have left?",
        "How many {items} are there at the end?",
        "At the end, what is the number of {items} that {N} has?",   # held out
    ]),
    "bags": dict(ops=[("/", "t", "a")], nums=("a",), phrasings=[
        "If {p} puts all of them into bags of {a}, how many bags does {p} fill?",
        "{P} packs the {items} in groups of {a}. How many groups are there?",
        "How many {boxes} of {a} can {p} fill with them?",      # held out
    ]),
    "price": dict(ops=[("*", "t", "a")], nums=("a",), phrasings=[
        "Each {item} sells for {a} dollars. How much money does {p} make by selling all of them?",
        "If one {item} is worth {a} dollars, what are all the {items} worth together?",
        "At {a} dollars per {item}, how many dollars are all of {pos} {items} worth?",   # held out
    ]),
    "gain": dict(ops=[("-", "t", "s")], nums=(), phrasings=[
        "How many more {items} does {N} have now than at the start?",
        "How many {items} did {N} gain in total?",
        "By how much did the number of {items} grow?",         # held out
    ]),
}
_HELDOUT_Q = {"have": {3}, "bags": {2}, "price": {2}, "gain": {2}}
_FILLERS = ["It is a sunny day.", "{N} is saving them for a school project.", "{P} likes to count them.",
            "The weather is cold.", "{N} keeps them in {place}."]

_NUM_RANGES = {  # role -> (low, high) inclusive
    "small": {"start": (3, 20), "amount": (2, 12), "factor": (2, 5)},
    "hard": {"start": (1_000, 999_999), "amount": (1_000, 999_999), "factor": (11, 999)},
}
_ROLE = {"add": "amount", "sub": "amount", "mul": "factor", "div": "factor", "group_add": "factor",
         "group_sub": "factor", "dozen": "factor", "week": "factor", "bags": "factor", "price": "factor"}
_VARNAMES = {"add": ["more"], "sub": ["removed"], "mul": ["factor"], "div": ["groups"], "group_add": ["boxes", "per_box"],
             "group_sub": ["boxes", "per_box"], "dozen": ["dozens"], "week": ["per_day"], "bags": ["bag_size"],
             "price": ["price"]}
_SYM = {"+": "+", "-": "-", "*": "*", "/": "/"}
_LOCAL = {"t": "t", "a": "x1", "b": "x2", "s": "s", "r": "r", **{c: c for c in CONSTANTS}}
LOCAL_OPS = ("=", "+", "-", "*", "/")
LOCAL_REFS = ("t", "r", "s", "x1", "x2", "x3") + CONSTANTS
_SENT_RE = re.compile(r"(?<=[.?!])\s+")


def split_sentences(text: str) -> list[str]:
    """The sentences of a question (split after '.', '?' or '!')."""
    return [p for p in _SENT_RE.split(text.strip()) if p]


def compile_tags(question: str, tags: Sequence[Sequence[tuple[str, str, str]]]) -> tuple[tuple[str, str, str], ...]:
    """Turn per-sentence steps in local terms into the problem's operation list.

    Local operands: ``t`` the running total before the sentence, ``r`` the previous step of the
    same sentence, ``s`` the start value, ``x1``/``x2``/``x3`` the sentence's own numbers, or a
    constant. ``("=", "x1", "x1")`` sets the running total (no arithmetic step). A reference that
    does not exist (no running total yet, a third number in a sentence with two) becomes the
    operand ``"undefined"``, so the program fails when run, which is what should happen.
    """
    sentences = split_sentences(question)
    if len(tags) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(tags)} tag groups")
    steps: list[tuple[str, str, str]] = []
    total: str | None = None
    start: str | None = None
    offset = 0
    for sent, local in zip(sentences, tags):
        nums = [f"n{offset + i}" for i in range(len(numbers_in(sent)))]
        offset += len(nums)
        before, prev = total, None
        for op, a, b in local:
            if op not in LOCAL_OPS:
                raise ValueError(f"unknown operation {op!r}")

            def ref(x: str) -> str:
                if x == "t":
                    return before or "undefined"
                if x == "r":
                    return prev or "undefined"
                if x == "s":
                    return start or "undefined"
                if x in ("x1", "x2", "x3"):
                    i = int(x[1]) - 1
                    return nums[i] if i < len(nums) else "undefined"
                if x in CONSTANTS:
                    return x
                raise ValueError(f"unknown operand {x!r}")

            if op == "=":
                total = ref(a)
                if start is None:
                    start = total
                continue
            steps.append((op, ref(a), ref(b)))
            prev = total = f"r{len(steps)}"
    return tuple(steps)


def _apply(op: str, x: int, y: int) -> int | None:
    if op == "+":
        return x + y
    if op == "-":
        return x - y if x - y >= 1 else None
    if op == "*":
        return x * y
    if op == "/":
        return x // y if y > 0 and x % y == 0 else None
    raise ValueError(op)


def steps_value(numbers: Sequence[int], steps: Sequence[tuple[str, str, str]]):
    """Evaluate an operation list exactly (fractions for '/'): the ground truth of a program."""
    from fractions import Fraction

    env: dict[str, Fraction] = {f"n{i}": Fraction(v) for i, v in enumerate(numbers)}
    env.update({c: Fraction(int(c)) for c in CONSTANTS})
    r = None
    for k, (op, a, b) in enumerate(steps, 1):
        if op not in OPS:
            raise ValueError(f"unknown operation {op!r} in step {k}")
        try:
            x, y = env[a], env[b]
        except KeyError as e:
            raise ValueError(f"step {k} uses {e.args[0]!r}, which is not defined before it") from None
        r = {"+": x + y, "-": x - y, "*": x * y}[op] if op != "/" else (x / y if y != 0 else None)
        if r is None:
            raise ZeroDivisionError(f"step {k} divides by zero")
        env[f"r{k}"] = r
    if r is None:
        raise ValueError("no steps")
    return int(r) if r.denominator == 1 else r


# --------------------------------------------------------------------------------------------

def _choose_plan(steps: int, rng: random.Random) -> tuple[list[str], str]:
    """Clause kinds (events) and a question kind whose operations add up to `steps`."""
    one = ["add", "sub", "mul", "div", "double", "triple", "half"]
    one_w = [4, 4, 2, 2, 1, 1, 1]
    two = ["group_add", "group_sub", "dozen", "week"]
    for _ in range(100):
        q = rng.choices(list(_QUESTIONS), weights=[5, 2, 2, 1])[0]
        left = steps - len(_QUESTIONS[q]["ops"])
        if left < 0:
            continue
        kinds: list[str] = []
        while left > 0:
            if left >= 2 and rng.random() < 0.3:
                kinds.append(rng.choice(two))
                left -= 2
            else:
                kinds.append(rng.choices(one, weights=one_w)[0])
                left -= 1
        if q == "gain" and not kinds:
            continue
        return kinds, q
    raise RuntimeError("could not plan a problem")  # pragma: no cover


def _pick_phrasing(kind: str, n: int, heldout_ids: set[int], phrasing: str, force_heldout: bool,
                   rng: random.Random) -> int:
    train_ids = [i for i in range(n) if i not in heldout_ids]
    if phrasing == "train":
        return rng.choice(train_ids)
    if force_heldout or rng.random() < 0.5:
        return rng.choice(sorted(heldout_ids))
    return rng.choice(train_ids)


def _span(lo: int, hi: int, rng: random.Random) -> int | None:
    return rng.randint(lo, hi) if hi >= lo else None


def _draw(kind: str, t: int, s: int, lo: int, hi: int, lim: int, rng: random.Random) -> dict[str, int] | None:
    """Numbers for one clause, drawn from [lo, hi] and constrained so that every result is a
    positive integer no larger than ``lim``; None if impossible for this running total ``t``."""
    if kind == "add":
        a = _span(lo, min(hi, lim - t), rng)
        return None if a is None else {"a": a}
    if kind == "sub":
        a = _span(lo, min(hi, t - 1), rng)
        return None if a is None else {"a": a}
    if kind in ("mul", "price"):
        a = _span(lo, min(hi, lim // t), rng)
        return None if a is None else {"a": a}
    if kind in ("div", "bags"):
        divisors = [d for d in range(lo, min(hi, t) + 1) if t % d == 0]
        return {"a": rng.choice(divisors)} if divisors else None
    if kind == "group_add":
        a = _span(lo, min(hi, (lim - t) // lo), rng)
        b = None if a is None else _span(lo, min(hi, (lim - t) // a), rng)
        return None if b is None else {"a": a, "b": b}
    if kind == "group_sub":
        a = _span(lo, min(hi, (t - 1) // lo), rng)
        b = None if a is None else _span(lo, min(hi, (t - 1) // a), rng)
        return None if b is None else {"a": a, "b": b}
    if kind == "dozen":
        a = _span(lo, min(hi, (lim - t) // 12), rng)
        return None if a is None else {"a": a}
    if kind == "week":
        a = _span(lo, min(hi, (t - 1) // 7), rng)
        return None if a is None else {"a": a}
    if kind in ("double", "triple"):
        return {} if t * (2 if kind == "double" else 3) <= lim else None
    if kind == "half":
        return {} if t % 2 == 0 else None
    if kind == "gain":
        return {} if t - s >= 1 else None
    if kind == "have":
        return {}
    raise ValueError(f"unknown clause kind {kind!r}")


def _realise(spec: dict, size: str, rng: random.Random) -> Problem | None:
    """Draw numbers for a fixed story (spec) and build the problem; None if constraints fail."""
    lim = SMALL_LIMIT if size == "small" else HARD_LIMIT
    ranges = _NUM_RANGES[size]
    fmt = dict(spec["words"])
    numbers: list[int] = []
    steps: list[tuple[str, str, str]] = []
    sentences: list[str] = []
    tags: list[tuple[tuple[str, str, str], ...]] = []
    solution: list[str] = []
    code: list[str] = []
    used_names: dict[str, int] = {}

    def add(text: str, local_ops: tuple[tuple[str, str, str], ...] = ()) -> None:
        """Append a clause's text; its operations are tagged on its first sentence."""
        parts = split_sentences(text)
        sentences.extend(parts)
        tags.append(local_ops)
        tags.extend(() for _ in parts[1:])

    def var(base: str) -> str:
        used_names[base] = used_names.get(base, 0) + 1
        return base if used_names[base] == 1 else f"{base}_{used_names[base]}"

    total_var = fmt["items"]
    start = rng.randint(*ranges["start"])
    numbers.append(start)
    state_name, state_val = "n0", start
    add(_START[spec["start"]].format(a=start, **fmt), (("=", "x1", "x1"),))
    code.append(f"{total_var} = {start}  # {sentences[-1]}")
    solution.append(f"{fmt['N']} starts with {start} {fmt['items']}.")

    events = [(k, p, _CLAUSES[k]) for k, p in spec["events"]] + [(spec["question"][0], spec["question"][1],
                                                                   _QUESTIONS[spec["question"][0]])]
    for idx, (kind, ph, clause) in enumerate(events):
        is_question = idx == len(events) - 1
        if spec["fillers"].get(idx) is not None and not is_question:
            add(_FILLERS[spec["fillers"][idx]].format(**fmt))
        names: dict[str, str] = {}
        role = _ROLE.get(kind, "amount")
        lo, hi = ranges[role]
        # draw the clause's numbers so that its operations stay valid (positive, exact, bounded)
        vals = _draw(kind, state_val, start, lo, hi, lim, rng)
        if vals is None:
            return None
        # record numbers, steps, text, solution lines and code
        for slot in clause["nums"]:
            names[slot] = f"n{len(numbers)}"
            numbers.append(vals[slot])
        text = clause["phrasings"][ph].format(**vals, **fmt)
        add(text, tuple((op, _LOCAL[x], _LOCAL[y]) for op, x, y in clause["ops"]))
        env_name = {"t": state_name, "s": "n0", **names, **{c: c for c in CONSTANTS}}
        env_val = {"t": state_val, "s": start, **vals, **{c: int(c) for c in CONSTANTS}}
        code_name = {"t": total_var, "s": "start", **{c: c for c in CONSTANTS}}
        if kind == "gain":
            code.insert(1, f"start = {total_var}")
        for slot in clause["nums"]:
            vname = var(_VARNAMES[kind][clause["nums"].index(slot)])
            code_name[slot] = vname
            code.append(f"{vname} = {vals[slot]}")
        if len(clause["ops"]) == 2:
            code_name["r"] = var("subtotal")
        parts = []
        for j, (op, x, y) in enumerate(clause["ops"]):
            r = _apply(op, env_val[x], env_val[y])
            steps.append((op, env_name[x], env_name[y]))
            expr = f"{env_val[x]}{_SYM[op]}{env_val[y]}"
            parts.append(f"{env_val[x]} {_SYM[op]} {env_val[y]} = <<{expr}={r}>>{r}")
            target = code_name["r"] if (len(clause["ops"]) == 2 and j == 0) else total_var
            code.append(f"{target} = {code_name[x]} {op} {code_name[y]}")
            env_name["r"] = f"r{len(steps)}"
            env_val["r"] = r
            state_name, state_val = f"r{len(steps)}", r
        if parts:
            what = text.rstrip(".?")
            solution.append(f"{what[0].upper()}{what[1:]}: " + ", then ".join(parts) + ".")
        code[-1] += f"  # {text}" if parts else ""
    if len(numbers) > MAX_NUMBERS or not steps:
        return None
    value = state_val
    question = " ".join(sentences)
    answer = "\n".join(solution + [f"#### {value}"])
    program = "\n".join(code + [f"answer = {total_var}"])
    assert split_sentences(question) == sentences
    return Problem(question=question, answer=answer, value=value, program=program, numbers=tuple(numbers),
                   steps=tuple(steps), tags=tuple(tags), size=size, phrasing=spec["phrasing"], frame=spec["frame"],
                   clauses=(("start", spec["start"]),) + tuple(spec["events"]) + (spec["question"],), spec=spec)


def generate_problem(steps: int, size: str = "small", phrasing: str = "train",
                     rng: random.Random | None = None, seed: int | None = None) -> Problem:
    """One random problem with exactly ``steps`` operations.

    ``phrasing="train"`` uses only training phrasings and frames; ``"heldout"`` uses at least one
    held-out phrasing (and sometimes the held-out frame). Pass ``rng`` or ``seed``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an int from 1 to {MAX_STEPS}, got {steps!r}")
    if size not in ("small", "hard"):
        raise ValueError(f"size must be 'small' or 'hard', got {size!r}")
    if phrasing not in ("train", "heldout"):
        raise ValueError(f"phrasing must be 'train' or 'heldout', got {phrasing!r}")
    if rng is None:
        rng = random.Random(seed)
    for _ in range(200):
        kinds, q = _choose_plan(steps, rng)
        frames = [f for f in _FRAMES if f not in _HELDOUT_FRAMES]
        if phrasing == "heldout" and rng.random() < 0.3:
            frames = list(_HELDOUT_FRAMES)
        frame = rng.choice(frames)
        name, pron, pos = rng.choice(_NAMES)
        friend = rng.choice(_FRIENDS)
        words = dict(_FRAMES[frame], N=name, p=pron, P=pron.capitalize(), pos=pos, friend=friend,
                     Friend=friend[0].upper() + friend[1:])
        n_clauses = len(kinds) + 2
        force = rng.randrange(n_clauses) if phrasing == "heldout" else -1
        start_ph = _pick_phrasing("start", len(_START), _HELDOUT["start"], phrasing, force == 0, rng)
        events = [(k, _pick_phrasing(k, len(_CLAUSES[k]["phrasings"]), _HELDOUT[k], phrasing, force == i + 1, rng))
                  for i, k in enumerate(kinds)]
        q_ph = _pick_phrasing(q, len(_QUESTIONS[q]["phrasings"]), _HELDOUT_Q[q], phrasing,
                              force == n_clauses - 1, rng)
        fillers = {i: rng.randrange(len(_FILLERS)) for i in range(len(kinds)) if rng.random() < 0.15}
        spec = dict(words=words, start=start_ph, events=events, question=(q, q_ph), fillers=fillers,
                    phrasing=phrasing, frame=frame)
        for _ in range(20):
            p = _realise(spec, size, rng)
            if p is not None and p.n_steps == steps:
                return p
    raise RuntimeError(f"could not generate a {size} problem with {steps} steps")  # pragma: no cover


def harden(problem: Problem, rng: random.Random | None = None, seed: int | None = None,
           tries: int = 200) -> Problem | None:
    """The same problem (same words, same operations) with large numbers, as in GSM-Hard.

    Returns None when no large numbers fit the problem's constraints (exact division, positive
    results) within ``tries`` draws.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"harden expects a Problem, got {type(problem).__name__}")
    if rng is None:
        rng = random.Random(seed)
    spec = problem.spec
    for _ in range(tries):
        p = _realise(spec, "hard", rng)
        if p is not None and p.steps == problem.steps:
            return p
    return None


def generate(n: int, steps: int | Sequence[int] = (1, 2, 3, 4, 5), size: str = "small", phrasing: str = "train",
             seed: int = 0) -> list[Problem]:
    """``n`` problems; ``steps`` is one step count or a sequence cycled through (balanced counts)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    steps_list = [steps] if isinstance(steps, int) else list(steps)
    if not steps_list:
        raise ValueError("steps must not be empty")
    rng = random.Random(seed)
    return [generate_problem(steps_list[i % len(steps_list)], size, phrasing, rng=rng) for i in range(n)]


def make_splits(n_train: int = 12_000, n_test: int = 600, steps: Sequence[int] = (1, 2, 3, 4, 5),
                seed: int = 0) -> dict[str, list[Problem]]:
    """The lesson's splits: ``train``, ``test`` (same distribution, disjoint questions), ``hard``
    (the test problems with large numbers) and ``heldout`` (unseen phrasings, small numbers)."""
    train = generate(n_train, steps, "small", "train", seed=seed)
    seen = {p.question for p in train}
    test = [p for p in generate(n_test * 2, steps, "small", "train", seed=seed + 1) if p.question not in seen]
    by_steps: dict[int, list[Problem]] = {}
    for p in test:
        by_steps.setdefault(p.n_steps, []).append(p)
    per = n_test // len(steps)
    test = [p for s in steps for p in by_steps.get(s, [])[:per]]
    rng = random.Random(seed + 2)
    hard = [h for h in (harden(p, rng=rng) for p in test) if h is not None]
    heldout = generate(n_test, steps, "small", "heldout", seed=seed + 3)
    return {"train": train, "test": test, "hard": hard, "heldout": heldout}


_NUM_RE = re.compile(r"\d[\d,]*")


def numbers_in(text: str) -> list[int]:
    """The integers written in ``text``, in order (``1,234`` is one number)."""
    return [int(m.replace(",", "")) for m in _NUM_RE.findall(text)]
