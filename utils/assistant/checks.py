"""Learner checks for lesson 09. Each compares the learner's function with the trusted implementation in
:mod:`utils.assistant.scoring` on tiny hand-made cases."""

from __future__ import annotations

import torch

from utils.checks import Case, CheckFailed, assert_close, expect, run_check

from . import scoring as S

__all__ = ["check_response_logprobs", "check_comparison_accuracy", "check_distill_kl", "check_bradley_terry_loss"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _call(case_run):
    """Run one prepared case (the learner's function is called inside, on fresh tensors that track gradients)."""
    return case_run()


def _require_callable(fn, name: str) -> None:
    if not callable(fn):
        raise TypeError(f"check_{name} expects your function `{name}` itself, got {type(fn).__name__}. "
                        f"Call it as check_{name}({name}).")


def _diagnose(got: torch.Tensor, expected: torch.Tensor, alternatives: dict[str, torch.Tensor], what: str) -> None:
    """Raise a CheckFailed naming the mistake when ``got`` matches a known wrong answer, else compare normally."""
    got = got.detach().float()
    if torch.allclose(got, expected, atol=1e-4, rtol=1e-4):
        return
    for diagnosis, alt in alternatives.items():
        if alt.shape == got.shape and torch.allclose(got, alt.float(), atol=1e-4, rtol=1e-4):
            raise CheckFailed(f"{diagnosis} (expected {_fmt(expected)}, got {_fmt(got)})")
    assert_close(got, expected, what, atol=1e-4)


def _fmt(x: torch.Tensor) -> str:
    v = x.detach().flatten().tolist()
    return str(round(v[0], 4)) if len(v) == 1 else "[" + ", ".join(f"{u:.4g}" for u in v[:4]) + (", ...]" if len(v) > 4 else "]")


def _tensor_result(got, shape: tuple, what: str) -> torch.Tensor:
    if got is None:
        raise CheckFailed(f"{what} is None: did you forget a `return` statement?")
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{what} should be a torch tensor of shape {shape}, got {type(got).__name__} {got!r:.60}")
    if tuple(got.shape) != shape:
        raise CheckFailed(f"{what} has shape {tuple(got.shape)}, expected {shape}")
    if not got.is_floating_point():
        raise CheckFailed(f"{what} has dtype {got.dtype}, expected a float tensor")
    return got


# ----------------------------------------------------------------------------------------------
# Exercise 1: the log-likelihood of a response
# ----------------------------------------------------------------------------------------------

def _lp_case(seed: int, B: int, T: int, V: int, spans: list[tuple[int, int]], shift_rows: bool = False):
    g = _gen(seed)
    logits = torch.randn(B, T, V, generator=g) * 2
    if shift_rows:  # add a different constant at every position: log-softmax does not change, raw logits do
        logits = logits + torch.arange(T, dtype=torch.float32)[None, :, None] * 3.0
    tokens = torch.randint(0, V, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.bool)
    for b, (lo, hi) in enumerate(spans):
        mask[b, lo:hi] = True
        tokens[b, hi:] = 0          # padding after the response
    return logits, tokens, mask


def check_response_logprobs(response_logprobs) -> None:
    """``response_logprobs(logits, tokens, mask)`` must return, for each row b, the sum over positions t >= 1
    with ``mask[b, t]`` of ``log_softmax(logits[b, t - 1])[tokens[b, t]]``: shape (B,), float."""
    specs = [
        ("two rows, responses at the end", 0, 2, 6, 5, [(3, 6), (4, 6)], False),
        ("the response starts right after the first token (t = 1)", 1, 2, 5, 4, [(1, 5), (2, 4)], False),
        ("padding after a short response (tokens 0, mask False)", 2, 3, 7, 6, [(2, 4), (3, 7), (5, 6)], False),
        ("logits shifted by a different constant at each position", 3, 2, 6, 5, [(2, 6), (3, 5)], True),
        ("one row, one response token", 4, 1, 3, 4, [(2, 3)], False),
    ]
    cases = []
    for label, seed, B, T, V, spans, shift in specs:
        logits, tokens, mask = _lp_case(seed, B, T, V, spans, shift)
        expected = S.response_logprobs(logits, tokens, mask)
        lsm = torch.log_softmax(logits, -1)
        shifted = lsm[:, :-1].gather(2, tokens[:, 1:, None])[..., 0]
        alts = {
            "position t scored token t: the logits at t - 1 predict token t, so shift by one "
            "(logits[:, :-1] against tokens[:, 1:])": (lsm.gather(2, tokens[..., None])[..., 0] * mask).sum(1),
            "the tokens are shifted but the mask is not: use mask[:, 1:] with tokens[:, 1:]":
                (shifted * mask[:, :-1]).sum(1),
            "the logits were not normalised: take log_softmax over the vocabulary first":
                (logits[:, :-1].gather(2, tokens[:, 1:, None])[..., 0] * mask[:, 1:]).sum(1),
            "that is the mean log-probability per token; the exercise wants the sum over the response":
                (shifted * mask[:, 1:]).sum(1) / mask[:, 1:].sum(1).clamp(min=1),
            "every position was counted: multiply by the mask so only the response's tokens add up":
                shifted.sum(1),
            "probabilities were added, not log-probabilities": (shifted.exp() * mask[:, 1:]).sum(1),
        }

        def validate(got, expected=expected, B=B, alts=alts):
            got = _tensor_result(got, (B,), "the result")
            _diagnose(got, expected, alts, "the log-likelihood per row")
        cases.append(Case(label, args=(logits, tokens, mask), validate=validate))
    run_check("response_logprobs", response_logprobs, cases,
              hint="logp = log_softmax(logits[:, :-1], dim=-1) scores tokens[:, 1:]; gather the token ids, multiply "
                   "by mask[:, 1:] and sum over time. Position t - 1 predicts token t.")


# ----------------------------------------------------------------------------------------------
# Exercise 2: comparison accuracy
# ----------------------------------------------------------------------------------------------

def check_comparison_accuracy(comparison_accuracy) -> None:
    """``comparison_accuracy(good_scores, bad_scores)`` must return, as a Python float, the share of pairs whose
    better response scored higher; a tie counts half."""
    specs = [
        ("four pairs, three right", [2.0, 1.0, -3.0, 0.5], [1.0, 0.0, -2.0, 0.1]),
        ("ties count half", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 0.0, 5.0]),
        ("every pair wrong", [-1.0, -2.0, -3.0], [0.0, 0.0, 0.0]),
        ("one pair, a tie", [0.25], [0.25]),
        ("log-likelihoods: large negative scores", [-40.5, -12.0, -30.0, -7.0, -9.0], [-41.0, -11.0, -29.0, -8.0, -9.5]),
    ]
    cases = []
    for label, g, b in specs:
        gt, bt = torch.tensor(g), torch.tensor(b)
        expected = S.comparison_accuracy(gt, bt)
        alts = {"ties counted as right: a tie is a coin flip, count it as half": float((gt >= bt).float().mean()),
                "ties counted as wrong: a tie is a coin flip, count it as half": float((gt > bt).float().mean()),
                "that is a count of pairs; return the share (divide by the number of pairs)":
                    float((gt > bt).sum() + 0.5 * (gt == bt).sum()),
                "the comparison is reversed: the better response should have the higher score":
                    float(((gt < bt).float() + 0.5 * (gt == bt).float()).mean())}

        def validate(got, expected=expected, alts=alts):
            if isinstance(got, torch.Tensor):
                raise CheckFailed(f"it returned a tensor ({got!r:.40}); return a plain Python float with float(...)")
            expect(isinstance(got, float), f"return a Python float, got {type(got).__name__} {got!r:.40}")
            if abs(got - expected) > 1e-6:
                for diagnosis, alt in alts.items():
                    if abs(got - alt) < 1e-6:
                        raise CheckFailed(f"{diagnosis} (expected {expected}, got {got})")
            assert_close(got, expected, "the accuracy", atol=1e-6)
        cases.append(Case(label, args=(torch.tensor(g), torch.tensor(b)), validate=validate))
    run_check("comparison_accuracy", comparison_accuracy, cases,
              hint="((good > bad).float() + 0.5 * (good == bad).float()).mean(), then float(...). A fraction, not a "
                   "count; a tie is a coin flip.")


