"""Lesson 02: a small sentiment dataset, a bag-of-embeddings classifier, and an adversarial text benchmark.

Contents
--------
data        ``load_sentiment()``, ``load_synonyms()``, ``load_antonyms()``: the course's own review sentences
            (``utils/text/assets/sentiment.tsv``, see ``assets/README.md``) and the substitution tables.
tokens      ``tokenize`` / ``detokenize`` (lower-case words, each punctuation mark its own token) and ``Vocab``.
model       ``TextClassifier`` (an ``nn.EmbeddingBag`` mean of word vectors and a linear layer),
            ``make_text_model``, ``TextTrainer`` (resumable, forkable) and ``train_text_model`` (ordinary, or
            adversarial training with ``adversarial_training_step`` on every mini-batch).
attack      ``greedy_attack``: greedy word substitution under a budget of k words; ``attack_accuracy``.
benchmark   six transformation families (``swap_synonyms``, ``add_typos``, ``add_distractor``,
            ``add_contrast``, ``negate_antonym``, ``paraphrase``), ``make_families`` and ``run_benchmark``.
widget      ``transformation_rows`` / ``render_transformations``: the logic behind the lesson's widget.
corpus      ``generate_sentiment_corpus``: the seeded procedure that wrote ``sentiment.tsv``.

Every function that takes text accepts any string (empty, unknown words, punctuation) and raises a clear
``TypeError`` for anything that is not a string.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "ASSETS", "SentimentData", "load_sentiment", "load_synonyms", "load_antonyms",
    "tokenize", "detokenize", "Vocab", "TextClassifier", "make_text_model", "train_text_model",
    "adversarial_training_step", "greedy_attack", "TextTrainer",
    "accuracy_on", "swap_synonyms", "add_typos", "add_distractor", "add_contrast", "negate_antonym",
    "paraphrase", "make_families", "run_benchmark", "attack_accuracy", "transformation_rows",
    "render_transformations", "generate_sentiment_corpus", "LABEL_NAMES",
]

ASSETS = Path(__file__).resolve().parent / "assets"
LABEL_NAMES = ("negative", "positive")

# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class SentimentData:
    """Sentences and 0/1 labels (0 = negative, 1 = positive) of the fixed train / test split."""

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]

    def __repr__(self) -> str:
        pos = sum(self.train_labels) / max(1, len(self.train_labels))
        return (f"SentimentData(train={len(self.train_texts)}, test={len(self.test_texts)}, "
                f"positive share in train={pos:.2f})")


def _read_tsv(name: str) -> list[list[str]]:
    path = ASSETS / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the course package is incomplete (reinstall with `make setup`)")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


def load_sentiment() -> SentimentData:
    """The course's sentiment sentences (``assets/sentiment.tsv``: split, label, text) as a fixed split."""
    tr_x, tr_y, te_x, te_y = [], [], [], []
    for split, label, text in _read_tsv("sentiment.tsv")[1:]:
        (tr_x if split == "train" else te_x).append(text)
        (tr_y if split == "train" else te_y).append(int(label))
    return SentimentData(tr_x, tr_y, te_x, te_y)


def _load_table(name: str) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for word, subs in _read_tsv(name)[1:]:
        table[word] = [s.strip() for s in subs.split(",") if s.strip()]
    return table


def load_synonyms() -> dict[str, list[str]]:
    """The substitution table: word -> candidate replacements that keep the meaning (``sentiment_synonyms.tsv``)."""
    return _load_table("sentiment_synonyms.tsv")


def load_antonyms() -> dict[str, list[str]]:
    """Word -> antonyms; ``negate_antonym`` turns "great" into "not bad" with it (``sentiment_antonyms.tsv``)."""
    return _load_table("sentiment_antonyms.tsv")


# ------------------------------------------------------------------------------------------- tokens

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[^\sa-z0-9]")
_NO_SPACE_BEFORE = set(".,!?;:)'\"")


def _check_text(text, what: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__} {text!r:.60}")
    return text


