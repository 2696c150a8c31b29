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
import warnings
from dataclasses import replace

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


def _ap_variants(y, s, thr) -> dict:
    """Average precision as typical mistakes compute it: thresholds ascending, flags s > t, from 0/1 predictions,
    with interpolated precision."""
    n = int((y == 1).sum())

    def loop(ts, strict=False, scores=s):
        ap, prev = 0.0, 0.0
        for t in ts:
            fl = scores > t if strict else scores >= t
            tp_t = int((fl & (y == 1)).sum())
            r_t = _ratio(tp_t, n)
            ap += (r_t - prev) * _ratio(tp_t, int(fl.sum()))
            prev = r_t
        return ap

    hard = (s >= thr).astype(float)
    # interpolated: precision at recall R_k replaced by the max precision at any recall >= R_k
    ts = np.unique(s)[::-1]
    precs, recs = [], []
    for t in ts:
        fl = s >= t
        tp_t = int((fl & (y == 1)).sum())
        precs.append(_ratio(tp_t, int(fl.sum())))
        recs.append(_ratio(tp_t, n))
    interp = np.maximum.accumulate(np.asarray(precs)[::-1])[::-1] if precs else np.zeros(0)
    ap_i = float(np.sum(np.diff(np.r_[0.0, recs]) * interp)) if precs else 0.0
    return {"ascending": loop(np.unique(s)), "strict": loop(ts, strict=True),
            "hard": loop(np.unique(hard)[::-1], scores=hard), "interpolated": ap_i}


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
        if thr != 0.5:
            htp, hfp, hfn, _ = _confusion(y, s, 0.5)
            if _close(got["precision"], _ratio(htp, htp + hfp)) and _close(got["recall"], _ratio(htp, htp + hfn)):
                return (f"the threshold argument is ignored: these are the counts at 0.5, but this case asks for "
                        f"threshold={_num(thr)}; use pred = score >= threshold")
        if _close(got["precision"], p) and _close(got["recall"], _ratio(tp, len(y))) and not _close(r, tp / len(y)):
            return ("recall divides by the number of messages: recall = TP / (TP + FN), the share of the LIES "
                    "that were flagged")
        if _close(got["recall"], r) and _close(got["precision"], _ratio(tp, len(y))) and not _close(p, tp / len(y)):
            return ("precision divides by the number of messages: precision = TP / (TP + FP), the share of the "
                    "FLAGGED messages that are lies")
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
        if _close(got["macro_f1"], (p + r) / 2):
            return ("`macro_f1` is the mean of the lie class's precision and recall: macro F1 is the mean of the two "
                    "classes' F1 scores, (f1_lie + f1_truthful) / 2")
        if _close(got["macro_f1"], (f_lie + (tp + tn) / len(y)) / 2):
            return ("`macro_f1` averages the lie F1 with the accuracy: average it with the truthful class's F1 "
                    "(precision TN / (TN + FN), recall TN / (TN + FP))")
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
        alt = _ap_variants(y, s, thr)
        if _close(got["pr_auc"], alt["ascending"]) and not _close(alt["ascending"], want["pr_auc"]):
            return ("`pr_auc`: the loop runs over the scores from LOW to high; go from the highest score down "
                    "(for t in np.unique(s)[::-1]) so that recall grows at each step")
        if _close(got["pr_auc"], alt["strict"]):
            return ("`pr_auc`: inside the PR-AUC loop flag s >= t, not s > t (with >, the highest-scored messages "
                    "are never flagged at their own threshold)")
        if _close(got["pr_auc"], alt["hard"]):
            return ("`pr_auc` was computed from the thresholded 0/1 predictions: PR-AUC ranks by the raw scores, "
                    "so loop over the distinct scores, not over pred")
        if _close(got["pr_auc"], 1.0) and want["pr_auc"] < 0.999:
            return ("`pr_auc` is 1 for a detector that is not perfect: an interpolation that takes the best precision "
                    "over LOWER recall (where precision 1 at recall 0 always wins) gives 1 every time; average "
                    "precision uses the precision P_k at each threshold itself, no interpolation")
        if not 0.0 <= float(got["pr_auc"]) <= 1.0:
            return (f"`pr_auc` is {_num(got['pr_auc'])}, outside [0, 1]: it is a weighted average of precisions; "
                    f"check the sign and the order of the recall steps (highest score first)")
        if _close(got["pr_auc"], alt["interpolated"]):
            return ("`pr_auc` uses interpolated precision (the best precision at any higher recall): average "
                    "precision uses the precision P_k at each threshold itself")
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
            got = {k: (v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v) for k, v in got.items()}
            for k in METRIC_KEYS:
                if isinstance(got[k], (bool, str)) or not isinstance(got[k], (int, float, np.floating, np.integer)):
                    if got[k] is not None:
                        raise CheckFailed(f"`{k}` should be a number, got {type(got[k]).__name__}")
            why = _diagnose_metrics(got, y, s, thr, want)
            if why:
                raise CheckFailed(why)
        cases.append(Case(label, args=(y, s), kwargs={"threshold": thr}, validate=validate))
    def guarded(y_true, y_score, threshold=0.5):
        try:
            return rare_class_metrics_fn(y_true, y_score, threshold=threshold)
        except ZeroDivisionError:
            raise CheckFailed("division by zero: a ratio with a zero denominator (no message flagged, so TP + FP = 0 "
                              "and P + R = 0) must be 0.0, as scikit-learn's zero_division=0; guard every division"
                              ) from None

    guarded.__name__ = getattr(rare_class_metrics_fn, "__name__", "rare_class_metrics")
    run_check("rare_class_metrics", guarded if callable(rare_class_metrics_fn) else rare_class_metrics_fn, cases,
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


@functools.lru_cache(maxsize=1)
def _text_more_variants():
    """Scores of typical deviations from the specification, computed only when an answer is wrong."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    train_texts, train_labels, test_texts = _text_check_data()
    spec_vec = dict(ngram_range=(1, 2), min_df=2)
    spec_clf = dict(C=1.0, class_weight="balanced", max_iter=2000)
    table = [
        (TfidfVectorizer(**spec_vec), spec_clf, None,
         "tf-idf weights instead of counts: use CountVectorizer (raw counts), as specified"),
        (CountVectorizer(**spec_vec, binary=True), spec_clf, None,
         "binary=True: presence/absence instead of counts; use plain counts (binary=False)"),
        (CountVectorizer(**spec_vec, lowercase=False), spec_clf, None,
         "lowercase=False: 'Honestly' and 'honestly' become different words; keep the default lowercase=True"),
        (CountVectorizer(**spec_vec, stop_words="english"), spec_clf, None,
         "stop_words='english' removes words such as 'not' and 'really' that carry the signal; keep every word"),
        (CountVectorizer(ngram_range=(1, 3), min_df=2), spec_clf, None,
         "ngram_range=(1, 3) adds word triples: use ngram_range=(1, 2)"),
        (CountVectorizer(ngram_range=(1, 2), min_df=0.02), spec_clf, None,
         "min_df as a fraction (0.02 = 2% of the messages) drops most words: min_df=2 means 'seen in at least "
         "two messages'"),
        (CountVectorizer(**spec_vec), dict(spec_clf, C=0.1), None,
         "C=0.1: stronger regularisation than specified; use C=1.0"),
        (CountVectorizer(**spec_vec), dict(spec_clf, C=10.0), None,
         "C=10: weaker regularisation than specified; use C=1.0"),
        (CountVectorizer(**spec_vec), dict(spec_clf, penalty=None), None,
         "no regularisation (penalty=None or a huge C): use the default L2 penalty with C=1.0"),
        (CountVectorizer(**spec_vec), dict(spec_clf, solver="liblinear"), None,
         "solver='liblinear' (it also penalises the intercept): keep the default solver"),
        (CountVectorizer(**spec_vec), dict(spec_clf, class_weight={0: 1, 1: 20}), None,
         "a hand-set class weight: use class_weight='balanced', which weights the classes by their frequency"),
        (CountVectorizer(**spec_vec), spec_clf, "scale",
         "the counts were standardised (StandardScaler): feed the raw counts to the logistic regression"),
    ]
    out = []
    for vec, clf_kw, extra, why in table:
        X_tr = vec.fit_transform(train_texts)
        X_te = vec.transform(test_texts)
        if extra == "scale":
            sc = StandardScaler(with_mean=False).fit(X_tr)
            X_tr, X_te = sc.transform(X_tr), sc.transform(X_te)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # penalty=None is deprecated in newer scikit-learn
            clf = LogisticRegression(**clf_kw).fit(X_tr, train_labels)
        out.append((clf.predict_proba(X_te)[:, 1], why))
    return out


def check_text_lie_scores(text_lie_scores_fn) -> None:
    """``text_lie_scores(train_texts, train_labels, test_texts)`` must return P(lie) for each test text from
    ``CountVectorizer(ngram_range=(1, 2), min_df=2)`` fitted on the training texts and
    ``LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)``."""
    train_texts, train_labels, test_texts = _text_check_data()
    want, variants = _text_expected()

    seen = {}

    def validate(got):
        if isinstance(got, (list, tuple)):
            raise CheckFailed("return a NumPy array of probabilities (np.ndarray), not a list")
        if type(got).__module__.startswith("torch"):
            raise CheckFailed("you returned a torch tensor: return a NumPy array (scikit-learn's predict_proba "
                              "already gives one)")
        if not isinstance(got, np.ndarray):
            raise CheckFailed(f"return a NumPy array of probabilities, got {type(got).__name__}")
        if got.shape == (len(test_texts), 2):
            raise CheckFailed("you returned both columns of predict_proba: return only column 1, P(lie)")
        if got.shape == (len(test_texts), 1):
            raise CheckFailed("you returned a column (n, 1), as predict_proba(...)[:, 1:] gives: return the 1-D "
                              "array predict_proba(...)[:, 1]")
        if got.shape == (len(train_texts),):
            raise CheckFailed(f"you returned {len(train_texts)} scores, one per TRAINING text: score the test texts, "
                              f"vec.transform(test_texts)")
        if got.shape != (len(test_texts),):
            raise CheckFailed(f"return one score per test text: shape ({len(test_texts)},), got {got.shape}")
        g = got.astype(float)
        if np.isin(g, (0.0, 1.0)).all():
            raise CheckFailed("the scores are all 0 or 1: return probabilities (predict_proba(...)[:, 1]), "
                              "not hard predictions (predict)")
        if g.min() < 0 or g.max() > 1:
            raise CheckFailed("some scores are outside [0, 1]: these look like decision_function logits; return "
                              "probabilities, predict_proba(...)[:, 1]")
        if np.allclose(g, 1 - want, atol=1e-3):
            raise CheckFailed("these are P(truthful), column 0 of predict_proba: return column 1, P(lie)")
        if np.allclose(g, want, atol=1e-3):
            return
        for alt, why in variants:
            if np.allclose(g, alt, atol=1e-3):
                raise CheckFailed(why)
        seen["got"] = g          # matched against more typical mistakes below, outside the case's time limit
        k = int(np.argmax(np.abs(g - want)))
        raise CheckFailed(f"the scores differ from the specification (largest gap at test text {k}: expected "
                          f"{_num(want[k])}, got {_num(g[k])}), and they match none of the typical changes this "
                          f"check knows (tf-idf, binary counts, other C, class weights, n-grams, stop words, "
                          f"solver): use exactly CountVectorizer(ngram_range=(1, 2), min_df=2) and "
                          f"LogisticRegression(C=1.0, class_weight='balanced', max_iter=2000)")

    def guarded(train_texts, train_labels, test_texts):
        try:
            return text_lie_scores_fn(train_texts, train_labels, test_texts)
        except ValueError as err:
            if "features, but" in str(err):
                raise CheckFailed("the vectorizer was fitted again on the test texts, so the test counts have other "
                                  "columns than the training counts (scikit-learn: " + str(err)[:80] + "): fit the "
                                  "CountVectorizer once on the training texts, then only transform the test texts") \
                    from None
            raise

    guarded.__name__ = getattr(text_lie_scores_fn, "__name__", "text_lie_scores")
    if not callable(text_lie_scores_fn):
        guarded = text_lie_scores_fn
    case = Case(f"{len(train_texts)} training and {len(test_texts)} test messages from 90 simulated games",
                args=(train_texts, train_labels, test_texts), validate=validate)
    hint = ("vec = CountVectorizer(ngram_range=(1, 2), min_df=2).fit(train_texts); clf = LogisticRegression("
            "C=1.0, class_weight='balanced', max_iter=2000).fit(vec.transform(train_texts), train_labels); "
            "return clf.predict_proba(vec.transform(test_texts))[:, 1]")
    try:
        run_check("text_lie_scores", guarded, [case], hint=hint)
    except CheckFailed:
        if "got" not in seen:
            raise
        for alt, why in _text_more_variants():
            if np.allclose(seen["got"], alt, atol=1e-3):
                raise CheckFailed(f"`text_lie_scores` failed check case '{case.label}': {why}\n  Hint: {hint}") \
                    from None
        raise


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
    d1 = [v(0, "A", "wool", "low"), _msg(1, "B", "chat"), _msg(2, "B", "chat"), v(3, "A", "wool", "high", power=2),
          _msg(4, "B", "chat")]
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
    # the conflicting claim is not the speaker's most recent message, nor its most recent value claim
    d10 = [v(0, "A", "wool", "low"), _msg(1, "B", "chat"), _msg(2, "A", "outside", outside=False),
           v(3, "A", "salt", "high"), v(4, "A", "wool", "high", power=1)]
    # two earlier conflicting claims, and two later contradicting actions (indicators, not counts)
    d11 = [v(0, "A", "spice", "low"), v(1, "A", "spice", "low"), _msg(2, "B", "chat"),
           v(3, "A", "spice", "high", power=-2), offer(4, "A", {"spice": 0}, {"spice": 2}),
           offer(5, "A", {"spice": 0}, {"spice": 2})]
    # the contradicting action is not the speaker's next message
    d12 = [_msg(0, "A", "promise", power=2), _msg(1, "A", "chat"), _msg(2, "B", "chat"), _msg(3, "A", "walk")]
    # earlier messages of the speaker were suspected (the listener's label), but no claim conflicts
    d13 = [v(0, "B", "timber", "high", suspected=True), _msg(1, "B", "promise", suspected=True),
           _msg(2, "A", "chat"), v(3, "B", "timber", "high")]
    # a dialogue that starts mid-game: the messages' own turn numbers are not their index in this list
    d14 = [_msg(7, "A", "chat"), v(8, "B", "wool", "low"), _msg(9, "A", "promise", power=1), _msg(10, "A", "walk")]
    return [
        ("the same speaker called the wool 'low' earlier, now 'high' (said_before = 1)", d1, 3),
        ("the conflicting claim is three of the speaker's messages back, with other claims in between "
         "(said_before = 1)", d10, 4),
        ("two earlier conflicting claims and two later contradicting offers (said_before = 1, later_did = 1: "
         "indicators, not counts)", d11, 3),
        ("a promise, a chat by the same speaker, then it walks away (later_did = 1)", d12, 0),
        ("the speaker's earlier messages were suspected but none conflicts (said_before = 0)", d13, 3),
        ("a dialogue that starts mid-game (message.turn is 9, but 2 messages come before it here: turn = 2)", d14, 2),
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


def _diagnose_context(g, want, dialogue, i) -> str | None:
    """Name a typical mistake in the two claim features, if ``g`` matches one."""
    from .simulator import claims_conflict, contradicted_later
    m = dialogue[i]
    before = [d for d in dialogue[:i] if d.speaker == m.speaker]
    after = [d for d in dialogue[i + 1:] if d.speaker == m.speaker]
    n_conf = sum(claims_conflict(d, m) for d in before)
    n_contra = sum(contradicted_later(m, d) for d in after)
    sb, ld = g[0], g[1]
    if (n_conf > 1 and _close(sb, n_conf)) or (n_contra > 1 and _close(ld, n_contra)):
        return ("said_before/later_did count the conflicts: each is an indicator, 1.0 if ANY earlier conflicting "
                "claim (any later contradicting action) exists, else 0.0: use any(...), not sum(...)")
    if sb > 0.5 > want[0] and any(d.suspected for d in before) and not any(d.suspected for d in dialogue[i:i + 1]):
        return ("said_before is 1 although no earlier claim conflicts: it seems to read the listener's suspicion of "
                "earlier messages (suspected/belief are labels; use only claims_conflict)")
    if sb < 0.5 < want[0] and before:
        last = before[-1]
        same = [d for d in before if d.act == m.act]
        if not claims_conflict(last, m) or (same and not claims_conflict(same[-1], m)):
            return ("said_before is 0 but an earlier claim by this speaker conflicts with this one (not its most "
                    "recent message): compare with ALL the speaker's earlier messages, "
                    "any(claims_conflict(d, m) for d in before)")
    if ld < 0.5 < want[1] and after and not contradicted_later(m, after[0]):
        return ("later_did is 0 but a later action of this speaker (not its next message) contradicts the claim: "
                "check ALL its later messages, any(contradicted_later(m, d) for d in after)")
    if ld != want[1] and any(contradicted_later(d, m) for d in after) != any(contradicted_later(m, d)
                                                                               for d in after):
        if _close(ld, float(any(contradicted_later(d, m) for d in after))):
            return ("later_did has the arguments of contradicted_later swapped: the claim comes first, "
                    "contradicted_later(message, later_action)")
    return None


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
            flipped = [replace(d, lie=not d.lie, suspected=not d.suspected, belief=1.0 - d.belief) for d in dialogue]
            try:
                g_flip = np.asarray(context_features_fn(flipped, i), dtype=float).reshape(-1)
            except Exception:
                g_flip = None
            if g_flip is not None and g_flip.shape == g.shape and not np.allclose(g_flip, g):
                k = int(np.argmax(np.abs(g_flip - g)))
                raise CheckFailed(f"{_FEATURE_NAMES[k]} changes when only the labels change (lie, suspected, belief "
                                  f"flipped, everything else equal): the features read the labels, which are what "
                                  f"we want to predict; use only claims, actions, power and position")
            if not _close(g[3], want[3]) and _close(g[3], m.turn) and m.turn != i:
                raise CheckFailed(f"turn is read from message.turn ({m.turn}); use the index i ({i}): how many "
                                  f"messages come before this one in the dialogue you were given")
            why = _diagnose_context(g, want, dialogue, i)
            if why:
                raise CheckFailed(why)
            for k, name in enumerate(_FEATURE_NAMES):
                if not _close(g[k], want[k]):
                    why = ""
                    others = [d.power for d in dialogue if d is not m]
                    if name == "power" and want[k] < 0 and _close(g[k], -want[k]):
                        why = ("power has lost its sign (abs() or a flipped sign): keep message.power as it is, the "
                               "speaker's standing minus the listener's, negative for a weaker speaker")
                    elif name == "power" and _close(g[k], -want[k]):
                        why = "power has the sign flipped: it is the speaker's standing minus the listener's, message.power"
                    elif name == "power" and any(_close(g[k], o) for o in others):
                        why = "power is read from another message: use the power of the message described, dialogue[i]"
                    elif name == "turn" and _close(g[k], want[k] + 1):
                        why = "turn is off by one: it counts the messages BEFORE this one, i"
                    elif name == "turn" and any(_close(g[k], i / n) for n in (len(dialogue), max(1, len(dialogue) - 1))):
                        why = "turn is a fraction of the dialogue: it is the index i itself, not a fraction"
                    elif name == "turn" and _close(g[k], sum(d.speaker == m.speaker for d in dialogue[:i])):
                        why = "turn counts only the speaker's own earlier messages: count every message before it, i"
                    elif name == "turn":
                        why = "turn is the index i itself, not a fraction or a count of some messages"
                    else:
                        why = f"{name} is wrong"
                    raise CheckFailed(f"{why} ({name}, feature {k}, is {_num(g[k])}, expected {_num(want[k])})")
        cases.append(Case(label, args=(dialogue, i), validate=validate))
    run_check("context_features", context_features_fn, cases,
              hint="m = dialogue[i]; before = same speaker in dialogue[:i]; after = same speaker in dialogue[i+1:]; "
                   "said_before = any(claims_conflict(d, m) for d in before); later_did = any(contradicted_later(m, "
                   "d) for d in after); power = m.power; turn = i.")
