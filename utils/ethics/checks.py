"""Checks for lesson 06 (RL ethics): the Q-learning update, policy shaping, action screening, the temporal-order
pairs and the fit of the temporal-order classifier that estimates reversibility.

Each check compares the learner's function with the trusted implementation in :mod:`utils.ethics.qlearning` or
:mod:`utils.ethics.gridworld`. When an answer is wrong, the check first tries to name the mistake: it compares the
answer with what the usual slips would have produced on that case (for example "bootstrapped from a terminal
state"), and only falls back to "expected X, got Y" when none of them fits. Every case is tiny and bounded in time.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from utils.checks import Case, CheckFailed, assert_close, plain, run_check
from utils.ethics.gridworld import OrderModel, fit_order_model, order_pairs
from utils.ethics.qlearning import q_update, screen_actions, shape_q

__all__ = ["check_q_update", "check_shape_q", "check_screen_actions", "check_order_pairs",
           "check_fit_order_model"]

TIMEOUT_S = 10.0   # each case: the trusted versions answer in milliseconds


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _fmt(v) -> str:
    v = plain(v)
    return f"{v:.4g}" if isinstance(v, float) else repr(v)


def _as_array(got, what: str, shape: tuple) -> np.ndarray:
    """The learner's result as an array of the expected shape, or a CheckFailed that says what is wrong with it."""
    if got is None:
        raise CheckFailed(f"it returned None: return the {what}")
    if isinstance(got, (list, tuple)):
        raise CheckFailed(f"it returned a Python {type(got).__name__}: return the {what} as a NumPy array "
                          f"(NumPy operations on arrays already give one)")
    if not isinstance(got, np.ndarray):
        raise CheckFailed(f"return the {what} as a NumPy array, got {type(got).__name__}")
    if got.shape != shape:
        raise CheckFailed(f"the {what} has shape {got.shape}, expected {shape}")
    return got


def _first_match(got, candidates, close) -> str | None:
    """The message of the first candidate (message, value) whose value matches ``got``."""
    for message, value in candidates:
        if value is not None and close(got, value):
            return message
    return None


# ----------------------------------------------------------------------------------------------
# Exercise 1: the Q-learning update
# ----------------------------------------------------------------------------------------------

