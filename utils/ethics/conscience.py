"""A small 'artificial conscience' for lesson 06: a text classifier of commonsense morality.

The Jiminy Cricket paper (Hendrycks et al. 2021) fine-tunes a RoBERTa model on the commonsense part
of ETHICS and uses its probability that an action is wrong to shape an agent's action values. This
module is the laptop version: bag-of-words features (crude stemming, unigrams and bigrams, TF-IDF)
and a logistic regression, trained on ``assets/morality.tsv``, a set of labelled action and scenario
sentences written for this course (see ``assets/README.md``).

    data = load_morality()                        # train / held-out split, fixed
    model = Conscience().fit(data.train_text, data.train_labels)
    p = model.p_immoral(["steal the wallet", "buy a ticket"])    # probabilities in [0, 1]
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MoralityData", "load_morality", "tokens", "Conscience", "nearest_overlap"]

DATA_PATH = Path(__file__).resolve().parent / "assets" / "morality.tsv"

# A few irregular English forms, so that "stole" and "steal", "broke" and "break" share a feature.
_IRREGULAR = {
    "stole": "steal", "stolen": "steal", "took": "take", "taken": "take", "broke": "break", "broken": "break",
    "threw": "throw", "thrown": "throw", "told": "tell", "sold": "sell", "kept": "keep", "drove": "drive",
    "driven": "drive", "rode": "ride", "ridden": "ride", "shot": "shoot", "ran": "run", "swore": "swear",
    "beaten": "beat", "left": "leave", "made": "make", "gave": "give", "given": "give", "got": "get",
    "went": "go", "gone": "go", "came": "come", "ate": "eat", "eaten": "eat", "bought": "buy", "paid": "pay",
    "lay": "lie", "lied": "lie", "lying": "lie", "caught": "catch", "brought": "bring", "found": "find",
    "hid": "hide", "hidden": "hide", "tore": "tear", "torn": "tear", "burnt": "burn", "spat": "spit",
    "fed": "feed", "held": "hold", "lent": "lend", "lit": "light", "sat": "sit", "slept": "sleep",
    "spent": "spend", "swam": "swim", "taught": "teach", "wore": "wear", "wrote": "write", "written": "write",
    "fell": "fall", "felt": "feel", "knew": "know", "said": "say", "saw": "see", "seen": "see", "shook": "shake",
    "bit": "bite", "bitten": "bite", "fought": "fight", "forgave": "forgive", "stood": "stand", "struck": "strike",
    "swept": "sweep", "won": "win", "men": "man", "women": "woman", "children": "child", "was": "be", "were": "be",
    "crept": "creep", "snuck": "sneak", "dug": "dig", "hung": "hang", "stuck": "stick", "woke": "wake",
}
_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""))


def _stem(word: str) -> str:
    """A crude stemmer: irregular forms, then -ies/-ied/-ing/-ed, then plural -es/-s."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= (2 if repl else 3):
            base = word[: -len(suffix)] + repl
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "ls":
                base = base[:-1]          # "robbed" -> "rob", "grabbing" -> "grab"
            return base
    if word.endswith(("ches", "shes", "sses", "xes", "zes")) and len(word) > 4:
        return word[:-2]                  # "watches" -> "watch", "boxes" -> "box"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]                  # "bikes" -> "bike", "coins" -> "coin"
    return word


