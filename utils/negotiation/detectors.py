"""Lie detectors for the negotiation corpus (lesson 08): text only, and text + context.

The trusted implementations of the lesson's exercises live here (the learner checks compare against them):
:func:`text_lie_scores` (bag of words + logistic regression) and :func:`context_features` (what the speaker
said before, what it did later, the state of the game).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from .metrics import as_binary_labels
from .simulator import Corpus, Message, check_dialogue, claims_conflict, contradicted_later

__all__ = ["check_texts", "text_lie_scores", "TextDetector", "context_features", "context_matrix",
           "ContextDetector", "CONTEXT_NAMES", "REALTIME", "HINDSIGHT", "split_games"]

CONTEXT_NAMES = ("said_before", "later_did", "power", "turn")
REALTIME = (0, 2, 3)          # columns a listener could know when the message arrives
HINDSIGHT = (0, 1, 2, 3)      # plus what the speaker did afterwards


def check_texts(texts: object, name: str = "texts") -> list:
    """A non-empty list of strings, or a clear error naming the first bad entry."""
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of messages (strings), got one string; wrap it in a list")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{name} must be a list of messages (strings), got {type(texts).__name__}") from None
    if not texts:
        raise ValueError(f"{name} is empty: there are no messages")
    for k, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{k}] is {type(t).__name__} {t!r:.40}, expected a string (the message text)")
    return texts


def _vectorizer(ngram_range=(1, 2), min_df=2) -> CountVectorizer:
    return CountVectorizer(ngram_range=ngram_range, min_df=min_df, lowercase=True)


def _logreg(class_weight="balanced", C: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=C, class_weight=class_weight, max_iter=2000)


def text_lie_scores(train_texts, train_labels, test_texts, *, class_weight="balanced", ngram_range=(1, 2),
                    min_df: int = 2, C: float = 1.0, vocab_from: str = "train") -> np.ndarray:
    """P(lie) for each test text from a bag of words and a logistic regression fitted on the training texts.

    The lesson's specification: ``CountVectorizer(ngram_range=(1, 2), min_df=2)`` fitted on the *training*
    texts only, ``LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)``, and the probability of
    class 1. The keyword arguments exist so that the checks can reproduce typical mistakes."""
    train_texts = check_texts(train_texts, "train_texts")
    test_texts = check_texts(test_texts, "test_texts")
    y = as_binary_labels(train_labels, "train_labels")
    if len(y) != len(train_texts):
        raise ValueError(f"train_labels has {len(y)} labels for {len(train_texts)} training texts")
    if len(set(y.tolist())) < 2:
        raise ValueError("the training labels contain only one class; a detector needs lies and truths")
    vec = _vectorizer(ngram_range, min_df)
    vec.fit(train_texts + test_texts if vocab_from == "all" else train_texts)
    clf = _logreg(class_weight, C).fit(vec.transform(train_texts), y)
    return clf.predict_proba(vec.transform(test_texts))[:, 1]


class TextDetector:
    """:func:`text_lie_scores` as a fitted object, for scoring many batches and reading its weights."""

    def __init__(self, C: float = 1.0, class_weight="balanced"):
        self.vec = _vectorizer()
        self.clf = _logreg(class_weight, C)

    def fit(self, texts, labels) -> "TextDetector":
        texts = check_texts(texts)
        y = as_binary_labels(labels, "labels")
        if len(y) != len(texts):
            raise ValueError(f"{len(y)} labels for {len(texts)} texts")
        self.clf.fit(self.vec.fit_transform(texts), y)
        return self

    def score(self, texts) -> np.ndarray:
        return self.clf.predict_proba(self.vec.transform(check_texts(texts)))[:, 1]

    def top_features(self, k: int = 10) -> tuple[list, list]:
        names = self.vec.get_feature_names_out()
        w = self.clf.coef_[0]
        order = np.argsort(w)
        return ([(names[i], float(w[i])) for i in order[::-1][:k]], [(names[i], float(w[i])) for i in order[:k]])


def context_features(dialogue: Sequence[Message], i: int) -> np.ndarray:
    """Four context features of message ``i`` of a dialogue (float array, shape (4,)):

    0. ``said_before``: 1.0 if an *earlier* message by the *same speaker* makes a claim that conflicts with
       this one (:func:`~utils.negotiation.simulator.claims_conflict`), else 0.0;
    1. ``later_did``: 1.0 if a *later* message by the *same speaker* contradicts this claim
       (:func:`~utils.negotiation.simulator.contradicted_later`), else 0.0 (hindsight: not known in real time);
    2. ``power``: the speaker's standing minus the listener's (``message.power``);
    3. ``turn``: how many messages came before this one (``i``).
    The labels ``lie``, ``suspected`` and ``belief`` are never used."""
    dialogue = check_dialogue(dialogue)
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(dialogue):
        raise IndexError(f"message index {i!r} is outside the dialogue of {len(dialogue)} messages")
    m = dialogue[i]
    before = [d for d in dialogue[:i] if d.speaker == m.speaker]
    after = [d for d in dialogue[i + 1:] if d.speaker == m.speaker]
    said_before = float(any(claims_conflict(d, m) for d in before))
    later_did = float(any(contradicted_later(m, d) for d in after))
    return np.array([said_before, later_did, float(m.power), float(i)])


def context_matrix(corpus: Corpus, fn: Callable = context_features) -> np.ndarray:
    """``fn(dialogue, i)`` for every message of the corpus, stacked: shape (n_messages, 4)."""
    rows = [np.asarray(fn(g.messages, i), dtype=float) for g in corpus.games for i in range(len(g.messages))]
    return np.vstack(rows)


class ContextDetector:
    """Bag of words plus context features (standardised), one logistic regression. ``columns`` picks the
    context features (:data:`REALTIME` or :data:`HINDSIGHT`); ``text=False`` drops the words."""

    def __init__(self, columns: Sequence[int] = HINDSIGHT, text: bool = True, C: float = 1.0):
        self.columns, self.text = tuple(columns), text
        self.vec = _vectorizer() if text else None
        self.clf = _logreg("balanced", C)

    def _design(self, texts, ctx, fit: bool):
        ctx = np.asarray(ctx, dtype=float)[:, list(self.columns)]
        if fit:
            self.mu, self.sd = ctx.mean(0), ctx.std(0) + 1e-9
        dense = sp.csr_matrix((ctx - self.mu) / self.sd)
        if not self.text:
            return dense
        words = self.vec.fit_transform(texts) if fit else self.vec.transform(texts)
        return sp.hstack([words, dense]).tocsr()

    def fit(self, texts, ctx, labels) -> "ContextDetector":
        texts = check_texts(texts)
        y = as_binary_labels(labels, "labels")
        self.clf.fit(self._design(texts, ctx, True), y)
        return self

    def score(self, texts, ctx) -> np.ndarray:
        return self.clf.predict_proba(self._design(check_texts(texts), ctx, False))[:, 1]

    def context_weights(self) -> dict:
        w = self.clf.coef_[0][-len(self.columns):]
        return {CONTEXT_NAMES[c]: float(v) for c, v in zip(self.columns, w)}


def split_games(n_games: int, test_fraction: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Held-out *games* (not messages): messages of one game never sit on both sides of the split."""
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be between 0 and 1")
    perm = np.random.default_rng([int(seed), 99]).permutation(int(n_games))
    n_test = max(1, int(round(test_fraction * n_games)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])
