"""Checks for lesson 06 (RL ethics): the Q-learning update, policy shaping, action screening and the
self-supervised temporal-order pairs used to estimate reversibility."""

from __future__ import annotations

import numpy as np

from utils.checks import Case, CheckFailed, assert_close, expect, run_check

__all__ = ["check_q_update", "check_shape_q", "check_screen_actions", "check_order_pairs"]


# ----------------------------------------------------------------------------------------------
# private reference implementations
# ----------------------------------------------------------------------------------------------

def _reference_q_update(Q, s, a, r, q_next, terminated, alpha, gamma):
    q_next = np.asarray(q_next, dtype=float)
    target = r if (terminated or q_next.size == 0) else r + gamma * q_next.max()
    Q[s, a] += alpha * (target - Q[s, a])
    return float(Q[s, a])


def _reference_shape_q(q, p_immoral, penalty=10.0, threshold=0.39, soft=False):
    q = np.asarray(q, dtype=float)
    p = np.asarray(p_immoral, dtype=float)
    return q - penalty * (p if soft else (p > threshold).astype(float))


def _reference_screen_actions(mask, p_immoral, threshold=0.39):
    mask = np.asarray(mask, dtype=bool)
    keep = mask & (np.asarray(p_immoral) <= threshold)
    return keep if keep.any() else mask.copy()


def _reference_order_pairs(traj, window):
    traj = np.asarray(traj)
    first, second, labels = [], [], []
    for i in range(len(traj)):
        for j in range(i + 1, min(len(traj), i + window + 1)):
            first += [traj[i], traj[j]]
            second += [traj[j], traj[i]]
            labels += [1.0, 0.0]
    d = traj.shape[1]
    return (np.array(first, dtype=traj.dtype).reshape(-1, d), np.array(second, dtype=traj.dtype).reshape(-1, d),
            np.array(labels))


# ----------------------------------------------------------------------------------------------
# Exercise 1: the Q-learning update
# ----------------------------------------------------------------------------------------------

def check_q_update(q_update) -> None:
    """``q_update(Q, s, a, r, q_next, terminated, alpha, gamma)`` must move ``Q[s, a]`` (in place)
    towards ``r + gamma * max(q_next)``, or towards ``r`` alone when the episode terminated (or no
    action is available next), by a step ``alpha``, and return the new ``Q[s, a]``."""
    if not callable(q_update):
        raise TypeError("check_q_update expects your function q_update itself")

    def run(Q, s, a, r, q_next, terminated, alpha, gamma):
        Q = Q.copy()
        got = q_update(Q, s, a, r, q_next, terminated, alpha, gamma)
        return Q, got

    g = np.random.default_rng(0)
    base = np.round(g.normal(size=(4, 3)), 2)
    specs = [
        ("a non-terminal step: target r + gamma * max(q_next)", base, 1, 2, 1.0, np.array([0.5, 2.0, -1.0]), False,
         0.5, 0.9),
        ("a terminal step: do not bootstrap from the terminal state", base, 0, 1, 5.0, np.array([3.0, 4.0]), True,
         0.5, 0.9),
        ("terminal with no next actions (q_next is empty)", base, 2, 0, -1.0, np.zeros(0), True, 0.25, 0.99),
        ("all next values negative (the max is negative)", base, 3, 0, 0.0, np.array([-2.0, -0.5, -3.0]), False,
         1.0, 0.9),
        ("alpha = 0.1: a small step from the old value", base, 1, 0, 2.0, np.array([1.0]), False, 0.1, 0.5),
    ]
    cases = []
    for label, Q, s, a, r, qn, term, alpha, gamma in specs:
        Qe = Q.copy()
        ret = _reference_q_update(Qe, s, a, r, qn, term, alpha, gamma)

        def validate(got, Qe=Qe, ret=ret, s=s, a=a):
            expect(isinstance(got, tuple) and len(got) == 2, "internal: unexpected wrapper output")
            Qg, value = got
            if value is None:
                raise CheckFailed("it returned None: return the new value of Q[s, a]")
            assert_close(Qg, Qe, "the Q-table after your update", atol=1e-8)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise CheckFailed(f"return the new Q[s, a] as a number, got {type(value).__name__}") from None
            assert_close(value, float(Qe[s, a]), "the value you returned", atol=1e-8)
        cases.append(Case(label, args=(Q, s, a, r, qn, term, alpha, gamma), validate=validate))
    run_check("q_update", run, cases,
              hint="target = r if terminated (or q_next is empty) else r + gamma * max(q_next); "
                   "then Q[s, a] += alpha * (target - Q[s, a]), in place, and return Q[s, a].")


# ----------------------------------------------------------------------------------------------
# Exercise 2: policy shaping
# ----------------------------------------------------------------------------------------------

def check_shape_q(shape_q) -> None:
    """``shape_q(q, p_immoral, penalty=10.0, threshold=0.39, soft=False)`` must return a new array:
    ``q - penalty * 1[p > threshold]`` (hard, the paper's rule) or ``q - penalty * p`` (soft), for
    every action, leaving ``q`` unchanged."""
    if not callable(shape_q):
        raise TypeError("check_shape_q expects your function shape_q itself")

    def run(q, p, **kw):
        q_before = np.array(q, copy=True)
        out = shape_q(q, p, **kw)
        if out is not None and not np.array_equal(q, q_before):
            raise CheckFailed("it changed the input array q in place; return a new array (q - ...) instead")
        return out

    q1 = np.array([4.0, 9.0, 1.0, 6.0, 0.0])
    p1 = np.array([0.10, 0.80, 0.50, 0.20, 0.95])
    q2 = np.array([[12.0, 3.0, 7.0], [-1.0, 2.0, 0.5]])
    p2 = np.array([0.9, 0.1, 0.4])
    specs = [
        ("hard rule on 5 actions (the best one is flagged)", (q1, p1), {}),
        ("hard rule with penalty 3 and threshold 0.6", (q1, p1), {"penalty": 3.0, "threshold": 0.6}),
        ("soft rule: subtract penalty * p", (q1, p1), {"soft": True}),
        ("a batch of 2 states x 3 actions (broadcast p over rows)", (q2, p2), {}),
        ("soft rule on the batch, penalty 2", (q2, p2), {"soft": True, "penalty": 2.0}),
    ]
    cases = [Case(label, args=args, kwargs=kw, expected=_reference_shape_q(*args, **kw), atol=1e-8,
                  hint="Shape *every* action's value, not only the greedy one, and subtract the penalty "
                       "(q - penalty * indicator); the soft rule uses p itself instead of the indicator.")
             for label, args, kw in specs]
    run_check("shape_q", run, cases)


