"""Lesson 06: for every exercise, a table of typical wrong answers written against the real signature. Each must be
rejected with a CheckFailed whose message names the actual mistake first (in the line that reports the failing
case, before any hint). The trusted implementations pass, the stub gets "not implemented yet", and an endless loop
fails the check quickly instead of hanging it."""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import pytest
import torch

from utils.checks import CheckFailed
from tests.mistakes import assert_endless_loop_fails_quickly, assert_stub_not_implemented
from utils.ethics import checks as C
from utils.ethics.gridworld import OrderModel, fit_order_model, order_pairs
from utils.ethics.qlearning import q_update, screen_actions, shape_q

CHECKS = {
    "q_update": C.check_q_update,
    "shape_q": C.check_shape_q,
    "screen_actions": C.check_screen_actions,
    "make_order_pairs": C.check_order_pairs,
    "fit_order_model": C.check_fit_order_model,
}
TRUSTED = {
    "q_update": q_update,
    "shape_q": shape_q,
    "screen_actions": screen_actions,
    "make_order_pairs": order_pairs,
    "fit_order_model": fit_order_model,
}


# ---------------------------------------------------------------------------------------------
# Exercise 1: q_update(Q, s, a, r, q_next, terminated, alpha, gamma)
# ---------------------------------------------------------------------------------------------

def _target(r, q_next, terminated, gamma, agg=np.max):
    return r if (terminated or len(q_next) == 0) else r + gamma * agg(q_next)


def q_bootstraps_terminal(Q, s, a, r, q_next, terminated, alpha, gamma):
    target = r + (gamma * np.max(q_next) if len(q_next) else 0.0)
    Q[s, a] += alpha * (target - Q[s, a])
    return Q[s, a]


def q_no_alpha(Q, s, a, r, q_next, terminated, alpha, gamma):
    Q[s, a] = _target(r, q_next, terminated, gamma)
    return Q[s, a]


def q_wrong_sign(Q, s, a, r, q_next, terminated, alpha, gamma):
    Q[s, a] -= alpha * (_target(r, q_next, terminated, gamma) - Q[s, a])
    return Q[s, a]


def q_mean(Q, s, a, r, q_next, terminated, alpha, gamma):
    Q[s, a] += alpha * (_target(r, q_next, terminated, gamma, np.mean) - Q[s, a])
    return Q[s, a]


def q_not_in_place(Q, s, a, r, q_next, terminated, alpha, gamma):
    return Q[s, a] + alpha * (_target(r, q_next, terminated, gamma) - Q[s, a])


def q_max_with_zero(Q, s, a, r, q_next, terminated, alpha, gamma):
    best = 0.0
    for v in q_next:                        # a running max that starts at 0
        best = max(best, v)
    target = r if terminated else r + gamma * best
    Q[s, a] += alpha * (target - Q[s, a])
    return Q[s, a]


def q_no_return(Q, s, a, r, q_next, terminated, alpha, gamma):
    Q[s, a] += alpha * (_target(r, q_next, terminated, gamma) - Q[s, a])


def q_whole_row(Q, s, a, r, q_next, terminated, alpha, gamma):
    Q[s] += alpha * (_target(r, q_next, terminated, gamma) - Q[s])
    return Q[s, a]


def q_no_gamma(Q, s, a, r, q_next, terminated, alpha, gamma):
    target = r if (terminated or len(q_next) == 0) else r + np.max(q_next)
    Q[s, a] += alpha * (target - Q[s, a])
    return Q[s, a]


def q_alpha_swapped(Q, s, a, r, q_next, terminated, alpha, gamma):
    Q[s, a] = alpha * Q[s, a] + (1 - alpha) * _target(r, q_next, terminated, gamma)
    return Q[s, a]


def q_no_empty_guard(Q, s, a, r, q_next, terminated, alpha, gamma):
    # the review's version: guards `terminated` only, so an empty q_next when not terminated reaches np.max
    target = r if terminated else r + gamma * np.max(q_next)
    Q[s, a] += alpha * (target - Q[s, a])
    return float(Q[s, a])


