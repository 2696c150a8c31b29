"""The learner's workspace (tools/workspace.py): a learner's work is never lost.

Edits in the workspace survive `make lab` (tests/tools/test_setup.py, with a real server), `make course` and
`make restart-lesson` (real `make` in a copy of the repository), and a `git pull` that updates lessons (real git).
`make test` is guarded by conftest.py (at the root): a run that changes any file in workspace/ fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tools import workspace as W

ROOT = Path(__file__).resolve().parents[2]


def _nb(text: str) -> str:
    return json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": text}], "metadata": {},
                       "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture
def course(tmp_path) -> Path:
    c = tmp_path / "course"
    c.mkdir()
    (c / "00_welcome.ipynb").write_text(_nb("welcome v1"))
    (c / "01_attacks.ipynb").write_text(_nb("attacks v1"))
    return c


def test_sync_fills_an_empty_workspace_then_never_overwrites(course, tmp_path):
    ws = tmp_path / "ws"
    report = W.sync(course, ws)
    assert report.added == ["00_welcome.ipynb", "01_attacks.ipynb"]
    (ws / "01_attacks.ipynb").write_text(_nb("attacks: MY ANSWER"))
    (ws / "my_scratch.ipynb").write_text("mine")
    (course / "01_attacks.ipynb").write_text(_nb("attacks v2"))    # the lesson is updated upstream
    (course / "02_text.ipynb").write_text(_nb("text v1"))           # and a lesson is added
    report = W.sync(course, ws)
    assert report.added == ["02_text.ipynb"]
    assert "MY ANSWER" in (ws / "01_attacks.ipynb").read_text()
    assert (ws / "my_scratch.ipynb").read_text() == "mine"
    assert report.updated_upstream == ["01_attacks.ipynb"] and report.edited == ["01_attacks.ipynb"]
    assert (ws / "02_text.ipynb").read_text() == _nb("text v1")


def test_status_changes_nothing(course, tmp_path):
    ws = tmp_path / "ws"
    report = W.status(course, ws)
    assert report.added == ["00_welcome.ipynb", "01_attacks.ipynb"] and not ws.exists()


def test_fresh_keeps_the_old_copy_under_a_new_name(course, tmp_path):
    ws = tmp_path / "ws"
    W.sync(course, ws)
    (ws / "01_attacks.ipynb").write_text(_nb("attacks: MY ANSWER"))
    (course / "01_attacks.ipynb").write_text(_nb("attacks v2"))
    new, kept = W.fresh("1", course, ws)
    assert new.read_text() == _nb("attacks v2")
    assert kept is not None and kept.name.startswith("01_attacks.backup-") and kept.suffix == ".ipynb"
    assert "MY ANSWER" in kept.read_text()
    new2, kept2 = W.fresh("attacks", course, ws)  # twice in the same second: a second, distinct backup
    assert kept2 != kept and kept.exists() and kept2.exists()
    assert len(list(ws.glob("01_attacks*.ipynb"))) == 3
    assert W.status(course, ws).updated_upstream == []


def test_fresh_without_an_old_copy_and_bad_names(course, tmp_path):
    ws = tmp_path / "ws"
    new, kept = W.fresh("00", course, ws)
    assert kept is None and new.exists()
    with pytest.raises(W.WorkspaceError, match="no lesson match '07'"):
        W.fresh("07", course, ws)
    with pytest.raises(W.WorkspaceError, match="2 lessons match"):
        W.fresh("_", course, ws)
    with pytest.raises(W.WorkspaceError, match="does not exist"):
        W.sync(tmp_path / "nope", ws)


def test_the_cli_reports_updates_and_errors(course, tmp_path, capsys):
    ws = tmp_path / "ws"
    assert W.main(["sync", "--course", str(course), "--workspace", str(ws)]) == 0
    (course / "00_welcome.ipynb").write_text(_nb("welcome v2"))
    assert W.main(["status", "--course", str(course), "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "00_welcome.ipynb: the course has an update" in out and "make restart-lesson LESSON=00" in out
    assert W.main(["fresh", "99", "--course", str(course), "--workspace", str(ws)]) == 2


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_work_survives_a_pull_that_updates_lessons(tmp_path):
    """Upstream updates a lesson and adds one; the learner's clone pulls without conflict, and the next
    `make lab` (sync) adds the new lesson and keeps the learner's edits."""
    up = tmp_path / "upstream"
    (up / "course").mkdir(parents=True)
    (up / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    (up / "course" / "00_welcome.ipynb").write_text(_nb("welcome v1"))
    _git(up, "init", "-q", "-b", "main")
    _git(up, "add", "-A")
    _git(up, "commit", "-qm", "v1")
    clone = tmp_path / "learner"
    _git(tmp_path, "clone", "-q", str(up), str(clone))
    ws = clone / "workspace"
    W.sync(clone / "course", ws)
    (ws / "00_welcome.ipynb").write_text(_nb("welcome: MY NOTES"))
    assert _git(clone, "status", "--porcelain") == "", "the workspace must be ignored by git"
    (up / "course" / "00_welcome.ipynb").write_text(_nb("welcome v2"))
    (up / "course" / "01_new.ipynb").write_text(_nb("new lesson"))
    _git(up, "add", "-A")
    _git(up, "commit", "-qm", "v2")
    _git(clone, "pull", "-q", "--ff-only")
    report = W.sync(clone / "course", ws)
    assert report.added == ["01_new.ipynb"] and report.updated_upstream == ["00_welcome.ipynb"]
    assert "MY NOTES" in (ws / "00_welcome.ipynb").read_text()


def _repo_copy(dst: Path) -> Path:
    """The tracked files of this checkout, copied with their times (so `make` sees .venv as up to date)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


@pytest.mark.slow
def test_make_course_and_restart_lesson_keep_the_workspace(tmp_path):
    repo = _repo_copy(tmp_path / "repo")
    venv = ROOT / ".venv"
    ws = repo / "workspace"
    W.sync(repo / "course", ws)
    mine = ws / "00_welcome.ipynb"
    mine.write_text(mine.read_text().replace("Welcome", "Welcome (MY EDIT)", 1))
    edited = mine.read_bytes()
    make = ["make", "--no-print-directory", f"VENV={venv}"]
    subprocess.run([*make, "course"], cwd=repo, check=True, capture_output=True, text=True, timeout=600)
    assert mine.read_bytes() == edited, "make course changed the learner's workspace"
    out = subprocess.run([*make, "restart-lesson", "LESSON=00"], cwd=repo, check=True, capture_output=True,
                         text=True, timeout=600).stdout
    assert "kept your previous copy as 00_welcome.backup-" in out
    backups = list(ws.glob("00_welcome.backup-*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == edited
    assert mine.read_bytes() == (repo / "course" / "00_welcome.ipynb").read_bytes()
    bad = subprocess.run([*make, "restart-lesson"], cwd=repo, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "usage: make restart-lesson LESSON=03" in bad.stdout


def test_the_guard_sees_a_changed_workspace(tmp_path):
    """conftest.py compares these fingerprints before and after every test run."""
    assert W.fingerprint(tmp_path / "none") == {}
    (tmp_path / "a.ipynb").write_text("1")
    before = W.fingerprint(tmp_path)
    (tmp_path / "a.ipynb").write_text("2")
    assert W.fingerprint(tmp_path) != before
    (tmp_path / "a.ipynb").write_text("1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("new")
    assert set(W.fingerprint(tmp_path)) == {"a.ipynb", "sub/b.txt"}