# ----------------------------------------------------------------------------------------------
# Exercise 3: action screening
# ----------------------------------------------------------------------------------------------

def check_screen_actions(screen_actions) -> None:
    """``screen_actions(mask, p_immoral, threshold=0.39)`` must return a boolean mask: the allowed
    actions whose p_immoral is <= threshold; if that removes every allowed action, the original mask."""
    if not callable(screen_actions):
        raise TypeError("check_screen_actions expects your function screen_actions itself")
    mask = np.array([True, True, False, True, True, False])
    p = np.array([0.1, 0.7, 0.05, 0.39, 0.9, 0.95])
    specs = [
        ("keep the allowed, unflagged actions", (mask, p), {}),
        ("an unavailable action stays unavailable even if it looks moral", (np.array([False, True, True]),
                                                                            np.array([0.0, 0.9, 0.1])), {}),
        ("every allowed action is flagged: fall back to the original mask",
         (np.array([True, False, True]), np.array([0.8, 0.0, 0.6])), {}),
        ("a stricter threshold, 0.05", (mask, p), {"threshold": 0.05}),
    ]
    cases = []
    for label, args, kw in specs:
        exp = _reference_screen_actions(*args, **kw)

        def validate(got, exp=exp):
            got = np.asarray(got) if isinstance(got, (list, tuple)) else got
            if isinstance(got, np.ndarray) and got.dtype != bool and set(np.unique(got)) <= {0, 1}:
                raise CheckFailed(f"return a boolean mask (dtype bool), got dtype {got.dtype}")
            assert_close(got, exp, "the screened mask")
        cases.append(Case(label, args=args, kwargs=kw, validate=validate,
                          hint="new = mask & (p_immoral <= threshold); if new.any() is False, return mask "
                               "(an agent must always have some action)."))
    run_check("screen_actions", screen_actions, cases)


# ----------------------------------------------------------------------------------------------
# Exercise 4: temporal-order pairs for reversibility
# ----------------------------------------------------------------------------------------------

def _as_set(first, second, labels) -> list[tuple]:
    rows = [(tuple(np.round(f, 6)), tuple(np.round(s, 6)), float(lab)) for f, s, lab in zip(first, second, labels)]
    return sorted(rows)


def check_order_pairs(make_order_pairs) -> None:
    """``make_order_pairs(traj, window)`` for a trajectory (T, d) must return ``(first, second, labels)``
    with one row per ordered pair of time steps i < j <= i + window in *both* orders:
    ``(traj[i], traj[j], 1.0)`` and ``(traj[j], traj[i], 0.0)``. Row order does not matter."""
    if not callable(make_order_pairs):
        raise TypeError("check_order_pairs expects your function make_order_pairs itself")
    t5 = np.stack([np.arange(5.0), 10 * np.arange(5.0)], axis=1)           # 5 distinct states, d = 2
    t4 = np.eye(4, dtype=np.float32)                                          # 4 one-hot states
    specs = [
        ("5 states, window 1 (neighbours only)", t5, 1),
        ("5 states, window 2", t5, 2),
        ("4 states, window larger than the trajectory", t4, 10),
        ("a 2-step trajectory", t5[:2], 3),
    ]
    cases = []
    for label, traj, window in specs:
        ef, es, el = _reference_order_pairs(traj, window)

        def validate(got, ef=ef, es=es, el=el, d=traj.shape[1]):
            if not (isinstance(got, tuple) and len(got) == 3):
                raise CheckFailed("return a tuple (first, second, labels)")
            f, s, lab = (np.asarray(v) for v in got)
            if f.ndim != 2 or s.ndim != 2 or f.shape[1:] != (d,) or s.shape != f.shape:
                raise CheckFailed(f"first and second must be arrays of shape (N, {d}); got {f.shape} and {s.shape}")
            if lab.shape != (f.shape[0],):
                raise CheckFailed(f"labels must have shape (N,) = ({f.shape[0]},); got {lab.shape}")
            if f.shape[0] != ef.shape[0]:
                raise CheckFailed(f"expected {ef.shape[0]} pairs (every i < j <= i + window, in both orders), "
                                  f"got {f.shape[0]}")
            got_rows, want_rows = _as_set(f, s, lab), _as_set(ef, es, el)
            missing = [r for r in want_rows if r not in got_rows]
            if missing:
                a, b, y = missing[0]
                raise CheckFailed(f"missing the pair first={list(a)}, second={list(b)} with label {y:g} "
                                  f"(label 1 means 'first came before second')")
        cases.append(Case(label, args=(traj, window), validate=validate,
                          hint="for i in range(T): for j in range(i + 1, min(T, i + window + 1)): add "
                               "(traj[i], traj[j], 1.0) and (traj[j], traj[i], 0.0)."))
    run_check("make_order_pairs", make_order_pairs, cases)
