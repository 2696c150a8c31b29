"""A small training loop and evaluation helpers, with ``tqdm.auto`` progress bars."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["train", "predict", "accuracy", "evaluate", "check_xy"]

BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def check_xy(x: torch.Tensor, y: torch.Tensor, where: str = "") -> None:
    """Raise a clear error unless ``x`` is a float tensor and ``y`` a 1-D integer tensor of the same length."""
    pre = f"{where}: " if where else ""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{pre}x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{pre}x must be a float tensor, got {x.dtype}; convert with x.float()")
    if y.dim() != 1 or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"{pre}y must be a 1-D integer tensor of labels, got shape {tuple(y.shape)} and {y.dtype}")
    if len(x) != len(y):
        raise ValueError(f"{pre}x has {len(x)} examples but y has {len(y)} labels")
    if len(x) == 0:
        raise ValueError(f"{pre}empty batch: x and y have no examples")


def _default_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(xb), yb)


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_loss: BatchLoss | None = None,
    seed: int | None = 0,
    progress: bool = True,
    desc: str = "train",
) -> list[float]:
    """Train ``model`` with Adam on ``(x, y)`` and return the mean loss of each epoch.

    ``batch_loss(model, xb, yb) -> loss`` replaces the default cross-entropy, which is how
    lessons plug in adversarial training or augmentation without writing a new loop.
    Data stays on the device of ``x``; the model is moved there. ``seed`` fixes the shuffling.
    """
    check_xy(x, y, "train")
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be >= 1")
    model.to(x.device)
    # foreach=True updates all parameters in a few vectorised calls: the same numbers as the default per-parameter
    # loop on CPU (tests/core), for less per-step overhead, which dominates the small models of this course.
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)
    loss_fn = batch_loss or _default_loss
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    history: list[float] = []
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        model.train()
        perm = torch.randperm(len(x), generator=gen).to(x.device)
        total, n = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            loss = loss_fn(model, x[idx], y[idx])
            if not torch.is_tensor(loss) or loss.dim() != 0:
                raise TypeError("batch_loss must return a scalar loss tensor")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            n += len(idx)
        history.append(total / n)
        bar.set_postfix(loss=f"{history[-1]:.3f}")
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode, batched."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label."""
    if logits.dim() != 2 or len(logits) != len(y):
        raise ValueError(f"logits must be (N, classes) matching y of length N; got {tuple(logits.shape)} and {len(y)}")
    return (logits.argmax(1) == y).float().mean().item()


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Clean accuracy of ``model`` on ``(x, y)``."""
    check_xy(x, y, "evaluate")
    return accuracy(predict(model, x), y)
