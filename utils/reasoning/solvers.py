"""Two small learned solvers for :mod:`utils.reasoning.mathgen` word problems, and the code that trains them.

Both are small encoder-only transformers with learned *query slots* (extra input positions whose
outputs are read off), trained on problems from the same generator:

* :class:`DirectSolver` answers directly. It reads the whole question; each number is one token
  whose embedding is the sum of one learned vector per (decimal place, digit), so the model sees
  every digit. Its slots (12 by default, ``n_slots``) predict the answer's digits, least significant
  first (or "no more digits"). It has to do the arithmetic itself.
* :class:`ProgramSolver` writes a program. It reads one sentence at a time, with the sentence's
  numbers replaced by placeholders ``<x1>``, ``<x2>`` (it never sees their digits), and two slots
  tag the sentence with up to two steps in local terms: an operation and two operands among the
  running total ``t``, the previous step ``r``, the start value ``s``, the sentence's numbers and
  the constants 2, 3, 7, 12 (or ``none``). :func:`utils.reasoning.mathgen.compile_tags` turns the tags into an
  operation list over the question's numbers (``("+", "n0", "n1")``); writing the program text and
  running it in :mod:`utils.reasoning.sandbox` is the lesson's exercise.

This is PAL's division of labour (Gao et al. 2022): the model maps language to a program, the
interpreter does the arithmetic. The sentence-by-sentence tagging is a strong structural prior
that fits these generated stories (every sentence acts on a running total); it is what lets a
model of a few tens of thousands of parameters learn the mapping in seconds of CPU.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from utils.reasoning import mathgen

__all__ = [
    "Vocab", "tokenize", "split_numbers", "build_vocab", "DirectSolver", "ProgramSolver", "train_solver",
    "direct_targets", "program_targets", "predict_direct", "decode_programs", "Candidate", "TAG_OPS", "solve_report", "encode", "n_params",
]

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
_TOKEN_RE = re.compile(rf"{_NUM}|[a-z]+|[^\sa-z\d]")
_NUM_RE = re.compile(rf"^{_NUM}$")

N_DIGIT_SLOTS = 12                       # the direct model can write answers up to 12 digits long
SENTENCE_SLOTS = 2                       # steps the program model can write per sentence
TAG_OPS = ("none",) + mathgen.LOCAL_OPS
_REF_ID = {r: i for i, r in enumerate(mathgen.LOCAL_REFS)}
_BLANK = 10
SPECIALS = ("<pad>", "<unk>", "<num>")
N_PLACES = 12                            # digits per number that the direct model can read


def split_numbers(text: str) -> tuple[list[str], list[float | int]]:
    """Lower-cased tokens of ``text`` with each number replaced by ``"<num>"``, and the numbers."""
    if not isinstance(text, str):
        raise TypeError(f"a question must be a string, got {type(text).__name__}")
    toks, nums = [], []
    for t in _TOKEN_RE.findall(text.lower()):
        if _NUM_RE.match(t):
            v = t.replace(",", "")
            nums.append(float(v) if "." in v else int(v))
            toks.append("<num>")
        else:
            toks.append(t)
    return toks, nums


def tokenize(text: str, view: str) -> tuple[list[str], list[float | int]]:
    """Tokens for one model: ``view="program"`` (used on one sentence at a time) writes the i-th
    number as the placeholder ``<xi>``;
    ``view="direct"`` writes every number as ``<num>`` (the model gets its digits separately, see
    :func:`encode`). Returns (tokens, numbers)."""
    if view not in ("program", "direct"):
        raise ValueError(f"view must be 'program' or 'direct', got {view!r}")
    toks, nums = split_numbers(text)
    if view == "direct":
        return toks, nums
    out, i = [], 0
    for t in toks:
        if t != "<num>":
            out.append(t)
            continue
        out.append(f"<x{i + 1}>" if i < 3 else "<unk>")
        i += 1
    return out, nums


@dataclass
class Vocab:
    itos: list[str]

    def __post_init__(self):
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.cache: dict = {}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        unk = self.stoi["<unk>"]
        return [self.stoi.get(t, unk) for t in tokens]


def build_vocab(questions: Sequence[str]) -> Vocab:
    """Words of the training questions, plus digits, number placeholders and specials."""
    words = set()
    for q in questions:
        toks, _ = split_numbers(q)
        words.update(t for t in toks if t != "<num>")
    extra = ["<x1>", "<x2>", "<x3>"]
    return Vocab(list(SPECIALS) + extra + sorted(words - set(extra) - set(SPECIALS)))


def _encode_one(vocab: Vocab, text: str, view: str, max_len: int):
    """(token ids, [(position, digits)]) of one text, memoised per vocabulary (texts repeat a lot)."""
    key = (text, view, max_len)
    hit = vocab.cache.get(key)
    if hit is None:
        toks, nums = tokenize(text, view)
        toks = toks[:max_len]
        ids = vocab.encode(toks)
        digits, j = [], 0
        if view == "direct":   # the program model never gets digits
            for pos, t in enumerate(toks):
                if t == "<num>":
                    ds = str(int(nums[j]))[::-1][:N_PLACES]
                    digits.append((pos, [int(c) for c in ds] + [10] * (N_PLACES - len(ds))))
                    j += 1
        hit = vocab.cache[key] = (ids, digits)
    return hit


def encode(vocab: Vocab, questions: Sequence[str], view: str, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (B, L), 0-padded, and the digits of each number token (B, L, N_PLACES), least
    significant first, 10 where there is no digit. Non-integers keep only their integer part."""
    rows = [_encode_one(vocab, q, view, max_len) for q in questions]
    L = max(1, max((len(r[0]) for r in rows), default=1))
    ids = torch.tensor([r[0] + [0] * (L - len(r[0])) for r in rows], dtype=torch.long).reshape(len(rows), L)
    digits = torch.full((len(rows), L, N_PLACES), 10, dtype=torch.long)
    where = [(i, pos) for i, r in enumerate(rows) for pos, _ in r[1]]
    if where:
        vals = torch.tensor([d for r in rows for _, d in r[1]], dtype=torch.long)
        idx = torch.tensor(where, dtype=torch.long)
        digits[idx[:, 0], idx[:, 1]] = vals
    return ids, digits


