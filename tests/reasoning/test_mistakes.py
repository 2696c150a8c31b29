"""Lesson 07: the typical mistakes of every exercise, each rejected by its check with a message that names it.

One row per (exercise, mistake): a wrong implementation written against the real signature, and a phrase that the
check's message must contain in its first line (the line that names the failing case and the mistake; hints come
on later lines). Every row must fail with ``CheckFailed``, never with another error, and quickly.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from fractions import Fraction
from itertools import combinations_with_replacement, permutations, product

import numpy as np
import pytest

from utils.checks import CheckFailed
from utils.reasoning import checks as C
from utils.reasoning import forecast, pal, probability, sandbox

CHECKS = {
    "extract_answer": C.check_extract_answer,
    "pal_answer": C.check_pal_answer,
    "best_of_n": C.check_best_of_n,
    "dice_probability": C.check_dice_probability,
    "mc_probability": C.check_mc_probability,
    "fit_logit_trend": C.check_fit_trend,
}
REFERENCES = {
    "extract_answer": pal.extract_answer,
    "pal_answer": pal.pal_answer,
    "best_of_n": pal.best_of_n,
    "dice_probability": probability.dice_probability,
    "mc_probability": probability.mc_probability,
    "fit_logit_trend": forecast.fit_logit_trend,
}


# ------------------------------------------------------------------------------ extract_answer
def _num(s: str):
    s = s.replace("$", "").replace(",", "")
    v = float(s) if "." in s else int(s)
    return int(v) if isinstance(v, float) and v.is_integer() else v


def ea_first_hash(text):          # the example: the first '####', not the last
    if "####" not in text:
        return None
    m = re.search(r"-?\$?-?\d[\d,]*(?:\.\d+)?", text.split("####")[1])
    return _num(m.group()) if m else None


def ea_first_number(text):        # the first number anywhere in the text
    m = re.search(r"-?\d+(?:\.\d+)?", text)
    return None if m is None else _num(m.group())


def ea_last_number(text):         # the last number of the text: wrong when the model keeps writing
    if "####" not in text:
        return None
    found = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    return _num(found[-1])


def ea_stops_at_comma(text):
    if "####" not in text:
        return None
    m = re.search(r"-?\d+(?:\.\d+)?", text.rsplit("####", 1)[1])
    return _num(m.group())


def ea_returns_string(text):
    return text.rsplit("####", 1)[1].strip() if "####" in text else None


def ea_drops_minus(text):
    if "####" not in text:
        return None
    m = re.search(r"\d[\d,]*(?:\.\d+)?", text.rsplit("####", 1)[1])
    return _num(m.group())


def ea_always_float(text):
    if "####" not in text:
        return None
    m = re.search(r"-?\$?-?\d[\d,]*(?:\.\d+)?", text.rsplit("####", 1)[1])
    return float(m.group().replace("$", "").replace(",", ""))


def ea_truncates(text):           # int(float(...)): 2.5 becomes 2
    if "####" not in text:
        return None
    m = re.search(r"-?\$?-?\d[\d,]*(?:\.\d+)?", text.rsplit("####", 1)[1])
    return int(float(m.group().replace("$", "").replace(",", "")))


def ea_guesses_without_hash(text):  # no answer line: guesses the last number instead of None
    found = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text.rsplit("####", 1)[-1])
    return _num(found[0]) if found else None


def ea_crashes_on_dollar(text):   # int("$18") raises: the check reports it as a failed case
    if "####" not in text:
        return None
    token = text.rsplit("####", 1)[1].split()[0].replace(",", "")
    return float(token) if "." in token else int(token)


def _first_match(text):
    m = re.search(r"-?\$?-?\d[\d,]*(?:\.\d+)?", text.rsplit("####", 1)[1])
    return m.group().replace("$", "").replace(",", "")


def ea_no_is_integer(text):       # 4.0 stays a float
    if "####" not in text:
        return None
    s = _first_match(text)
    return float(s) if "." in s else int(s)


def ea_first_token(text):         # the first word after the last '####': crashes on words before the number
    if "####" not in text:
        return None
    return _num(text.rsplit("####", 1)[1].split()[0])


def ea_first_token_or_none(text):  # the first word, None when it is not a number: misses '#### The answer is 72'
    if "####" not in text:
        return None
    words = text.rsplit("####", 1)[1].split()
    try:
        return _num(words[0]) if words else None
    except ValueError:
        return None


def ea_digits_only(text):         # strips every non-digit: '3 apples and 4 pears' -> 34
    if "####" not in text:
        return None
    line = text.rsplit("####", 1)[1].strip().splitlines()[0] if text.rsplit("####", 1)[1].strip() else ""
    kept = re.sub(r"[^\d.-]", "", line)
    return _num(kept) if kept else None


def ea_regex_no_check(text):      # re.search(...).group() on a bare '####': AttributeError
    if "####" not in text:
        return None
    return _num(_first_match(text))


# ------------------------------------------------------------------------------ pal_answer
def _text(numbers, steps, first=1, answer=None):
    lines = [f"n{i} = {v}" for i, v in enumerate(numbers)]
    lines += [f"r{k} = {a} {op} {b}" for k, (op, a, b) in enumerate(steps, first)]
    lines.append(f"answer = r{answer if answer is not None else len(steps) + first - 1}")
    return "\n".join(lines)


def pa_exec_with_unused_sandbox_call(numbers, steps):   # the example
    program = _text(numbers, steps)
    sandbox.safe_run("answer = 1")                     # a sandbox call whose result is never used
    env: dict = {}
    try:
        exec(program, env)
    except Exception:
        return program, None
    return program, sandbox.normalise_answer(env.get("answer"))


def pa_eval_each_step(numbers, steps):                  # computes in Python, never runs the program text
    program = _text(numbers, steps)
    env = {f"n{i}": v for i, v in enumerate(numbers)}
    try:
        for k, (op, a, b) in enumerate(steps, 1):
            env[f"r{k}"] = eval(f"{a} {op} {b}", {}, env)
        return program, sandbox.normalise_answer(env[f"r{len(steps)}"])
    except Exception:
        return program, None


def _sandboxed(program):
    """(program, answer) as the correct pipeline returns them, for a program text that is itself wrong."""
    try:
        return program, sandbox.normalise_answer(sandbox.run_program(program))
    except sandbox.SandboxError:
        return program, None


def pa_first_step(numbers, steps):
    return _sandboxed(_text(numbers, steps, answer=1))


def pa_not_normalised(numbers, steps):
    program = _text(numbers, steps)
    try:
        return program, sandbox.run_program(program)
    except sandbox.SandboxError:
        return program, None


def pa_lets_refusals_escape(numbers, steps):
    program = _text(numbers, steps)
    return program, sandbox.normalise_answer(sandbox.run_program(program))


def pa_numbers_steps_from_r0(numbers, steps):
    return _sandboxed(_text(numbers, steps, first=0))


def pa_swapped_operands(numbers, steps):
    return pal.pal_answer(numbers, [(op, b, a) for op, a, b in steps])


def pa_truncates(numbers, steps):
    program, value = pal.pal_answer(numbers, steps)
    return program, None if value is None else int(value)


def pa_zero_for_refusals(numbers, steps):               # a refusal must be None, not a number
    program, value = pal.pal_answer(numbers, steps)
    return program, 0 if value is None else value


def pa_answer_only(numbers, steps):
    return pal.pal_answer(numbers, steps)[1]


def pa_truthy(numbers, steps):                          # `if value` turns an answer of 0 into None
    program = _text(numbers, steps)
    try:
        value = sandbox.run_program(program)
    except sandbox.SandboxError:
        return program, None
    return program, sandbox.normalise_answer(value) if value else None


def pa_floor_division(numbers, steps):                  # '/' written as '//' ("answers are whole numbers")
    return _sandboxed(_text(numbers, [("//" if op == "/" else op, a, b) for op, a, b in steps]))


def pa_static_check_then_exec(numbers, steps):          # the sandbox's static rules, then plain Python
    program = _text(numbers, steps)
    try:
        sandbox.check_program(program)
        env: dict = {}
        exec(program, env)
        return program, sandbox.normalise_answer(env["answer"])
    except Exception:
        return program, None


def pa_rounds(numbers, steps):                          # round(v, 2): 7 / 3 becomes 2.33
    program, value = pal.pal_answer(numbers, steps)
    return program, round(value, 2) if isinstance(value, float) else value


def pa_in_process(numbers, steps):                      # isolate=False: right answers, run inside the kernel
    program = _text(numbers, steps)
    try:
        return program, sandbox.normalise_answer(sandbox.run_program(program, isolate=False))
    except sandbox.SandboxError:
        return program, None


# ------------------------------------------------------------------------------ best_of_n
def _answer(program):
    try:
        return sandbox.normalise_answer(sandbox.run_program(program))
    except sandbox.SandboxError:
        return None


def _exec_answer(program):
    env: dict = {}
    try:
        exec(program, env)
    except Exception:
        return None
    return sandbox.normalise_answer(env.get("answer"))


def bn_exec(programs, logprobs, plausible):             # the example: exec instead of the sandbox
    votes = Counter(a for a in map(_exec_answer, programs) if a is not None and plausible(a))
    return votes.most_common(1)[0][0] if votes else None


def bn_exec_with_a_filter(programs, logprobs, plausible):   # refuses obvious escapes, then hangs on the loop
    answers = [None if "import" in p or "getattr" in p else _exec_answer(p) for p in programs]
    return pal.vote(answers, logprobs, plausible)


def bn_most_likely_only(programs, logprobs, plausible):
    a = _answer(programs[int(np.argmax(logprobs))])
    return a if a is not None and plausible(a) else None


def bn_refusals_vote_none(programs, logprobs, plausible):
    answers = [_answer(p) for p in programs]
    return Counter(a for a in answers if a is None or plausible(a)).most_common(1)[0][0]


def bn_no_verifier(programs, logprobs, plausible):
    votes = Counter(a for a in map(_answer, programs) if a is not None)
    return votes.most_common(1)[0][0] if votes else None


def bn_ties_to_first(programs, logprobs, plausible):
    votes = Counter(a for a in map(_answer, programs) if a is not None and plausible(a))
    return votes.most_common(1)[0][0] if votes else None


def bn_not_normalised(programs, logprobs, plausible):   # counts the raw values: 8.0 and 8 apart
    votes, best = Counter(), {}
    for p, lp in zip(programs, logprobs):
        try:
            a = sandbox.run_program(p)
        except sandbox.SandboxError:
            continue
        if not plausible(sandbox.normalise_answer(a)):
            continue
        votes[a] += 1
        best[a] = max(best.get(a, -math.inf), lp)
    return max(votes, key=lambda v: (votes[v], best[v])) if votes else None


def bn_ignores_plausible(programs, logprobs, plausible):
    return pal.best_of_n(programs, logprobs, C.is_plausible)


def _tally(programs, logprobs, plausible):
    """Each surviving answer's log-probabilities, in the order seen."""
    lps: dict = {}
    for p, lp in zip(programs, logprobs):
        a = _answer(p)
        if a is not None and plausible(a):
            lps.setdefault(a, []).append(lp)
    return lps