def tokenize(text: str) -> list[str]:
    """Lower-case words (inner ' and - kept: "don't", "first-rate") and single punctuation marks."""
    return _TOKEN_RE.findall(_check_text(text).lower())


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens into a sentence, with no space before punctuation; ``tokenize(detokenize(t)) == t``."""
    out = ""
    for tok in tokens:
        _check_text(tok, "a token")
        if out and tok not in _NO_SPACE_BEFORE:
            out += " "
        out += tok
    return out


def _is_word(tok: str) -> bool:
    return tok[:1].isalnum()


class Vocab:
    """Word <-> index. Index 0 is padding; words not in the vocabulary are dropped when encoding."""

    def __init__(self, words: Iterable[str]):
        self.itos = ["<pad>"] + sorted(set(words) - {"<pad>"})
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def build(cls, texts: Iterable[str], extra_words: Iterable[str] = ()) -> Vocab:
        """Every token of ``texts`` plus ``extra_words`` (for example every word of the substitution table)."""
        words = set(extra_words)
        for t in texts:
            words.update(tokenize(t))
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, text: str) -> list[int]:
        """Indices of the known tokens of ``text`` (cached: attacks score the same candidates many times)."""
        hit = self._cache.get(text)
        if hit is None:
            hit = [self.stoi[t] for t in tokenize(text) if t in self.stoi]
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[text] = hit
        return list(hit)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words)"


# -------------------------------------------------------------------------------------------- model


class TextClassifier(nn.Module):
    """Mean of word embeddings (``nn.EmbeddingBag``) followed by a linear layer: a fast bag-of-words model.

    ``forward(ids, offsets)`` takes the packed form of ``nn.EmbeddingBag``; use ``predict_proba(list_of_str)``
    for text. Word order is invisible to it by construction, which the benchmark shows.
    """

    def __init__(self, vocab: Vocab, dim: int = 32, n_classes: int = 2, init_std: float = 0.1):
        super().__init__()
        self.vocab = vocab
        self.embedding = nn.EmbeddingBag(len(vocab), dim, mode="mean", padding_idx=0)
        self.head = nn.Linear(dim, n_classes)
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, init_std)  # words never seen in training stay near zero
            self.embedding.weight[0].zero_()

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(ids, offsets))

    def pack(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and bag offsets for a batch of strings (an empty sentence is an empty bag)."""
        texts = _check_batch(texts)
        encoded = [self.vocab.encode(t) for t in texts]
        lengths = torch.tensor([len(e) for e in encoded])
        offsets = torch.zeros(len(texts), dtype=torch.long)
        offsets[1:] = torch.cumsum(lengths, 0)[:-1]
        ids = torch.tensor([i for e in encoded for i in e], dtype=torch.long)
        dev = self.head.weight.device
        return ids.to(dev), offsets.to(dev)

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """Class probabilities, shape (len(texts), 2), for a non-empty list of strings.

        Inference runs in NumPy on the current weights: the same mean of word vectors, linear layer and softmax as
        ``forward``, without torch's per-call overhead, which dominates for the attacks' many small batches."""
        texts = _check_batch(texts)
        return self._proba_of_ids([self.vocab.encode(t) for t in texts])

    def _proba_of_ids(self, encoded: list[list[int]]) -> torch.Tensor:
        emb = self.embedding.weight.detach().cpu().numpy()
        w, b = self.head.weight.detach().cpu().numpy(), self.head.bias.detach().cpu().numpy()
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        sums = np.zeros((len(encoded), emb.shape[1]), dtype=emb.dtype)
        if lengths.any():
            ids = np.array([i for e in encoded for i in e], dtype=np.int64)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            full = lengths > 0
            sums[full] = np.add.reduceat(emb[ids], starts[full], axis=0)
        logits = (sums / np.maximum(lengths, 1)[:, None].astype(emb.dtype)) @ w.T + b
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return torch.from_numpy(p / p.sum(1, keepdims=True))

    def predict(self, texts: Sequence[str]) -> torch.Tensor:
        """Predicted labels (0 = negative, 1 = positive) as a 1-D long tensor."""
        return self.predict_proba(texts).argmax(1)


