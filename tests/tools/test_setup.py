"""The two README commands, the pins, and the CI entry point."""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += extra
    pins = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", r.strip())
        assert m, f"pyproject.toml: {r!r} is not an exact pin (name==version)"
        pins[m.group(1).lower()] = m.group(2)
    return pins


def _environment_yml_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)\s*$", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_torch_is_pinned_exactly():
    assert _pyproject_pins()["torch"] == "2.13.0"


def test_environment_yml_names_the_same_pins_as_pyproject():
    assert _environment_yml_pins() == _pyproject_pins()


def test_installed_versions_match_the_pins():
    for name, version in _pyproject_pins().items():
        installed = md.version(name)
        assert installed.split("+")[0] == version, f"{name}: installed {installed}, pinned {version}"


def test_no_cuda_packages_installed():
    nvidia = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith("nvidia"))
    assert not nvidia, f"set-up pulled CUDA packages: {nvidia}"
    import torch

    assert "+cpu" in torch.__version__ or not torch.version.cuda, torch.__version__


def test_package_imports_by_name_from_any_directory(tmp_path):
    out = subprocess.run([sys.executable, "-c", "import utils.repro, utils; print(utils.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()).resolve().parent == ROOT / "utils"


def test_readme_has_exactly_two_quickstart_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:bash|sh)?\n(.*?)```", quick, re.S)
    lines = [l.strip() for block in commands for l in block.splitlines() if l.strip() and not l.strip().startswith("#")]
    assert lines == ["make lab", "make test"], lines
    ci = [l.strip() for l in (ROOT / ".ci/run").read_text().splitlines()
          if l.strip() and not l.startswith("#") and not l.startswith(("set ", "cd "))]
    assert ci == ["make test"], ci


def test_readme_lists_every_lesson():
    from utils.course import LESSONS

    readme = (ROOT / "README.md").read_text()
    solutions = sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb"))
    listed = [l.notebook for l in LESSONS]
    for name in solutions:
        assert name in listed, f"{name} is missing from utils.course.LESSONS"
    for name in listed:
        assert name in solutions, f"utils.course.LESSONS lists {name}, which is not in solutions/"
    for lesson in LESSONS:
        assert lesson.title in readme, f"README does not list lesson {lesson.number}: {lesson.title}"
        row = next((l for l in readme.splitlines() if l.startswith(f"| {lesson.number} |")), "")
        assert f"| {lesson.minutes} min |" in row, (
            f"README's row for lesson {lesson.number} must give the time of utils.course.LESSONS "
            f"({lesson.minutes} min): {row!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_the_workspace_and_keeps_the_learners_edits(tmp_path):
    """`make lab` fills the workspace from course/ (new lessons only), never overwrites an edited lesson, and
    serves the workspace: the notebook fetched from the server is the learner's version."""
    import json

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    mine = workspace / "00_welcome.ipynb"
    edited = json.loads((ROOT / "course" / "00_welcome.ipynb").read_text())
    edited["cells"][0]["source"] = "# my notes: this is my copy\n"
    mine.write_text(json.dumps(edited))
    before = mine.read_bytes()
    port, token = _free_port(), "coursetest"
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 " \
           f"--IdentityProvider.token={token}"
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS={args}", f"WORKSPACE={workspace}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        # A generous ceiling: on a busy 2-core machine JupyterLab took over 90 s to answer; a hang still fails.
        deadline = time.time() + 300
        body = None
        while time.time() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents/00_welcome.ipynb?token={token}"
                with urllib.request.urlopen(url, timeout=10) as r:
                    body = json.loads(r.read().decode())
                break
            except OSError:
                time.sleep(1)
        assert body is not None, "JupyterLab did not answer within 300 s"
        first = body["content"]["cells"][0]["source"]
        assert "my notes" in first, "the lab must serve the learner's copy from the workspace"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert f"127.0.0.1:{port}" in out, "make lab should print the URL"
    assert mine.read_bytes() == before, "make lab changed the learner's edited lesson"
    lessons = sorted(p.name for p in (ROOT / "course").glob("*.ipynb"))
    assert sorted(p.name for p in workspace.glob("*.ipynb")) == lessons, "make lab should add the missing lessons"


def test_setup_cell_explains_a_missing_install(tmp_path):
    """The first code cell of every notebook, run by a Python without the course package, says what to do."""
    import nbformat

    sources = set()
    for folder in ("solutions", "course"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            nb = nbformat.read(str(path), as_version=4)
            first = next(c for c in nb.cells if c.cell_type == "code")
            assert "make lab" in first.source and "google.colab" in first.source, f"{path}: set-up cell"
            sources.add(first.source)
    assert len(sources) == 1, "every notebook starts with the same set-up cell"
    # -I -S: no site-packages (so no course package) and no current directory on sys.path.
    out = subprocess.run([sys.executable, "-I", "-S", "-c", sources.pop()], cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode != 0
    assert "ModuleNotFoundError" in out.stderr and "make lab" in out.stderr, out.stderr[-800:]
