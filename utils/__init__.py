"""Shared code for the ML-safety course.

Modules
-------
repro     set_seed, get_device: reproducible runs on CPU / CUDA / MPS.
data      the offline default datasets as tensors with fixed splits, and a checked
          downloader for bigger datasets.
models    small MLP / CNN factories.
training  a training loop and evaluation helpers with tqdm progress bars.
plotting  one consistent plotting style (image grids, curves, tables).
checks    the learner-facing check framework and each lesson's checks.
widgets   thin ipywidgets helpers shared by lessons.
"""

__version__ = "0.1.0"
COURSE_NAME = "ML Safety, hands-on"

__all__ = ["__version__", "COURSE_NAME"]
