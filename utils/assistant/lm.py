"""Tiny word-level language models of the assistant corpus.

Tokens are words (letters, digits, apostrophes), the marks ``. , ? ! :`` and the line break. Id 0 starts a
document, id 1 stands for a word the vocabulary does not know. A model reads ids of shape (B, T) and returns at
every position ``t`` the logits (B, T, V) of the token at ``t + 1``.

The model, :class:`DecayLM`, is a recurrent network whose memory is fixed: at each position it keeps, for a few
decay rates ``lam``, the decaying sum ``sum_s lam**(t - s) * e_s`` of the embeddings read so far (a linear
recurrence, as in state-space models) and an MLP reads them with the current and previous embedding. Because the
recurrence is linear it is computed for every position at once, which is why it learns this corpus in seconds on
a CPU where a GRU of the same size did not (see ``assets/README.md``). Sizes differ in embedding and MLP width.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from utils.training import train

from . import data as D

__all__ = ["Vocab", "DecayLM", "LM_SIZES", "BOS", "UNK", "build_vocab", "make_windows", "train_lm",
           "lm_batch_loss", "encode_batch", "held_out_loss", "count_params", "exchange_prefix"]

BOS, UNK = 0, 1
ALLOWED = set("abcdefghijklmnopqrstuvwxyz0123456789'.,?!: \n")
_TOKEN = re.compile(r"[a-z0-9']+|[.,?!:]|\n")
LM_SIZES = {"small": (8, 16), "medium": (16, 40), "large": (32, 80)}   # name -> (embedding, MLP width)


@dataclass(frozen=True)
class Vocab:
    """Word <-> id. ``encode`` lower-cases, refuses characters outside the alphabet (``ValueError``) and maps
    words it does not know to ``<unk>`` (id 1); ``unknown_words`` lists them."""
    itos: tuple[str, ...]
    stoi: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "stoi", {w: i for i, w in enumerate(self.itos)})

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def tokenize(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        low = text.lower()
        bad = sorted(set(low) - ALLOWED)
        if bad:
            raise ValueError(f"unknown characters {bad} in {text[:60]!r}: the models read only letters, digits, "
                             f"spaces and the marks ' . , ? ! : (remove or replace the others)")
        return _TOKEN.findall(low)

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in self.tokenize(text) if w not in self.stoi]

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, UNK) for w in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        out: list[str] = []
        for i in ids:
            w = self.itos[int(i)]
            if w == "<bos>":
                continue
            if out and w not in ".,?!:\n" and not out[-1].endswith("\n"):
                out.append(" ")
            out.append(w)
        return "".join(out)


def build_vocab() -> Vocab:
    """Every word the generator can write (templates, evaluation, prompt, edit fillers), sorted, after ``<bos>``
    and ``<unk>``. Garbled words of the edit set are not in it: they read as ``<unk>``."""
    texts = [D.hhh_prompt(), *D.all_requests(), *D.candidate_responses(), *D.OPENERS, *D.FACT_OPENERS,
             *(w for ws in D.SOCIAL.values() for group in ws for w in group), *D.SOCIAL, "h: a:", *D.FILLER_WORDS,
             *D.REFUSE_OPEN, *D.REFUSE_WHY, *D.HEDGES]
    words = sorted({w for t in texts for w in _TOKEN.findall(t.lower())})
    return Vocab(("<bos>", "<unk>", *words))


class DecayLM(nn.Module):
    """Embedding -> [current, previous, decaying sums for each decay] -> LayerNorm -> 2-layer MLP -> logits.

    ``forward(ids)`` takes ids (B, T) (integers, or floats holding integers, since the course's training loop
    passes float inputs) and returns logits (B, T, V). ``features(ids)`` returns the MLP output (B, T, width).
    """

    def __init__(self, vocab_size: int, emb: int = 16, width: int = 48,
                 decays: Sequence[float] = (0.5, 0.8, 0.95, 0.99)):
        super().__init__()
        if vocab_size < 3 or emb < 1 or width < 1:
            raise ValueError(f"need vocab_size >= 3, emb >= 1 and width >= 1; got {vocab_size}, {emb}, {width}")
        if not decays or not all(0.0 < d < 1.0 for d in decays):
            raise ValueError(f"decays must be numbers strictly between 0 and 1, got {decays}")
        self.vocab_size, self.width = vocab_size, width
        self.decays = tuple(float(d) for d in decays)
        n_in = emb * (2 + len(self.decays))
        self.emb = nn.Embedding(vocab_size, emb)
        self.mlp = nn.Sequential(nn.LayerNorm(n_in), nn.Linear(n_in, width), nn.GELU(),
                                 nn.Linear(width, width), nn.GELU())
        self.head = nn.Linear(width, vocab_size)
        self._decay_cache: dict[int, torch.Tensor] = {}

    def _ids(self, ids: torch.Tensor) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
            raise ValueError(f"ids must be a (batch, time) tensor, got {getattr(ids, 'shape', type(ids).__name__)}")
        if ids.shape[1] == 0:
            raise ValueError("ids has no time steps: encode at least one token")
        ids = ids.long()
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}); got {ids.min().item()}..{ids.max().item()}")
        return ids

    def _decay_matrix(self, T: int) -> torch.Tensor:
        if T not in self._decay_cache:
            t = torch.arange(T)
            lag = (t[:, None] - t[None, :]).float()
            lam = torch.tensor(self.decays)[:, None, None]
            self._decay_cache[T] = torch.where(lag >= 0, lam ** lag.clamp(min=0), torch.zeros(()))  # (K, T, T)
        return self._decay_cache[T]

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.emb(self._ids(ids))                                           # (B, T, E)
        B, T, E = e.shape
        prev = torch.cat([e.new_zeros(B, 1, E), e[:, :-1]], 1)
        sums = torch.einsum("kts,bse->btke", self._decay_matrix(T), e).reshape(B, T, -1)
        return self.mlp(torch.cat([e, prev, sums], -1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def exchange_prefix(request: str, prompt: str = "") -> str:
    """What a model reads before a response: the prompt, then ``h: request\\na: ``."""
    return f"{prompt}h: {request}\na: "


def make_windows(docs: Sequence[Sequence[D.Exchange]], vocab: Vocab, length: int = 64, seed: int = 0,
                 unk_rate: float = 0.01) -> torch.Tensor:
    """The corpus as one stream ``<bos> doc <bos> doc ...`` cut into windows of ``length + 1`` ids (inputs and
    next-token targets). A share ``unk_rate`` of the words becomes ``<unk>`` so that the models learn to read a
    word they do not know."""
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length}")
    stream: list[int] = []
    for doc in docs:
        stream += [BOS] + vocab.encode(D.format_document(doc))
    ids = torch.tensor(stream)
    g = torch.Generator().manual_seed(seed)
    ids[(torch.rand(len(ids), generator=g) < unk_rate) & (ids != BOS)] = UNK
    n = len(ids) // (length + 1)
    if n == 0:
        raise ValueError("the corpus is shorter than one window; use more documents or a shorter window")
    return ids[: n * (length + 1)].view(n, length + 1)


def lm_batch_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy on a batch of windows (``yb`` is unused: the targets are the windows shifted)."""
    xb = xb.long()
    logits = model(xb[:, :-1])
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), xb[:, 1:].reshape(-1))