def q_returns_old(Q, s, a, r, q_next, terminated, alpha, gamma):
    old = Q[s, a]
    Q[s, a] += alpha * (_target(r, q_next, terminated, gamma) - Q[s, a])
    return old


# ---------------------------------------------------------------------------------------------
# Exercise 2: shape_q(q, p_immoral, penalty=10.0, threshold=0.39, soft=False)
# ---------------------------------------------------------------------------------------------

def _flag(p, threshold, soft):
    p = np.asarray(p, dtype=float)
    return p if soft else (p > threshold).astype(float)


def shape_adds(q, p, penalty=10.0, threshold=0.39, soft=False):
    return np.asarray(q, float) + penalty * _flag(p, threshold, soft)


def shape_only_best(q, p, penalty=10.0, threshold=0.39, soft=False):
    q = np.array(q, dtype=float)
    pen = penalty * _flag(p, threshold, soft)
    rows = q.reshape(-1, q.shape[-1])
    for row in rows:
        i = int(row.argmax())
        row[i] -= pen[i]
    return q


def shape_soft_ignored(q, p, penalty=10.0, threshold=0.39, soft=False):
    return np.asarray(q, float) - penalty * (np.asarray(p) > threshold)


def shape_in_place(q, p, penalty=10.0, threshold=0.39, soft=False):
    q -= penalty * _flag(p, threshold, soft)
    return q


def shape_fixed_penalty(q, p, penalty=10.0, threshold=0.39, soft=False):
    return np.asarray(q, float) - 10.0 * _flag(p, threshold, soft)


def shape_fixed_threshold(q, p, penalty=10.0, threshold=0.39, soft=False):
    return np.asarray(q, float) - penalty * _flag(p, 0.39, soft)


def shape_greater_equal(q, p, penalty=10.0, threshold=0.39, soft=False):
    p = np.asarray(p, dtype=float)
    return np.asarray(q, float) - penalty * (p if soft else (p >= threshold))


def shape_soft_times_flag(q, p, penalty=10.0, threshold=0.39, soft=False):
    p = np.asarray(p, dtype=float)
    return np.asarray(q, float) - penalty * (p * (p > threshold) if soft else (p > threshold))


def shape_penalty_only(q, p, penalty=10.0, threshold=0.39, soft=False):
    return -penalty * np.broadcast_to(_flag(p, threshold, soft), np.shape(q))


def shape_flattens(q, p, penalty=10.0, threshold=0.39, soft=False):
    return (np.asarray(q, float) - penalty * _flag(p, threshold, soft)).ravel()


# ---------------------------------------------------------------------------------------------
# Exercise 3: screen_actions(mask, p_immoral, threshold=0.39)
# ---------------------------------------------------------------------------------------------

def shape_float32(q, p, penalty=10.0, threshold=0.39, soft=False):
    return shape_q(q, p, penalty, threshold, soft).astype(np.float32)


def shape_list(q, p, penalty=10.0, threshold=0.39, soft=False):
    return shape_q(q, p, penalty, threshold, soft).tolist()


def screen_list(mask, p, threshold=0.39):
    return screen_actions(mask, p, threshold).tolist()


def screen_same_object(mask, p, threshold=0.39):
    mask = np.asarray(mask, dtype=bool)            # the caller's own array when it is already boolean
    keep = mask & (np.asarray(p) <= threshold)
    return keep if keep.any() else mask


def screen_keeps_flagged(mask, p, threshold=0.39):
    return np.asarray(mask) & (np.asarray(p) > threshold)


def screen_no_fallback(mask, p, threshold=0.39):
    return np.asarray(mask) & (np.asarray(p) <= threshold)


def screen_ignores_mask(mask, p, threshold=0.39):
    keep = np.asarray(p) <= threshold
    return keep if keep.any() else np.asarray(mask).copy()


def screen_ints(mask, p, threshold=0.39):
    keep = np.asarray(mask) & (np.asarray(p) <= threshold)
    return (keep if keep.any() else np.asarray(mask)).astype(int)