# ----------------------------------------------------------------------------------------------
# Exercise 3: the context-distillation loss
# ----------------------------------------------------------------------------------------------

def check_distill_kl(distill_kl) -> None:
    """``distill_kl(student_logits, teacher_logits, mask)`` must return a scalar tensor: the mean over positions
    with ``mask`` True of KL(p_teacher || p_student), differentiable in the student and not in the teacher."""
    g = _gen(10)
    s1, t1 = torch.randn(2, 4, 6, generator=g), torch.randn(2, 4, 6, generator=g) * 2
    m1 = torch.tensor([[True, True, True, False], [False, True, True, True]])
    s2 = torch.randn(1, 3, 5, generator=g)
    m2 = torch.ones(1, 3, dtype=torch.bool)
    t3 = torch.tensor([[[4.0, 0.0, 0.0], [0.0, 3.0, -2.0]]])   # peaked teacher, flat-ish student: direction matters
    s3 = torch.tensor([[[0.5, 0.2, 0.0], [1.0, 1.0, 1.0]]])
    m3 = torch.ones(1, 2, dtype=torch.bool)
    s4, t4 = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)
    t4[:, 3:] = 50.0 * torch.randn(3, 2, 4, generator=g)       # garbage at masked-out positions
    m4 = torch.zeros(3, 5, dtype=torch.bool)
    m4[:, :3] = True
    specs = [
        ("two rows with a few masked-out positions", s1, t1, m1),
        ("identical student and teacher: the KL is 0", s2, s2.clone(), m2),
        ("a peaked teacher: KL(teacher || student), not the reverse", s3, t3, m3),
        ("padding with extreme teacher logits must be ignored", s4, t4, m4),
    ]
    cases = []
    for label, s, t, m in specs:
        expected = float(S.distill_kl(s, t, m))
        ls, lt = torch.log_softmax(s, -1), torch.log_softmax(t, -1)
        mf = m.float()
        kl_pos = (lt.exp() * (lt - ls)).sum(-1)
        alts = {
            "that is KL(student || teacher), the reverse direction: weight by the teacher's probabilities":
                ((ls.exp() * (ls - lt)).sum(-1) * mf).sum() / mf.sum(),
            "that is the mean over the vocabulary as well (F.kl_div with reduction='mean'): sum over the "
            "vocabulary, average over positions": ((kl_pos / s.shape[-1]) * mf).sum() / mf.sum(),
            "padding positions were averaged in: count only the positions where mask is True": kl_pos.mean(),
            "that is a sum over positions: divide by the number of masked positions": (kl_pos * mf).sum(),
            "that is the cross-entropy with the teacher's most likely token (hard labels); distillation matches "
            "the teacher's whole distribution": (torch.nn.functional.cross_entropy(
                s.reshape(-1, s.shape[-1]), t.argmax(-1).reshape(-1), reduction="none").view(m.shape) * mf).sum()
            / mf.sum(),
            "the teacher's logits were used as probabilities: apply softmax to them first":
                ((t * (t - ls)).sum(-1) * mf).sum() / mf.sum(),
            "that compares logits with a squared error; compare the two distributions with the KL divergence":
                (((s - t) ** 2).mean(-1) * mf).sum() / mf.sum(),
        }

        def run(s=s, t=t, m=m):
            s_, t_ = s.clone().requires_grad_(True), t.clone().requires_grad_(True)
            return distill_kl(s_, t_, m.clone()), s_, t_

        def validate(got, expected=expected, alts=alts):
            out, s_, t_ = got
            out = _tensor_result(out, (), "the loss")
            if not out.requires_grad:
                raise CheckFailed("the loss carries no gradient: keep it a tensor (no .item(), no torch.no_grad()), "
                                  "or the student cannot learn from it")
            _diagnose(out.detach(), torch.tensor(expected), {k: torch.tensor(float(v)) for k, v in alts.items()},
                      "the loss")
            out.backward()
            if t_.grad is not None and float(t_.grad.abs().max()) > 0:
                raise CheckFailed("gradient flowed into the teacher's logits: the teacher is a fixed target, use "
                                  "teacher_logits.detach() (or compute its probabilities under torch.no_grad())")
            expect(s_.grad is not None, "no gradient reached the student's logits")
        cases.append(Case(label, args=(run,), validate=validate))
    _require_callable(distill_kl, "distill_kl")
    run_check("distill_kl", _call, cases,
              hint="p_t = softmax(teacher.detach()); KL = (p_t * (log_softmax(teacher) - log_softmax(student))).sum(-1);"
                   " then average it over the positions where mask is True.")


