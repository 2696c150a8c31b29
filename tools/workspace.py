"""The learner's workspace: your own copies of the exercise notebooks, outside version control.

``course/`` is generated from ``solutions/`` and tracked by git, so editing it there would be overwritten by
``make course`` and would conflict with ``git pull``. ``make lab`` therefore opens JupyterLab on ``workspace/``
(git-ignored), which this tool fills from ``course/``:

    python -m tools.workspace sync            # copy lessons that are not in the workspace yet; never overwrite
    python -m tools.workspace status          # which lessons you changed, which have an update in course/
    python -m tools.workspace fresh 03        # a fresh copy of lesson 03; your old copy is kept, renamed

Rules, in one place: a file in the workspace is never overwritten and never deleted by anything the course runs.
``fresh`` renames the old copy to ``NN_name.backup-YYYYMMDD-HHMMSS.ipynb`` before it copies the new one. The copy
each lesson started from is kept in ``workspace/.course-copies/`` so that ``status`` can tell your edits from an
update of the lesson.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
WORKSPACE = Path(os.environ.get("COURSE_WORKSPACE", ROOT / "workspace"))
ORIGINALS = ".course-copies"

__all__ = ["SyncReport", "sync", "status", "fresh", "find_lesson", "fingerprint", "WorkspaceError"]


class WorkspaceError(ValueError):
    """A request the workspace cannot honour (unknown lesson, missing course folder); the message says what to do."""


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)       # copied from course/ (new to the workspace)
    kept: list[str] = field(default_factory=list)        # already there: left exactly as they were
    updated_upstream: list[str] = field(default_factory=list)  # course/ has a newer version than your copy's origin
    edited: list[str] = field(default_factory=list)      # you changed your copy


def fingerprint(workspace: Path = WORKSPACE) -> dict[str, str]:
    """A SHA-256 per file under ``workspace`` (empty if it does not exist): the test suite compares this before and
    after a run to prove the run left the learner's files alone."""
    if not workspace.is_dir():
        return {}
    return {str(p.relative_to(workspace)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(workspace.rglob("*")) if p.is_file()}


def _lessons(course: Path) -> list[Path]:
    if not course.is_dir():
        raise WorkspaceError(f"{course} does not exist: run this from a checkout of the course")
    return sorted(course.glob("*.ipynb"))


def _copy_new(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` only if ``dst`` does not exist (checked atomically: never overwrites)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "xb") as fout:  # "x": fail rather than overwrite
        shutil.copyfileobj(fin, fout)


def _record_original(src: Path, workspace: Path) -> None:
    """Remember the course version a workspace copy started from (for ``status``)."""
    orig = workspace / ORIGINALS / src.name
    orig.parent.mkdir(parents=True, exist_ok=True)
    tmp = orig.with_suffix(".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, orig)  # the originals folder is the tool's own, not the learner's


def status(course: Path = COURSE, workspace: Path = WORKSPACE) -> SyncReport:
    """What :func:`sync` would leave alone, and which lessons were edited or updated upstream. Changes nothing."""
    report = SyncReport()
    for src in _lessons(course):
        mine = workspace / src.name
        if not mine.exists():
            report.added.append(src.name)
            continue
        report.kept.append(src.name)
        orig = workspace / ORIGINALS / src.name
        if orig.exists():
            if not filecmp.cmp(orig, src, shallow=False):
                report.updated_upstream.append(src.name)
            if not filecmp.cmp(orig, mine, shallow=False):
                report.edited.append(src.name)
        elif not filecmp.cmp(mine, src, shallow=False):
            report.edited.append(src.name)
    return report


def sync(course: Path = COURSE, workspace: Path = WORKSPACE) -> SyncReport:
    """Copy every lesson of ``course`` that the workspace lacks; leave every existing file untouched."""
    workspace.mkdir(parents=True, exist_ok=True)
    report = status(course, workspace)
    for name in report.added:
        src = course / name
        try:
            _copy_new(src, workspace / name)
        except FileExistsError:  # appeared meanwhile: it is the learner's now
            report.added.remove(name)
            report.kept.append(name)
            continue
        _record_original(src, workspace)
    return report


def find_lesson(lesson: str, course: Path = COURSE) -> Path:
    """The course notebook named by ``lesson``: its number (``3``, ``03``) or (part of) its file name."""
    lessons = _lessons(course)
    key = lesson.strip()
    if key.isdigit():
        hits = [p for p in lessons if p.name.startswith(f"{int(key):02d}_")]
    else:
        hits = [p for p in lessons if key.lower() in p.name.lower()]
    if len(hits) != 1:
        names = ", ".join(p.name for p in lessons)
        what = "no lesson" if not hits else f"{len(hits)} lessons"
        raise WorkspaceError(f"{what} match {lesson!r}; give a number or a name from: {names}")
    return hits[0]


def _rename_no_overwrite(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, failing rather than replacing an existing ``dst``."""
    try:
        os.link(src, dst)  # atomic: raises FileExistsError instead of overwriting
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if dst.exists():
            raise FileExistsError(dst) from None
        os.rename(src, dst)
        return
    src.unlink()


def fresh(lesson: str, course: Path = COURSE, workspace: Path = WORKSPACE) -> tuple[Path, Path | None]:
    """A fresh copy of one lesson in the workspace. An existing copy is renamed (kept), never deleted.

    Returns ``(new copy, where the old copy went or None)``.
    """
    src = find_lesson(lesson, course)
    workspace.mkdir(parents=True, exist_ok=True)
    mine = workspace / src.name
    kept = None
    if mine.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            suffix = f".backup-{stamp}" + (f"-{i}" if i else "")
            candidate = mine.with_name(mine.stem + suffix + mine.suffix)
            if not candidate.exists():
                break
        else:  # pragma: no cover - a thousand restarts in one second
            raise WorkspaceError("too many backups in one second; try again")
        _rename_no_overwrite(mine, candidate)
        kept = candidate
    _copy_new(src, mine)
    _record_original(src, workspace)
    return mine, kept


def _print_report(report: SyncReport, workspace: Path) -> None:
    print(f"workspace: {workspace}")
    for name in report.added:
        print(f"  + {name} (new lesson, copied from course/)")
    for name in report.updated_upstream:
        print(f"  ! {name}: the course has an update. Your copy is kept as it is; to get the new version run "
              f"`make restart-lesson LESSON={name[:2]}` (your copy is kept under a new name).")
    edited = [n for n in report.edited if n not in report.updated_upstream]
    if edited:
        print(f"  your edited lessons (kept as they are): {', '.join(edited)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Your copies of the exercise notebooks (workspace/, not in git).")
    ap.add_argument("command", choices=["sync", "status", "fresh"])
    ap.add_argument("lesson", nargs="?", help="for fresh: the lesson number or name, e.g. 03")
    ap.add_argument("--course", type=Path, default=COURSE)
    ap.add_argument("--workspace", type=Path, default=WORKSPACE)
    args = ap.parse_args(argv)
    try:
        if args.command == "sync":
            _print_report(sync(args.course, args.workspace), args.workspace)
        elif args.command == "status":
            _print_report(status(args.course, args.workspace), args.workspace)
        else:
            if not args.lesson:
                ap.error("fresh needs a lesson, e.g. `python -m tools.workspace fresh 03`")
            new, kept = fresh(args.lesson, args.course, args.workspace)
            if kept is not None:
                print(f"kept your previous copy as {kept.name}")
            print(f"fresh copy: {new}")
    except WorkspaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
