"""Lesson 05: every check rejects a table of typical mistakes, written against the exercise's real signature, with a
``CheckFailed`` whose first line names that mistake; it accepts the trusted implementation and honest alternatives,
tells a stub "not implemented yet", and stops an endless loop quickly."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch
from scipy.stats import rankdata, spearmanr
from torch import nn

from utils.checks import CheckFailed
from utils.interpret import checks as C
from utils.interpret import experiment as E
from utils.interpret import saliency as S

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# Exercise 1: visualise(features, units, direction=1, steps=150, lr=0.1, tv_weight=0.05, max_shift=1, seed=0)
# ---------------------------------------------------------------------------------------------

def _vis(features, units, direction=1, steps=150, lr=0.1, tv_weight=0.05, max_shift=1, seed=0, *, sign=-1.0,
         param="sigmoid", finish="sigmoid", tv_sign=1.0, use_tv=True, use_direction=True, zero_grad=True,
         steps_cap=None, detach=True, jitter="half", jitter_gen="same", tv_on="x", new_adam=False, dtype=None,
         mean=False):
    """The exercise with knobs that inject one typical mistake each."""
    units = torch.as_tensor(units).reshape(-1)
    g = torch.Generator().manual_seed(seed)
    p = (0.1 * torch.randn(len(units), 1, 8, 8, generator=g)).requires_grad_()
    opt = torch.optim.Adam([p], lr=lr)
    jg = {"same": g, "own": torch.Generator().manual_seed(123)}[jitter_gen]
    last = {"half": steps // 2, "all": steps, "none": 0}[jitter]
    d = direction if use_direction else 1
    view = {"sigmoid": torch.sigmoid, "raw": lambda v: v, "clamp": lambda v: v.clamp(0, 1)}[param]
    for step in range(steps if steps_cap is None else min(steps, steps_cap)):
        if new_adam:
            opt = torch.optim.Adam([p], lr=lr)
        x = view(p)
        seen = E.jitter(x, max_shift, jg) if step < last else x
        act = E.unit_activations(features, seen, units)
        tv_img = seen if tv_on == "seen" else x
        loss = sign * (d * act).sum() + (tv_sign * tv_weight * E.total_variation(tv_img).sum() if use_tv else 0)
        loss = loss / len(units) if mean else loss
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
        if param == "clamp":  # projected gradient: clip the pixels after every step
            with torch.no_grad():
                p.clamp_(0, 1)
    out = {"sigmoid": torch.sigmoid(p), "raw": p, "clip": p.clamp(0, 1),
           "rescale": (p - p.amin((1, 2, 3), keepdim=True)) / (p.amax((1, 2, 3), keepdim=True)
                                                                 - p.amin((1, 2, 3), keepdim=True))}[finish]
    out = out.detach() if detach else out
    return out if dtype is None else out.to(dtype)


VISUALISE_MISTAKES = [
    ("maximises -direction * activation (the wrong sign)", lambda *a, **k: _vis(*a, **k, sign=+1.0),
     r"wrong way"),
    ("ignores direction (always maximises)", lambda *a, **k: _vis(*a, **k, use_direction=False),
     r"ignores `direction`"),
    ("optimises raw pixels and returns them", lambda *a, **k: _vis(*a, **k, param="raw", finish="raw"),
     r"outside \[0, 1\].*bounded parameterisation"),
    ("optimises raw pixels and clips only at the end", lambda *a, **k: _vis(*a, **k, param="raw", finish="clip"),
     r"exactly at 0 or 1.*clipped"),
    ("optimises raw pixels and rescales to [0, 1] at the end",
     lambda *a, **k: _vis(*a, **k, param="raw", finish="rescale"), r"exactly at 0 or 1.*rescaled"),
    ("optimises raw pixels and applies the sigmoid only at the end",
     lambda *a, **k: _vis(*a, **k, param="raw", finish="sigmoid"), r"sigmoid\(p\) at every step"),
    ("clamps the pixels after every step instead of a sigmoid",
     lambda *a, **k: _vis(*a, **k, param="clamp", finish="clip"), r"exactly at 0 or 1"),
    ("subtracts the smoothness penalty", lambda *a, **k: _vis(*a, **k, tv_sign=-1.0), r"total variation"),
    ("leaves out the smoothness penalty", lambda *a, **k: _vis(*a, **k, use_tv=False), r"total variation"),
    ("never zeroes the gradients", lambda *a, **k: _vis(*a, **k, zero_grad=False), r"zero the gradients"),
    ("runs only a few steps", lambda *a, **k: _vis(*a, **k, steps_cap=5), r"all `steps` steps"),
    ("returns one image without the unit axis", lambda f, units, **k: _vis(f, units, **k)[0], r"shape"),
    ("returns the images attached to the graph", lambda *a, **k: _vis(*a, **k, detach=False), r"detached"),
    # found by the review of issue 13: each passed the check before
    ("no jitter at all", lambda *a, **k: _vis(*a, **k, jitter="none"), r"never saw a jittered image"),
    ("jitter at every step", lambda *a, **k: _vis(*a, **k, jitter="all"), r"jittered image at every step"),
    ("jitter drawn from its own generator", lambda *a, **k: _vis(*a, **k, jitter_gen="own"),
     r"another generator"),
    ("the penalty on the jittered copy", lambda *a, **k: _vis(*a, **k, tv_on="seen"), r"penalty was put on the jit"),
    ("a new Adam at every step", lambda *a, **k: _vis(*a, **k, new_adam=True), r"new Adam was created"),
    ("float64 images", lambda *a, **k: _vis(*a, **k, dtype=torch.float64), r"float32"),
    ("the loss averaged over the images", lambda *a, **k: _vis(*a, **k, mean=True), r"averaged over the images"),
]


# ---------------------------------------------------------------------------------------------
# Exercise 2: natural_exemplars(acts, k) -> (top (U, k), bottom (U, k))
# ---------------------------------------------------------------------------------------------

def _desc(acts):
    return torch.argsort(acts, dim=0, descending=True)


def _asc(acts):
    return torch.argsort(acts, dim=0)


NATURAL_EXEMPLARS_MISTAKES = [
    ("top and bottom swapped", lambda acts, k: (_asc(acts)[:k].T, _desc(acts)[:k].T), r"swapped"),
    ("bottom with the weakest last", lambda acts, k: (_desc(acts)[:k].T, _desc(acts)[-k:].T),
     r"`bottom`.*(weakest comes last|wrong order)"),
    ("top with the strongest last", lambda acts, k: (_asc(acts)[-k:].T, _asc(acts)[:k].T),
     r"`top`.*strongest comes last"),
    ("not transposed: (k, U)", lambda acts, k: (_desc(acts)[:k], _asc(acts)[:k]), r"along the rows.*\(U, k\)"),
    ("activation values instead of indices",
     lambda acts, k: (acts.topk(k, dim=0).values.T, (-acts).topk(k, dim=0).values.T.neg()), r"values, not image"),
    ("sorted along the units (dim=1), first k columns",
     lambda acts, k: (torch.argsort(acts, 1, descending=True)[:, :k], torch.argsort(acts, 1)[:, :k]),
     r"along the units \(dim=1\)"),
    ("sorted by the size of the activation (abs)",
     lambda acts, k: (torch.argsort(acts.abs(), 0, descending=True)[:k].T, torch.argsort(acts.abs(), 0)[:k].T),
     r"SIZE of the activation"),
    ("sorted along the units (dim=1), first k rows transposed",
     lambda acts, k: (torch.argsort(acts, 1, descending=True)[:k].T, torch.argsort(acts, 1)[:k].T),
     r"along the units \(dim=1\)"),
]


# ---------------------------------------------------------------------------------------------
# Exercise 3: build_trials(query_acts, gap, n_trials, generator=None) -> (queries (n, 2), answer (n,))
# ---------------------------------------------------------------------------------------------

def _trials(acts, gap, n, generator=None, *, width=5.0, coin="per_trial", same_images=False, rng="given",
            swap_key=False, strict=False, shared_index=False, dtype=torch.long):
    ranks = E.percentile_ranks(acts)
    gen = {"given": generator, "global": None, "own": torch.Generator().manual_seed(0)}[rng]
    shared = torch.randint(10 ** 6, (n,), generator=gen)

    def draw(centre):
        d = (ranks - centre).abs()
        pool = torch.nonzero(d < width if strict else d <= width).flatten()
        if same_images:
            return pool[:1].repeat(n)
        if shared_index:
            return pool[shared % len(pool)]
        return pool[torch.randint(len(pool), (n,), generator=gen)]
    strong, weak = draw(50 + gap / 2), draw(50 - gap / 2)
    if coin == "per_trial":
        answer = torch.randint(0, 2, (n,), generator=gen)
    elif coin == "biased":
        answer = (torch.rand(n, generator=gen) > 0.65).long()
    elif coin == "per_batch":
        answer = torch.randint(0, 2, (1,), generator=gen).repeat(n)
    else:
        answer = torch.zeros(n, dtype=torch.long)
    queries = torch.where(answer[:, None] == 0, torch.stack([strong, weak], 1), torch.stack([weak, strong], 1))
    answer = 1 - answer if swap_key else answer
    return queries, (answer.bool() if dtype is torch.bool else answer.to(dtype))


BUILD_TRIALS_MISTAKES = [
    ("the strong query always first", lambda a, g, n, generator=None: _trials(a, g, n, generator, coin="first"),
     r"leaks the answer"),
    ("one coin for the whole batch", lambda a, g, n, generator=None: _trials(a, g, n, generator, coin="per_batch"),
     r"leaks the answer"),
    ("answer points at the weak query", lambda a, g, n, generator=None: _trials(a, g, n, generator, swap_key=True),
     r"answer must point at the strongly"),
    ("ignores the gap (always the extremes)", lambda a, g, n, generator=None: _trials(a, 90, n, generator),
     r"must come from percentiles"),
    ("windows too wide (15 points)", lambda a, g, n, generator=None: _trials(a, g, n, generator, width=15.0),
     r"must come from percentiles"),
    ("the same image in every trial", lambda a, g, n, generator=None: _trials(a, g, n, generator, same_images=True),
     r"at random"),
    ("draws from the global random state", lambda a, g, n, generator=None: _trials(a, g, n, generator, rng="global"),
     r"seeded alike gave different trials"),
    ("makes its own generator", lambda a, g, n, generator=None: _trials(a, g, n, generator, rng="own"),
     r"another seed gave exactly the same"),
    # found by the review of issue 13: each passed the check before (or crashed it)
    ("a biased coin (B in 35% of trials)", lambda a, g, n, generator=None: _trials(a, g, n, generator, coin="biased"),
     r"leaks the answer"),
    ("windows too narrow (3 points)", lambda a, g, n, generator=None: _trials(a, g, n, generator, width=3.0),
     r"window is too narrow"),
    ("a strict window (< 5)", lambda a, g, n, generator=None: _trials(a, g, n, generator, strict=True),
     r"window is too narrow"),
    ("one random index for both pools",
     lambda a, g, n, generator=None: _trials(a, g, n, generator, shared_index=True), r"tied to each other"),
    ("answer as int32", lambda a, g, n, generator=None: _trials(a, g, n, generator, dtype=torch.int32),
     r"long \(torch.int64\)"),
    ("answer as bool", lambda a, g, n, generator=None: _trials(a, g, n, generator, dtype=torch.bool),
     r"bool tensor"),
]


# ---------------------------------------------------------------------------------------------
# Exercise 4: choose(ref_max, ref_min, queries) -> 0 or 1
# ---------------------------------------------------------------------------------------------

def _cos(q, refs):
    return nn.functional.cosine_similarity(q[:, None, :], refs[None, :, :], dim=-1)


def _pick(score):
    return int(score[1] > score[0])


CHOOSE_MISTAKES = [
    ("picks the smaller score", lambda a, b, q: int((_cos(q, a).mean(1) - _cos(q, b).mean(1)).argmin()),
     r"LARGER score|not from the position"),
    ("always A", lambda a, b, q: 0, r"not from the position"),
    ("always B", lambda a, b, q: 1, r"always answering B"),
    ("breaks ties toward B",
     lambda a, b, q: int((s := _cos(q, a).mean(1) - _cos(q, b).mean(1))[1] >= s[0]), r"tie goes to A"),
    ("breaks ties toward B, written with argmax of the reversed scores",
     lambda a, b, q: 1 - int((_cos(q, a).mean(1) - _cos(q, b).mean(1)).flip(0).argmax()), r"tie goes to A"),
    ("ignores the min references", lambda a, b, q: _pick(_cos(q, a).mean(1)), r"min references count too"),
    ("dot product instead of cosine", lambda a, b, q: _pick((q @ a.T).mean(1) - (q @ b.T).mean(1)),
     r"must be the cosine"),
    ("Euclidean distance instead of cosine",
     lambda a, b, q: _pick(-torch.cdist(q, a).mean(1) + torch.cdist(q, b).mean(1)), r"must be the cosine"),
    ("L1 distance instead of cosine",
     lambda a, b, q: _pick(-torch.cdist(q, a, p=1).mean(1) + torch.cdist(q, b, p=1).mean(1)), r"must be the cosine"),
    ("Euclidean distance to the max references only", lambda a, b, q: _pick(-torch.cdist(q, a).mean(1)),
     r"min references count too"),
    ("the nearest reference instead of the mean",
     lambda a, b, q: _pick(_cos(q, a).amax(1) - _cos(q, b).amax(1)), r"average the similarity over ALL"),
    ("only the first reference", lambda a, b, q: _pick(_cos(q, a[:1]).mean(1) - _cos(q, b[:1]).mean(1)),
     r"average the similarity over ALL"),
    ("returns a float", lambda a, b, q: float(E.choose(a, b, q)), r"should be an int"),
    # found by the review of issue 13: each passed the check before
    ("cosine to the centroid of the references",
     lambda a, b, q: _pick(_cos(q, a.mean(0, keepdim=True))[:, 0] - _cos(q, b.mean(0, keepdim=True))[:, 0]),
     r"centroid"),
    ("only the queries normalised",
     lambda a, b, q: _pick(((q / q.norm(dim=1, keepdim=True)) @ a.T).mean(1)
                           - ((q / q.norm(dim=1, keepdim=True)) @ b.T).mean(1)), r"only the queries were normalised"),
    ("Pearson (a centred cosine)",
     lambda a, b, q: _pick(_cos(q - q.mean(1, keepdim=True), a - a.mean(1, keepdim=True)).mean(1)
                           - _cos(q - q.mean(1, keepdim=True), b - b.mean(1, keepdim=True)).mean(1)), r"centred"),
    ("the median of the cosines", lambda a, b, q: _pick(_cos(q, a).median(1).values - _cos(q, b).median(1).values),
     r"median"),
    ("returns a Python bool", lambda a, b, q: bool(E.choose(a, b, q)), r"is a bool"),
    ("returns a torch bool", lambda a, b, q: (s := E.similarity_scores(a, b, q))[1] > s[0], r"is a bool"),
    ("returns the two scores", lambda a, b, q: E.similarity_scores(a, b, q), r"single number"),
]


# ---------------------------------------------------------------------------------------------
# Exercise 5: saliency(model, x, target) -> (N, H, W)
# ---------------------------------------------------------------------------------------------

def _grad(model, x, select):
    x = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(select(model(x)), x)
    return g


def _own(t):
    return lambda z: z.gather(1, t[:, None]).sum()


SALIENCY_MISTAKES = [
    ("keeps the sign", lambda m, x, t: _grad(m, x, _own(t)).amax(1), r"signs are kept"),
    ("the gradient of every logit", lambda m, x, t: _grad(m, x, lambda z: z.sum()).abs().amax(1), r"ALL logits"),
    ("the predicted class", lambda m, x, t: _grad(m, x, lambda z: z.max(1).values.sum()).abs().amax(1),
     r"predicted class"),
    ("the softmax probability", lambda m, x, t: _grad(m, x, lambda z: z.softmax(1).gather(1, t[:, None]).sum())
     .abs().amax(1), r"softmax probability"),
    ("the cross-entropy loss",
     lambda m, x, t: _grad(m, x, lambda z: nn.functional.cross_entropy(z, t)).abs().amax(1), r"cross-entropy"),
    ("gradient x input", lambda m, x, t: (_grad(m, x, _own(t)) * x).abs().amax(1), r"gradient x input"),
    ("sums the channels", lambda m, x, t: _grad(m, x, _own(t)).abs().sum(1), r"channels are summed"),
    ("averages the channels", lambda m, x, t: _grad(m, x, _own(t)).abs().mean(1), r"channels are summed"),
    ("keeps the channel dimension", lambda m, x, t: _grad(m, x, _own(t)).abs(), r"channel dimension is still there"),
    ("sets requires_grad on the caller's x (in place)",
     lambda m, x, t: (x.requires_grad_(), m(x).gather(1, t[:, None]).sum().backward(), x.grad.abs().amax(1))[2],
     r"changed the caller's x"),
    ("maps still attached to the graph (create_graph=True)",
     lambda m, x, t: (lambda xx: torch.autograd.grad(m(xx).gather(1, t[:, None]).sum(), xx, create_graph=True)[0]
                      .abs().amax(1))(x.clone().requires_grad_()), r"attached to the autograd graph"),
    ("rescales each map to a maximum of 1",
     lambda m, x, t: (g := _grad(m, x, _own(t)).abs().amax(1)) / g.flatten(1).amax(1)[:, None, None], r"rescaled"),
]


# ---------------------------------------------------------------------------------------------
# Exercise 6: rank_correlation(a, b, mask=None) -> (N,)
# ---------------------------------------------------------------------------------------------

def _rows(a, b, mask):
    a = np.asarray(a, float).reshape(len(a), -1)
    b = np.asarray(b, float).reshape(len(b), -1)
    m = np.ones(a.shape, bool) if mask is None else np.asarray(mask).reshape(a.shape)
    return a, b, m


def _pearson(u, v):
    u, v = u - u.mean(), v - v.mean()
    return float((u * v).sum() / np.sqrt((u * u).sum() * (v * v).sum()))


def _corr(a, b, mask=None, *, rank=rankdata, guard=True, use_mask="select"):
    a, b, m = _rows(a, b, mask)
    out = []
    for i in range(len(a)):
        if use_mask == "select":
            u, v = a[i, m[i]], b[i, m[i]]
        elif use_mask == "zero":
            u, v = np.where(m[i], a[i], 0), np.where(m[i], b[i], 0)
        else:
            u, v = a[i], b[i]
        ru, rv = rank(u), rank(v)
        if guard and (ru.std() == 0 or rv.std() == 0):
            out.append(0.0)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                out.append(_pearson(ru, rv))
    return np.array(out)


def _ordinal(v):
    return np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)


def _global_ranks(a, b, mask=None):
    a, b, m = _rows(a, b, mask)
    ra, rb = rankdata(a.ravel()).reshape(a.shape), rankdata(b.ravel()).reshape(b.shape)
    return np.array([_pearson(ra[i, m[i]], rb[i, m[i]]) for i in range(len(a))])


RANK_CORRELATION_MISTAKES = [
    ("Pearson on the values", lambda a, b, mask=None: _corr(a, b, mask, rank=lambda v: v), r"values themselves"),
    ("ties broken by position (argsort twice)", lambda a, b, mask=None: _corr(a, b, mask, rank=_ordinal),
     r"[Tt]ied values got different ranks"),
    ("argsort once (an order, not ranks)",
     lambda a, b, mask=None: _corr(a, b, mask, rank=lambda v: np.argsort(v, kind="stable").astype(float)),
     r"ORDER of the pixels"),
    ("ranks over the whole batch", _global_ranks, r"ranked across the whole batch"),
    ("ignores the mask", lambda a, b, mask=None: _corr(a, b, None), r"mask was ignored"),
    ("zeroes the masked-out pixels and keeps them", lambda a, b, mask=None: _corr(a, b, mask, use_mask="zero"),
     r"set to 0 and kept"),
    ("NaN for a constant map", lambda a, b, mask=None: _corr(a, b, mask, guard=False), r"gave NaN"),
    ("one correlation for the whole batch",
     lambda a, b, mask=None: float(spearmanr(np.asarray(a).ravel(), np.asarray(b).ravel())[0]), r"one number"),
    ("returns a list", lambda a, b, mask=None: list(S.rank_correlation(a, b, mask)), r"returned a list"),
    ("correlates across images, per pixel",
     lambda a, b, mask=None: _corr(np.asarray(a).reshape(len(a), -1).T, np.asarray(b).reshape(len(b), -1).T),
     r"one value per pixel"),
]


# ---------------------------------------------------------------------------------------------
# Exercise 7: randomisation_test(explain, model, x, target, seeds=(0, 1, 2), mask=None) -> (len(seeds), N)
# ---------------------------------------------------------------------------------------------

def _randomise_in_place(model, seed):
    torch.manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return model


def _test(explain, model, x, target, seeds=(0, 1, 2), mask=None, *, copy=S.randomised_copy, seed_of=lambda s: s,
          other_target=False, vs_input=False, reduce=None):
    trained = explain(model, x, target)
    rows = []
    for s in seeds:
        rnd = copy(model, seed_of(s))
        t = rnd(x).argmax(1) if other_target else target
        other = x[:, 0] if vs_input else explain(rnd, x, t)
        rows.append(S.rank_correlation(trained, other, mask))
    out = np.stack(rows)
    return out if reduce is None else reduce(out)


RANDOMISATION_TEST_MISTAKES = [
    ("randomises the model in place", lambda *a, **k: _test(*a, **k, copy=_randomise_in_place),
     r"changed the trained model's weights"),
    ("compares the trained model with itself", lambda *a, **k: _test(*a, **k, copy=lambda m, s: m),
     r"compared with itself"),
    ("the same seed for every copy", lambda *a, **k: _test(*a, **k, seed_of=lambda s: 0), r"ignore `seeds`"),
    ("ignores the mask", lambda e, m, x, t, seeds=(0, 1, 2), mask=None: _test(e, m, x, t, seeds),
     r"mask was ignored"),
    ("the randomised model's own predicted classes", lambda *a, **k: _test(*a, **k, other_target=True),
     r"same `target`"),
    ("compares with the input", lambda *a, **k: _test(*a, **k, vs_input=True), r"input images"),
    ("averages over the images", lambda *a, **k: _test(*a, **k, reduce=lambda r: r.mean(1)),
     r"averaged over the images"),
    ("averages over the seeds", lambda *a, **k: _test(*a, **k, reduce=lambda r: r.mean(0)),
     r"averaged over the seeds"),
    ("seeds along the columns", lambda *a, **k: _test(*a, **k, reduce=lambda r: r.T), r"rows and columns"),
]


# ---------------------------------------------------------------------------------------------
# The tables, and what every check must do
# ---------------------------------------------------------------------------------------------

CHECKS = {
    "visualise": (C.check_visualise, E.visualise, VISUALISE_MISTAKES),
    "natural_exemplars": (C.check_natural_exemplars, E.natural_exemplars, NATURAL_EXEMPLARS_MISTAKES),
    "build_trials": (C.check_build_trials, E.build_trials, BUILD_TRIALS_MISTAKES),
    "choose": (C.check_choose, E.choose, CHOOSE_MISTAKES),
    "saliency": (C.check_saliency, S.gradient_saliency, SALIENCY_MISTAKES),
    "rank_correlation": (C.check_rank_correlation, S.rank_correlation, RANK_CORRELATION_MISTAKES),
    "randomisation_test": (C.check_randomisation_test, S.randomisation_test, RANDOMISATION_TEST_MISTAKES),
}
TABLE = [(name, label, fn, pattern) for name, (_, _, rows) in CHECKS.items() for label, fn, pattern in rows]


def _reason(err: CheckFailed) -> str:
    """The first line of a check's message, without the "failed check case '...':" prefix."""
    first = str(err).split("\n", 1)[0]
    return first.split("': ", 1)[1] if "': " in first else first