def screen_strict(mask, p, threshold=0.39):
    keep = np.asarray(mask) & (np.asarray(p) < threshold)
    return keep if keep.any() else np.asarray(mask).copy()


def screen_fixed_threshold(mask, p, threshold=0.39):
    keep = np.asarray(mask) & (np.asarray(p) <= 0.39)
    return keep if keep.any() else np.asarray(mask).copy()


def screen_fallback_all(mask, p, threshold=0.39):
    keep = np.asarray(mask) & (np.asarray(p) <= threshold)
    return keep if keep.any() else np.ones_like(mask, dtype=bool)


def screen_in_place(mask, p, threshold=0.39):
    before = mask.copy()
    mask &= np.asarray(p) <= threshold
    return mask if mask.any() else before


# ---------------------------------------------------------------------------------------------
# Exercise 4: make_order_pairs(traj, window)
# ---------------------------------------------------------------------------------------------

def _pairs(traj, window, both=True, flip=False, hi=1, lo=1, twice=False, limit=None):
    traj = np.asarray(traj)
    f, s, lab = [], [], []
    for i in range(len(traj)):
        top = len(traj) if limit == "none" else min(len(traj), i + window + hi)
        for j in range(i + lo, top):
            for _ in range(2 if twice else 1):
                f.append(traj[i]); s.append(traj[j]); lab.append(0.0 if flip else 1.0)
                if both:
                    f.append(traj[j]); s.append(traj[i]); lab.append(1.0 if flip else 0.0)
    d = traj.shape[1]
    return np.array(f).reshape(-1, d), np.array(s).reshape(-1, d), np.array(lab)


def pairs_one_order(traj, window):
    return _pairs(traj, window, both=False)


def pairs_flipped(traj, window):
    return _pairs(traj, window, flip=True)


def pairs_window_off_by_one(traj, window):
    return _pairs(traj, window, hi=0)


def pairs_with_self(traj, window):
    return _pairs(traj, window, lo=0)


def pairs_no_labels(traj, window):
    return _pairs(traj, window)[:2]


def pairs_ignore_window(traj, window):
    return _pairs(traj, window, limit="none")


def pairs_neighbours_only(traj, window):
    return _pairs(traj, 1)


def pairs_twice(traj, window):
    return _pairs(traj, window, twice=True)


def pairs_labels_all_ones(traj, window):
    f, s, lab = _pairs(traj, window)
    return f, s, np.ones_like(lab)


def pairs_int_labels(traj, window):
    f, s, lab = order_pairs(traj, window)
    return f, s, lab.astype(int)


def pairs_bool_labels(traj, window):
    f, s, lab = order_pairs(traj, window)
    return f, s, lab.astype(bool)


def pairs_lists(traj, window):
    return tuple(np.asarray(v).tolist() for v in order_pairs(traj, window))


# ---------------------------------------------------------------------------------------------
# Exercise 5: fit_order_model(first, second, labels, steps=150, lr=0.05, seed=0)
# ---------------------------------------------------------------------------------------------

def _fit(first, second, labels, steps=150, lr=0.05, seed=0, *, seed_first=True, zero_grad=True, loss="bce",
         swap=False, flip=False, optim="adam", fixed_lr=None, fixed_steps=None, record_after=False,
         return_model_only=False, fresh_model=False, batch=None, record="float", dtype=torch.float32,
         model_dtype=torch.float32):
    x = torch.as_tensor(np.asarray(first), dtype=dtype)
    y = torch.as_tensor(np.asarray(second), dtype=dtype)
    t = torch.as_tensor(np.asarray(labels), dtype=dtype)
    if flip:
        t = 1 - t
    if seed_first:
        torch.manual_seed(seed)
    model = OrderModel(x.shape[1]).to(model_dtype)
    lr = fixed_lr or lr
    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}[optim](model.parameters(), lr=lr)
    losses = []

    def compute():
        if batch is not None:   # a random minibatch instead of the full batch
            idx = torch.randperm(len(x))[:batch]
            return torch.nn.functional.binary_cross_entropy_with_logits(model.logit(x[idx], y[idx]), t[idx])
        z = model.logit(y, x) if swap else model.logit(x, y)
        if loss == "bce":
            return torch.nn.functional.binary_cross_entropy_with_logits(z, t)
        if loss == "double_sigmoid":
            return torch.nn.functional.binary_cross_entropy_with_logits(model(x, y), t)
        if loss == "mse":
            return ((torch.sigmoid(z) - t) ** 2).mean()
        if loss == "sum":
            return torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="sum")
        raise AssertionError(loss)

    for _ in range(fixed_steps or steps):
        value = compute()
        if zero_grad:
            opt.zero_grad()
        value.backward()
        opt.step()
        kept = compute().detach() if record_after else value.detach()
        losses.append({"float": float, "tensor": lambda v: v, "numpy": lambda v: v.numpy()}[record](kept))
    if fresh_model:
        model = OrderModel(x.shape[1])
    return model if return_model_only else (model, losses)