def check_q_update(fn, *, timeout_s: float = TIMEOUT_S) -> None:
    """``q_update(Q, s, a, r, q_next, terminated, alpha, gamma)`` must move ``Q[s, a]`` (in place) a fraction
    ``alpha`` of the way towards ``r + gamma * max(q_next)``, or towards ``r`` alone when the episode terminated
    (or no action is available next), change nothing else, and return the new ``Q[s, a]``."""
    if not callable(fn):
        raise TypeError("check_q_update expects your function q_update itself")

    def run(Q, s, a, r, q_next, terminated, alpha, gamma):
        Q = Q.copy()
        try:
            got = fn(Q, s, a, r, q_next.copy(), terminated, alpha, gamma)
        except (ValueError, IndexError) as e:
            if len(q_next) == 0 and not terminated:
                raise CheckFailed(f"with q_next empty and terminated=False it raised {type(e).__name__} "
                                  f"({e}): no action is available next, so there is nothing to bootstrap from and "
                                  f"the target is r alone; test for an empty q_next as well as for `terminated`") \
                    from None
            raise
        return Q, got

    g = np.random.default_rng(0)
    base = np.round(g.normal(size=(4, 3)), 2)
    specs = [
        ("a non-terminal step: target r + gamma * max(q_next)", 1, 2, 1.0, [0.5, 2.0, -1.0], False, 0.5, 0.9),
        ("a terminal step with values in q_next: do not bootstrap", 0, 1, 5.0, [3.0, 4.0], True, 0.5, 0.9),
        ("terminal with no next actions (q_next is empty)", 2, 0, -1.0, [], True, 0.25, 0.99),
        ("not terminated, but no action is available next (q_next is empty)", 0, 2, 2.0, [], False, 0.5, 0.9),
        ("all next values negative (the max is negative)", 3, 0, 0.0, [-2.0, -0.5, -3.0], False, 0.5, 0.9),
        ("alpha = 0.1: a small step from the old value", 1, 0, 2.0, [1.0, 3.0], False, 0.1, 0.5),
    ]
    cases = []
    for label, s, a, r, qn, term, alpha, gamma in specs:
        qn = np.array(qn, dtype=float)
        Qe = base.copy()
        q_update(Qe, s, a, r, qn, term, alpha, gamma)

        def validate(got, Qe=Qe, s=s, a=a, r=r, qn=qn, term=term, alpha=alpha, gamma=gamma):
            Qg, value = got
            old = base[s, a]
            others = np.ones(base.shape, dtype=bool)
            others[s, a] = False
            if not np.allclose(Qg[others], base[others]):
                raise CheckFailed("it changed entries of Q other than Q[s, a] (the whole row or column?): "
                                  "update the single entry Q[s, a]")
            if math.isclose(float(Qg[s, a]), old, abs_tol=1e-12) and not math.isclose(float(Qe[s, a]), old):
                raise CheckFailed("Q[s, a] is unchanged: update the table in place (assign to Q[s, a]); "
                                  "returning the new value is not enough")
            new = float(Qg[s, a])
            if not math.isclose(new, float(Qe[s, a]), rel_tol=1e-9, abs_tol=1e-9):
                nxt = qn.max() if qn.size else 0.0

                def step(target, w=alpha):
                    return old + w * (target - old)
                good = r if (term or qn.size == 0) else r + gamma * nxt
                cands = [
                    ("it bootstrapped from a terminal state: when `terminated` is true the target is r alone",
                     step(r + gamma * nxt) if term and qn.size else None),
                    ("it replaced Q[s, a] by the target: move only a fraction alpha of the way", good),
                    ("it moved Q[s, a] away from the target: the step is + alpha * (target - Q[s, a])",
                     old - alpha * (good - old)),
                    ("it used the mean of q_next: the target uses the best next value, max(q_next)",
                     None if term or not qn.size else step(r + gamma * qn.mean())),
                    ("it used min(q_next): the target uses the best next value, max(q_next)",
                     None if term or not qn.size else step(r + gamma * qn.min())),
                    ("it treated a negative best next value as 0: use max(q_next) itself, even when negative",
                     None if term or not qn.size else step(r + gamma * max(0.0, nxt))),
                    ("it left out gamma: the target is r + gamma * max(q_next)",
                     None if term or not qn.size else step(r + nxt)),
                    ("it discounted the reward too: the target is r + gamma * max(q_next), not gamma * (r + ...)",
                     None if term or not qn.size else step(gamma * (r + nxt))),
                    ("it swapped alpha and 1 - alpha: the new value is Q + alpha * (target - Q)",
                     step(good, 1 - alpha)),
                ]
                msg = _first_match(new, cands, lambda x, y: math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9))
                raise CheckFailed(msg or f"Q[s, a] after your update is {_fmt(new)}, expected {_fmt(float(Qe[s, a]))}")
            if value is None:
                raise CheckFailed("it returned None: return the new value of Q[s, a]")
            v = _num(value)
            if v is None:
                raise CheckFailed(f"return the new Q[s, a] as a number, got {type(value).__name__}")
            if not math.isclose(v, new, rel_tol=1e-9, abs_tol=1e-9):
                raise CheckFailed(f"it returned {_fmt(v)} but Q[s, a] is now {_fmt(new)}: return the updated value")
        cases.append(Case(label, args=(base, s, a, r, qn, term, alpha, gamma), validate=validate))
    run_check("q_update", run, cases, timeout_s=timeout_s,
              hint="Work out the target first (two cases: terminated or not), then take a step of size alpha "
                   "from the old value towards it.")


# ----------------------------------------------------------------------------------------------
# Exercise 2: policy shaping
# ----------------------------------------------------------------------------------------------