def train_lm(windows: torch.Tensor, vocab_size: int, size: str = "medium", *, epochs: int = 6, lr: float = 0.01,
             batch_size: int = 32, seed: int = 0) -> tuple[DecayLM, list[float]]:
    """A fresh :class:`DecayLM` of the named ``size`` (see ``LM_SIZES``) trained with the course's
    :func:`utils.training.train` (``batch_loss`` = next-token loss); returns the model in eval mode and the mean
    training loss of each epoch."""
    if size not in LM_SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {list(LM_SIZES)}")
    emb, width = LM_SIZES[size]
    torch.manual_seed(seed)
    model = DecayLM(vocab_size, emb=emb, width=width)
    history = train(model, windows.float(), torch.zeros(len(windows), dtype=torch.long), epochs=epochs,
                    batch_size=batch_size, lr=lr, batch_loss=lm_batch_loss, seed=seed, progress=False)
    return model, history


def encode_batch(vocab: Vocab, prefixes: Sequence[str], continuations: Sequence[str]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids (B, T) of ``<bos> + prefix + continuation``, right-padded with 0, and a boolean mask (B, T) that is True
    on the continuation's tokens. Every continuation must contain at least one word."""
    if isinstance(prefixes, str) or isinstance(continuations, str):
        raise TypeError("pass lists of strings (one prefix and one continuation per row), not a single string")
    if len(prefixes) != len(continuations):
        raise ValueError(f"mismatched inputs: {len(prefixes)} prefixes but {len(continuations)} continuations")
    if not prefixes:
        raise ValueError("nothing to encode: pass at least one prefix and continuation")
    rows, masks = [], []
    for p, c in zip(prefixes, continuations):
        a, b = [BOS] + vocab.encode(p), vocab.encode(c)
        if not b:
            raise ValueError(f"empty response after {p[-40:]!r}: a response needs at least one word")
        rows.append(a + b)
        masks.append([False] * len(a) + [True] * len(b))
    T = max(map(len, rows))
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    for i, (r, m) in enumerate(zip(rows, masks)):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(m)] = torch.tensor(m)
    return ids, mask


def _part_mask(vocab: Vocab, doc: Sequence[D.Exchange], part: str) -> list[bool]:
    keep: list[bool] = []
    for e in doc:
        n_req = len(vocab.encode(f"h: {e.request}\n"))
        n_resp = len(vocab.encode(f"a: {e.response}\n"))
        keep += [part in ("request", "all")] * n_req + [part in ("response", "all")] * n_resp
    return keep


@torch.no_grad()
def held_out_loss(model: nn.Module, vocab: Vocab, docs: Sequence[Sequence[D.Exchange]], prompt: str = "",
                  part: str = "request") -> float:
    """Mean next-token loss (nats per token) on held-out documents, counted on the ``part`` tokens only:
    ``"request"`` (what the human writes: it does not depend on which character answers, so it measures plain
    language-modelling skill), ``"response"`` or ``"all"``. ``prompt`` is put before each document."""
    if part not in ("request", "response", "all"):
        raise ValueError(f"part must be 'request', 'response' or 'all', got {part!r}")
    if not docs:
        raise ValueError("held_out_loss needs at least one document")
    model.eval()
    ids, mask = encode_batch(vocab, [prompt] * len(docs), [D.format_document(d) for d in docs])
    for i, doc in enumerate(docs):
        pos = mask[i].nonzero().flatten()
        mask[i, pos] = torch.tensor(_part_mask(vocab, doc, part), dtype=torch.bool)
    logp = torch.log_softmax(model(ids[:, :-1]), -1).gather(2, ids[:, 1:, None])[..., 0]
    m = mask[:, 1:]
    return float(-(logp * m).sum() / m.sum())