fit_double_sigmoid = partial(_fit, loss="double_sigmoid")
fit_swapped = partial(_fit, swap=True)
fit_flipped_labels = partial(_fit, flip=True)
fit_mse = partial(_fit, loss="mse")
fit_sum = partial(_fit, loss="sum")
fit_no_zero_grad = partial(_fit, zero_grad=False)
fit_unseeded = partial(_fit, seed_first=False)
fit_fixed_lr = partial(_fit, fixed_lr=0.05)
fit_fixed_steps = partial(_fit, fixed_steps=150)
fit_sgd = partial(_fit, optim="sgd")
fit_records_after_step = partial(_fit, record_after=True)
fit_returns_model_only = partial(_fit, return_model_only=True)
fit_returns_fresh_model = partial(_fit, fresh_model=True)
fit_minibatch_64 = partial(_fit, batch=64)
fit_minibatch_16 = partial(_fit, batch=16)
fit_tensor_losses = partial(_fit, record="tensor")
fit_numpy_losses = partial(_fit, record="numpy")
fit_float64_inputs = partial(_fit, dtype=torch.float64)
fit_float64_model = partial(_fit, dtype=torch.float64, model_dtype=torch.float64)
fit_adamw = partial(_fit, optim="adamw")


# (exercise, mistake, wrong function, what the message must say first)
MISTAKES = [
    ("q_update", "bootstraps from a terminal state", q_bootstraps_terminal, r"terminal state"),
    ("q_update", "replaces Q by the target (no alpha)", q_no_alpha, r"replaced Q\[s, a\] by the target"),
    ("q_update", "steps away from the target", q_wrong_sign, r"away from the target"),
    ("q_update", "mean of the next values", q_mean, r"mean of q_next"),
    ("q_update", "not in place", q_not_in_place, r"unchanged: update the table in place"),
    ("q_update", "running max that starts at 0", q_max_with_zero, r"negative best next value as 0"),
    ("q_update", "returns nothing", q_no_return, r"returned None"),
    ("q_update", "updates the whole row", q_whole_row, r"other than Q\[s, a\]"),
    ("q_update", "forgets gamma", q_no_gamma, r"left out gamma"),
    ("q_update", "alpha and 1 - alpha swapped", q_alpha_swapped, r"swapped alpha and 1 - alpha"),
    ("q_update", "returns the old value", q_returns_old, r"return the updated value"),
    ("q_update", "no guard for an empty q_next when not terminated", q_no_empty_guard,
     r"q_next empty and terminated=False"),
    ("shape_q", "adds the penalty", shape_adds, r"added the penalty"),
    ("shape_q", "penalises only the best action", shape_only_best, r"only the best action"),
    ("shape_q", "ignores soft", shape_soft_ignored, r"soft=True subtract penalty \* p"),
    ("shape_q", "changes q in place", shape_in_place, r"in place"),
    ("shape_q", "hard-coded penalty", shape_fixed_penalty, r"ignored the `penalty` argument"),
    ("shape_q", "hard-coded threshold", shape_fixed_threshold, r"ignored the `threshold` argument"),
    ("shape_q", "flags p == threshold", shape_greater_equal, r"exactly equal to the threshold"),
    ("shape_q", "soft rule times the indicator", shape_soft_times_flag, r"multiplied p by the indicator"),
    ("shape_q", "returns only the penalty", shape_penalty_only, r"returned only the penalty"),
    ("shape_q", "flattens the batch", shape_flattens, r"has shape \(6,\), expected \(2, 3\)"),
    ("shape_q", "returns nothing", lambda q, p, **kw: None, r"returned None"),
    ("shape_q", "returns float32", shape_float32, r"dtype float32"),
    ("shape_q", "returns a list", shape_list, r"returned a Python list"),
    ("screen_actions", "keeps the flagged actions", screen_keeps_flagged, r"kept the flagged actions"),
    ("screen_actions", "no fallback when all are flagged", screen_no_fallback, r"returned an empty mask"),
    ("screen_actions", "ignores availability", screen_ignores_mask, r"does not offer here"),
    ("screen_actions", "returns ints", screen_ints, r"dtype bool"),
    ("screen_actions", "removes p == threshold", screen_strict, r"exactly equal to the threshold was removed"),
    ("screen_actions", "hard-coded threshold", screen_fixed_threshold, r"ignored the `threshold` argument"),
    ("screen_actions", "falls back to every action", screen_fallback_all, r"not to every action"),
    ("screen_actions", "changes the mask in place", screen_in_place, r"changed the input mask in place"),
    ("screen_actions", "returns a list", screen_list, r"returned a Python list"),
    ("screen_actions", "returns the caller's mask as the fallback", screen_same_object, r"caller's own mask object"),
    ("make_order_pairs", "one order only", pairs_one_order, r"one order only"),
    ("make_order_pairs", "labels the wrong way round", pairs_flipped, r"wrong way round"),
    ("make_order_pairs", "window off by one", pairs_window_off_by_one, r"exactly \d+ steps? apart"),
    ("make_order_pairs", "pairs a state with itself", pairs_with_self, r"paired a state with itself"),
    ("make_order_pairs", "forgets the labels", pairs_no_labels, r"returned 2 item"),
    ("make_order_pairs", "ignores the window", pairs_ignore_window, r"steps apart with window="),
    ("make_order_pairs", "neighbours only", pairs_neighbours_only, r"only paired neighbours"),
    ("make_order_pairs", "every pair twice", pairs_twice, r"more than once"),
    ("make_order_pairs", "all labels 1", pairs_labels_all_ones, r"(same label|label 1 exactly when)"),
    ("make_order_pairs", "integer labels", pairs_int_labels, r"labels have dtype int"),
    ("make_order_pairs", "boolean labels", pairs_bool_labels, r"labels have dtype bool"),
    ("make_order_pairs", "lists instead of arrays", pairs_lists, r"list, list, list instead of NumPy arrays"),
    ("fit_order_model", "sigmoid applied twice", fit_double_sigmoid, r"sigmoid applied twice"),
    ("fit_order_model", "first and second swapped", fit_swapped, r"reverse order"),
    ("fit_order_model", "labels flipped", fit_flipped_labels, r"reverse order"),
    ("fit_order_model", "squared error", fit_mse, r"squared error"),
    ("fit_order_model", "summed loss", fit_sum, r"summed over pairs"),
    ("fit_order_model", "no zero_grad", fit_no_zero_grad, r"zero_grad"),
    ("fit_order_model", "not seeded", fit_unseeded, r"manual_seed\(seed\) before you create the model"),
    ("fit_order_model", "ignores lr", fit_fixed_lr, r"ignored the `lr` argument"),
    ("fit_order_model", "ignores steps", fit_fixed_steps, r"recorded 150 losses for steps="),
    ("fit_order_model", "SGD instead of Adam", fit_sgd, r"one step of Adam"),
    ("fit_order_model", "loss recorded after the step", fit_records_after_step, r"shifted by one step"),
    ("fit_order_model", "returns only the model", fit_returns_model_only, r"returned only the model"),
    ("fit_order_model", "returns an untrained model", fit_returns_fresh_model, r"return the model you trained"),
    ("fit_order_model", "random minibatch of 64", fit_minibatch_64, r"subset or minibatch"),
    ("fit_order_model", "random minibatch of 16", fit_minibatch_16, r"subset or minibatch"),
    ("fit_order_model", "losses kept as tensors", fit_tensor_losses, r"Tensor objects, not Python floats"),
    ("fit_order_model", "losses as NumPy arrays", fit_numpy_losses, r"ndarray objects, not Python floats"),
    ("fit_order_model", "float64 inputs, float32 model", fit_float64_inputs, r"dtype mismatch"),
    ("fit_order_model", "float64 model", fit_float64_model, r"parameters are torch.float64"),
    ("fit_order_model", "AdamW instead of Adam", fit_adamw, r"used AdamW"),
]


