"""Proxy gaming in miniature (lesson 06): optimise a learned proxy of a true objective and watch the
true objective rise, then fall, as optimisation pressure grows (Goodhart's law).

Set-up: points ``x`` in the plane; the true objective is ``f(x) = x1 + x2 - (x1^2 + x2^2) / 2``
(best value 1 at x = (1, 1)). We only see ``f`` through noisy samples at points drawn near the
origin, fit a small MLP to them (the *proxy*), and then run gradient ascent on the proxy from
typical starting points. Optimisation pressure = the number of ascent steps. Far from the data the
ReLU proxy extrapolates linearly and keeps promising more, while the true objective, a bowl, drops.

Mitigation: an ensemble of proxies fit on bootstrap resamples; optimise the *conservative*
score ``mean - k * std`` across members. Where the data are thin the members disagree, the
penalty grows, and the ascent stops near the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["true_objective", "sample_data", "fit_proxy", "MLPEnsemble", "fit_ensemble", "ensemble_score", "optimise",
           "pressure_curves"]


def true_objective(x: torch.Tensor) -> torch.Tensor:
    """f(x) = x1 + x2 - |x|^2 / 2 for x of shape (N, 2); maximum 1 at (1, 1)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2), got {tuple(x.shape)}")
    return x[:, 0] + x[:, 1] - 0.5 * (x ** 2).sum(1)