def _tie_by(score):
    def best_of_n(programs, logprobs, plausible):
        lps = _tally(programs, logprobs, plausible)
        return max(lps, key=lambda v: (len(lps[v]), score(v, lps[v]))) if lps else None
    return best_of_n


bn_tie_larger = _tie_by(lambda v, lps: v)                   # ties to the larger answer
def bn_tie_last_seen(programs, logprobs, plausible):        # a later answer replaces one with as many votes
    lps, best = _tally(programs, logprobs, plausible), None
    for v in lps:
        if best is None or len(lps[v]) >= len(lps[best]):
            best = v
    return best


bn_tie_sum = _tie_by(lambda v, lps: sum(lps))
bn_tie_mean = _tie_by(lambda v, lps: sum(lps) / len(lps))
bn_tie_min = _tie_by(lambda v, lps: min(lps))
bn_tie_first_lp = _tie_by(lambda v, lps: lps[0])
bn_tie_last_lp = _tie_by(lambda v, lps: lps[-1])


def bn_weighted_by_logprob(programs, logprobs, plausible):   # sums log-probabilities instead of counting votes
    score: dict = {}
    for p, lp in zip(programs, logprobs):
        a = _answer(p)
        if a is not None and plausible(a):
            score[a] = score.get(a, 0.0) + lp
    return max(score, key=score.get) if score else None