def _first_line(message: str) -> str:
    return message.split("\n  Hint:")[0]


@pytest.mark.parametrize("exercise, mistake, wrong, says", MISTAKES, ids=[f"{m[0]}: {m[1]}" for m in MISTAKES])
def test_check_rejects_typical_mistake_and_names_it(exercise, mistake, wrong, says):
    with pytest.raises(CheckFailed) as info:
        CHECKS[exercise](wrong)
    first = _first_line(str(info.value))
    assert re.search(says, first), f"{exercise} / {mistake}: the message does not lead with the mistake:\n{first}"
    assert "np.float" not in str(info.value) and "np.int" not in str(info.value), "print plain Python numbers"


def test_every_exercise_has_at_least_five_mistakes():
    counts = {name: sum(1 for m in MISTAKES if m[0] == name) for name in CHECKS}
    assert min(counts.values()) >= 5, counts


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_trusted_implementation_passes(exercise, capsys):
    CHECKS[exercise](TRUSTED[exercise])
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_stub_is_not_implemented_yet(exercise):
    assert_stub_not_implemented(CHECKS[exercise])


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_an_endless_loop_fails_quickly(exercise):
    assert_endless_loop_fails_quickly(CHECKS[exercise], timeout_s=0.3, within_s=5)


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_checks_want_a_function(exercise):
    with pytest.raises(TypeError):
        CHECKS[exercise](42)