def _check_batch(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a list of strings, got a single string; wrap it in a list: [text]")
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"expected a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError("empty batch: give at least one sentence")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"item {i} of the batch is a {type(t).__name__} ({t!r:.40}), not a string")
    return list(texts)


def _check_labels(labels, n: int) -> list[int]:
    labels = [int(v) for v in labels]
    if len(labels) != n:
        raise ValueError(f"{n} sentences but {len(labels)} labels")
    if any(v not in (0, 1) for v in labels):
        raise ValueError("labels must be 0 (negative) or 1 (positive)")
    return labels


def make_text_model(vocab: Vocab, dim: int = 32, seed: int = 0) -> TextClassifier:
    """A fresh ``TextClassifier`` with seeded initial weights."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return TextClassifier(vocab, dim=dim)


Attack = Callable[[TextClassifier, str, int], str]


def adversarial_training_step(model: TextClassifier, optimizer: torch.optim.Optimizer, texts: Sequence[str],
                              labels: Sequence[int], attack: Attack) -> float:
    """One step of adversarial training on a mini-batch (Exercise 2 of the lesson; the course's trusted version).

    Attack the model as it is now on every sentence, with the sentence's true label; then take one optimizer step
    on the mean cross-entropy over the ``2B`` sentences, clean and attacked, each attacked copy keeping the true
    label of its sentence. Returns that loss (before the step) as a float.
    """
    texts = _check_batch(texts)
    labels = _check_labels(labels, len(texts))
    if not callable(attack):
        raise TypeError(f"attack must be a function attack(model, text, label) -> text, got {type(attack).__name__}")
    adversarial = [attack(model, t, y) for t, y in zip(texts, labels)]
    model.train()
    logits = model(*model.pack(list(texts) + adversarial))
    target = torch.tensor(list(labels) + list(labels), device=logits.device)
    loss = nn.functional.cross_entropy(logits, target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


Step = Callable[[TextClassifier, torch.optim.Optimizer, list[str], list[int], Attack], float]


class TextTrainer:
    """Adam on cross-entropy over shuffled mini-batches, resumable.

    ``run(epochs)`` trains on, continuing where the last call stopped; with ``attack`` every mini-batch is an
    adversarial training step, ``step(model, optimizer, texts, labels, attack)``. ``fork()`` copies the model, the
    optimizer state and the shuffling generator, so that two trainings can share their first epochs exactly.
    """

    def __init__(self, model: TextClassifier, texts: Sequence[str], labels: Sequence[int], *, lr: float = 0.05,
                 batch_size: int = 32, seed: int = 0):
        self.texts = _check_batch(texts)
        self.labels = _check_labels(labels, len(self.texts))
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model, self.lr, self.batch_size = model, lr, batch_size
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.history: list[float] = []

    def run(self, epochs: int, *, attack: Attack | None = None, step: Step | None = None) -> list[float]:
        """Train ``epochs`` more epochs; return the mean loss of each."""
        if epochs < 0:
            raise ValueError("epochs must be >= 0")
        if attack is not None and not callable(attack):
            raise TypeError(f"attack must be a function attack(model, text, label) -> text, got {type(attack).__name__}")
        step = step or adversarial_training_step
        model, opt, texts, labels = self.model, self.optimizer, self.texts, self.labels
        y_all = torch.tensor(labels)
        out = []
        for _ in range(epochs):
            perm = torch.randperm(len(texts), generator=self.generator).tolist()
            total = 0.0
            for i in range(0, len(texts), self.batch_size):
                idx = perm[i:i + self.batch_size]
                batch = [texts[j] for j in idx]
                if attack is not None:
                    loss = float(step(model, opt, batch, [labels[j] for j in idx], attack))
                else:
                    model.train()
                    logits = model(*model.pack(batch))
                    loss_t = nn.functional.cross_entropy(logits, y_all[idx].to(logits.device))
                    opt.zero_grad()
                    loss_t.backward()
                    opt.step()
                    loss = loss_t.item()
                total += loss * len(idx)
            out.append(total / len(texts))
        model.eval()
        self.history += out
        return out

    def fork(self) -> TextTrainer:
        """An independent copy: the same model weights, optimizer state and position in the shuffling sequence."""
        new = copy.copy(self)
        new.model = copy.deepcopy(self.model)
        new.optimizer = torch.optim.Adam(new.model.parameters(), lr=self.lr)
        new.optimizer.load_state_dict(copy.deepcopy(self.optimizer.state_dict()))
        new.generator = torch.Generator()
        new.generator.set_state(self.generator.get_state())
        new.history = list(self.history)
        return new


def train_text_model(model: TextClassifier, texts: Sequence[str], labels: Sequence[int], *, epochs: int = 12,
                     lr: float = 0.05, batch_size: int = 32, seed: int = 0, attack: Attack | None = None,
                     attack_from: int = 1, step: Step | None = None) -> list[float]:
    """Train with Adam on cross-entropy (:class:`TextTrainer`); return the mean loss per epoch.

    With ``attack(model, text, label) -> text``, every mini-batch of the epochs from ``attack_from`` on is an
    adversarial training step, ``step(model, optimizer, texts, labels, attack)`` (by default
    :func:`adversarial_training_step`): attack the current model, train on clean + adversarial sentences. Earlier
    epochs are ordinary training.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be >= 1")
    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be a function attack(model, text, label) -> text, got {type(attack).__name__}")
    trainer = TextTrainer(model, texts, labels, lr=lr, batch_size=batch_size, seed=seed)
    clean = epochs if attack is None else min(max(attack_from, 0), epochs)
    trainer.run(clean)
    trainer.run(epochs - clean, attack=attack, step=step)
    return trainer.history


def accuracy_on(model: TextClassifier, texts: Sequence[str], labels: Sequence[int]) -> float:
    """Fraction of sentences classified correctly."""
    texts = _check_batch(texts)
    labels = _check_labels(labels, len(texts))
    return (model.predict(texts) == torch.tensor(labels)).float().mean().item()


# ----------------------------------------------------------------------------- transformation families
# Each family is f(text, rng) -> text: a label-preserving rewrite of one sentence. ``rng`` is a
# numpy Generator (or an int seed). They accept any string and return it unchanged when they do not apply.

def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def swap_synonyms(text: str, rng=0, table: Mapping[str, Sequence[str]] | None = None, k: int = 3) -> str:
    """Replace up to ``k`` randomly chosen words that have entries in ``table`` by a random synonym."""
    table = load_synonyms() if table is None else table
    rng = _rng(rng)
    toks = tokenize(text)
    spots = [i for i, t in enumerate(toks) if table.get(t)]
    if not spots:
        return detokenize(toks)
    for i in rng.permutation(spots)[:k]:
        subs = table[toks[i]]
        toks[i] = subs[int(rng.integers(len(subs)))]
    return detokenize(toks)


_KEYBOARD = {c: n for c, n in zip("abcdefghijklmnopqrstuvwxyz", [
    "qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko", "huikmn", "jiolm", "kop",
    "njk", "bhjm", "iklp", "ol", "wa", "edft", "awedxz", "rfgy", "yhji", "cfgb", "qase", "zsdc", "tghu", "asx"])}


def _typo(word: str, rng: np.random.Generator) -> str:
    kind = int(rng.integers(4))
    i = int(rng.integers(len(word)))
    if kind == 0 and len(word) > 1:                       # swap two neighbouring letters
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1 and len(word) > 2:                       # drop a letter
        return word[:i] + word[i + 1:]
    if kind == 2:                                         # double a letter
        return word[:i] + word[i] + word[i:]
    c = word[i]                                           # hit a neighbouring key
    near = _KEYBOARD.get(c, "")
    return word[:i] + (near[int(rng.integers(len(near)))] if near else c + c) + word[i + 1:]


def add_typos(text: str, rng=0, n_words: int = 2, min_len: int = 3) -> str:
    """Put one character-level typo (swap, drop, double, neighbouring key) into ``n_words`` words of length >= ``min_len``."""
    rng = _rng(rng)
    toks = tokenize(text)
    spots = [i for i, t in enumerate(toks) if _is_word(t) and len(t) >= min_len]
    for i in rng.permutation(spots)[:n_words] if spots else []:
        toks[i] = _typo(toks[i], rng)
    return detokenize(toks)


DISTRACTORS = (
    "the parking outside was terrible, by the way.", "unrelated, but the weather that day was lovely.",
    "my train home was awful.", "the cinema seats next door are great.", "i had a horrible headache that morning.",
    "the coffee i had before was wonderful.", "our old car is a disaster.", "my friend's birthday party was brilliant.",
    "the traffic on the way was dreadful.", "the ticket app works perfectly.",
)


def add_distractor(text: str, rng=0, distractors: Sequence[str] = DISTRACTORS) -> str:
    """Append a sentence about something else (the review's sentiment, and so its label, does not change)."""
    rng = _rng(rng)
    base = detokenize(tokenize(text))
    extra = distractors[int(rng.integers(len(distractors)))]
    return f"{base} {extra}" if base else extra


CONCESSIONS = (
    "i expected to hate it, but", "the reviews were awful, but", "my friends said it was boring, but",
    "i went in with low hopes, but", "the trailer looked great, but", "i wanted to love it, but",
    "everyone raved about it, but", "the first minutes were wonderful, but",
)


def add_contrast(text: str, rng=0, concessions: Sequence[str] = CONCESSIONS) -> str:
    """Prefix a concession clause ("the trailer looked great, but ..."); what follows "but" decides the label."""
    rng = _rng(rng)
    base = detokenize(tokenize(text))
    if not base:
        return base
    lead = concessions[int(rng.integers(len(concessions)))]
    return f"{lead} {base}"


def negate_antonym(text: str, rng=0, antonyms: Mapping[str, Sequence[str]] | None = None) -> str:
    """Replace one word that has an antonym by "not <antonym>": "great" -> "not bad", "boring" -> "not interesting".

    "Not bad" is weaker than "great" but points the same way, so the label is kept. Sentences that already
    contain a negation are left alone (a double negation would be ambiguous).
    """
    antonyms = load_antonyms() if antonyms is None else antonyms
    rng = _rng(rng)
    toks = tokenize(text)
    if any(t in ("not", "never", "no", "n't") or t.endswith("n't") for t in toks):
        return detokenize(toks)
    spots = [i for i, t in enumerate(toks) if antonyms.get(t)]
    if not spots:
        return detokenize(toks)
    i = spots[int(rng.integers(len(spots)))]
    opts = antonyms[toks[i]]
    toks[i:i + 1] = ["not", opts[int(rng.integers(len(opts)))]]
    return detokenize(toks)


FRAMES = (
    "in short: {s}", "{s} that is my honest opinion.", "here is my review: {s}", "to sum it up, {s}",
    "{s} that is all i have to say.", "so, {s}",
)


def paraphrase(text: str, rng=0, frames: Sequence[str] = FRAMES) -> str:
    """Reorder "A, but B" into "B, even though A"; otherwise wrap the sentence in a neutral frame."""
    rng = _rng(rng)
    base = detokenize(tokenize(text))
    if not base:
        return base
    m = re.fullmatch(r"(.+?), but (.+?)([.!?]?)", base)
    if m and rng.random() < 0.5:
        return f"{m.group(2)}, even though {m.group(1)}{m.group(3) or '.'}"
    frame = frames[int(rng.integers(len(frames)))]
    return frame.format(s=base)


def make_families(synonyms: Mapping[str, Sequence[str]] | None = None,
                  antonyms: Mapping[str, Sequence[str]] | None = None, k: int = 3) -> dict[str, Callable]:
    """The benchmark's six families, each ``f(text, rng) -> text``, in a fixed order."""
    synonyms = load_synonyms() if synonyms is None else synonyms
    antonyms = load_antonyms() if antonyms is None else antonyms
    return {
        "synonym swap": lambda s, rng: swap_synonyms(s, rng, synonyms, k=k),
        "typos": lambda s, rng: add_typos(s, rng),
        "distractor sentence": lambda s, rng: add_distractor(s, rng),
        "contrast clause": lambda s, rng: add_contrast(s, rng),
        "negated antonym": lambda s, rng: negate_antonym(s, rng, antonyms),
        "reorder / frame": lambda s, rng: paraphrase(s, rng),
    }


def run_benchmark(model: TextClassifier, texts: Sequence[str], labels: Sequence[int],
                  families: Mapping[str, Callable], n_variants: int = 5, seed: int = 0) -> dict[str, float]:
    """Accuracy per family, worst case over ``n_variants`` random variants of each sentence.

    A sentence counts as correct for a family only if the model classifies every variant correctly (in the
    spirit of AdvGLUE, which keeps the perturbations that fool models). Includes ``"clean"`` first.
    """
    texts = _check_batch(texts)
    labels = _check_labels(labels, len(texts))
    if n_variants < 1:
        raise ValueError("n_variants must be >= 1")
    y = torch.tensor(labels)
    out = {"clean": (model.predict(texts) == y).float().mean().item()}
    for f_i, (name, fn) in enumerate(families.items()):
        rng = np.random.default_rng([seed, f_i])
        variants = [fn(t, rng) for _ in range(n_variants) for t in texts]
        pred = model.predict(variants).view(n_variants, len(texts))
        out[name] = (pred == y).all(0).float().mean().item()
    return out


def greedy_attack(model: TextClassifier, text: str, label: int, table: Mapping[str, Sequence[str]], k: int) -> str:
    """Greedy word substitution under a budget of ``k`` changed words (Exercise 1 of the lesson; the course's
    trusted version).

    Repeat at most ``k`` times: stop if the model is already wrong (P(label) < 0.5); otherwise try every table
    substitution at every position not changed yet, scored in one batch, and keep the one that lowers P(label) the
    most; stop when none lowers it. Returns the new sentence (``detokenize`` of the tokens).
    """
    tokens = tokenize(text)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a whole number >= 0, got {k!r}")
    if label not in (0, 1):
        raise ValueError(f"label must be 0 (negative) or 1 (positive), got {label!r}")
    if not isinstance(table, Mapping):
        raise TypeError(f"table must be a dict word -> list of substitutions, got {type(table).__name__}")
    score = _candidate_scorer(model, label)
    changed: set[int] = set()
    p_true = score([tokens])[0]
    for _ in range(k):
        if p_true < 0.5:                       # already misclassified: stop
            break
        swaps = [(i, s) for i, t in enumerate(tokens) if i not in changed for s in table.get(t, [])]
        if not swaps:
            break
        probs = score([tokens[:i] + [s] + tokens[i + 1:] for i, s in swaps])
        j = int(np.argmin(probs))              # the first of equal minima, as torch.argmin
        if probs[j] >= p_true:                 # no substitution helps any more
            break
        i, s = swaps[j]
        tokens[i] = s
        changed.add(i)
        p_true = probs[j]
    return detokenize(tokens)


def _candidate_scorer(model, label: int) -> Callable[[list[list[str]]], np.ndarray]:
    """P(label) for token lists: ``model.predict_proba`` of their sentences. For a ``TextClassifier`` it skips the
    round trip through strings (the same token ids, so the same numbers, bit for bit), which makes the attack, run
    tens of thousands of times in adversarial training, several times cheaper."""
    if isinstance(model, TextClassifier):
        stoi = model.vocab.stoi
        return lambda token_lists: model._proba_of_ids(
            [[stoi[t] for t in toks if t in stoi] for toks in token_lists])[:, label].numpy()
    return lambda token_lists: model.predict_proba([detokenize(t) for t in token_lists])[:, label].numpy()


def attack_accuracy(model: TextClassifier, texts: Sequence[str], labels: Sequence[int],
                    attack: Callable[[TextClassifier, str, int], str]) -> tuple[float, list[str]]:
    """Accuracy on ``attack(model, text, label)`` for every sentence, and the attacked sentences."""
    texts = _check_batch(texts)
    labels = _check_labels(labels, len(texts))
    adv = [attack(model, t, y) for t, y in zip(texts, labels)]
    return accuracy_on(model, adv, labels), adv


# ------------------------------------------------------------------------------------------- widget

def _as_models(models) -> dict[str, TextClassifier]:
    if isinstance(models, TextClassifier):
        return {"model": models}
    if isinstance(models, Mapping) and models and all(isinstance(m, TextClassifier) for m in models.values()):
        return dict(models)
    raise TypeError("models must be a TextClassifier or a non-empty dict {name: TextClassifier}")


def transformation_rows(models, text: str, families: Mapping[str, Callable], variant: int = 0) -> list[tuple]:
    """Rows ``(family, transformed text, P(positive) under each model ...)`` for ``text`` and each family.

    ``models`` is a ``TextClassifier`` or a dict ``{name: TextClassifier}``. ``variant`` seeds the random
    choices, so another variant gives another rewrite. The first row is the original sentence.
    """
    _check_text(text, "the sentence")
    models = _as_models(models)
    texts = [("original", detokenize(tokenize(text)))]
    for f_i, (name, fn) in enumerate(families.items()):
        texts.append((name, fn(text, np.random.default_rng([int(variant), f_i]))))
    probs = [m.predict_proba([t for _, t in texts])[:, 1].tolist() for m in models.values()]
    return [(name, t, *(round(p[i], 3) for p in probs)) for i, (name, t) in enumerate(texts)]


def render_transformations(models, text: str, families: Mapping[str, Callable], variant: int = 0) -> str:
    """A plain-text table of ``transformation_rows``: P(positive) and the label per model; a '*' marks a
    prediction that differs from that model's prediction on the original sentence."""
    from utils.plotting import format_table

    _check_text(text, "the sentence")
    if not tokenize(text):
        return "Type a sentence (or pick one) to see each transformation."
    models = _as_models(models)
    rows = transformation_rows(models, text, families, variant)
    base = [p > 0.5 for p in rows[0][2:]]
    shown = []
    for name, t, *ps in rows:
        cells = [f"{p:.2f} {'pos' if p > 0.5 else 'neg'}{'*' if (p > 0.5) != b else ' '}" for p, b in zip(ps, base)]
        shown.append((name, t if len(t) <= 70 else t[:67] + "...", *cells))
    table = format_table(shown, ["family", "sentence", *(f"{n}: P(pos)" for n in models)])
    return table + "\n* = the prediction differs from the one on the original sentence"


# ------------------------------------------------------------------------------------------- corpus
# The procedure that wrote assets/sentiment.tsv (kept here so the dataset can be regenerated and audited;
# a test checks the shipped file equals generate_sentiment_corpus()). Words are drawn with Zipf-like
# weights: the first words of each list are common, the last ones rare, as in real reviews.

_POS_ADJ = ["great", "good", "excellent", "wonderful", "amazing", "enjoyable", "fantastic", "brilliant", "lovely",
            "superb", "delightful", "impressive", "charming", "terrific", "outstanding", "pleasant", "solid",
            "splendid", "marvelous", "stellar", "exquisite", "captivating", "riveting", "phenomenal", "magnificent"]
_NEG_ADJ = ["bad", "terrible", "boring", "awful", "poor", "disappointing", "dull", "horrible", "bland", "mediocre",
            "weak", "tedious", "dreadful", "sloppy", "lousy", "clumsy", "forgettable", "lifeless", "atrocious",
            "abysmal", "insipid", "dismal", "shoddy", "lackluster", "tiresome"]
_POS_VERB = ["loved", "enjoyed", "liked", "adored", "appreciated", "relished", "savored", "cherished"]
_NEG_VERB = ["hated", "disliked", "regretted", "loathed", "detested", "despised", "resented"]
_POS_FEEL = ["happy", "satisfied", "delighted", "inspired", "content", "thrilled", "uplifted"]
_NEG_FEEL = ["disappointed", "bored", "annoyed", "frustrated", "cheated", "irritated", "miserable"]
_ADV = ["really", "very", "truly", "quite", "genuinely", "incredibly", "extremely", "absolutely", "thoroughly",
        "remarkably", "utterly"]
_DOMAINS = {
    "film": (["film", "movie", "plot", "acting", "ending", "script", "soundtrack", "cast", "story", "dialogue",
              "cinematography", "pacing"],
             ["would watch it again", "will tell my friends to see it", "recommend it to everyone"],
             ["want those two hours back", "would not watch it again", "walked out early"]),
    "restaurant": (["food", "meal", "service", "staff", "dessert", "pasta", "waiter", "menu", "soup", "steak",
                    "atmosphere", "wine list"],
                   ["will be back soon", "recommend this place", "would book again"],
                   ["will not be back", "want my money back", "would not eat here again"]),
    "product": (["phone", "battery", "screen", "headphones", "charger", "keyboard", "camera", "speaker", "case",
                 "app", "laptop", "design"],
                ["would buy it again", "recommend it to anyone", "use it every day"],
                ["returned it", "want a refund", "would not buy it again"]),
}
_EXPERIENCE = {"film": "evening", "restaurant": "dinner", "product": "purchase"}
_WHO = ["my sister", "my dad", "my partner", "my friend", "my colleague", "my mother", "our neighbour"]
_OPENERS = ["", "", "", "honestly, ", "to be honest, ", "overall, ", "in my opinion, ", "well, ", "frankly, "]
_TIMES = ["", "", "", " last night", " on friday", " this week", " yesterday", " after work", " on sunday"]
_NEGATABLE = {1: ["bad", "boring", "terrible", "awful", "dull"], 0: ["good", "great", "enjoyable", "interesting", "fun"]}


def _zipf_choice(rng: np.random.Generator, words: Sequence[str], a: float = 1.5) -> str:
    w = 1.0 / np.arange(1, len(words) + 1) ** a
    return words[int(rng.choice(len(words), p=w / w.sum()))]


def _sentence(rng: np.random.Generator, label: int) -> str:
    domain = list(_DOMAINS)[int(rng.integers(3))]
    nouns, pos_after, neg_after = _DOMAINS[domain]
    adj = lambda lab: _zipf_choice(rng, _POS_ADJ if lab else _NEG_ADJ)  # noqa: E731
    verb = _zipf_choice(rng, _POS_VERB if label else _NEG_VERB)
    feel = _zipf_choice(rng, _POS_FEEL if label else _NEG_FEEL)
    adv = _zipf_choice(rng, _ADV) + " " if rng.random() < 0.4 else ""
    n1, n2 = (str(x) for x in rng.choice(nouns, 2, replace=False))
    after = str(rng.choice(pos_after if label else neg_after))
    opener = str(rng.choice(_OPENERS))
    when = str(rng.choice(_TIMES))
    who = str(rng.choice(_WHO))
    be = "were" if n1 == "headphones" else "was"
    be2 = "were" if n2 == "headphones" else "was"
    thing = {"film": "film", "restaurant": "place", "product": "product"}[domain]
    templates = [
        lambda: f"{opener}the {n1} {be} {adv}{adj(label)}.",
        lambda: f"the {n1} {be} {adv}{adj(label)} and the {n2} {be2} {adj(label)}.",
        lambda: f"i {verb} the {n1}{when}.",
        lambda: f"i {verb} the {n1}, it {be} {adv}{adj(label)}.",
        lambda: f"what a {adj(label)} {thing}!",
        lambda: f"a {adv}{adj(label)} {thing}, i {after}.",
        lambda: f"the {n1} {be} {adj(1 - label)}, but the {n2} {be2} {adv}{adj(label)}.",
        lambda: f"although the {n1} {be} {adj(1 - label)}, the {n2} {be2} {adj(label)}.",
        lambda: f"the {n1} {be} not {rng.choice(_NEGATABLE[label])}.",
        lambda: f"i left feeling {adv}{feel}.",
        lambda: f"{who} thought the {n1} {be} {adj(label)}, and i agree.",
        lambda: f"{opener}this {thing} is {adv}{adj(label)}.",
        lambda: f"{adv}{adj(label)} {n1}{when}, i {after}.",
        lambda: f"the {n1} felt {adj(label)} and {adj(label)}.",
        lambda: f"overall, a {adj(label)} {_EXPERIENCE[domain]}.",
        lambda: f"i {after}.",
    ]
    weights = np.array([3, 2, 3, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 0.5])
    t = templates[int(rng.choice(len(templates), p=weights / weights.sum()))]()
    t = re.sub(r"\ba ([aeiou])", r"an \1", t)
    return re.sub(r"\s+", " ", t).strip()


def generate_sentiment_corpus(n: int = 1500, seed: int = 2022, test_share: float = 1 / 3) -> list[tuple[str, int, str]]:
    """Rows (split, label, text): ``n`` distinct sentences, balanced labels, a seeded random train/test split."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    rows: list[tuple[int, str]] = []
    tries = 0
    while len(rows) < n:
        tries += 1
        if tries > 100 * n:
            raise RuntimeError("could not generate enough distinct sentences")
        label = len(rows) % 2
        s = _sentence(rng, label)
        if s not in seen:
            seen.add(s)
            rows.append((label, s))
    order = rng.permutation(len(rows))
    n_test = int(round(n * test_share))
    return [("test" if r < n_test else "train", rows[i][0], rows[i][1]) for r, i in enumerate(order)]


def _write_corpus(path: Path | None = None) -> Path:
    """Regenerate ``assets/sentiment.tsv`` (authors only)."""
    path = path or ASSETS / "sentiment.tsv"
    lines = ["split\tlabel\ttext"] + [f"{s}\t{y}\t{t}" for s, y, t in generate_sentiment_corpus()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