@pytest.mark.parametrize("exercise, mistake, wrong, pattern", TABLE, ids=[f"{t[0]}: {t[1]}" for t in TABLE])
def test_each_typical_mistake_is_rejected_and_named(exercise, mistake, wrong, pattern):
    check = CHECKS[exercise][0]
    with pytest.raises(CheckFailed) as info:
        check(wrong)
    reason = _reason(info.value)
    assert re.search(pattern, reason, re.S), f"{exercise}, {mistake}: the message does not lead with the mistake:\n" \
                                             f"{info.value}"
    assert "np.float" not in str(info.value) and "np.int" not in str(info.value), "print plain Python numbers"


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_every_exercise_has_at_least_five_typical_mistakes(exercise):
    assert len(CHECKS[exercise][2]) >= 5


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_the_trusted_implementation_passes(exercise, capsys):
    check, trusted, _ = CHECKS[exercise]
    check(trusted)
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_the_stub_is_not_implemented_yet(exercise):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise: replace this line with your code")
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        CHECKS[exercise][0](stub)


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_an_endless_loop_fails_quickly(exercise, monkeypatch):
    monkeypatch.setitem(C.TIMEOUT_S, exercise, 0.5)
    monkeypatch.setitem(C.TIMEOUT_S, "default", 0.5)

    def endless(*args, **kwargs):
        while True:
            pass
    start = time.perf_counter()
    with pytest.raises(CheckFailed, match="did not finish"):
        CHECKS[exercise][0](endless)
    assert time.perf_counter() - start < 20