def check_shape_q(fn, *, timeout_s: float = TIMEOUT_S) -> None:
    """``shape_q(q, p_immoral, penalty=10.0, threshold=0.39, soft=False)`` must return a new array:
    ``q - penalty * 1[p > threshold]`` (hard, the paper's rule) or ``q - penalty * p`` (soft), for every action
    (the last axis of ``q``), leaving ``q`` unchanged."""
    if not callable(fn):
        raise TypeError("check_shape_q expects your function shape_q itself")

    def run(q, p, **kw):
        q_before = np.array(q, copy=True)
        out = fn(q, p, **kw)
        return out, not np.array_equal(q, q_before)

    q1 = np.array([4.0, 9.0, 1.0, 6.0, 0.0])
    p1 = np.array([0.10, 0.80, 0.39, 0.50, 0.95])      # action 2 sits exactly on the threshold: not flagged
    q2 = np.array([[12.0, 3.0, 7.0], [-1.0, 2.0, 0.5]])
    p2 = np.array([0.9, 0.1, 0.4])
    specs = [
        ("hard rule on 5 actions (the best one is flagged, one sits on the threshold)", (q1, p1), {}),
        ("hard rule with penalty 3 and threshold 0.6", (q1, p1), {"penalty": 3.0, "threshold": 0.6}),
        ("soft rule: subtract penalty * p", (q1, p1), {"soft": True}),
        ("a batch of 2 states x 3 actions (p runs along the last axis)", (q2, p2), {}),
        ("soft rule on the batch, penalty 2", (q2, p2), {"soft": True, "penalty": 2.0}),
    ]

    def only_best(q, pen):
        out = np.array(q, dtype=float)
        rows = out.reshape(-1, out.shape[-1])
        for row, prow in zip(rows, pen.reshape(-1, out.shape[-1])):
            i = int(row.argmax())
            row[i] -= prow[i]
        return out

    cases = []
    for label, (q, p), kw in specs:
        exp = shape_q(q, p, **kw)
        pen, t, soft = kw.get("penalty", 10.0), kw.get("threshold", 0.39), kw.get("soft", False)
        flag = (p > t).astype(float)
        used = p if soft else flag
        pen_full = np.broadcast_to(pen * used, q.shape)

        def validate(got, exp=exp, q=q, p=p, pen=pen, t=t, soft=soft, flag=flag, used=used, pen_full=pen_full):
            got, changed = got
            if changed:
                raise CheckFailed("it changed the input array q in place; return a new array (q - ...) instead")
            got = _as_array(got, "result", exp.shape)
            if got.dtype != np.float64:
                raise CheckFailed(f"it returned dtype {got.dtype}: Q-values are float64 (np.asarray(q, dtype=float)); "
                                  f"a narrower type rounds them, an integer one truncates them")
            if np.allclose(got, exp, atol=1e-8):
                return
            cands = [
                ("it added the penalty: flagged actions must become *less* attractive (q - penalty * ...)",
                 q + pen * used),
                ("it returned only the penalty: subtract it from q", -pen * used),
                ("with soft=True subtract penalty * p; it subtracted the hard 0/1 indicator instead",
                 q - pen * flag if soft else None),
                ("with soft=True it multiplied p by the indicator: the soft rule uses p alone, flagged or not",
                 q - pen * p * flag if soft else None),
                ("it left out the penalty factor: subtract penalty * p (or penalty * indicator)", q - used),
                ("an action with p exactly equal to the threshold was flagged: flag only p > threshold",
                 None if soft else q - pen * (p >= t)),
                ("it ignored the `penalty` argument (it used 10): use the value passed in",
                 q - 10.0 * used if pen != 10.0 else None),
                ("it ignored the `threshold` argument (it used 0.39): use the value passed in",
                 q - pen * (p > 0.39) if (t != 0.39 and not soft) else None),
                ("it penalised only the best action: shape every action's value, or the next-best flagged action "
                 "takes its place", only_best(q, pen_full)),
            ]
            msg = _first_match(got, cands, lambda x, y: np.allclose(x, y, atol=1e-8))
            if msg:
                raise CheckFailed(msg)
            assert_close(got, exp, "the shaped values", atol=1e-8)
        cases.append(Case(label, args=(q, p), kwargs=kw, validate=validate))
    run_check("shape_q", run, cases, timeout_s=timeout_s,
              hint="The penalty applies to every action whose probability is above the threshold (or, with "
                   "soft=True, in proportion to the probability), and it lowers the value.")


