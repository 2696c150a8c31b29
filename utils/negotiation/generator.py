"""The speaker as a small neural model, and a linear probe on its hidden state (lesson 08).

:class:`MessageGenerator` writes a message as a short sequence of *phrases*: an opener or a sincerity word,
a hedge, the body (one of the simulator's templates for the act) and a closer, each optional except the
body; the slots of the body (the good, the bundles of an offer) are filled from the plan. It is a GRU over
phrase tokens whose initial state is computed from a *conditioning vector*:

* the speaker's private state: its true view of each good (high/low/absent), whether it has an outside option,
  whether it plans to walk away, its type, and the public power difference;
* its intent for this message: the act, the good, the claimed level or outside option, and, in the
  ``"intent"`` variant, whether it means to deceive.

Trained on the simulator's messages, it learns how the simulated traders word things (liars reach for
"trust me" more often). A probe is a logistic regression on the generator's state just before it writes the
first phrase. The generator was *given* the intent (or, in the ``"state"`` variant, the private state from
which a lie follows), so the probe reads information that was put into the model; the lesson discusses what
that does and does not show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from .simulator import ACTS, HEDGES, ITEMS, OPENERS, SINCERE, TEMPLATES, Corpus, Message, render_text, \
    template_key

__all__ = ["VARIANTS", "phrase_tokens", "PhraseVocab", "condition_matrix", "MessageGenerator", "train_generator",
           "speaker_states", "generate", "Probe", "GeneratorRun", "run_generator"]

VARIANTS = ("intent", "state", "text-only")
PAD, BOS, EOS = 0, 1, 2
_SLOTS = (("sincere", SINCERE), ("opener", OPENERS), ("hedge", HEDGES))


def phrase_tokens(m: Message) -> list[str]:
    """The phrases of a message, in order, as tokens (from the simulator's record of its wording)."""
    if not isinstance(m, Message):
        raise TypeError(f"expected a Message, got {type(m).__name__}")
    st = m.style
    if "template" not in st:
        raise ValueError("this message has no wording record (style); was it made by the simulator?")
    toks = []
    for name, _ in _SLOTS:
        if st.get(name) is not None:
            toks.append(f"{name}:{st[name]}")
    toks.append(f"body:{template_key(m)}:{st['template']}")
    if st.get("closer") is not None:
        toks.append(f"closer:{st['closer']}")
    return toks


def _style_from_tokens(tokens: Sequence[str]) -> dict:
    style = {"template": 0, "sincere": None, "opener": None, "hedge": None, "closer": None}
    for t in tokens:
        kind, _, rest = t.partition(":")
        if kind == "body":
            style["template"] = int(rest.rsplit(":", 1)[1])
        elif kind in style:
            style[kind] = int(rest)
    return style


class PhraseVocab:
    """Phrase tokens seen in the training messages."""

    def __init__(self, messages: Sequence[Message]):
        if len(messages) == 0:
            raise ValueError("the vocabulary needs at least one message")
        toks = sorted({t for m in messages for t in phrase_tokens(m)})
        self.itos = ["<pad>", "<bos>", "<eos>", *toks]
        self.stoi = {t: k for k, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, messages: Sequence[Message]) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each (N, L): inputs start with <bos>, targets end with <eos>; padded with 0.
        A phrase never seen in training raises a KeyError naming it."""
        seqs = []
        for m in messages:
            toks = phrase_tokens(m)
            missing = [t for t in toks if t not in self.stoi]
            if missing:
                raise KeyError(f"phrase {missing[0]!r} is not in the vocabulary (not seen in training)")
            seqs.append([self.stoi[t] for t in toks])
        L = max(len(s) for s in seqs) + 1
        x = np.full((len(seqs), L), PAD, dtype=np.int64)
        y = np.full((len(seqs), L), PAD, dtype=np.int64)
        for k, s in enumerate(seqs):
            x[k, :len(s) + 1] = [BOS, *s]
            y[k, :len(s) + 1] = [*s, EOS]
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        return x, y


def condition_matrix(corpus: Corpus, variant: str = "intent") -> np.ndarray:
    """One conditioning vector per message (float32, (N, 27)). ``variant`` is one of :data:`VARIANTS`:
    ``"intent"`` includes the deceive flag (the last column); ``"state"`` sets it to 0 (private state and planned
    content only); ``"text-only"`` is all zeros (an unconditional model of the wording)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    rows = []
    for g in corpus.games:
        for m in g.messages:
            me = g.private[m.speaker]
            state = [(1.0 if me.level(i, g.pool) == "high" else -1.0) if i in g.pool else 0.0 for i in ITEMS]
            state += [float(me.has_outside), float(me.plan_walk), float(me.deceptive), m.power / 6.0]
            plan = [float(m.act == a) for a in ACTS] + [float(m.item == i) for i in ITEMS]
            plan += [{"high": 1.0, "low": -1.0}.get(m.level, 0.0), {True: 1.0, False: -1.0}.get(m.outside, 0.0)]
            rows.append(state + plan + [float(m.lie) if variant == "intent" else 0.0])
    out = np.asarray(rows, dtype=np.float32)
    if variant == "text-only":
        out[:] = 0.0
    return out


class MessageGenerator(nn.Module):
    """Conditioning vector -> initial GRU state; then a GRU over phrase tokens."""

    def __init__(self, n_cond: int, n_vocab: int, emb: int = 16, hidden: int = 32):
        super().__init__()
        self.init = nn.Sequential(nn.Linear(n_cond, hidden), nn.Tanh())
        self.emb = nn.Embedding(n_vocab, emb, padding_idx=PAD)
        self.gru = nn.GRU(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_vocab)

    def forward(self, cond: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states, _ = self.gru(self.emb(x), self.init(cond).unsqueeze(0))
        return self.out(states), states


def _as_cond(cond, n: int) -> torch.Tensor:
    c = torch.as_tensor(np.asarray(cond, dtype=np.float32))
    if c.ndim != 2 or c.shape[0] != n:
        raise ValueError(f"cond must be (n_messages, D) with n_messages = {n}, got {tuple(c.shape)}")
    return c


def train_generator(cond: np.ndarray, messages: Sequence[Message], vocab: PhraseVocab, epochs: int = 3,
                    seed: int = 0, lr: float = 3e-2, batch: int = 256) -> tuple[MessageGenerator, list]:
    """Teacher-forced next-phrase training; returns the model and the mean loss (nats per phrase) of each epoch.
    ``epochs=0`` returns the untrained, randomly initialised model (a control)."""
    messages = list(messages)
    cond_t = _as_cond(cond, len(messages))
    torch.manual_seed(seed)
    model = MessageGenerator(cond_t.shape[1], len(vocab))
    x, y = vocab.encode(messages)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(messages), generator=g)
        total, count = 0.0, 0
        for k in range(0, len(messages), batch):
            idx = perm[k:k + batch]
            logits, _ = model(cond_t[idx], x[idx])
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        losses.append(total / count)
    model.eval()
    return model, losses


@torch.no_grad()
def speaker_states(model: MessageGenerator, cond: np.ndarray) -> np.ndarray:
    """The generator's hidden state just before it writes the first phrase (after reading <bos>): (N, hidden).
    It depends on the conditioning only, not on the words that follow."""
    c = _as_cond(cond, len(cond))
    _, states = model(c, torch.full((c.shape[0], 1), BOS, dtype=torch.long))
    return states[:, 0].numpy().astype(np.float64)


@torch.no_grad()
def generate(model: MessageGenerator, cond: np.ndarray, vocab: PhraseVocab, messages: Sequence[Message],
             temperature: float = 1.0, seed: int = 0, max_len: int = 6) -> list[str]:
    """Sample a wording for each message's plan (its act, good and bundles fill the body's slots); bodies of a
    different act are masked out, so the sample always says what the plan says."""
    messages = list(messages)
    c = _as_cond(cond, len(messages))
    g = torch.Generator().manual_seed(seed)
    h = model.init(c).unsqueeze(0)
    tok = torch.full((len(messages), 1), BOS, dtype=torch.long)
    allowed = torch.ones(len(messages), len(vocab), dtype=torch.bool)
    for r, m in enumerate(messages):
        for k, t in enumerate(vocab.itos):
            if t.startswith("body:") and t.split(":")[1] != template_key(m):
                allowed[r, k] = False
    allowed[:, PAD] = allowed[:, BOS] = False
    out: list[list[str]] = [[] for _ in messages]
    done = torch.zeros(len(messages), dtype=torch.bool)
    for _ in range(max_len):
        states, h = model.gru(model.emb(tok), h)
        logits = model.out(states[:, -1]) / temperature
        logits[~allowed] = -1e9
        tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)
        for r, t in enumerate(tok[:, 0].tolist()):
            if not done[r]:
                if t == EOS:
                    done[r] = True
                else:
                    out[r].append(vocab.itos[t])
    texts = []
    for m, toks in zip(messages, out):
        if not any(t.startswith("body:") for t in toks):          # ran out of steps: fall back to template 0
            toks = [*toks, f"body:{template_key(m)}:0"]
        style = _style_from_tokens(toks)
        style["template"] = style["template"] % len(TEMPLATES[template_key(m)])
        texts.append(render_text(m, style))
    return texts


