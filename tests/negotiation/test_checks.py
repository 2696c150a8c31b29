"""Lesson 08 checks: each rejects the stub and a table of typical wrong implementations (with a message that
names the mistake first) and accepts the trusted implementation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from utils.checks import CheckFailed
from utils.negotiation.checks import check_context_features, check_rare_class_metrics, check_text_lie_scores
from utils.negotiation.detectors import context_features, text_lie_scores
from utils.negotiation.metrics import rare_class_metrics
from utils.negotiation.simulator import claims_conflict, contradicted_later


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


def _first_line(err: CheckFailed) -> str:
    # run_check prefixes "`name` failed check case '...': " then the diagnosis
    return str(err).split("\n")[0].split("': ", 1)[-1].lower()


# ---------------------------------------------------------------------------------------------
# Exercise 1: rare_class_metrics
# ---------------------------------------------------------------------------------------------

def _counts(y, s, thr, strict=False):
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    pred = s > thr if strict else s >= thr
    return (int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum()), int((~pred & (y == 1)).sum()),
            int((~pred & (y == 0)).sum()))


def _ap(y, s):
    return rare_class_metrics(y, s)["pr_auc"]


def _base(y, s, threshold=0.5, strict=False, nan=False, swap=False, truth_f1=False, macro="mean", pr="ap"):
    y, s = np.asarray(y).astype(int), np.asarray(s, dtype=float)
    tp, fp, fn, tn = _counts(y, s, threshold, strict)
    div = (lambda a, b: a / b if b else float("nan")) if nan else (lambda a, b: a / b if b else 0.0)
    p, r = div(tp, tp + fp), div(tp, tp + fn)
    p0, r0 = div(tn, tn + fn), div(tn, tn + fp)
    f = lambda a, b: 2 * a * b / (a + b) if (a + b) else 0.0  # noqa: E731
    f1, f0 = f(p, r), f(p0, r0)
    if macro == "mean":
        m = (f1 + f0) / 2
    elif macro == "weighted":
        m = ((y == 1).sum() * f1 + (y == 0).sum() * f0) / len(y)
    else:
        m = f((p + p0) / 2, (r + r0) / 2)
    if pr == "ap":
        a = _ap(y, s)
    elif pr == "trapezoid":
        pc, rc, _ = precision_recall_curve(y, s)
        a = float(auc(rc, pc))
    elif pr == "roc":
        a = float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else 0.5
    else:  # one step per message, ties not grouped
        order = np.argsort(-s, kind="mergesort")
        ys = y[order]
        c = np.cumsum(ys)
        a = float(np.sum(np.diff(np.r_[0.0, c / max(1, ys.sum())]) * c / np.arange(1, len(ys) + 1)))
    out = {"precision": p, "recall": r, "f1_lie": f0 if truth_f1 else f1, "macro_f1": m, "pr_auc": a}
    if swap:
        out["precision"], out["recall"] = r, p
    return out


METRIC_MISTAKES = [
    ("swap", dict(swap=True), "swapped"),
    ("strict threshold", dict(strict=True), ">="),
    ("nan on zero division", dict(nan=True), "zero denominator"),
    ("F1 of the truthful class", dict(truth_f1=True), "truthful class"),
    ("macro weighted by support", dict(macro="weighted"), "weighted by class size"),
    ("macro from averaged P and R", dict(macro="avgpr"), "averaged precision and recall"),
    ("PR-AUC by trapezoids", dict(pr="trapezoid"), "steps, not trapezoids"),
    ("PR-AUC ignoring ties", dict(pr="per-sample"), "tied scores"),
    ("ROC AUC instead of PR-AUC", dict(pr="roc"), "roc auc"),
]


def test_rare_class_metrics_reference_and_stub():
    check_rare_class_metrics(rare_class_metrics)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_rare_class_metrics(stub)


@pytest.mark.parametrize("name,kw,phrase", METRIC_MISTAKES, ids=[m[0] for m in METRIC_MISTAKES])
def test_rare_class_metrics_rejects_typical_mistakes(name, kw, phrase):
    def wrong(y_true, y_score, threshold=0.5):
        return _base(y_true, y_score, threshold, **kw)
    with pytest.raises(CheckFailed) as err:
        check_rare_class_metrics(wrong)
    assert phrase.lower() in _first_line(err.value), str(err.value)


@pytest.mark.parametrize("wrong,phrase", [
    (lambda y, s, threshold=0.5: [0.5] * 5, "return a dict"),
    (lambda y, s, threshold=0.5: {"precision": 1.0}, "keys"),
    (lambda y, s, threshold=0.5: None, "none"),
])
def test_rare_class_metrics_rejects_wrong_types(wrong, phrase):
    with pytest.raises(CheckFailed) as err:
        check_rare_class_metrics(wrong)
    assert phrase in str(err.value).lower()


def test_rare_class_metrics_messages_print_plain_numbers():
    with pytest.raises(CheckFailed) as err:
        check_rare_class_metrics(lambda y, s, threshold=0.5: {**_base(y, s, threshold), "f1_lie": np.float64(0.123)})
    assert "np.float64" not in str(err.value)


# ---------------------------------------------------------------------------------------------
# Exercise 2: text_lie_scores
# ---------------------------------------------------------------------------------------------

def _bow(train_texts, train_labels, test_texts, vec=None, clf=None, fit_on=None, out="proba1"):
    vec = vec or CountVectorizer(ngram_range=(1, 2), min_df=2)
    clf = clf or LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    vec.fit(fit_on(train_texts, test_texts) if fit_on else train_texts)
    clf.fit(vec.transform(train_texts), train_labels)
    X = vec.transform(test_texts)
    if out == "proba0":
        return clf.predict_proba(X)[:, 0]
    if out == "both":
        return clf.predict_proba(X)
    if out == "hard":
        return clf.predict(X)
    if out == "list":
        return clf.predict_proba(X)[:, 1].tolist()
    return clf.predict_proba(X)[:, 1]


TEXT_MISTAKES = [
    ("no class weighting", dict(clf=LogisticRegression(C=1.0, max_iter=2000)), "class weighting"),
    ("vocabulary fitted on test too", dict(fit_on=lambda a, b: list(a) + list(b)), "leakage"),
    ("unigrams only", dict(vec=CountVectorizer(min_df=2)), "unigrams"),
    ("min_df=1", dict(vec=CountVectorizer(ngram_range=(1, 2))), "min_df"),
    ("P(truthful)", dict(out="proba0"), "column 0"),
    ("hard predictions", dict(out="hard"), "hard predictions"),
    ("both columns", dict(out="both"), "both columns"),
    ("a list", dict(out="list"), "not a list"),
    ("TF-IDF instead of counts", dict(vec=TfidfVectorizer(ngram_range=(1, 2), min_df=2)), "differ from the spec"),
]


def test_text_lie_scores_reference_and_stub():
    check_text_lie_scores(text_lie_scores)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_text_lie_scores(stub)


@pytest.mark.parametrize("name,kw,phrase", TEXT_MISTAKES, ids=[m[0] for m in TEXT_MISTAKES])
def test_text_lie_scores_rejects_typical_mistakes(name, kw, phrase):
    def wrong(train_texts, train_labels, test_texts):
        import copy
        return _bow(train_texts, train_labels, test_texts, **copy.deepcopy(kw))
    with pytest.raises(CheckFailed) as err:
        check_text_lie_scores(wrong)
    assert phrase.lower() in _first_line(err.value), str(err.value)


def test_text_lie_scores_accepts_a_pipeline_written_differently():
    from sklearn.pipeline import make_pipeline

    def pipe(train_texts, train_labels, test_texts):
        model = make_pipeline(CountVectorizer(ngram_range=(1, 2), min_df=2),
                              LogisticRegression(class_weight="balanced", max_iter=5000))
        return model.fit(np.array(train_texts), np.array(train_labels)).predict_proba(test_texts)[:, 1]
    check_text_lie_scores(pipe)


# ---------------------------------------------------------------------------------------------
# Exercise 3: context_features
# ---------------------------------------------------------------------------------------------

def _ctx(dialogue, i, before="speaker", after="speaker", power=1, turn="i", leak=False):
    m = dialogue[i]
    same = lambda d: d.speaker == m.speaker  # noqa: E731
    if before == "speaker":
        b = [d for d in dialogue[:i] if same(d)]
    elif before == "both":
        b = list(dialogue[:i])
    else:  # the whole dialogue
        b = [d for k, d in enumerate(dialogue) if k != i and same(d)]
    if after == "speaker":
        a = [d for d in dialogue[i + 1:] if same(d)]
    elif after == "both":
        a = list(dialogue[i + 1:])
    else:
        a = [d for k, d in enumerate(dialogue) if k != i and same(d)]
    said = float(any(claims_conflict(d, m) for d in b))
    later = float(any(contradicted_later(m, d) for d in a))
    if leak:
        said = float(said or m.lie)
    t = {"i": float(i), "i+1": float(i + 1), "frac": i / max(1, len(dialogue) - 1)}[turn]
    return np.array([said, later, power * float(m.power), t])


CONTEXT_MISTAKES = [
    ("said_before counts the other speaker", dict(before="both"), "said_before"),
    ("said_before looks at the whole dialogue", dict(before="all"), "said_before"),
    ("later_did counts the other speaker", dict(after="both"), "later_did"),
    ("later_did looks before as well as after", dict(after="all"), "later_did"),
    ("power with the wrong sign", dict(power=-1), "sign flipped"),
    ("turn off by one", dict(turn="i+1"), "off by one"),
    ("turn as a fraction", dict(turn="frac"), "not a fraction"),
    ("reads the lie label", dict(leak=True), "never use lie"),
]


def test_context_features_reference_and_stub():
    check_context_features(context_features)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_context_features(stub)


@pytest.mark.parametrize("name,kw,phrase", CONTEXT_MISTAKES, ids=[m[0] for m in CONTEXT_MISTAKES])
def test_context_features_rejects_typical_mistakes(name, kw, phrase):
    with pytest.raises(CheckFailed) as err:
        check_context_features(lambda dialogue, i: _ctx(dialogue, i, **kw))
    assert phrase.lower() in _first_line(err.value), str(err.value)


@pytest.mark.parametrize("wrong,phrase", [
    (lambda d, i: np.zeros(3), "shape (4,)"),
    (lambda d, i: "features", "numpy array"),
])
def test_context_features_rejects_wrong_shapes(wrong, phrase):
    with pytest.raises(CheckFailed) as err:
        check_context_features(wrong)
    assert phrase.lower() in str(err.value).lower()


def test_mistake_tables_have_at_least_five_entries():
    assert len(METRIC_MISTAKES) >= 5 and len(TEXT_MISTAKES) >= 5 and len(CONTEXT_MISTAKES) >= 5


def test_checks_do_not_change_the_global_random_state():
    import random

    import torch
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    before = (np.random.random(), random.random(), torch.rand(1).item())
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    check_rare_class_metrics(rare_class_metrics)
    check_text_lie_scores(text_lie_scores)
    check_context_features(context_features)
    assert (np.random.random(), random.random(), torch.rand(1).item()) == before