# ------------------------------------------------------------------------------------- models
class _SlotEncoder(nn.Module):
    def __init__(self, vocab_size: int, n_slots: int, d: int, heads: int, layers: int, ff: int, max_len: int,
                 read_digits: bool = False):
        super().__init__()
        self.n_slots, self.max_len = n_slots, max_len
        self.tok = nn.Embedding(vocab_size, d, padding_idx=0)
        # place-value embedding: a number is the sum of one vector per (place, digit)
        self.place = nn.Embedding(N_PLACES * 11, d) if read_digits else None
        self.pos = nn.Embedding(max_len + n_slots, d)
        self.slots = nn.Parameter(torch.randn(n_slots, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    def forward(self, ids: torch.Tensor, digits: torch.Tensor | None = None,
                extra: torch.Tensor | None = None) -> torch.Tensor:
        B, L = ids.shape
        x = self.tok(ids)
        if extra is not None:                       # (B, d) added to every token of the row
            x = x + extra[:, None, :]
        if self.place is not None:
            # only number tokens carry digits: embed those (a few per row), not every position
            where = (digits[..., 0] != 10).nonzero(as_tuple=True)
            if len(where[0]):
                d = digits[where]                                        # (K, N_PLACES)
                offs = torch.arange(N_PLACES, device=ids.device) * 11
                emb = (self.place(d + offs) * (d != 10).unsqueeze(-1)).sum(1)
                x = x.index_put(where, x[where] + emb)
        x = torch.cat([self.slots.expand(B, -1, -1), x], dim=1)
        x = x + self.pos(torch.arange(self.n_slots + L, device=ids.device))
        pad = torch.cat([torch.zeros(B, self.n_slots, dtype=torch.bool, device=ids.device), ids == 0], dim=1)
        h = self.enc(x, src_key_padding_mask=pad)
        return self.norm(h[:, : self.n_slots])


class DirectSolver(nn.Module):
    """Reads the question (numbers as digits); its slots predict the answer's digits (or blank)."""

    view = "direct"

    def __init__(self, vocab: Vocab, d: int = 48, heads: int = 4, layers: int = 2, ff: int = 96, max_len: int = 128,
                 n_slots: int = N_DIGIT_SLOTS):
        super().__init__()
        if isinstance(n_slots, bool) or not isinstance(n_slots, int) or not 1 <= n_slots <= N_DIGIT_SLOTS:
            raise ValueError(f"n_slots must be an int from 1 to {N_DIGIT_SLOTS}, got {n_slots!r}")
        self.vocab, self.n_slots = vocab, n_slots
        self.body = _SlotEncoder(len(vocab), n_slots, d, heads, layers, ff, max_len, read_digits=True)
        self.head = nn.Linear(d, 11)

    def forward(self, ids: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:   # (B, slots, 11)
        return self.head(self.body(ids, digits))


class ProgramSolver(nn.Module):
    """A per-sentence tagger: for each sentence of the question, two slots predict up to two steps
    in local terms (an operation and two operands among the running total ``t``, the previous step
    ``r``, the start value ``s``, the sentence's own numbers ``x1 x2 x3`` and constants), or
    ``none``. :func:`utils.reasoning.mathgen.compile_tags` turns the tags into the question's operation list.
    The numbers of a sentence are read as placeholders ``<x1>``, ``<x2>``...: their digits are
    never seen."""

    view = "program"

    def __init__(self, vocab: Vocab, d: int = 48, heads: int = 4, layers: int = 2, ff: int = 96, max_len: int = 40):
        super().__init__()
        self.vocab = vocab
        self.body = _SlotEncoder(len(vocab), SENTENCE_SLOTS, d, heads, layers, ff, max_len)
        self.where = nn.Embedding(3, d)      # first / middle / last sentence of the question
        self.op = nn.Linear(d, len(TAG_OPS))
        self.a = nn.Linear(d, len(mathgen.LOCAL_REFS))
        self.b = nn.Linear(d, len(mathgen.LOCAL_REFS))

    def forward(self, ids: torch.Tensor, where: torch.Tensor):
        h = self.body(ids, extra=self.where(where))
        return self.op(h), self.a(h), self.b(h)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------ targets
def direct_targets(values: Sequence[int], n_slots: int = N_DIGIT_SLOTS) -> torch.Tensor:
    """Digits of each answer, least significant first, blank (10) after the last digit (``n_slots`` slots)."""
    out = torch.full((len(values), n_slots), _BLANK, dtype=torch.long)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"answers must be non-negative ints, got {v!r}")
        digits = str(v)[::-1]
        if len(digits) > n_slots:
            raise ValueError(f"answer {v} has more than {n_slots} digits (the model has {n_slots} answer slots)")
        out[i, : len(digits)] = torch.tensor([int(c) for c in digits])
    return out


def program_targets(tag_lists: Sequence[Sequence[tuple[str, str, str]]]) -> tuple[torch.Tensor, ...]:
    """(op, a, b) targets for sentences, one tag list per sentence; -100 (ignored) after ``none``."""
    n = len(tag_lists)
    ops = torch.full((n, SENTENCE_SLOTS), -100, dtype=torch.long)
    a = torch.full((n, SENTENCE_SLOTS), -100, dtype=torch.long)
    b = torch.full((n, SENTENCE_SLOTS), -100, dtype=torch.long)
    for i, tags in enumerate(tag_lists):
        if len(tags) > SENTENCE_SLOTS:
            raise ValueError(f"a sentence can have at most {SENTENCE_SLOTS} steps, got {len(tags)}")
        for k, (op, x, y) in enumerate(tags):
            ops[i, k] = TAG_OPS.index(op)
            a[i, k], b[i, k] = _REF_ID[x], _REF_ID[y]
        if len(tags) < SENTENCE_SLOTS:
            ops[i, len(tags)] = TAG_OPS.index("none")
    return ops, a, b


def sentence_inputs(vocab: Vocab, questions: Sequence[str], max_len: int = 40):
    """All sentences of the questions: token ids (S, L), their position in the question (S,) as
    0 first / 1 middle / 2 last, and for each question the range of its sentences."""
    sents, where, spans = [], [], []
    for q in questions:
        parts = mathgen.split_sentences(q) or [""]
        spans.append((len(sents), len(sents) + len(parts)))
        for j, p in enumerate(parts):
            sents.append(p)
            where.append(0 if j == 0 else (2 if j == len(parts) - 1 else 1))
    ids, _ = encode(vocab, sents, "program", max_len)
    return ids, torch.tensor(where, dtype=torch.long), spans


# ----------------------------------------------------------------------------------- training
def train_solver(model: nn.Module, problems: Sequence, *, steps: int = 300, batch_size: int = 64,
                 lr: float = 3e-3, seed: int = 0, progress: bool = True, desc: str = "train",
                 callback: Callable[[int], None] | None = None, every: int = 0) -> list[float]:
    """Train a solver on :class:`utils.reasoning.mathgen.Problem` objects with AdamW and a cosine schedule,
    for a fixed number of steps; return the loss of every step. Deterministic given ``seed``.

    A :class:`DirectSolver` learns each question's answer digits; a :class:`ProgramSolver` learns the
    tags of every sentence (its batches are sentences, ``batch_size`` of them). With ``callback`` and ``every``,
    ``callback(step)`` runs after every ``every`` steps with the model in eval mode (to draw a learning curve);
    it must not train the model."""
    from tqdm.auto import tqdm

    if len(problems) == 0:
        raise ValueError("no training problems")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if callback is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ValueError(f"with a callback, every must be a positive int, got {every!r}")
    if not isinstance(model, (DirectSolver, ProgramSolver)):
        raise TypeError(f"expected a DirectSolver or ProgramSolver, got {type(model).__name__}")
    ids_all, extra_all, tgt = _training_tensors(model, problems)
    lengths = (ids_all != 0).sum(1)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 30) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    losses: list[float] = []
    model.train()
    batches: list[torch.Tensor] = []
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for _ in _attention(bar):
        if not batches:
            batches = _length_buckets(lengths, batch_size, gen)
        idx = batches.pop()
        L = max(1, int(lengths[idx].max()))
        out = model(ids_all[idx, :L], extra_all[idx, :L] if extra_all.dim() > 1 else extra_all[idx])
        out = out if isinstance(out, tuple) else (out,)
        loss = sum(ce(o.reshape(-1, o.shape[-1]), t[idx].reshape(-1)) for o, t in zip(out, tgt))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if len(losses) % 20 == 0:
            bar.set_postfix(loss=f"{sum(losses[-20:]) / 20:.3f}")
        if callback is not None and len(losses) % every == 0:
            model.eval()
            with torch.random.fork_rng():   # a callback never changes the batches or the sampling that follow
                callback(len(losses))
            model.train()
    model.eval()
    return losses


_ENCODED: list = []   # the last few encodings: several seeds of one model train on the same problems


def _training_tensors(model: nn.Module, problems: Sequence):
    """Inputs and targets for training ``model`` on ``problems``, encoded once and reused while the same
    list of problems trains another model with the same vocabulary and size (a notebook's other seeds)."""
    key = (type(model), model.vocab, model.body.max_len, getattr(model, "n_slots", None))
    for cached_problems, cached_key, tensors in _ENCODED:
        if cached_problems is problems and cached_key == key and len(cached_problems) == len(problems):
            return tensors
    if isinstance(model, DirectSolver):
        ids_all, extra_all = encode(model.vocab, [p.question for p in problems], "direct", model.body.max_len)
        tgt = (direct_targets([p.value for p in problems], model.n_slots),)
    else:
        ids_all, extra_all, _ = sentence_inputs(model.vocab, [p.question for p in problems], model.body.max_len)
        tgt = program_targets([t for p in problems for t in p.tags])
    _ENCODED.append((problems, key, (ids_all, extra_all, tgt)))
    del _ENCODED[:-4]
    return ids_all, extra_all, tgt


def _length_buckets(lengths: torch.Tensor, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches of questions of similar length (less padding: about 1.5x faster)."""
    noisy = lengths.float() + torch.rand(len(lengths), generator=gen) * 8   # mix nearby lengths
    order = torch.argsort(noisy)
    batches = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    perm = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in perm]


def _attention(iterable):
    """Iterate with PyTorch's plain ("math") attention: for these tiny models on a CPU it is about a third faster
    than the fused kernel that PyTorch picks by default."""
    with sdpa_kernel(SDPBackend.MATH):
        yield from iterable


# ---------------------------------------------------------------------------------- inference
@torch.no_grad()
def _run_sorted(model: nn.Module, ids: torch.Tensor, extra: torch.Tensor, batch_size: int = 128):
    """Run ``model`` on rows sorted by length, in batches trimmed to their longest row (much less
    padding), and return the outputs in the original order."""
    lengths = (ids != 0).sum(1)
    order = torch.argsort(lengths, stable=True)
    outs = []
    for i in _attention(range(0, len(ids), batch_size)):
        idx = order[i: i + batch_size]
        L = max(1, int(lengths[idx].max()))
        out = model(ids[idx, :L], extra[idx, :L] if extra.dim() > 1 else extra[idx])
        outs.append(out if isinstance(out, tuple) else (out,))
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    return [torch.cat([o[j] for o in outs])[inverse] for j in range(len(outs[0]))] if outs else []


@torch.no_grad()
def predict_direct(model: DirectSolver, questions: Sequence[str]) -> list[int | None]:
    """The direct model's answers: digits up to the first blank (None if the first slot is blank)."""
    model.eval()
    if len(questions) == 0:
        return []
    ids, dig = encode(model.vocab, questions, "direct", model.body.max_len)
    answers: list[int | None] = []
    for row in _run_sorted(model, ids, dig)[0].argmax(-1).tolist():
        ds = []
        for d in row:
            if d == _BLANK:
                break
            ds.append(str(d))
        answers.append(int("".join(reversed(ds))) if ds else None)
    return answers


@dataclass(frozen=True)
class Candidate:
    """One decoded program: its steps, and the model's log-probability of them."""

    steps: tuple[tuple[str, str, str], ...]
    logprob: float
    tags: tuple = ()


@torch.no_grad()
def decode_programs(model: ProgramSolver, questions: Sequence[str], n: int = 1, temperature: float = 1.0,
                    greedy: bool = False, seed: int = 0, batch_size: int = 256) -> list[list[Candidate]]:
    """``n`` candidate operation lists per question: greedy (``greedy=True``, then ``n`` must be 1) or
    sampled slot by slot at ``temperature``. Each candidate's ``logprob`` is the model's (temperature
    1) log-probability of its choices; its steps come from :func:`utils.reasoning.mathgen.compile_tags`."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or (greedy and n != 1):
        raise ValueError("n must be a positive int, and greedy decoding gives exactly one candidate (n=1)")
    if not greedy and not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature must be > 0 for sampling, got {temperature!r}")
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    if len(questions) == 0:
        return []
    ids, where, spans = sentence_inputs(model.vocab, questions, model.body.max_len)
    lp = [torch.log_softmax(o.float(), -1) for o in _run_sorted(model, ids, where, batch_size)]  # (S, slots, C)
    if greedy:
        picks = [x.argmax(-1)[:, None, :] for x in lp]                    # (S, 1, slots)
    else:
        picks = []
        for x in lp:
            probs = torch.softmax(x / temperature, -1).reshape(-1, x.shape[-1])
            smp = torch.multinomial(probs, n, replacement=True, generator=gen)
            picks.append(smp.reshape(x.shape[0], x.shape[1], n).permute(0, 2, 1))
    # log-probabilities of the picks, gathered at once: (S, n, slots) each
    lp_op, lp_a, lp_b = (torch.gather(x[:, None].expand(-1, pk.shape[1], -1, -1), 3, pk[..., None])[..., 0]
                         for x, pk in zip(lp, picks))
    op, a, b = picks
    none = TAG_OPS.index("none")
    # a slot counts while no earlier slot of its sentence said "none"; its operands count if it is not "none" itself
    live = torch.cat([torch.ones_like(op[..., :1], dtype=torch.bool), (op != none).cumprod(-1).bool()[..., :-1]], -1)
    used = live & (op != none)
    per_sentence = (lp_op * live + (lp_a + lp_b) * used).sum(-1).double()        # (S, n)
    sentence_of = torch.repeat_interleave(torch.arange(len(spans)), torch.tensor([e - s for s, e in spans]))
    totals = torch.zeros(len(spans), per_sentence.shape[1], dtype=torch.float64).index_add_(0, sentence_of,
                                                                                           per_sentence).tolist()
    code = torch.stack([torch.where(live, op, -1), torch.where(used, a, -1), torch.where(used, b, -1)], -1)
    refs, ops = mathgen.LOCAL_REFS, TAG_OPS
    result: list[list[Candidate]] = []
    for qi, (q, (s0, s1)) in enumerate(zip(questions, spans)):
        rows = code[s0:s1].permute(1, 0, 2, 3).reshape(code.shape[1], -1).tolist() if s1 > s0 else []
        seen: dict = {}   # samples repeat: compile each distinct choice of tags once
        cands = []
        for j, row in enumerate(rows):
            key = tuple(row)
            if key not in seen:
                tags = []
                for si in range(s1 - s0):
                    local = []
                    for k in range(SENTENCE_SLOTS):
                        o, x, y = row[(si * SENTENCE_SLOTS + k) * 3: (si * SENTENCE_SLOTS + k) * 3 + 3]
                        if o == -1 or o == none:
                            break
                        local.append((ops[o], refs[x], refs[y]))
                    tags.append(tuple(local))
                try:
                    steps = mathgen.compile_tags(q, tags)
                except ValueError:
                    steps = ()
                seen[key] = (steps, tuple(tags))
            steps, tags = seen[key]
            cands.append(Candidate(steps, totals[qi][j], tags))
        result.append(cands)
    return result


# ------------------------------------------------------------------------------ widget logic
def solve_report(question: str, direct_model: DirectSolver, program_model: ProgramSolver,
                 pipeline: Callable, gold=None) -> str:
    """Text for the lesson's widget: both solvers on one question, the program model's tags, the
    generated program and what the sandbox made of it. ``pipeline(numbers, steps) -> (program,
    answer)`` is the lesson's exercise; ``gold`` (optional) is the right answer."""
    from utils.reasoning import sandbox

    if not isinstance(question, str) or not question.strip():
        return "Type a word problem (numbers in digits), or pick an example."
    question = " ".join(question.split())
    _, nums = split_numbers(question)
    lines = [f"Question: {question}"]
    if gold is not None:
        lines.append(f"Right answer: {gold}")
    unknown = sorted({t for sent in mathgen.split_sentences(question) for t in tokenize(sent, "program")[0]
                      if t not in program_model.vocab.stoi})
    if unknown:
        lines.append(f"Words never seen in training (read as <unk>): {', '.join(unknown[:12])}")
    direct = predict_direct(direct_model, [question])[0]
    lines += ["", f"DIRECT solver, answer digits: {direct if direct is not None else '(no digits)'}", ""]
    cand = decode_programs(program_model, [question], greedy=True)[0][0]
    lines.append("PROGRAM-AIDED solver, its tags sentence by sentence:")
    for sent, tags in zip(mathgen.split_sentences(question), cand.tags):
        shown = ", ".join("total = " + a if op == "=" else f"{a} {op} {b}" for op, a, b in tags) or "-"
        lines.append(f"  {sent[:60]:<60} -> {shown}")
    numbers = [int(v) if float(v).is_integer() else v for v in nums]
    program, answer = pipeline(numbers, list(cand.steps))
    lines += ["", "Generated program:"] + ["    " + ln for ln in str(program).splitlines()]
    outcome = sandbox.safe_run(program) if isinstance(program, str) else None
    if outcome is not None and not outcome.ok:
        lines.append(f"Sandbox: refused ({outcome.error_type}): {outcome.error}  -> counted as wrong")
    lines.append(f"Program-aided answer: {answer if answer is not None else '(none)'}")
    return "\n".join(lines)
