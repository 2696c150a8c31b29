"""Reproducibility: one call seeds everything and pins the thread count."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["set_seed", "get_device", "environment_report"]


def set_seed(seed: int = 0, threads: int | None = 1) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA), and fix torch's thread count.

    ``threads=1`` is the default because on a small shared machine one thread gives the
    most stable timings, and the same thread count keeps float reductions in the same order,
    so results repeat run to run. Pass ``threads=None`` to leave torch's setting alone.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        torch.set_num_threads(int(threads))
    os.environ["PYTHONHASHSEED"] = str(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU.

    ``prefer="cpu"`` (or the environment variable ``COURSE_DEVICE=cpu``) forces a device, which
    is how the test suite pins every notebook to the CPU.
    """
    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice:
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("COURSE_DEVICE asks for CUDA but torch.cuda.is_available() is False; use 'cpu'.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def environment_report() -> dict[str, str]:
    """Versions, device and threads, as a dict of strings (the welcome notebook prints it)."""
    import platform

    import matplotlib
    import sklearn

    import utils

    report = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "matplotlib": matplotlib.__version__,
        "course package": utils.__version__,
        "device": str(get_device()),
        "torch threads": str(torch.get_num_threads()),
        "cpu cores": str(os.cpu_count()),
    }
    try:
        import ipywidgets

        report["ipywidgets"] = ipywidgets.__version__
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        report["ipywidgets"] = "missing"
    return report