# ------------------------------------------------------------------------------ dice_probability
def dp_float(n, f, s):
    return float(probability.dice_probability(n, f, s))


def dp_zero_based(n, f, s):
    return Fraction(sum(1 for r in product(range(f), repeat=n) if sum(r) == s), f ** n)


def dp_no_top_face(n, f, s):
    return Fraction(sum(1 for r in product(range(1, f), repeat=n) if sum(r) == s), f ** n)


def dp_at_least(n, f, s):
    return Fraction(sum(1 for r in product(range(1, f + 1), repeat=n) if sum(r) >= s), f ** n)


def dp_count(n, f, s):
    return sum(1 for r in product(range(1, f + 1), repeat=n) if sum(r) == s)


def dp_wrong_denominator(n, f, s):
    return Fraction(sum(1 for r in product(range(1, f + 1), repeat=n) if sum(r) == s), n * f)


def dp_fraction_of_float(n, f, s):
    return Fraction(dp_count(n, f, s) / f ** n)


def dp_permutations(n, f, s):                       # no face repeats across dice
    return Fraction(sum(1 for r in permutations(range(1, f + 1), n) if sum(r) == s), f ** n)


def dp_combinations(n, f, s):                       # unordered rolls, counted as equally likely
    rolls = list(combinations_with_replacement(range(1, f + 1), n))
    return Fraction(sum(1 for r in rolls if sum(r) == s), len(rolls))