# ----------------------------------------------------------------------------------------------
# Exercise 3: action screening
# ----------------------------------------------------------------------------------------------

def check_screen_actions(fn, *, timeout_s: float = TIMEOUT_S) -> None:
    """``screen_actions(mask, p_immoral, threshold=0.39)`` must return a boolean mask: the available actions
    whose p_immoral is <= threshold; if that removes every available action, the original mask."""
    if not callable(fn):
        raise TypeError("check_screen_actions expects your function screen_actions itself")

    def run(mask, p, **kw):
        before = mask.copy()
        out = fn(mask, p, **kw)
        return out, not np.array_equal(mask, before), out is mask

    mask = np.array([True, True, False, True, True, False])
    p = np.array([0.1, 0.7, 0.05, 0.39, 0.9, 0.95])
    specs = [
        ("keep the available, unflagged actions (one sits exactly on the threshold)", (mask, p), {}),
        ("an unavailable action stays unavailable even if it looks moral",
         (np.array([False, True, True]), np.array([0.0, 0.9, 0.1])), {}),
        ("every available action is flagged: fall back to the original mask",
         (np.array([True, False, True]), np.array([0.8, 0.0, 0.6])), {}),
        ("a looser threshold, 0.75", (mask, p), {"threshold": 0.75}),
    ]
    cases = []
    for label, (m, pp), kw in specs:
        exp = screen_actions(m, pp, **kw)
        t = kw.get("threshold", 0.39)

        def validate(got, exp=exp, m=m, pp=pp, t=t):
            got, changed, same = got
            if changed:
                raise CheckFailed("it changed the input mask in place (mask &= ...); return a new array instead")
            if same:
                raise CheckFailed("it returned the caller's own mask object: return a new array (mask.copy() in the "
                                  "fallback), or a later change to one changes the other")
            got = _as_array(got, "screened mask", exp.shape)
            if got.dtype != bool:
                raise CheckFailed(f"return a boolean mask (dtype bool), got dtype {got.dtype}: compare, don't cast")
            if np.array_equal(got, exp):
                return
            keep = m & (pp <= t)
            cands = [
                ("every available action was flagged and it returned an empty mask: an agent must always be able "
                 "to act, so return the original mask then", keep if not keep.any() else None),
                ("when everything is flagged, fall back to the original mask, not to every action",
                 np.ones_like(m) if not keep.any() else None),
                ("it kept the flagged actions and removed the others: keep actions with p <= threshold",
                 m & (pp > t)),
                ("it allowed an action the game does not offer here: combine with the mask (mask & ...)",
                 pp <= t),
                ("an action with p exactly equal to the threshold was removed: keep p <= threshold",
                 m & (pp < t)),
                ("it ignored the `threshold` argument (it used 0.39): use the value passed in",
                 (m & (pp <= 0.39)) if t != 0.39 else None),
            ]
            msg = _first_match(got, cands, np.array_equal)
            if msg:
                raise CheckFailed(msg)
            assert_close(got, exp, "the screened mask")
        cases.append(Case(label, args=(m, pp), kwargs=kw, validate=validate))
    run_check("screen_actions", run, cases, timeout_s=timeout_s,
              hint="An action survives when the game offers it and the conscience does not flag it; think about "
                   "what the agent can do when nothing survives.")


# ----------------------------------------------------------------------------------------------
# Exercise 4: temporal-order pairs for reversibility
# ----------------------------------------------------------------------------------------------

