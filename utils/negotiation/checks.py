"""Learner checks for lesson 08 (deception in negotiation).

* ``check_rare_class_metrics``: precision, recall, lie-class F1, macro F1 and PR-AUC from scores.
* ``check_text_lie_scores``: the bag-of-words + logistic-regression lie detector, as specified.
* ``check_context_features``: what the speaker said before, what it did later, power and turn.

Each check compares with the trusted implementation in this package (:mod:`.metrics`, :mod:`.detectors`). When
the answer is wrong, the check first tries to recognise a typical mistake and names it.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from utils.checks import Case, CheckFailed, run_check

from .detectors import context_features, text_lie_scores
from .metrics import METRIC_KEYS, rare_class_metrics
from .simulator import Message, simulate_corpus

__all__ = ["check_rare_class_metrics", "check_text_lie_scores", "check_context_features"]


def _num(v) -> str:
    """A number as plain text (never np.float64(...))."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return repr(v)
    return "nan" if math.isnan(f) else f"{f:.4g}"


# ----------------------------------------------------------------------------------------------
# Exercise 1: metrics for a rare class
# ----------------------------------------------------------------------------------------------

def _confusion(y, s, thr, strict=False):
    pred = s > thr if strict else s >= thr
    pos = y == 1
    return (int((pred & pos).sum()), int((pred & ~pos).sum()), int((~pred & pos).sum()), int((~pred & ~pos).sum()))


def _ratio(a, b):
    return a / b if b else 0.0


def _f1(p, r):
    return 2 * p * r / (p + r) if p + r else 0.0


def _close(a, b, tol=1e-6):
    try:
        return abs(float(a) - float(b)) <= tol
    except (TypeError, ValueError):
        return False


def _diagnose_metrics(got: dict, y, s, thr, want: dict) -> str | None:
    """Name a typical mistake if ``got`` matches one, else None."""
    tp, fp, fn, tn = _confusion(y, s, thr)
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    p0, r0 = _ratio(tn, tn + fn), _ratio(tn, tn + fp)
    f_lie, f_truth = _f1(p, r), _f1(p0, r0)
    for k in METRIC_KEYS:
        v = got[k]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return (f"`{k}` is {_num(v)}: when a ratio has a zero denominator (for example no message is predicted "
                    f"a lie), return 0.0, as scikit-learn does with zero_division=0")
    if not _close(got["precision"], want["precision"]) and _close(got["precision"], want["recall"]) and \
            _close(got["recall"], want["precision"]):
        return "precision and recall are swapped: precision = TP / (TP + FP), recall = TP / (TP + FN)"
    stp, sfp, sfn, _ = _confusion(y, s, thr, strict=True)
    if not _close(got["precision"], want["precision"]) or not _close(got["recall"], want["recall"]):
        if _close(got["precision"], _ratio(stp, stp + sfp)) and _close(got["recall"], _ratio(stp, stp + sfn)):
            return (f"a score equal to the threshold ({_num(thr)}) must count as a lie: predict lie when "
                    f"score >= threshold, not >")
        return (f"precision/recall of the lie class: got {_num(got['precision'])}/{_num(got['recall'])}, expected "
                f"{_num(want['precision'])}/{_num(want['recall'])}")
    if not _close(got["f1_lie"], want["f1_lie"]):
        if _close(got["f1_lie"], f_truth):
            return "`f1_lie` is the F1 of the truthful class: the lie class is label 1"
        return f"`f1_lie` is {_num(got['f1_lie'])}, expected 2PR/(P+R) = {_num(want['f1_lie'])}"
    if not _close(got["macro_f1"], want["macro_f1"]):
        n1, n0 = int((y == 1).sum()), int((y == 0).sum())
        if _close(got["macro_f1"], (n1 * f_lie + n0 * f_truth) / (n1 + n0)):
            return ("`macro_f1` is weighted by class size (support): macro F1 is the plain mean of the two classes' "
                    "F1, so the rare class counts as much as the common one")
        if _close(got["macro_f1"], _f1((p + p0) / 2, (r + r0) / 2)):
            return "`macro_f1` is the F1 of the averaged precision and recall: average the two F1 scores instead"
        if _close(got["macro_f1"], f_lie):
            return "`macro_f1` equals the lie-class F1: average it with the truthful class's F1"
        return f"`macro_f1` is {_num(got['macro_f1'])}, expected {_num(want['macro_f1'])}"
    if not _close(got["pr_auc"], want["pr_auc"]):
        order = np.argsort(-s, kind="mergesort")
        ys = y[order]
        tp_c = np.cumsum(ys)
        prec, rec = tp_c / np.arange(1, len(ys) + 1), tp_c / max(1, ys.sum())
        per_sample = float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
        trap = float(np.trapezoid(np.r_[1.0, prec], np.r_[0.0, rec]))
        try:
            from sklearn.metrics import roc_auc_score
            roc = float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else None
        except ValueError:
            roc = None
        if roc is not None and _close(got["pr_auc"], roc):
            return "`pr_auc` is the ROC AUC: PR-AUC is the area under precision vs recall (average precision)"
        if _close(got["pr_auc"], per_sample):
            return ("`pr_auc` steps once per message: messages with the same score form one threshold, so group "
                    "tied scores before you step")
        if _close(got["pr_auc"], trap, 1e-3) or abs(float(got["pr_auc"]) - want["pr_auc"]) < 0.2:
            return ("`pr_auc` uses another rule: use average precision, sum over thresholds of (R_k - R_(k-1)) * "
                    "P_k (steps, not trapezoids), highest score first")
        return f"`pr_auc` is {_num(got['pr_auc'])}, expected {_num(want['pr_auc'])}"
    return None


