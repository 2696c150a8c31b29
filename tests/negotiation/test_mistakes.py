"""Lesson 08: wrong implementations, written against the exercises' real signatures, that each check must reject
with a CheckFailed whose message names the mistake first (the first line, after the case label). The table
includes the implementations a hostile reviewer wrote against the first version of the checks (several of which
passed then) and more of our own. Correct answers written differently must pass."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve, precision_score, recall_score
from sklearn.preprocessing import StandardScaler

from utils.checks import CheckFailed
from utils.negotiation.checks import check_context_features, check_rare_class_metrics, check_text_lie_scores
from utils.negotiation.simulator import claims_conflict, contradicted_later


def _first_line(err: CheckFailed) -> str:
    return str(err).split("\n")[0].split("': ", 1)[-1].lower()


def _rejects(check, fn, phrase):
    with pytest.raises(CheckFailed) as err:
        check(fn)
    assert phrase.lower() in _first_line(err.value), str(err.value)
    assert "np.float64" not in str(err.value)


# ---------------------------------------------------------------------------------------------
# Exercise 1: rare_class_metrics
# ---------------------------------------------------------------------------------------------

def _ratio(a, b):
    return a / b if b else 0.0


def _f1(p, r):
    return 2 * p * r / (p + r) if p + r else 0.0


def _base(y_true, y_score, threshold):
    y, s = np.asarray(y_true).astype(int), np.asarray(y_score, dtype=float)
    pred = s >= threshold
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    fl, ft = _f1(p, r), _f1(_ratio(tn, tn + fn), _ratio(tn, tn + fp))
    out = dict(precision=p, recall=r, f1_lie=fl, macro_f1=(fl + ft) / 2,
               pr_auc=float(average_precision_score(y, s)) if y.sum() else 0.0)
    return out, (y, s, tp, fp, fn, tn)


def _ap_loop(y, s, order=-1, strict=False):
    ap, prev, n = 0.0, 0.0, int(y.sum())
    for t in np.unique(s)[::order]:
        fl = s > t if strict else s >= t
        tp = int((fl & (y == 1)).sum())
        r = _ratio(tp, n)
        ap += (r - prev) * _ratio(tp, int(fl.sum()))
        prev = r
    return ap


def m_pr_auc_ascending_loop(y_true, y_score, threshold=0.5):
    out, (y, s, *_) = _base(y_true, y_score, threshold)
    return {**out, "pr_auc": _ap_loop(y, s, order=1)}


def m_pr_auc_strict_in_loop(y_true, y_score, threshold=0.5):
    out, (y, s, *_) = _base(y_true, y_score, threshold)
    return {**out, "pr_auc": _ap_loop(y, s, strict=True)}


def m_pr_auc_from_hard_predictions(y_true, y_score, threshold=0.5):
    out, (y, s, *_) = _base(y_true, y_score, threshold)
    return {**out, "pr_auc": float(average_precision_score(y, (s >= threshold).astype(int)))}


def m_pr_auc_sklearn_curve_wrong_slice(y_true, y_score, threshold=0.5):
    out, (y, s, *_) = _base(y_true, y_score, threshold)
    p, r, _ = precision_recall_curve(y, s)
    return {**out, "pr_auc": float(-np.sum(np.diff(r) * p[1:]))}


def m_pr_auc_interpolated_wrong_way(y_true, y_score, threshold=0.5):
    out, (y, s, *_) = _base(y_true, y_score, threshold)
    p, r, _ = precision_recall_curve(y, s)
    p_interp = np.maximum.accumulate(p[::-1])[::-1]
    return {**out, "pr_auc": float(-np.sum(np.diff(r) * p_interp[:-1]))}


def m_macro_mean_of_precision_recall(y_true, y_score, threshold=0.5):
    out, _ = _base(y_true, y_score, threshold)
    return {**out, "macro_f1": (out["precision"] + out["recall"]) / 2}


def m_macro_includes_accuracy(y_true, y_score, threshold=0.5):
    out, (y, s, tp, fp, fn, tn) = _base(y_true, y_score, threshold)
    return {**out, "macro_f1": (out["f1_lie"] + (tp + tn) / len(y)) / 2}


def m_ignores_threshold(y_true, y_score, threshold=0.5):
    return _base(y_true, y_score, 0.5)[0]


def m_f1_nan_on_zero(y_true, y_score, threshold=0.5):
    out, _ = _base(y_true, y_score, threshold)
    p, r = np.float64(out["precision"]), np.float64(out["recall"])
    with np.errstate(all="ignore"):
        return {**out, "f1_lie": float(2 * p * r / (p + r))}


def m_f1_zero_division_error(y_true, y_score, threshold=0.5):
    out, _ = _base(y_true, y_score, threshold)
    p, r = out["precision"], out["recall"]
    return {**out, "f1_lie": 2 * p * r / (p + r)}


def m_recall_over_all_messages(y_true, y_score, threshold=0.5):
    out, (y, s, tp, fp, fn, tn) = _base(y_true, y_score, threshold)
    return {**out, "recall": tp / len(y), "f1_lie": _f1(out["precision"], tp / len(y))}


def m_precision_over_all_messages(y_true, y_score, threshold=0.5):
    out, (y, s, tp, fp, fn, tn) = _base(y_true, y_score, threshold)
    return {**out, "precision": tp / len(y), "f1_lie": _f1(tp / len(y), out["recall"])}


def m_extra_key(y_true, y_score, threshold=0.5):
    out, (y, s, tp, fp, fn, tn) = _base(y_true, y_score, threshold)
    return {**out, "accuracy": (tp + tn) / len(y)}


METRIC_MISTAKES = [
    (m_pr_auc_ascending_loop, "from low to high"),
    (m_pr_auc_strict_in_loop, "s >= t, not s > t"),
    (m_pr_auc_from_hard_predictions, "0/1 predictions"),
    (m_pr_auc_sklearn_curve_wrong_slice, "another rule"),
    (m_pr_auc_interpolated_wrong_way, "lower recall"),
    (m_macro_mean_of_precision_recall, "mean of the lie class's precision and recall"),
    (m_macro_includes_accuracy, "accuracy"),
    (m_ignores_threshold, "threshold argument is ignored"),
    (m_f1_nan_on_zero, "zero denominator"),
    (m_f1_zero_division_error, "division by zero"),
    (m_recall_over_all_messages, "recall divides by the number of messages"),
    (m_precision_over_all_messages, "precision divides by the number of messages"),
    (m_extra_key, "keys"),
]


@pytest.mark.parametrize("wrong,phrase", METRIC_MISTAKES, ids=[w.__name__ for w, _ in METRIC_MISTAKES])
def test_rare_class_metrics_names_the_mistake(wrong, phrase):
    _rejects(check_rare_class_metrics, wrong, phrase)


def _sklearn_metrics(y_true, y_score, threshold=0.5):
    y, s = np.asarray(y_true), np.asarray(y_score, float)
    pred = (s >= threshold).astype(int)
    return dict(precision=precision_score(y, pred, zero_division=0), recall=recall_score(y, pred, zero_division=0),
                f1_lie=f1_score(y, pred, zero_division=0),
                macro_f1=f1_score(y, pred, average="macro", zero_division=0),
                pr_auc=average_precision_score(y, s) if y.sum() else 0.0)


@pytest.mark.parametrize("right", [
    _sklearn_metrics,
    lambda y, s, threshold=0.5: {k: np.float64(v) for k, v in _sklearn_metrics(y, s, threshold).items()},
    lambda y, s, threshold=0.5: {k: np.array(v) for k, v in _sklearn_metrics(y, s, threshold).items()},
], ids=["scikit-learn", "numpy scalars", "0-d arrays"])
def test_rare_class_metrics_accepts_correct_answers_written_differently(right):
    check_rare_class_metrics(right)


# ---------------------------------------------------------------------------------------------
# Exercise 2: text_lie_scores
# ---------------------------------------------------------------------------------------------

def _spec_vec(**kw):
    return CountVectorizer(**{"ngram_range": (1, 2), "min_df": 2, **kw})


def _spec_clf(**kw):
    return LogisticRegression(**{"C": 1.0, "class_weight": "balanced", "max_iter": 2000, **kw})


def _fit_score(vec, clf, train_texts, train_labels, test_texts, scale=False):
    X_tr, X_te = vec.fit_transform(train_texts), None
    X_te = vec.transform(test_texts)
    if scale:
        sc = StandardScaler(with_mean=False).fit(X_tr)
        X_tr, X_te = sc.transform(X_tr), sc.transform(X_te)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X_tr, train_labels)
    return clf, X_te


def _text(vec=None, clf=None, scale=False, out="proba"):
    def fn(train_texts, train_labels, test_texts):
        model, X = _fit_score(vec() if vec else _spec_vec(), clf() if clf else _spec_clf(), train_texts,
                              train_labels, test_texts, scale)
        if out == "logit":
            return model.decision_function(X)
        if out == "column":
            return model.predict_proba(X)[:, 1:]
        if out == "torch":
            import torch
            return torch.tensor(model.predict_proba(X)[:, 1])
        return model.predict_proba(X)[:, 1]
    return fn


def t_refit_vectorizer_on_test(train_texts, train_labels, test_texts):
    vec, clf = _spec_vec(), _spec_clf()
    clf.fit(vec.fit_transform(train_texts), train_labels)
    return clf.predict_proba(vec.fit_transform(test_texts))[:, 1]


def t_scores_training_texts(train_texts, train_labels, test_texts):
    vec, clf = _spec_vec(), _spec_clf()
    X = vec.fit_transform(train_texts)
    return clf.fit(X, train_labels).predict_proba(X)[:, 1]


TEXT_MISTAKES = [
    ("tf-idf", _text(vec=lambda: TfidfVectorizer(ngram_range=(1, 2), min_df=2)), "tf-idf"),
    ("decision_function logits", _text(out="logit"), "logits"),
    ("binary counts", _text(vec=lambda: _spec_vec(binary=True)), "binary=true"),
    ("liblinear", _text(clf=lambda: _spec_clf(solver="liblinear")), "liblinear"),
    ("no lowercase", _text(vec=lambda: _spec_vec(lowercase=False)), "lowercase=false"),
    ("vectorizer refitted on test", t_refit_vectorizer_on_test, "fitted again on the test texts"),
    ("scores the training texts", t_scores_training_texts, "training text"),
    ("C=0.1", _text(clf=lambda: _spec_clf(C=0.1)), "c=0.1"),
    ("C=10", _text(clf=lambda: _spec_clf(C=10.0)), "c=10"),
    ("hand-set class weight", _text(clf=lambda: _spec_clf(class_weight={0: 1, 1: 20})), "hand-set class weight"),
    ("stop words", _text(vec=lambda: _spec_vec(stop_words="english")), "stop_words"),
    ("no penalty", _text(clf=lambda: _spec_clf(penalty=None)), "no regularisation"),
    ("min_df as a fraction", _text(vec=lambda: _spec_vec(min_df=0.02)), "fraction"),
    ("trigrams", _text(vec=lambda: _spec_vec(ngram_range=(1, 3))), "(1, 3)"),
    ("a column (n, 1)", _text(out="column"), "column (n, 1)"),
    ("a torch tensor", _text(out="torch"), "torch tensor"),
    ("standardised counts", _text(scale=True), "standardised"),
]


@pytest.mark.parametrize("name,wrong,phrase", TEXT_MISTAKES, ids=[m[0] for m in TEXT_MISTAKES])
def test_text_lie_scores_names_the_mistake(name, wrong, phrase):
    _rejects(check_text_lie_scores, wrong, phrase)


def test_text_lie_scores_accepts_float32():
    check_text_lie_scores(lambda a, b, c: _text()(a, b, c).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Exercise 3: context_features
# ---------------------------------------------------------------------------------------------

def _parts(dialogue, i):
    m = dialogue[i]
    before = [d for d in dialogue[:i] if d.speaker == m.speaker]
    after = [d for d in dialogue[i + 1:] if d.speaker == m.speaker]
    return m, before, after


def _ctx(sb=None, ld=None, power=None, turn=None):
    def fn(dialogue, i):
        m, before, after = _parts(dialogue, i)
        s = sb(m, before, dialogue, i) if sb else float(any(claims_conflict(d, m) for d in before))
        la = ld(m, after) if ld else float(any(contradicted_later(m, d) for d in after))
        p = power(m, dialogue, i) if power else float(m.power)
        t = turn(m, before, i) if turn else float(i)
        return np.array([s, la, p, t], dtype=float)
    return fn


CONTEXT_MISTAKES = [
    ("said_before: last own message only",
     _ctx(sb=lambda m, b, d, i: float(claims_conflict(b[-1], m)) if b else 0.0), "not its most recent message"),
    ("said_before: last claim of the same act only",
     _ctx(sb=lambda m, b, d, i: float(claims_conflict([x for x in b if x.act == m.act][-1], m))
          if any(x.act == m.act for x in b) else 0.0), "not its most recent message"),
    ("said_before: a count", _ctx(sb=lambda m, b, d, i: float(sum(claims_conflict(x, m) for x in b))), "count"),
    ("later_did: a count", _ctx(ld=lambda m, a: float(sum(contradicted_later(m, x) for x in a))), "count"),
    ("later_did: next own message only",
     _ctx(ld=lambda m, a: float(contradicted_later(m, a[0])) if a else 0.0), "not its next message"),
    ("later_did: arguments swapped", _ctx(ld=lambda m, a: float(any(contradicted_later(x, m) for x in a))),
     "swapped"),
    ("said_before: reads the message's suspicion",
     _ctx(sb=lambda m, b, d, i: float(any(claims_conflict(x, m) for x in b) or m.suspected)), "read the labels"),
    ("said_before: reads earlier suspicions",
     _ctx(sb=lambda m, b, d, i: float(any(claims_conflict(x, m) for x in b) or any(x.suspected for x in b))),
     "read the labels"),
    ("later_did: the lie label", _ctx(ld=lambda m, a: float(m.lie)), "read the labels"),
    ("turn from message.turn", _ctx(turn=lambda m, b, i: float(m.turn)), "message.turn"),
    ("turn counts own messages", _ctx(turn=lambda m, b, i: float(len(b))), "own earlier messages"),
    ("power: absolute value", _ctx(power=lambda m, d, i: float(abs(m.power))), "lost its sign"),
    ("power of the previous message",
     _ctx(power=lambda m, d, i: float(d[i - 1].power if i > 0 else m.power)), "another message"),
    ("later_did: value claims vs offers only",
     _ctx(ld=lambda m, a: float(any(m.act == "value" and x.act == "offer" and contradicted_later(m, x) for x in a))),
     "later_did"),
    ("a (1, 4) array", lambda d, i: _ctx()(d, i)[None, :], "shape (4,)"),
]


@pytest.mark.parametrize("name,wrong,phrase", CONTEXT_MISTAKES, ids=[m[0] for m in CONTEXT_MISTAKES])
def test_context_features_names_the_mistake(name, wrong, phrase):
    _rejects(check_context_features, wrong, phrase)


@pytest.mark.parametrize("right", [
    lambda d, i: _ctx()(d, i).tolist(),
    lambda d, i: _ctx()(d, i).astype(np.float32),
], ids=["list of floats", "float32"])
def test_context_features_accepts_correct_answers_written_differently(right):
    check_context_features(right)


def test_each_exercise_has_at_least_five_mistakes():
    assert min(len(METRIC_MISTAKES), len(TEXT_MISTAKES), len(CONTEXT_MISTAKES)) >= 5
