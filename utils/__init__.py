"""Shared code for the ML-safety course: a small flat core, and one subpackage per lesson topic.

Core (every lesson may use it; it never imports a topic)
--------------------------------------------------------
repro     set_seed, get_device, environment_report: reproducible runs on CPU / CUDA / MPS.
data      the offline default datasets as tensors with fixed splits, and a checked downloader.
models    small MLP / CNN factories.
training  a training loop and evaluation helpers with tqdm progress bars.
plotting  one consistent plotting style (image grids, curves, tables).
images    one image validator, Gaussian blur and affine warp shared by the image lessons.
widgets   thin ipywidgets helpers shared by lessons.
checks    the learner-facing check framework (Case, run_check, need, ...).
course    the course map (lesson -> notebook, time, papers).

Lesson -> subpackage -> tests
-----------------------------
00 welcome                      utils.welcome       tests/welcome
01 adversarial training         utils.adversarial   tests/adversarial   (uses utils.shift.corruptions)
02 adversarial data (text)      utils.text          tests/text
03 out-of-distribution robust.  utils.shift         tests/shift
04 anomaly detection            utils.anomaly       tests/anomaly       (uses utils.shift.corruptions)
05 interpretability             utils.interpret     tests/interpret
06 RL ethics                    utils.ethics        tests/ethics
07 program-aided math           utils.reasoning     tests/reasoning
08 deception in negotiation     utils.negotiation   tests/negotiation
09 a helpful, honest assistant  utils.assistant     tests/assistant

Each subpackage holds its lesson's environments, data (``assets/``), models and learner checks (``checks.py``);
its docstring says what is in it and what a learner is expected to read. Core and tooling tests live in
``tests/core`` and ``tests/tools``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