def check_rare_class_metrics(rare_class_metrics_fn) -> None:
    """``rare_class_metrics(y_true, y_score, threshold=0.5)`` must return a dict with the keys precision,
    recall, f1_lie, macro_f1 and pr_auc (see the lesson)."""
    g = np.random.default_rng(8)
    y20 = np.array([0] * 16 + [1] * 4)
    s20 = np.round(np.r_[g.uniform(0, 0.7, 16), [0.9, 0.55, 0.3, 0.8]], 2)
    y_tie = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    s_tie = np.array([0.9, 0.9, 0.6, 0.6, 0.6, 0.2, 0.2, 0.2, 0.1, 0.1])
    specs = [
        ("20 messages, 4 lies, threshold 0.5", y20, s20, 0.5),
        ("a lie scored exactly at the threshold counts as predicted (score >= threshold)",
         np.array([0, 0, 1, 0, 1, 0]), np.array([0.1, 0.6, 0.5, 0.2, 0.9, 0.5]), 0.5),
        ("nothing predicted a lie (precision has a zero denominator)", y20, s20 * 0.5, 0.5),
        ("tied scores: one PR step per distinct score", y_tie, s_tie, 0.5),
        ("a lower threshold, 0.3", y20, s20, 0.3),
        ("an always-truthful detector (all scores 0)", y20, np.zeros(20), 0.5),
    ]
    cases = []
    for label, y, s, thr in specs:
        want = rare_class_metrics(y, s, threshold=thr)

        def validate(got, y=y, s=s, thr=thr, want=want):
            if not isinstance(got, dict):
                raise CheckFailed(f"return a dict with keys {list(METRIC_KEYS)}, got {type(got).__name__}")
            if set(got) != set(METRIC_KEYS):
                raise CheckFailed(f"the dict has keys {sorted(map(str, got))}, expected {sorted(METRIC_KEYS)}")
            for k in METRIC_KEYS:
                if isinstance(got[k], (bool, str)) or not isinstance(got[k], (int, float, np.floating, np.integer)):
                    if got[k] is not None:
                        raise CheckFailed(f"`{k}` should be a number, got {type(got[k]).__name__}")
            why = _diagnose_metrics(got, y, s, thr, want)
            if why:
                raise CheckFailed(why)
        cases.append(Case(label, args=(y, s), kwargs={"threshold": thr}, validate=validate))
    run_check("rare_class_metrics", rare_class_metrics_fn, cases,
              hint="count TP, FP, FN, TN with pred = score >= threshold; ratios with a zero denominator are 0.0; "
                   "PR-AUC = average precision over the distinct scores, highest first.")


# ----------------------------------------------------------------------------------------------
# Exercise 2: the text-only detector
# ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _text_check_data():
    c = simulate_corpus(90, seed=1234)
    train, test = c.subset(range(60)), c.subset(range(60, 90))
    return train.texts, train.lie.tolist(), test.texts