def sample_data(n: int = 200, seed: int = 0, spread: float = 0.35, noise: float = 0.1):
    """n noisy observations of the true objective at x ~ N(0, spread^2 I). Returns (x, y) tensors."""
    if n < 2:
        raise ValueError(f"need n >= 2 samples, got {n}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g) * spread
    y = true_objective(x) + noise * torch.randn(n, generator=g)
    return x, y


def _mlp(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def fit_proxy(x: torch.Tensor, y: torch.Tensor, seed: int = 0, hidden: int = 32, steps: int = 200,
              lr: float = 0.01, bootstrap: bool = False) -> nn.Module:
    """Fit an MLP proxy r(x) to (x, y) by mean squared error (full batch, Adam)."""
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    if x.ndim != 2 or x.shape[1] != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"need x of shape (N, 2) and y of shape (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    torch.manual_seed(seed)
    if bootstrap:
        idx = torch.randint(0, len(x), (len(x),))
        x, y = x[idx], y[idx]
    model = _mlp(hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = ((model(x).squeeze(-1) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


class MLPEnsemble(nn.Module):
    """``k`` MLPs of the :func:`fit_proxy` architecture held as stacked weights, so that one batched matrix
    product evaluates (and trains) every member at once. ``forward(x)`` returns predictions of shape (k, N)."""

    def __init__(self, members: Sequence[nn.Sequential]):
        super().__init__()
        if len(members) < 1:
            raise ValueError("an ensemble needs at least one member")
        layers = [[m[i] for m in members] for i in (0, 2, 4)]        # the three Linear layers of each member
        self.weights = nn.ParameterList([nn.Parameter(torch.stack([l.weight.detach().T for l in ls])) for ls in layers])
        self.biases = nn.ParameterList([nn.Parameter(torch.stack([l.bias.detach()[None, :] for l in ls]))
                                        for ls in layers])

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if x.ndim == 3 else x.expand(len(self), *x.shape)           # (k, N, 2)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < 2:
                h = torch.relu(h)
        return h.squeeze(-1)


def fit_ensemble(x, y, k: int = 5, seed: int = 0, hidden: int = 32, steps: int = 200, lr: float = 0.01) -> MLPEnsemble:
    """k proxies, each with its own initialisation and bootstrap resample of the data (member i is seeded with
    ``1000 * seed + i``, as :func:`fit_proxy` with ``bootstrap=True`` would be), trained together: the loss is the
    sum of the members' mean squared errors, so with Adam each member follows its own training run."""
    if k < 2:
        raise ValueError(f"an ensemble needs k >= 2 members, got {k}")
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    if x.ndim != 2 or x.shape[1] != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"need x of shape (N, 2) and y of shape (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    idx, members = [], []
    for i in range(k):
        torch.manual_seed(1000 * seed + i)
        idx.append(torch.randint(0, len(x), (len(x),)))
        members.append(_mlp(hidden))
    idx = torch.stack(idx)
    xb, yb = x[idx], y[idx]                                               # (k, N, 2), (k, N)
    model = MLPEnsemble(members)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = ((model(xb) - yb) ** 2).mean(1).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def ensemble_score(models, k_std: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """The conservative score mean - k_std * std over the members' predictions (an :class:`MLPEnsemble` or a
    list of single proxies)."""
    if len(models) < 2:
        raise ValueError("ensemble_score needs at least 2 models")
    if k_std < 0:
        raise ValueError(f"k_std must be >= 0, got {k_std}")

    def score(x: torch.Tensor) -> torch.Tensor:
        preds = models(x) if isinstance(models, MLPEnsemble) else torch.stack([m(x).squeeze(-1) for m in models])
        return preds.mean(0) - k_std * preds.std(0)
    return score


def optimise(score: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, steps: int, lr: float = 0.05,
             record: Sequence[int] = ()) -> dict[int, torch.Tensor]:
    """Gradient ascent on ``score`` from x0 (N, 2); returns {step: x at that step} for steps in ``record``."""
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x = torch.as_tensor(x0, dtype=torch.float32).clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=lr)
    out = {}
    want = set(int(r) for r in record)
    for t in range(steps + 1):
        if t in want:
            out[t] = x.detach().clone()
        if t == steps:
            break
        opt.zero_grad()
        (-score(x).sum()).backward()
        opt.step()
    return out


def pressure_curves(seed: int, steps: Sequence[int], n_data: int = 200, n_start: int = 64, lr: float = 0.05,
                    k: int = 5, k_std: Sequence[float] = (0.0, 4.0)) -> dict[str, np.ndarray]:
    """For one seed: the mean true objective (and the optimised score) after each number of ascent
    steps, for the plain proxy and for the ensemble score mean - k_std * std at each ``k_std``
    (k_std = 0 is the plain ensemble mean). Also returns the final points and the data."""
    steps = sorted(int(s) for s in steps)
    x, y = sample_data(n_data, seed=seed)
    g = torch.Generator().manual_seed(10_000 + seed)
    x0 = torch.randn(n_start, 2, generator=g) * 0.35         # start where the data are
    proxy = fit_proxy(x, y, seed=seed)
    ens = fit_ensemble(x, y, k=k, seed=seed)

    names = ["proxy"] + [f"ensemble_k{kk:g}" for kk in k_std]
    n = len(x0)

    def all_scores(z: torch.Tensor) -> torch.Tensor:
        # one copy of the start points per score, all in one pass; the copies do not interact, so one ascent
        # step on the sum is one ascent step on each score
        chunks = z.reshape(len(names), n, 2)
        preds = ens(chunks[1:].reshape(-1, 2)).reshape(len(ens), len(k_std), n)
        ens_scores = [preds[:, j].mean(0) - kk * preds[:, j].std(0) for j, kk in enumerate(k_std)]
        return torch.cat([proxy(chunks[0]).squeeze(-1), *ens_scores])

    xs = optimise(all_scores, x0.repeat(len(names), 1), steps[-1], lr=lr, record=steps)
    out: dict[str, np.ndarray] = {"steps": np.array(steps)}
    with torch.no_grad():
        points = {t: xs[t].reshape(len(names), n, 2) for t in steps}
        score = {t: all_scores(xs[t]).reshape(len(names), n).mean(1) for t in steps}
        for i, name in enumerate(names):
            out[f"{name}_true"] = np.array([true_objective(points[t][i]).mean().item() for t in steps])
            out[f"{name}_score"] = np.array([score[t][i].item() for t in steps])
            out[f"{name}_final_x"] = points[steps[-1]][i].numpy()
    out["data_x"] = x.numpy()
    return out