def _index_rows(traj: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The time index of each row (the check's trajectories have distinct states); -1 if not a state of traj."""
    out = np.full(len(rows), -1)
    for k, r in enumerate(rows):
        hit = np.flatnonzero(np.all(np.isclose(traj, r[None, :]), axis=1))
        if hit.size:
            out[k] = hit[0]
    return out


def check_order_pairs(fn, *, timeout_s: float = TIMEOUT_S) -> None:
    """``make_order_pairs(traj, window)`` for a trajectory (T, d) must return ``(first, second, labels)`` with one
    row per ordered pair of time steps i < j <= i + window in *both* orders: ``(traj[i], traj[j], 1.0)`` and
    ``(traj[j], traj[i], 0.0)``. Row order does not matter."""
    if not callable(fn):
        raise TypeError("check_order_pairs expects your function make_order_pairs itself")
    t5 = np.stack([np.arange(5.0), 10 * np.arange(5.0)], axis=1)           # 5 distinct states, d = 2
    t4 = np.eye(4, dtype=np.float32)                                          # 4 one-hot states
    t7 = np.stack([np.arange(7.0), np.arange(7.0) ** 2], axis=1)
    specs = [
        ("5 states, window 1 (neighbours only)", t5, 1),
        ("7 states, window 3", t7, 3),
        ("4 states, window larger than the trajectory", t4, 10),
        ("a 2-step trajectory", t5[:2], 3),
    ]
    cases = []
    for label, traj, window in specs:
        ef, es, el = order_pairs(traj, window)

        def validate(got, traj=traj, window=window, n_exp=len(el)):
            d = traj.shape[1]
            if not isinstance(got, tuple) or len(got) != 3:
                n = len(got) if isinstance(got, (tuple, list)) else 1
                raise CheckFailed(f"it returned {n} item(s): return a tuple of three arrays (first, second, labels)")
            kinds = [type(v).__name__ for v in got if not isinstance(v, np.ndarray)]
            if kinds:
                raise CheckFailed(f"it returned {', '.join(kinds)} instead of NumPy arrays: return three arrays "
                                  f"(np.concatenate gives them)")
            f, s, lab = got
            if lab.dtype.kind != "f":
                raise CheckFailed(f"the labels have dtype {lab.dtype}: they are the classifier's targets, floats "
                                  f"1.0 and 0.0 (np.ones / np.zeros give floats)")
            if f.ndim != 2 or s.shape != f.shape or f.shape[1:] != (d,):
                raise CheckFailed(f"first and second must be arrays of shape (N, {d}); got {f.shape} and {s.shape}")
            if lab.shape != (f.shape[0],):
                raise CheckFailed(f"labels must have shape (N,) = ({f.shape[0]},); got {lab.shape}")
            if not np.isin(lab, (0, 1)).all():
                raise CheckFailed(f"labels must be 1.0 or 0.0, got values {sorted(set(plain(x) for x in lab.tolist()))}")
            i, j = _index_rows(traj, f), _index_rows(traj, s)
            if (i < 0).any() or (j < 0).any():
                raise CheckFailed("some rows of first or second are not states of the trajectory")
            if (i == j).any():
                raise CheckFailed("it paired a state with itself (j == i): pairs need two different time steps")
            dist = np.abs(i - j)
            if window > 1 and len(traj) > 2 and dist.size and dist.max() == 1:
                raise CheckFailed(f"it only paired neighbours (j = i + 1) although window={window}: pair every "
                                  f"later step up to `window` steps ahead")
            if dist.size and (dist > window).any():
                raise CheckFailed(f"it made pairs {int(dist.max())} steps apart with window={window}: only pairs "
                                  f"with j - i <= window count")
            want_lab = (i < j).astype(float)
            if len(lab) and np.array_equal(lab, 1 - want_lab):
                raise CheckFailed("the labels are the wrong way round: label 1 means first came *before* second")
            if len(lab) and ((lab == 1).all() or (lab == 0).all()):
                raise CheckFailed("every pair has the same label, so there is one order only: add each pair both "
                                  "ways, (traj[i], traj[j], 1.0) and (traj[j], traj[i], 0.0)")
            bad = np.flatnonzero(lab != want_lab)
            if bad.size:
                k = bad[0]
                raise CheckFailed(f"the pair (traj[{i[k]}], traj[{j[k]}]) has label {_fmt(float(lab[k]))}: label 1 "
                                  f"exactly when first came earlier")
            keys = list(zip(i.tolist(), j.tolist()))
            if len(set(keys)) < len(keys):
                raise CheckFailed("some pairs appear more than once: each (i, j) once in each order")
            T = len(traj)
            want = {(a, b) for a in range(T) for b in range(T) if 0 < abs(a - b) <= window}
            missing = sorted(want - set(keys))
            if missing:
                gaps = sorted({abs(a - b) for a, b in missing})
                if gaps == [min(window, T - 1)] and window < T:
                    raise CheckFailed(f"no pairs exactly {window} step{'s' if window > 1 else ''} apart: j runs up to "
                                      f"i + window *inclusive*")
                one_way = {(b, a) for a, b in missing} & set(keys)
                if len(one_way) == len(missing):
                    raise CheckFailed("some pairs are there in one order only: add each pair both ways")
                raise CheckFailed(f"missing {len(missing)} of {n_exp} pairs, at distances {gaps}: every i < j <= "
                                  f"i + window, both ways")
        cases.append(Case(label, args=(traj, window), validate=validate))
    run_check("make_order_pairs", fn, cases, timeout_s=timeout_s,
              hint="Loop over every earlier time step i and every later step j at most `window` steps after it; "
                   "each such pair gives two rows, one per order.")


# ----------------------------------------------------------------------------------------------
# Exercise 5: fit the temporal-order classifier
# ----------------------------------------------------------------------------------------------

def _fit_data():
    """96 pairs (more than a typical minibatch): an ordered chain of 8 one-hot states, and 20 reversible pairs."""
    traj = np.eye(8, dtype=np.float32)
    f1, s1, l1 = order_pairs(traj, 7)
    g = np.random.default_rng(3)                                   # a reversible part: random pairs, both orders
    a, b = g.random((20, 8)).astype(np.float32), g.random((20, 8)).astype(np.float32)
    first = np.concatenate([f1, a, b])
    second = np.concatenate([s1, b, a])
    labels = np.concatenate([l1, np.ones(20), np.zeros(20)]).astype(np.float32)
    return first.astype(np.float32), second.astype(np.float32), labels


def _variant_fit(first, second, labels, steps, lr, seed, *, optim="adam", zero_grad=True):
    """The losses of a fit that differs from the trusted one in one known way (to name a learner's mistake)."""
    x, y, t = (torch.as_tensor(v) for v in (first, second, labels))
    torch.manual_seed(seed)
    model = OrderModel(x.shape[1])
    opt = (torch.optim.AdamW if optim == "adamw" else torch.optim.Adam)(model.parameters(), lr=lr)
    out = []
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logit(x, y), t)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(float(loss.detach()))
    return model, np.array(out)


def check_fit_order_model(fn, *, timeout_s: float = TIMEOUT_S) -> None:
    """``fit_order_model(first, second, labels, steps=150, lr=0.05, seed=0)`` must seed torch, build
    ``OrderModel(d)``, take ``steps`` full-batch Adam steps (learning rate ``lr``) on the mean binary
    cross-entropy between ``model.logit(first, second)`` and ``labels``, and return ``(model, losses)`` with the
    loss before each step. The check compares with the trusted :func:`utils.ethics.gridworld.fit_order_model`."""
    if not callable(fn):
        raise TypeError("check_fit_order_model expects your function fit_order_model itself")
    first, second, labels = _fit_data()
    specs = [
        ("56 ordered pairs and 40 reversible ones, 5 steps", dict(steps=5, lr=0.05, seed=0)),
        ("the same data, 40 steps at lr 0.2, seed 1", dict(steps=40, lr=0.2, seed=1)),
        ("a single step", dict(steps=1, lr=0.05, seed=2)),
    ]

    perm = np.random.default_rng(7).permutation(len(labels))

    def run(first, second, labels, **kw):
        try:
            out = fn(first.copy(), second.copy(), labels.copy(), **kw)
        except RuntimeError as e:
            if "dtype" in str(e) or "Double" in str(e) or "Float" in str(e):
                raise CheckFailed(f"a dtype mismatch ({e}): OrderModel's weights are float32, so convert first, "
                                  f"second and labels to torch.float32 tensors") from None
            raise
        again = fn(first.copy(), second.copy(), labels.copy(), **kw)
        # the same pairs in another row order: a full-batch mean loss does not depend on the order of the rows
        shuffled = fn(first[perm].copy(), second[perm].copy(), labels[perm].copy(), **{**kw, "steps": 1})
        return out, again, shuffled

    def losses_of(out):
        if isinstance(out, torch.nn.Module):
            raise CheckFailed("it returned only the model: return (model, losses), the losses being one number "
                              "per step")
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailed("return a tuple (model, losses)")
        model, losses = out
        if not isinstance(model, torch.nn.Module) or not hasattr(model, "logit"):
            raise CheckFailed(f"the first item must be the fitted OrderModel, got {type(model).__name__}")
        kinds = sorted({type(v).__name__ for v in losses if not isinstance(v, float)})
        if kinds:
            raise CheckFailed(f"the losses are {', '.join(kinds)} objects, not Python floats: record float(loss) "
                              f"or loss.item() (a kept tensor also keeps its whole graph in memory)")
        try:
            arr = np.array([float(v) for v in losses], dtype=float)
        except (TypeError, ValueError):
            raise CheckFailed("losses must be a list of numbers (use float(loss) or loss.item())") from None
        return model, arr

    cases = []
    for label, kw in specs:
        ref_model, ref_losses = fit_order_model(first, second, labels, **kw)
        ref_losses = np.array(ref_losses)
        torch.manual_seed(kw["seed"])
        init = OrderModel(first.shape[1])
        with torch.no_grad():
            z0 = init.logit(torch.as_tensor(first), torch.as_tensor(second))
        y = torch.as_tensor(labels)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        first0 = [
            ("its loss treats probabilities as logits (a sigmoid applied twice): pass model.logit(first, second) "
             "to binary_cross_entropy_with_logits, or model(first, second) to binary_cross_entropy",
             float(bce(torch.sigmoid(z0), y))),
            ("the classifier predicts the reverse order (first and second swapped, or labels flipped): use "
             "model.logit(first, second) with the labels as given, 1 = first came before second",
             float(bce(-z0, y))),
            ("its loss is a squared error: the classifier is fitted with binary cross-entropy",
             float(((torch.sigmoid(z0) - y) ** 2).mean())),
            ("its loss is summed over pairs: use the mean", float(bce(z0, y, reduction="sum"))),
            ("its losses are shifted by one step: record the loss computed before each update",
             ref_losses[1] if len(ref_losses) > 1 else None),
        ]
        other_lr = 0.05 if kw["lr"] != 0.05 else None
        ref_other_lr = (np.array(fit_order_model(first, second, labels, steps=kw["steps"], lr=other_lr,
                                                 seed=kw["seed"])[1]) if other_lr else None)

        variants = {name: _variant_fit(first, second, labels, kw["steps"], kw["lr"], kw["seed"], **opt)
                    for name, opt in (("adamw", dict(optim="adamw")), ("no_zero_grad", dict(zero_grad=False)))}

        def validate(got, kw=kw, ref_model=ref_model, ref_losses=ref_losses, first0=first0,
                     ref_other_lr=ref_other_lr, variants=variants):
            out, again, shuffled = got
            model, losses = losses_of(out)
            _, losses2 = losses_of(again)
            _, losses_shuffled = losses_of(shuffled)
            steps = kw["steps"]
            dtypes = {str(p.dtype) for p in model.parameters()}
            if dtypes != {"torch.float32"}:
                raise CheckFailed(f"the model's parameters are {', '.join(sorted(dtypes))}: keep OrderModel in "
                                  f"float32 and convert the inputs to torch.float32 instead")
            if len(losses) != steps:
                extra = " (one per step, recorded before each update)" if len(losses) == steps + 1 else ""
                raise CheckFailed(f"it recorded {len(losses)} losses for steps={steps}{extra}: take exactly "
                                  f"`steps` steps and record one loss per step")
            if not np.isfinite(losses).all():
                raise CheckFailed("some losses are not finite")
            if not np.allclose(losses, losses2, rtol=1e-5, atol=1e-6):
                raise CheckFailed("two fits with the same seed gave different losses: call torch.manual_seed(seed) "
                                  "before you create the model")
            if len(losses) and len(losses_shuffled) and not math.isclose(losses[0], losses_shuffled[0],
                                                                         rel_tol=1e-4, abs_tol=1e-5):
                raise CheckFailed(f"its first loss changes when the same pairs come in another row order "
                                  f"({_fmt(float(losses[0]))} vs {_fmt(float(losses_shuffled[0]))}): it trains on a "
                                  f"subset or minibatch of the pairs; take full-batch steps on the mean loss over "
                                  f"all of them")
            close = lambda a, b: math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5)   # noqa: E731
            if not close(losses[0], ref_losses[0]):
                msg = _first_match(float(losses[0]), first0, lambda a, b: close(a, b))
                raise CheckFailed(msg or f"the first loss is {_fmt(float(losses[0]))}, expected "
                                         f"{_fmt(float(ref_losses[0]))}, the plain mean binary cross-entropy of a "
                                         f"freshly seeded OrderModel's logits: check the loss (no class weights, labels "
                                         f"used as given) and that torch.manual_seed(seed) comes right before "
                                         f"OrderModel(d)")
            if steps > 1 and not close(losses[1], ref_losses[1]):
                if ref_other_lr is not None and np.allclose(losses, ref_other_lr, rtol=1e-4, atol=1e-5):
                    raise CheckFailed(f"it ignored the `lr` argument (it used 0.05, the case asks for {kw['lr']}): "
                                      f"pass lr to the optimiser")
                raise CheckFailed("the first update differs from one step of Adam: use "
                                  "torch.optim.Adam(model.parameters(), lr=lr) and call opt.step() once per step")
            bad = np.flatnonzero(~np.isclose(losses, ref_losses, rtol=1e-4, atol=1e-5))
            if bad.size:
                same = lambda a, b: np.allclose(a, b, rtol=1e-4, atol=1e-5)   # noqa: E731
                if same(losses, variants["adamw"][1]):
                    raise CheckFailed("it used AdamW: its weight decay shrinks the weights at every step; use "
                                      "torch.optim.Adam(model.parameters(), lr=lr)")
                if same(losses, variants["no_zero_grad"][1]):
                    raise CheckFailed(f"the losses match for {int(bad[0])} steps and then depart as they do without "
                                      f"opt.zero_grad(): gradients add up across steps unless you zero them before "
                                      f"each backward()")
                raise CheckFailed(f"the losses match for {int(bad[0])} steps and then depart from the trusted fit "
                                  f"(loss {_fmt(float(losses[bad[0]]))}, expected {_fmt(float(ref_losses[bad[0]]))}): "
                                  f"check the optimiser (Adam, lr, no weight decay) and opt.zero_grad() before each "
                                  f"backward()")
            with torch.no_grad():
                x, y2 = torch.as_tensor(first), torch.as_tensor(second)
                diff = float((model.logit(x, y2) - ref_model.logit(x, y2)).abs().max())
            if diff > 1e-3:
                with torch.no_grad():
                    diff_adamw = float((model.logit(x, y2) - variants["adamw"][0].logit(x, y2)).abs().max())
                if diff_adamw < diff / 10:
                    raise CheckFailed("it used AdamW: its weight decay shrinks the weights at every step; use "
                                      "torch.optim.Adam(model.parameters(), lr=lr)")
                raise CheckFailed(f"the returned model's logits differ from the trained one by up to {diff:.3g}: "
                                  f"return the model you trained")
        cases.append(Case(label, args=(first, second, labels), kwargs=kw, validate=validate))
    run_check("fit_order_model", run, cases, timeout_s=timeout_s,
              hint="A binary classifier on pairs: its logit is model.logit(first, second), its target the label. "
                   "Seed first, so the model starts where the reference starts.")