# ------------------------------------------------------------------------------ mc_probability
def mc_fixed_n(event, sample, tol, rng):
    n = 1000
    return float(np.mean(event(sample(rng, n)))), n


def mc_sd_equals_tol(event, sample, tol, rng):        # one standard error = tol: misses a third of the time
    n = math.ceil(1 / (4 * tol ** 2))
    return float(np.mean(event(sample(rng, n)))), n


def mc_not_squared(event, sample, tol, rng):
    n = math.ceil(4 / tol)
    return float(np.mean(event(sample(rng, n)))), n


def mc_returns_count(event, sample, tol, rng):
    n = math.ceil(4 / tol ** 2)
    return float(np.sum(event(sample(rng, n)))), n


def mc_own_rng(event, sample, tol, rng):
    n = math.ceil(4 / tol ** 2)
    return float(np.mean(event(sample(np.random.default_rng(0), n)))), n


def mc_swapped(event, sample, tol, rng):
    n = math.ceil(4 / tol ** 2)
    return n, float(np.mean(event(sample(rng, n))))


def mc_reports_more_than_drawn(event, sample, tol, rng):
    n = math.ceil(4 / tol ** 2)
    return float(np.mean(event(sample(rng, 2000)))), n


def mc_fixed_huge_n(event, sample, tol, rng):        # "more is safer": a million draws whatever tol is
    n = 10 ** 6
    return float(np.mean(event(sample(rng, n)))), n


def mc_fourth_power(event, sample, tol, rng):         # 4 / tol**4: asks for 10**8 rows (one long C call)
    n = math.ceil(4 / tol ** 4)
    return float(np.mean(event(sample(rng, n)))), n


def mc_unseeded(event, sample, tol, rng):             # touches the rng, then draws with an unseeded generator
    n = math.ceil(4 / tol ** 2)
    rng.random()
    return float(np.mean(event(sample(np.random.default_rng(), n)))), n


def mc_estimate_from_a_subset(event, sample, tol, rng):   # draws n, estimates from the first 1000 only
    n = math.ceil(4 / tol ** 2)
    outcomes = sample(rng, n)
    return float(np.mean(event(outcomes[:1000]))), n