def test_alternative_correct_answers_pass():
    def q_update_loop(Q, s, a, r, q_next, terminated, alpha, gamma):
        best = None
        for v in q_next:
            best = v if best is None else max(best, v)
        target = r if (terminated or best is None) else r + gamma * best
        Q[s, a] = (1 - alpha) * Q[s, a] + alpha * target
        return Q[s, a]

    def shape_q_where(q, p, penalty=10.0, threshold=0.39, soft=False):
        p = np.asarray(p, float)
        return np.asarray(q, float) - penalty * (p if soft else np.where(p > threshold, 1.0, 0.0))

    def screen_list(mask, p, threshold=0.39):
        keep = [bool(m and pp <= threshold) for m, pp in zip(mask, p)]
        return np.array(keep if any(keep) else list(mask), dtype=bool)

    def pairs_loop(traj, window):
        rows = []
        for i in range(len(traj)):
            for j in range(i + 1, min(len(traj), i + window + 1)):
                rows += [(traj[j], traj[i], 0.0), (traj[i], traj[j], 1.0)]
        f, s, lab = zip(*rows)
        return np.array(f), np.array(s), np.array(lab)

    def fit_probabilities(first, second, labels, steps=150, lr=0.05, seed=0):
        torch.manual_seed(seed)
        x, y = torch.tensor(first, dtype=torch.float32), torch.tensor(second, dtype=torch.float32)
        t = torch.tensor(labels, dtype=torch.float32)
        model = OrderModel(x.shape[1])
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy(model(x, y), t)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return model, losses

    C.check_q_update(q_update_loop)
    C.check_shape_q(shape_q_where)
    C.check_screen_actions(screen_list)
    C.check_order_pairs(pairs_loop)
    C.check_fit_order_model(fit_probabilities)