@functools.lru_cache(maxsize=1)
def _text_expected():
    train_texts, train_labels, test_texts = _text_check_data()
    want = text_lie_scores(train_texts, train_labels, test_texts)
    variants = [(text_lie_scores(train_texts, train_labels, test_texts, **kw), why) for kw, why in _TEXT_MISTAKES]
    return want, variants


_TEXT_MISTAKES = (
    (dict(class_weight=None), "no class weighting: with about 5% lies an unweighted logistic regression pushes "
                              "every score towards 'truthful'; use class_weight='balanced'"),
    (dict(vocab_from="all"), "the vocabulary was fitted on the test texts too (leakage): fit the CountVectorizer "
                             "on the training texts only, then transform the test texts"),
    (dict(ngram_range=(1, 1)), "unigrams only: use ngram_range=(1, 2), words and word pairs"),
    (dict(min_df=1), "min_df=1 keeps words seen only once: use min_df=2"),
)


def check_text_lie_scores(text_lie_scores_fn) -> None:
    """``text_lie_scores(train_texts, train_labels, test_texts)`` must return P(lie) for each test text from
    ``CountVectorizer(ngram_range=(1, 2), min_df=2)`` fitted on the training texts and
    ``LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)``."""
    train_texts, train_labels, test_texts = _text_check_data()
    want, variants = _text_expected()

    def validate(got):
        if isinstance(got, (list, tuple)):
            raise CheckFailed("return a NumPy array of probabilities (np.ndarray), not a list")
        if not isinstance(got, np.ndarray):
            raise CheckFailed(f"return a NumPy array of probabilities, got {type(got).__name__}")
        if got.shape == (len(test_texts), 2):
            raise CheckFailed("you returned both columns of predict_proba: return only column 1, P(lie)")
        if got.shape != (len(test_texts),):
            raise CheckFailed(f"return one score per test text: shape ({len(test_texts)},), got {got.shape}")
        g = got.astype(float)
        if np.isin(g, (0.0, 1.0)).all():
            raise CheckFailed("the scores are all 0 or 1: return probabilities (predict_proba(...)[:, 1]), "
                              "not hard predictions")
        if np.allclose(g, 1 - want, atol=1e-3):
            raise CheckFailed("these are P(truthful), column 0 of predict_proba: return column 1, P(lie)")
        if np.allclose(g, want, atol=1e-3):
            return
        for alt, why in variants:
            if np.allclose(g, alt, atol=1e-3):
                raise CheckFailed(why)
        k = int(np.argmax(np.abs(g - want)))
        raise CheckFailed(f"the scores differ from the specification (largest gap at test text {k}: expected "
                          f"{_num(want[k])}, got {_num(g[k])}); check the vectorizer and the logistic regression")

    run_check("text_lie_scores", text_lie_scores_fn,
              [Case(f"{len(train_texts)} training and {len(test_texts)} test messages from 90 simulated games",
                    args=(train_texts, train_labels, test_texts), validate=validate)],
              hint="vec = CountVectorizer(ngram_range=(1, 2), min_df=2).fit(train_texts); clf = LogisticRegression("
                   "C=1.0, class_weight='balanced', max_iter=2000).fit(vec.transform(train_texts), train_labels); "
                   "return clf.predict_proba(vec.transform(test_texts))[:, 1]")


# ----------------------------------------------------------------------------------------------
# Exercise 3: context features
# ----------------------------------------------------------------------------------------------

def _msg(turn, speaker, act, power=0, lie=False, suspected=False, **kw) -> Message:
    listener = "B" if speaker == "A" else "A"
    m = Message(0, turn, speaker, listener, act, text=f"message {turn}", power=power, lie=lie, suspected=suspected,
                belief=0.9 if suspected else 0.1, **kw)
    return m


