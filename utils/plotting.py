"""One plotting style for the whole course: image grids, curves and plain-text tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["use_course_style", "image_grid", "plot_curves", "format_table", "print_table", "PALETTE"]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def use_course_style() -> None:
    """Set matplotlib defaults used by every lesson (small figures, readable fonts, light grid)."""
    plt.rcParams.update({
        "figure.figsize": (6.4, 3.6),
        "figure.dpi": 90,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": plt.cycler(color=PALETTE),
        "font.size": 10,
        "legend.frameon": False,
    })


def _to_numpy_image(img) -> np.ndarray:
    a = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3):  # (C, H, W) -> (H, W[, C])
        a = a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))
    if a.ndim not in (2, 3):
        raise ValueError(f"an image must be (H, W), (1, H, W) or (3, H, W); got shape {a.shape}")
    return a


def image_grid(images, titles: Sequence[str] | None = None, ncols: int = 8, cmap: str = "gray",
               vmin: float | None = 0.0, vmax: float | None = 1.0, size: float = 1.2, suptitle: str | None = None):
    """Show a sequence of images (tensors or arrays) in a grid; returns the figure."""
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(_to_numpy_image(images[i]), cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_curves(x: Sequence[float], curves: Mapping[str, Sequence[float]], xlabel: str = "", ylabel: str = "",
                title: str = "", spread: Mapping[str, Sequence[float]] | None = None, ax=None, marker: str = "o"):
    """Line plot of several named curves against ``x``; ``spread`` adds a +/- band per curve. Returns the axes."""
    if ax is None:
        _, ax = plt.subplots()
    for name, ys in curves.items():
        if len(ys) != len(x):
            raise ValueError(f"curve {name!r} has {len(ys)} points but x has {len(x)}")
        line, = ax.plot(x, ys, marker=marker, label=name)
        if spread and name in spread:
            lo = np.asarray(ys) - np.asarray(spread[name])
            hi = np.asarray(ys) + np.asarray(spread[name])
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def format_table(rows: Sequence[Sequence], headers: Sequence[str], floatfmt: str = ".3f") -> str:
    """A plain-text table (stable across machines, so nbval can compare it)."""
    def fmt(v) -> str:
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)
    cells = [[fmt(v) for v in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row {row} has {len(row)} cells but there are {len(headers)} headers")
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join([line, sep, *body])


def _numeric(s: str) -> bool:
    try:
        float(s.rstrip("%"))
        return True
    except ValueError:
        return False


def print_table(rows: Sequence[Sequence], headers: Sequence[str], floatfmt: str = ".3f") -> None:
    print(format_table(rows, headers, floatfmt))
