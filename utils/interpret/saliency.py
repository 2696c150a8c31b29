"""Attribution and its sanity check in lesson 05 (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

The course's trusted implementations, used for the lesson's reported numbers and by its checks:

- :func:`gradient_saliency`: |d logit_target / d x|, the maximum over channels (Exercise 5);
- :func:`rank_correlation`: Spearman's rank correlation of two maps per image, ties sharing their average rank,
  optionally over the pixels of a mask only (Exercise 6);
- :func:`randomised_copy`: the model with every layer re-initialised;
- :func:`randomisation_test`: maps of the trained model against maps of randomised copies, per copy and
  image (Exercise 7).

Why the mask matters: about half the pixels of a digit are exactly 0, and any map that multiplies by the input
(gradient x input) is 0 there too, whatever the model. Two such maps share a block of tied lowest ranks, and that
block alone gives a Spearman correlation of about 0.86 even when the maps agree on nothing else.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

__all__ = ["gradient_saliency", "rank_correlation", "randomised_copy", "randomisation_test"]


def _as_array(v, what: str) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if not isinstance(v, np.ndarray):
        raise TypeError(f"{what} must be a torch tensor or a numpy array, got {type(v).__name__}")
    return v


def gradient_saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Saliency maps (Simonyan et al. 2014), (N, H, W): the absolute gradient of each image's *target* logit with
    respect to that image, maximised over the channel dimension. ``x`` is (N, C, H, W), ``target`` (N,) long.
    ``x`` itself is not modified; the model is put in eval mode."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a tensor of images (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    target = torch.as_tensor(target).reshape(-1).long()
    if len(target) != len(x):
        raise ValueError(f"need one target class per image: {len(target)} targets for {len(x)} images")
    model.eval()
    x = x.detach().clone().requires_grad_()
    try:
        logits = model(x)
    except RuntimeError as err:
        raise ValueError(f"the model cannot take images of shape {tuple(x.shape)} (check the number of channels "
                         f"and the image size): {str(err).splitlines()[0]}") from None
    if logits.dim() != 2:
        raise ValueError(f"the model must return logits of shape (N, classes), got {tuple(logits.shape)}")
    if len(target) and (int(target.min()) < 0 or int(target.max()) >= logits.shape[1]):
        raise ValueError(f"target classes must lie in 0..{logits.shape[1] - 1}, got {int(target.min())}.."
                         f"{int(target.max())}")
    selected = logits.gather(1, target[:, None].to(x.device)).sum()
    (grad,) = torch.autograd.grad(selected, x)
    return grad.abs().amax(dim=1)


def _average_ranks(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(v)  # ties share their average rank


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def rank_correlation(a, b, mask=None) -> np.ndarray:
    """Spearman's rank correlation between map ``a[i]`` and map ``b[i]`` (each flattened), one value per image.

    ``a`` and ``b`` are (N, ...) tensors or arrays of the same shape. Each image's pixels are ranked on their own,
    tied values share their average rank, and the correlation is Pearson's on those ranks. With ``mask`` (a
    boolean array of the same shape) only the pixels where it is True take part: they are ranked among themselves,
    the others are left out (not set to 0). An image whose map is constant over its pixels (or that has fewer than
    two pixels in the mask) has no ordering; it gets 0.
    """
    a, b = _as_array(a, "a").astype(float), _as_array(b, "b").astype(float)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"need two batches of maps of the same shape (N, ...), got {a.shape} and {b.shape}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if mask is None:
        m = np.ones(a.shape, dtype=bool)
    else:
        m = _as_array(mask, "mask")
        if m.dtype != np.bool_:
            raise TypeError(f"mask must be boolean (True = the pixel counts), got dtype {m.dtype}")
        if m.size != a.size or len(m) != len(a):
            raise ValueError(f"mask must have the maps' shape {a.shape}, got {m.shape}")
        m = m.reshape(a.shape)
    out = np.zeros(len(a))
    for i in range(len(a)):
        sel = m[i]
        if sel.sum() >= 2:
            out[i] = _pearson(_average_ranks(a[i, sel]), _average_ranks(b[i, sel]))
    return out


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised (seeded); the model itself is untouched."""
    clone = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in clone.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    clone.eval()
    return clone


def randomisation_test(explain, model: nn.Module, x: torch.Tensor, target: torch.Tensor, seeds=(0, 1, 2),
                       mask=None) -> np.ndarray:
    """The model-parameter randomisation test, (len(seeds), N).

    ``explain(model, x, target) -> (N, H, W)`` maps. Row ``s`` holds, for every image, the rank correlation
    (:func:`rank_correlation`, over ``mask`` if given) between the trained model's map and the map of
    ``randomised_copy(model, seed=seeds[s])``, for the same images and the same target classes.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("give at least one randomisation seed")
    trained = explain(model, x, target)
    return np.stack([rank_correlation(trained, explain(randomised_copy(model, seed=s), x, target), mask)
                     for s in seeds])