class Probe:
    """A linear probe: standardise, then a class-balanced logistic regression."""

    def __init__(self, C: float = 1.0):
        self.scaler = StandardScaler()
        self.clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)

    def fit(self, h: np.ndarray, y) -> "Probe":
        self.clf.fit(self.scaler.fit_transform(h), np.asarray(y).astype(int))
        return self

    def score(self, h: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(self.scaler.transform(h))[:, 1]


@dataclass
class GeneratorRun:
    variant: str
    trained: bool
    model: MessageGenerator
    vocab: PhraseVocab
    losses: list
    probe: Probe
    test_scores: np.ndarray


def run_generator(train: Corpus, test: Corpus, variant: str = "intent", epochs: int = 3, seed: int = 0,
                  trained: bool = True, shuffle_labels: bool = False) -> GeneratorRun:
    """Train a generator of the given variant on the training games (``trained=False``: leave it at its random
    initialisation, a control), fit a probe on its speaker states for the training messages (optionally with
    shuffled labels, another control) and score the test messages."""
    vocab = PhraseVocab(train.messages)
    c_tr, c_te = condition_matrix(train, variant), condition_matrix(test, variant)
    model, losses = train_generator(c_tr, train.messages, vocab, epochs=epochs if trained else 0, seed=seed)
    y = train.lie.copy()
    if shuffle_labels:
        np.random.default_rng(seed).shuffle(y)
    probe = Probe().fit(speaker_states(model, c_tr), y)
    return GeneratorRun(variant, trained, model, vocab, losses, probe, probe.score(speaker_states(model, c_te)))