def _dialogues() -> list:
    """Small hand-made dialogues, each with the index of the message to describe and what it tests."""
    v = lambda t, s, item, level, **kw: _msg(t, s, "value", item=item, level=level, **kw)  # noqa: E731
    offer = lambda t, s, keep, give, **kw: _msg(t, s, "offer", offer=keep, give=give, **kw)  # noqa: E731
    d1 = [v(0, "A", "wool", "low"), _msg(1, "B", "chat"), v(2, "A", "wool", "high", power=2)]
    d2 = [v(0, "B", "wool", "low"), _msg(1, "B", "chat"), v(2, "A", "wool", "high", power=-1)]
    d3 = [v(0, "A", "salt", "high", power=3), _msg(1, "B", "chat"), v(2, "A", "salt", "low"),
          offer(3, "B", {"salt": 2}, {"salt": 0})]
    d4 = [_msg(0, "A", "greet"), _msg(1, "B", "promise", power=-2), _msg(2, "A", "offer", offer={"grain": 1},
                                                                          give={"grain": 1}),
          _msg(3, "B", "walk", power=-2)]
    d5 = [_msg(0, "B", "promise", power=1), _msg(1, "A", "walk")]
    d6 = [_msg(0, "A", "walk"), _msg(1, "A", "promise", power=4), _msg(2, "B", "chat"), _msg(3, "A", "accept")]
    d7 = [_msg(0, "A", "greet"), v(1, "B", "grain", "high", power=-3, lie=True, suspected=True),
          offer(2, "B", {"grain": 2}, {"grain": 0}), _msg(3, "A", "accept")]
    d8 = [v(0, "A", "cloth", "high"), _msg(1, "B", "chat"), offer(2, "A", {"cloth": 0}, {"cloth": 3}),
          _msg(3, "B", "chat"), _msg(4, "A", "walk")]
    d9 = [_msg(0, "A", "outside", outside=True, power=5), offer(1, "A", {"salt": 1}, {"salt": 1}),
          _msg(2, "B", "chat"), _msg(3, "A", "accept")]
    return [
        ("the same speaker called the wool 'low' earlier, now 'high' (said_before = 1)", d1, 2),
        ("only the OTHER speaker made the conflicting claim earlier (said_before = 0)", d2, 2),
        ("the conflicting claim comes LATER, not before (said_before = 0)", d3, 0),
        ("a promise, then the same speaker walks away (later_did = 1)", d4, 1),
        ("a promise, then the OTHER speaker walks away (later_did = 0)", d5, 0),
        ("the speaker walked away BEFORE its promise, and accepts after it (later_did = 0)", d6, 1),
        ("a lie the listener suspected, but no conflict and the speaker's later offer keeps the grain "
         "(never read the labels: all claim features 0)", d7, 1),
        ("'high' claim about cloth, then the speaker offers away all its cloth (later_did = 1)", d8, 0),
        ("claims another buyer, then accepts a deal (later_did = 1); power 5 at turn 0", d9, 0),
    ]


_FEATURE_NAMES = ("said_before", "later_did", "power", "turn")


def check_context_features(context_features_fn) -> None:
    """``context_features(dialogue, i)`` must return ``np.array([said_before, later_did, power, turn])`` (floats)
    for message ``i`` (see the lesson)."""
    cases = []
    for label, dialogue, i in _dialogues():
        want = context_features(dialogue, i)

        def validate(got, want=want, dialogue=dialogue, i=i):
            if isinstance(got, (list, tuple)):
                got = np.asarray(got, dtype=float)
            if not isinstance(got, np.ndarray):
                raise CheckFailed(f"return a NumPy array of 4 numbers, got {type(got).__name__}")
            if got.shape != (4,):
                raise CheckFailed(f"return 4 features (said_before, later_did, power, turn): shape (4,), got "
                                  f"{got.shape}")
            g = got.astype(float)
            m = dialogue[i]
            for k, name in enumerate(_FEATURE_NAMES):
                if not _close(g[k], want[k]):
                    extra = ""
                    if name == "power" and _close(g[k], -want[k]):
                        extra = " (sign flipped: it is the speaker's standing minus the listener's, message.power)"
                    elif name == "turn" and _close(g[k], want[k] + 1):
                        extra = " (off by one: turn counts the messages BEFORE this one, i)"
                    elif name == "turn":
                        extra = " (turn is the index i itself, not a fraction of the dialogue)"
                    elif name in ("said_before", "later_did") and (
                            _close(g[k], float(m.lie)) or _close(g[k], float(m.suspected))) and m.lie:
                        extra = " (it looks like the message's own label: never use lie or suspected as a feature)"
                    raise CheckFailed(f"{name} (feature {k}) is {_num(g[k])}, expected {_num(want[k])}{extra}")
        cases.append(Case(label, args=(dialogue, i), validate=validate))
    run_check("context_features", context_features_fn, cases,
              hint="m = dialogue[i]; before = same speaker in dialogue[:i]; after = same speaker in dialogue[i+1:]; "
                   "said_before = any(claims_conflict(d, m) for d in before); later_did = any(contradicted_later(m, "
                   "d) for d in after); power = m.power; turn = i.")