def mc_many_small_draws(event, sample, tol, rng):
    n = math.ceil(4 / tol ** 2)
    hits = sum(int(event(sample(rng, n // 4)).sum()) for _ in range(4))
    return hits / (4 * (n // 4)), 4 * (n // 4)


# ------------------------------------------------------------------------------ fit_logit_trend
def _line(x, z, ddof=2):
    slope, intercept = np.polyfit(x, z, 1)
    r = z - (intercept + slope * x)
    return float(slope), float(intercept), float(np.sqrt((r ** 2).sum() / (len(x) - ddof)))


def _valid(acc):
    acc = np.asarray(acc, float)
    if not ((acc > 0) & (acc < 1)).all():
        raise ValueError("fractions only")
    return acc


def ft_linear_in_accuracy(x, acc):
    return _line(np.asarray(x, float), _valid(acc))


def ft_sd_with_n(x, acc):
    acc = _valid(acc)
    return _line(np.asarray(x, float), np.log(acc / (1 - acc)), ddof=0)


def ft_no_validation(x, acc):
    x, acc = np.asarray(x, float), np.asarray(acc, float)
    with np.errstate(all="ignore"):
        z = np.log(acc / (1 - acc))
        return _line(x, z)


def ft_log_not_logit(x, acc):
    return _line(np.asarray(x, float), np.log(_valid(acc)))


def ft_swapped(x, acc):
    slope, intercept, sd = forecast.fit_logit_trend(x, acc)
    return intercept, slope, sd


def ft_log10(x, acc):
    acc = _valid(acc)
    return _line(np.asarray(x, float), np.log10(acc / (1 - acc)))


def ft_accepts_one(x, acc):                               # validation with <= lets a perfect score through
    acc = np.asarray(acc, float)
    if not ((acc > 0) & (acc <= 1)).all():
        raise ValueError("fractions only")
    with np.errstate(all="ignore"):
        return _line(np.asarray(x, float), np.log(acc / (1 - acc)))


def ft_centred_x(x, acc):
    x, z = np.asarray(x, float), np.log(_valid(acc) / (1 - _valid(acc)))
    slope, intercept = np.polyfit(x - x.mean(), z, 1)
    return float(slope), float(intercept), _line(x, z)[2]


def ft_axes_swapped(x, acc):                              # np.polyfit(logit, x, 1)
    x, z = np.asarray(x, float), np.log(_valid(acc) / (1 - _valid(acc)))
    return _line(z, x)


def ft_variance(x, acc):
    slope, intercept, sd = forecast.fit_logit_trend(x, acc)
    return slope, intercept, sd ** 2


def ft_clips_zero(x, acc):                                # lets 0 through and clips it to a tiny number
    acc = np.asarray(acc, float)
    if not ((acc >= 0) & (acc < 1)).all():
        raise ValueError("fractions only")
    return forecast.fit_logit_trend(x, np.clip(acc, 1e-12, None))


def ft_failure_log_odds(x, acc):                          # log((1 - a) / a)
    acc = _valid(acc)
    return _line(np.asarray(x, float), np.log((1 - acc) / acc))


def ft_residuals_in_accuracy(x, acc):
    x, acc = np.asarray(x, float), _valid(acc)
    slope, intercept, _ = _line(x, np.log(acc / (1 - acc)))
    r = acc - 1 / (1 + np.exp(-(intercept + slope * x)))
    return slope, intercept, float(np.sqrt((r ** 2).sum() / (len(x) - 2)))


def ft_sd_of_logits(x, acc):
    acc = _valid(acc)
    z = np.log(acc / (1 - acc))
    slope, intercept, _ = _line(np.asarray(x, float), z)
    return slope, intercept, float(np.std(z, ddof=2))


# (exercise, mistake, wrong function, phrase the first line of the message must contain)
MISTAKES = [
    ("extract_answer", "first '####'", ea_first_hash, "FIRST '####'"),
    ("extract_answer", "first number of the text", ea_first_number, "the first number of the text"),
    ("extract_answer", "last number of the text", ea_last_number, "the last number of the text"),
    ("extract_answer", "stops at the comma", ea_stops_at_comma, "thousands separator"),
    ("extract_answer", "returns a string", ea_returns_string, "you returned the text"),
    ("extract_answer", "drops the minus sign", ea_drops_minus, "minus sign"),
    ("extract_answer", "always a float", ea_always_float, "whole numbers should be ints"),
    ("extract_answer", "truncates decimals", ea_truncates, "dropped the decimals"),
    ("extract_answer", "guesses without '####'", ea_guesses_without_hash, "no '####' answer line"),
    ("extract_answer", "crashes on '$'", ea_crashes_on_dollar, "your function raised ValueError"),
    ("extract_answer", "4.0 left a float", ea_no_is_integer, "whole numbers should be ints"),
    ("extract_answer", "first word after '####'", ea_first_token, "not the first word"),
    ("extract_answer", "first word, else None", ea_first_token_or_none, "you returned None"),
    ("extract_answer", "keeps only the digits", ea_digits_only, "glues the numbers"),
    ("extract_answer", "no test for a missing number", ea_regex_no_check, "states no answer: return None"),
    ("pal_answer", "exec, plus one unused sandbox call", pa_exec_with_unused_sandbox_call,
     "did not come from the sandbox"),
    ("pal_answer", "evaluates each step in Python", pa_eval_each_step, "did not come from the sandbox"),
    ("pal_answer", "answers with the first step", pa_first_step, "FIRST step's result"),
    ("pal_answer", "4.0 instead of 4", pa_not_normalised, "normalise_answer"),
    ("pal_answer", "lets refusals escape", pa_lets_refusals_escape, "escaped from your function"),
    ("pal_answer", "steps numbered from r0", pa_numbers_steps_from_r0, "from r0"),
    ("pal_answer", "swapped operands", pa_swapped_operands, "swapped the operands"),
    ("pal_answer", "truncates 3.5", pa_truncates, "keep non-whole answers as floats"),
    ("pal_answer", "0 for a refusal", pa_zero_for_refusals, "the answer must be None"),
    ("pal_answer", "returns only the answer", pa_answer_only, "return a tuple (program, answer)"),
    ("pal_answer", "`if value` loses an answer of 0", pa_truthy, "treats 0 as 'no answer'"),
    ("pal_answer", "'/' written as '//'", pa_floor_division, "integer division"),
    ("pal_answer", "static check, then exec", pa_static_check_then_exec, "is not the sandbox"),
    ("pal_answer", "rounds to 2 decimals", pa_rounds, "you rounded"),
    ("pal_answer", "isolate=False", pa_in_process, "isolate=False"),
    ("best_of_n", "exec instead of the sandbox", bn_exec, "never exec/eval"),
    ("best_of_n", "exec with a string filter: hangs on the loop", bn_exec_with_a_filter, "did not finish"),
    ("best_of_n", "most likely candidate only", bn_most_likely_only, "the answer with the best log-probability"),
    ("best_of_n", "refusals vote for None", bn_refusals_vote_none, "must be skipped"),
    ("best_of_n", "no verifier", bn_no_verifier, "fails `plausible`"),
    ("best_of_n", "ties to the first answer", bn_ties_to_first, "higher log-probability"),
    ("best_of_n", "8.0 and 8 counted apart", bn_not_normalised, "normalise_answer"),
    ("best_of_n", "ignores the plausible argument", bn_ignores_plausible, "ignored the `plausible` argument"),
    ("best_of_n", "votes weighted by log-probability", bn_weighted_by_logprob, "most votes"),
    ("best_of_n", "ties to the larger answer", bn_tie_larger, "by the larger answer"),
    ("best_of_n", "ties to the last answer seen", bn_tie_last_seen, "kept the last one seen"),
    ("best_of_n", "ties by the sum of log-probabilities", bn_tie_sum, "the sum, the mean or the minimum"),
    ("best_of_n", "ties by the mean log-probability", bn_tie_mean, "the sum, the mean or the minimum"),
    ("best_of_n", "ties by the smallest log-probability", bn_tie_min, "the sum, the mean or the minimum"),
    ("best_of_n", "ties by the first candidate's log-probability", bn_tie_first_lp, "FIRST candidate"),
    ("best_of_n", "ties by the last candidate's log-probability", bn_tie_last_lp, "last candidate's"),
    ("dice_probability", "a float", dp_float, "floats are not exact"),
    ("dice_probability", "faces 0..f-1", dp_zero_based, "run from 1 to `faces`"),
    ("dice_probability", "no top face", dp_no_top_face, "top face"),
    ("dice_probability", "at least the target", dp_at_least, "AT LEAST"),
    ("dice_probability", "the count, not a probability", dp_count, "not a probability"),
    ("dice_probability", "divides by n * f", dp_wrong_denominator, "n_dice * faces"),
    ("dice_probability", "Fraction of a float", dp_fraction_of_float, "through a float"),
    ("dice_probability", "permutations", dp_permutations, "permutations"),
    ("dice_probability", "combinations counted as equally likely", dp_combinations, "combinations"),
    ("mc_probability", "fixed n = 1000", mc_fixed_n, "too few"),
    ("mc_probability", "one standard error = tol", mc_sd_equals_tol, "too few"),
    ("mc_probability", "4 / tol, not squared", mc_not_squared, "too few"),
    ("mc_probability", "returns the count", mc_returns_count, "not a probability"),
    ("mc_probability", "its own rng", mc_own_rng, "rng you were given was never used"),
    ("mc_probability", "(n, estimate)", mc_swapped, "the order is (estimate, n)"),
    ("mc_probability", "reports more draws than it made", mc_reports_more_than_drawn, "but drew"),
    ("mc_probability", "many small draws", mc_many_small_draws, "in one call"),
    ("mc_probability", "a fixed million draws", mc_fixed_huge_n, "not a fixed large number"),
    ("mc_probability", "4 / tol**4: a huge sample", mc_fourth_power, "refuses to draw it"),
    ("mc_probability", "an unseeded generator of its own", mc_unseeded, "a generator of your own"),
    ("mc_probability", "estimate from a subset", mc_estimate_from_a_subset, "not the fraction of the outcomes you drew"),
    ("fit_logit_trend", "linear in accuracy", ft_linear_in_accuracy, "accuracies themselves"),
    ("fit_logit_trend", "sd divides by n", ft_sd_with_n, "divides by n;"),
    ("fit_logit_trend", "no validation", ft_no_validation, "must raise ValueError"),
    ("fit_logit_trend", "log, not log-odds", ft_log_not_logit, "you fitted log(acc)"),
    ("fit_logit_trend", "(intercept, slope) swapped", ft_swapped, "the order is (slope, intercept"),
    ("fit_logit_trend", "log10", ft_log10, "log10"),
    ("fit_logit_trend", "accepts an accuracy of 1", ft_accepts_one, "must raise ValueError"),
    ("fit_logit_trend", "sd of the log-odds, not the residuals", ft_sd_of_logits, "spread of the residuals"),
    ("fit_logit_trend", "centred x", ft_centred_x, "you centred x"),
    ("fit_logit_trend", "x regressed on the log-odds", ft_axes_swapped, "axes are swapped"),
    ("fit_logit_trend", "variance for sd", ft_variance, "VARIANCE"),
    ("fit_logit_trend", "accepts an accuracy of 0", ft_clips_zero, "must raise ValueError"),
    ("fit_logit_trend", "log-odds of failure", ft_failure_log_odds, "log-odds of FAILURE"),
    ("fit_logit_trend", "residuals on the accuracy scale", ft_residuals_in_accuracy, "accuracy scale"),
]


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


@pytest.mark.parametrize("exercise", sorted(CHECKS))
def test_the_reference_passes_and_the_stub_is_not_implemented(exercise):
    CHECKS[exercise](REFERENCES[exercise])
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        CHECKS[exercise](stub)


def test_every_exercise_has_at_least_five_mistakes():
    counts = Counter(row[0] for row in MISTAKES)
    assert set(counts) == set(CHECKS)
    assert min(counts.values()) >= 5, counts


@pytest.mark.parametrize("exercise, mistake, wrong, phrase", MISTAKES, ids=[f"{r[0]}: {r[1]}" for r in MISTAKES])
def test_each_mistake_is_rejected_by_name(exercise, mistake, wrong, phrase, monkeypatch):
    if mistake.startswith("exec with a string filter"):
        monkeypatch.setattr(C, "CASE_SECONDS", 2.0)   # the loop case must fail on time, quickly
    start = time.perf_counter()
    with pytest.raises(CheckFailed) as info:
        CHECKS[exercise](wrong)
    first_line = str(info.value).splitlines()[0]
    assert phrase in first_line, f"{exercise} / {mistake}: the message does not lead with the mistake:\n{info.value}"
    assert "np.float64" not in str(info.value) and "np.int64" not in str(info.value)
    assert time.perf_counter() - start < 30
    if mistake.startswith("exec with a string filter"):
        assert "within 2 s" in first_line and time.perf_counter() - start < 2.0 + 8


def test_messages_print_plain_numbers():
    with pytest.raises(CheckFailed) as info:
        C.check_fit_trend(lambda x, acc: tuple(np.float64(v) + 1 for v in forecast.fit_logit_trend(x, acc)))
    assert "np.float64" not in str(info.value)
    with pytest.raises(CheckFailed) as info:
        C.check_mc_probability(lambda e, s, tol, rng: (np.float64(0.5), np.int64(10)))
    assert "np." not in str(info.value)