def test_check_timeouts_are_short():
    assert C.TIMEOUT_S["default"] <= 10 and max(C.TIMEOUT_S.values()) <= 30


# Honest alternatives that the checks must accept.

def test_alternatives_are_accepted():
    C.check_visualise(lambda *a, **k: _vis(*a, **k))                       # the knob version with no knob turned
    C.check_natural_exemplars(lambda acts, k: (acts.topk(k, dim=0).indices.T, (-acts).topk(k, dim=0).indices.T))
    C.check_natural_exemplars(lambda acts, k: list(E.natural_exemplars(acts, k)))   # a list pair is fine too
    C.check_choose(lambda a, b, q: int((_cos(q, a).mean(1) - _cos(q, b).mean(1)).argmax()))  # argmax: ties to A
    C.check_choose(lambda a, b, q: torch.tensor(E.choose(a, b, q)))
    C.check_choose(lambda a, b, q: np.int64(E.choose(a, b, q)))
    C.check_saliency(lambda m, x, t: _grad(m, x, _own(t)).abs().max(dim=1).values)

    def via_scipy(a, b, mask=None):
        a, b, m = _rows(a, b, mask)
        out = []
        for i in range(len(a)):
            u, v = a[i, m[i]], b[i, m[i]]
            out.append(0.0 if u.std() == 0 or v.std() == 0 else spearmanr(u, v)[0])
        return np.array(out)
    C.check_rank_correlation(via_scipy)
    C.check_rank_correlation(lambda a, b, mask=None: torch.from_numpy(S.rank_correlation(a, b, mask)))
    C.check_randomisation_test(lambda *a, **k: torch.from_numpy(S.randomisation_test(*a, **k)))


def test_the_randomisation_check_leaves_its_model_intact():
    (model, _, _), _ = C._toy_classifiers()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckFailed):
        C.check_randomisation_test(RANDOMISATION_TEST_MISTAKES[0][1])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_each_choose_rule_has_a_trial_that_separates_it_from_the_mean_cosine():
    for name, _, _ in C._OTHER_RULES:
        assert C._separates(C._SEPARATING_SEEDS[name], name), name


@pytest.mark.parametrize("bad", [
    lambda: E.choose(torch.rand(3, 64), torch.rand(3, 64), torch.rand(3, 64)),
    lambda: E.choose(torch.rand(3, 64), torch.rand(3, 64), torch.rand(2, 63)),
    lambda: S.gradient_saliency(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), torch.rand(2, 1, 8, 8),
                                torch.tensor([1, 12])),
    lambda: S.gradient_saliency(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), torch.rand(2, 3, 8, 8),
                                torch.tensor([1, 2])),
], ids=["3 queries", "D mismatch", "target out of range", "wrong channels"])
def test_bad_inputs_give_a_clear_error(bad):
    with pytest.raises(ValueError):
        bad()
