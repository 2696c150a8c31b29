"""Probability by program (lesson 07, section 6): exact enumeration, a closed form to check it, and Monte Carlo
with a sample size chosen from the tolerance. The trusted versions of Exercises 4 and 5."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import numpy as np

__all__ = ["dice_probability", "dice_closed_form", "mc_sample_size", "mc_probability"]


def dice_probability(n_dice: int, faces: int, target: int) -> Fraction:
    """P(the sum of ``n_dice`` fair dice with faces 1..``faces`` equals ``target``), exactly, by enumerating every
    outcome."""
    count = sum(1 for roll in product(range(1, faces + 1), repeat=n_dice) if sum(roll) == target)
    return Fraction(count, faces ** n_dice)


def dice_closed_form(n_dice: int, faces: int, target: int) -> Fraction:
    """The same probability by inclusion-exclusion: (1/f^n) * sum_k (-1)^k C(n, k) C(s - k f - 1, n - 1)."""
    if n_dice < 1 or faces < 1:
        raise ValueError("need at least one die with at least one face")
    count = 0
    for k in range(n_dice + 1):
        m = target - k * faces - 1
        if m < n_dice - 1:
            break
        count += (-1) ** k * math.comb(n_dice, k) * math.comb(m, n_dice - 1)
    return Fraction(max(count, 0), faces ** n_dice)


def mc_sample_size(tol: float) -> int:
    """The lesson's rule: enough draws that even at p = 1/2 the standard error is tol/4,
    n = ceil(1 / (4 (tol/4)^2)) = ceil(4 / tol^2); a miss by more than tol is then a 4-sigma event."""
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number between 0 and 1, got {tol!r}")
    return math.ceil(4 / tol ** 2)


def mc_probability(event, sample, tol: float, rng: np.random.Generator) -> tuple[float, int]:
    """``(estimate, n)``: the fraction of ``n = mc_sample_size(tol)`` outcomes, drawn at once with
    ``sample(rng, n)``, for which ``event(outcomes)`` holds."""
    n = mc_sample_size(tol)
    return float(np.mean(event(sample(rng, n)))), n