def tokens(text: str) -> list[str]:
    """Lower-cased, crudely stemmed words plus adjacent word pairs (the classifier's features)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    words = [_stem(w.split("'")[0]) for w in re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@dataclass
class MoralityData:
    """The labelled sentences, split once and for all (every 4th sentence of each label is held out)."""

    train_text: list[str]
    train_labels: np.ndarray
    test_text: list[str]
    test_labels: np.ndarray

    def __repr__(self) -> str:
        return (f"MoralityData(train={len(self.train_text)} sentences, {self.train_labels.mean():.0%} wrong; "
                f"held-out={len(self.test_text)}, {self.test_labels.mean():.0%} wrong)")


def load_morality(path: str | Path | None = None) -> MoralityData:
    """Read the TSV (columns ``label``, ``sentence``; label 1 = clearly wrong, 0 = not wrong)."""
    path = Path(path) if path is not None else DATA_PATH
    if not path.exists():
        raise FileNotFoundError(f"morality data not found at {path}")
    text, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if reader.fieldnames != ["label", "sentence"]:
            raise ValueError(f"{path}: expected columns ['label', 'sentence'], got {reader.fieldnames}")
        for n, row in enumerate(reader, start=2):
            if row["label"] not in ("0", "1") or not row["sentence"].strip():
                raise ValueError(f"{path}, line {n}: bad row {row}")
            text.append(row["sentence"].strip())
            labels.append(int(row["label"]))
    y = np.array(labels)
    held = np.zeros(len(y), dtype=bool)
    for lab in (0, 1):
        idx = np.flatnonzero(y == lab)
        held[idx[3::4]] = True
    return MoralityData([t for t, h in zip(text, held) if not h], y[~held],
                        [t for t, h in zip(text, held) if h], y[held])


class Conscience:
    """TF-IDF over :func:`tokens` + logistic regression. ``p_immoral(texts)`` gives P(wrong)."""

    def __init__(self, C: float = 10.0):
        if C <= 0:
            raise ValueError(f"C must be positive, got {C}")
        self.C = C
        self._model = None

    def fit(self, texts: Sequence[str], labels) -> Conscience:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        labels = np.asarray(labels)
        if len(texts) != len(labels) or len(texts) == 0:
            raise ValueError(f"need as many labels as texts (got {len(texts)} texts, {len(labels)} labels)")
        if set(np.unique(labels)) != {0, 1}:
            raise ValueError("labels must contain both 0 (not wrong) and 1 (wrong)")
        self._model = make_pipeline(
            TfidfVectorizer(analyzer=tokens, sublinear_tf=True),
            LogisticRegression(C=self.C, max_iter=5000, class_weight="balanced"),
        )
        self._model.fit(list(texts), labels)
        return self

    def p_immoral(self, texts: str | Sequence[str]) -> np.ndarray:
        """P(wrong) for each text, as a float array (a single string gives shape (1,))."""
        if self._model is None:
            raise RuntimeError("fit the conscience first: Conscience().fit(texts, labels)")
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            return np.zeros(0)
        return self._model.predict_proba(texts)[:, 1]

    def top_features(self, k: int = 10) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The k features pushing hardest towards 'wrong' and towards 'not wrong'."""
        if self._model is None:
            raise RuntimeError("fit the conscience first")
        vec, lr = self._model.steps[0][1], self._model.steps[1][1]
        names = vec.get_feature_names_out()
        w = lr.coef_[0]
        order = np.argsort(w)
        return ([(names[i], float(w[i])) for i in order[::-1][:k]], [(names[i], float(w[i])) for i in order[:k]])

    def contributions(self, text: str) -> list[tuple[str, float]]:
        """Each feature of ``text`` with its contribution to the logit (TF-IDF value x weight), largest first;
        a word the training data never contained has no feature and is not listed."""
        if self._model is None:
            raise RuntimeError("fit the conscience first")
        if not isinstance(text, str):
            raise TypeError(f"contributions expects one string, got {type(text).__name__}")
        vec, lr = self._model.steps[0][1], self._model.steps[1][1]
        x = vec.transform([text]).tocoo()
        names = vec.get_feature_names_out()
        out = [(str(names[j]), float(v * lr.coef_[0][j])) for j, v in zip(x.col, x.data)]
        return sorted(out, key=lambda t: -t[1])


def nearest_overlap(queries: Sequence[str], corpus: Sequence[str]) -> list[tuple[str, str, float]]:
    """For each query, the corpus sentence with the highest word-set Jaccard overlap (used to show
    that the game's actions were not copied into the training data)."""
    def words(s):
        return set(re.findall(r"[a-z]+", s.lower()))
    cw = [words(c) for c in corpus]
    out = []
    for q in queries:
        qw = words(q)
        scores = [len(qw & c) / max(1, len(qw | c)) for c in cw]
        j = int(np.argmax(scores))
        out.append((q, corpus[j], float(scores[j])))
    return out