# ----------------------------------------------------------------------------------------------
# Exercise 4: the Bradley-Terry loss
# ----------------------------------------------------------------------------------------------

def check_bradley_terry_loss(bradley_terry_loss) -> None:
    """``bradley_terry_loss(r_good, r_bad)`` must return a scalar tensor, the mean of -log sigmoid(r_good - r_bad),
    finite even for large score differences, and differentiable in both arguments."""
    specs = [
        ("three pairs", [1.0, 0.0, 2.0], [0.0, 0.5, -1.0]),
        ("equal scores: log 2 per pair", [0.3, -1.2], [0.3, -1.2]),
        ("large differences (200 either way) must stay finite", [200.0, -150.0, 3.0], [0.0, 50.0, 3.5]),
        ("one pair, the worse response scored much higher", [-5.0], [5.0]),
    ]
    cases = []
    for label, g, b in specs:
        g_t, b_t = torch.tensor(g), torch.tensor(b)
        expected = float(S.bradley_terry_loss(g_t, b_t))
        alts = {"the sign is flipped: that is -log sigmoid(r_bad - r_good); the better response should get the "
                "higher score": torch.nn.functional.softplus(g_t - b_t).mean(),
                "that is a sum over pairs: return the mean": torch.nn.functional.softplus(b_t - g_t).sum(),
                "that is a hinge loss; the Bradley-Terry loss is -log sigmoid(r_good - r_bad)":
                    torch.relu(1 - (g_t - b_t)).mean(),
                "that scores each response alone (binary discrimination: good -> 1, bad -> 0); the ranked loss "
                "looks only at the difference r_good - r_bad":
                    (torch.nn.functional.softplus(-g_t) + torch.nn.functional.softplus(b_t)).mean(),
                "that is 1 - sigmoid(r_good - r_bad), a probability; the loss is its negative log":
                    (1 - torch.sigmoid(g_t - b_t)).mean()}

        def validate(got, expected=expected, alts=alts):
            out, rg, rb = got
            out = _tensor_result(out, (), "the loss")
            if not torch.isfinite(out):
                raise CheckFailed(f"the loss is {float(out.detach())}: -log(sigmoid(x)) overflows for large |x|; use "
                                  f"torch.nn.functional.softplus(r_bad - r_good), which is the same thing, stably")
            if not out.requires_grad:
                raise CheckFailed("the loss carries no gradient: keep it a tensor (no .item(), no float())")
            _diagnose(out.detach(), torch.tensor(expected), alts, "the loss")
            out.backward()
            expect(rg.grad is not None and rb.grad is not None, "no gradient reached the scores")
            grad_g = rg.grad
            expect(bool((grad_g <= 1e-8).all()), "raising r_good should lower the loss (its gradient must be <= 0)")

        def run(g_t=g_t, b_t=b_t):
            rg, rb = g_t.clone().requires_grad_(True), b_t.clone().requires_grad_(True)
            return bradley_terry_loss(rg, rb), rg, rb
        cases.append(Case(label, args=(run,), validate=validate))
    _require_callable(bradley_terry_loss, "bradley_terry_loss")
    run_check("bradley_terry_loss", _call, cases,
              hint="loss = softplus(r_bad - r_good).mean(): the mean over pairs of -log sigmoid(r_good - r_bad).")
