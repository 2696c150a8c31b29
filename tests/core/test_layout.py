"""The package layout (issue 12): a flat core, one subpackage per lesson topic, imports that run one way.

- the core (``utils/*.py``) never imports a topic subpackage;
- a topic imports the core and, only where it truly shares, the topics listed in ``SHARED``;
- the tools import the core only;
- every topic has a docstring naming its lesson, and its tests in ``tests/<topic>/``;
- the lesson -> subpackage map in ``utils/__init__.py`` and CONTRIBUTING.md lists every topic.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import utils
from utils.course import LESSONS

ROOT = Path(__file__).resolve().parents[2]
UTILS = ROOT / "utils"
TOPICS = sorted(p.name for p in UTILS.iterdir() if p.is_dir() and (p / "__init__.py").exists())
CORE = sorted(p for p in UTILS.glob("*.py"))
# topic -> the other topics it may import, and why
SHARED = {
    "adversarial": {"shift"},  # lesson 01 evaluates adversarially trained models on the corruption suite
    "anomaly": {"shift"},      # lesson 04's corrupted-digits OOD set uses the corruption suite
}


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports (relative imports resolved), including imports inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(root).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from utils import text` imports a topic
    # a module's own string of code (the sandbox's worker script) counts too
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(re.findall(r"(?:^|\n|;)\s*(?:from|import) (utils[\w.]*)", node.value))
    return found


def _topics_imported(path: Path, root: Path = ROOT) -> set[str]:
    return {m.split(".")[1] for m in _imports(path, root) if m.startswith("utils.") and m.split(".")[1] in TOPICS}


def test_there_is_a_core_and_topics():
    assert {"repro", "data", "models", "training", "plotting", "widgets", "checks", "course"} <= {p.stem for p in CORE}
    assert len(TOPICS) >= 8, TOPICS


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_never_imports_a_topic(path):
    assert not _topics_imported(path), f"{path.name} (core) imports topic(s) {_topics_imported(path)}"


@pytest.mark.parametrize("topic", TOPICS)
def test_topics_import_only_the_core_and_declared_shared_topics(topic):
    for path in sorted((UTILS / topic).rglob("*.py")):
        other = _topics_imported(path) - {topic} - SHARED.get(topic, set())
        assert not other, (f"{path.relative_to(ROOT)} imports topic(s) {sorted(other)}; a topic imports the core, "
                           f"and another topic only where it truly shares (declare it in SHARED with the reason)")


@pytest.mark.parametrize("path", sorted((ROOT / "tools").glob("*.py")), ids=lambda p: p.name)
def test_tools_import_only_the_core(path):
    assert not _topics_imported(path), f"tools/{path.name} imports topic(s) {_topics_imported(path)}"


def test_import_parser_sees_every_form(tmp_path):
    """The checks above are only as good as the parser: it must see absolute, relative and nested imports."""
    fake = tmp_path / "utils" / "shift" / "probe.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from utils import text\nimport utils.anomaly.ood\nfrom ..ethics import qlearning\n"
                    "def f():\n    from utils.reasoning.sandbox import safe_run\n"
                    "WORKER = 'from utils.interpret import saliency'\n")
    assert _topics_imported(fake, tmp_path) == {"text", "anomaly", "ethics", "reasoning", "interpret"}


@pytest.mark.parametrize("topic", TOPICS)
def test_each_topic_says_which_lesson_it_serves_and_has_its_tests(topic):
    doc = ast.get_docstring(ast.parse((UTILS / topic / "__init__.py").read_text())) or ""
    m = re.match(r"Lessons? (\d\d)", doc)
    assert m, f"utils/{topic}/__init__.py must open with 'Lesson NN (`notebook`): ...'"
    notebooks = {lesson.number: lesson.notebook for lesson in LESSONS}
    assert notebooks.get(m.group(1), "?") in doc, f"utils/{topic}: name the notebook of lesson {m.group(1)}"
    assert "read" in doc, f"utils/{topic}: say what a learner is expected to read of it"
    assert list((ROOT / "tests" / topic).glob("test_*.py")), f"tests/{topic}/ holds no tests"


def test_every_lesson_has_a_topic_in_the_maps():
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    served = {}
    for topic in TOPICS:
        doc = ast.get_docstring(ast.parse((UTILS / topic / "__init__.py").read_text())) or ""
        served[re.match(r"Lessons? (\d\d)", doc).group(1)] = topic
    for lesson in LESSONS:
        assert lesson.number in served, f"lesson {lesson.number} has no utils subpackage"
        topic = served[lesson.number]
        assert f"utils.{topic}" in utils.__doc__, f"utils/__init__.py's map lacks utils.{topic}"
        assert f"utils/{topic}" in contributing and f"tests/{topic}" in contributing, (
            f"CONTRIBUTING.md's map lacks lesson {lesson.number} -> utils/{topic} -> tests/{topic}")
