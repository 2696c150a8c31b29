"""The site builder's pieces, without building the site (fast; the built site is tested in test_site.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools import build_site as bs
from utils.course import LESSONS

ROOT = Path(__file__).resolve().parents[2]
WELCOME = ROOT / "solutions" / "00_welcome.ipynb"


def test_the_exercise_marker_is_the_course_builders():
    from tools.build_course import BEGIN

    assert bs.BEGIN == BEGIN


def test_lessons_are_found_by_globbing_solutions(tmp_path):
    sol = tmp_path / "solutions"
    sol.mkdir()
    for name in ("09_assistant.ipynb", "00_welcome.ipynb", "08_negotiation.ipynb", ".hidden.ipynb", "notes.md"):
        (sol / name).write_text("{}")
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "00_welcome.ipynb").write_text("{}")  # a learner's copy never becomes a page
    assert [p.name for p in bs.lesson_notebooks(tmp_path)] == [
        "00_welcome.ipynb", "08_negotiation.ipynb", "09_assistant.ipynb"]


def test_the_repository_url_is_the_one_the_set_up_cell_uses(monkeypatch):
    monkeypatch.delenv("COURSE_REPO", raising=False)
    repo = bs.default_repo()
    setup = next(c.source for c in nbformat.read(str(WELCOME), as_version=4).cells if c.cell_type == "code")
    assert f'os.environ.get("COURSE_REPO", "{repo}")' in setup
    assert bs.course_repo() == repo
    monkeypatch.setenv("COURSE_REPO", "https://github.com/someone/fork")
    assert bs.course_repo() == "https://github.com/someone/fork"
    monkeypatch.setenv("COURSE_REPO", "  ")  # an unset CI variable arrives empty
    assert bs.course_repo() == repo


def test_every_solution_notebook_installs_from_the_same_repository():
    default = bs.default_repo()
    for path in bs.lesson_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        found = {m.group(1) for c in nb.cells if c.cell_type == "code" for m in bs._REPO_RE.finditer(c.source)}
        assert found == {default}, f"{path.name}: set-up cell installs from {found}, the site links to {default}"


def test_a_notebook_without_the_set_up_cell_says_to_set_course_repo(tmp_path):
    (tmp_path / "solutions").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]),
                   str(tmp_path / "solutions" / "00_welcome.ipynb"))
    with pytest.raises(bs.SiteError, match="set COURSE_REPO"):
        bs.default_repo(tmp_path)


@pytest.mark.parametrize("repo", ["https://github.com/o/r", "https://github.com/o/r.git", "https://github.com/o/r/"])
def test_colab_and_binder_links_open_the_exercise_notebook(repo):
    links = bs.launch_links(repo, "main", "01_x.ipynb")
    assert links == {
        "colab": "https://colab.research.google.com/github/o/r/blob/main/course/01_x.ipynb",
        "binder": "https://mybinder.org/v2/gh/o/r/main?labpath=course%2F01_x.ipynb",
    }


def test_no_launch_links_for_a_repository_off_github():
    assert bs.launch_links("https://gitlab.com/o/r", "main", "01_x.ipynb") == {}
    assert bs.launch_links("/home/me/course", "main", "01_x.ipynb") == {}


# ------------------------------------------------------------------------------------------ widgets


def _state(model_name: str, **state) -> dict:
    return {"model_name": model_name, "model_module": "@jupyter-widgets/controls", "state": state}


def _view(model_id: str) -> dict:
    return nbformat.v4.new_output("display_data", data={
        bs.WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
        "text/plain": "VBox(...)"})


EXPLORER = {
    "box": _state("VBoxModel", children=["IPY_MODEL_title", "IPY_MODEL_row", "IPY_MODEL_out"], layout="IPY_MODEL_lay"),
    "lay": _state("LayoutModel"),
    "title": _state("HTMLModel", value="<b>Epsilon explorer</b>", style="IPY_MODEL_st"),
    "st": _state("HTMLStyleModel"),
    "row": _state("HBoxModel", children=["IPY_MODEL_eps", "IPY_MODEL_pick"]),
    "eps": _state("FloatSliderModel", value=0.1, style="IPY_MODEL_sst"),
    "sst": _state("SliderStyleModel"),
    "pick": _state("DropdownModel", options=["a", "b"]),
    "out": _state("OutputModel", outputs=[
        {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "eps = 0.1\n"}]),
}
PROGRESS = {
    "bar": _state("HBoxModel", children=["IPY_MODEL_left", "IPY_MODEL_p", "IPY_MODEL_right"]),
    "left": _state("HTMLModel", value="train localiser (seed 0):\u2007100%"),
    "p": _state("FloatProgressModel", value=400.0, max=400.0),
    "right": _state("HTMLModel", value="\u2007400/400\u2007[00:05&lt;00:00]"),
}


def test_an_interactive_widget_becomes_a_note_and_the_picture_it_showed():
    outs = bs.static_widget_outputs(_view("box"), EXPLORER)
    note = outs[0].data["text/html"]
    assert "widget-interactive" in note and "Epsilon explorer" in note
    assert "slider" in note and "dropdown" in note and "style" not in note.split("(")[1].split(")")[0]
    assert "make lab" in note and "starting settings" in note
    assert [o.output_type for o in outs[1:]] == ["display_data", "stream"]
    assert outs[1].data["image/png"] == "iVBORw0KGgo="
    assert all(bs.WIDGET_VIEW not in o.get("data", {}) for o in outs)
    nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=outs)]))


def test_a_progress_bar_becomes_one_line():
    (out,) = bs.static_widget_outputs(_view("bar"), PROGRESS)
    note = out.data["text/html"]
    assert "widget-progress" in note and "train localiser (seed 0)</strong>: 400/400" in note


def test_a_widget_missing_from_the_saved_state_still_gets_a_note():
    (out,) = bs.static_widget_outputs(_view("nope"), EXPLORER)
    assert "widget-missing" in out.data["text/html"] and "make lab" in out.data["text/html"]


def test_a_display_only_widget_shows_its_text():
    (out,) = bs.static_widget_outputs(_view("t"), {"t": _state("HTMLModel", value="<i>hello</i> &amp; bye")})
    assert "widget-display" in out.data["text/html"] and "hello &amp; bye" in out.data["text/html"]


# ------------------------------------------------------------------------------------------ pages


def test_a_lesson_page_marks_exercises_folds_solutions_and_has_the_links():
    before = WELCOME.read_bytes()
    nb, page = bs.site_notebook(WELCOME, "https://github.com/o/r", "main", has_course=True)
    assert WELCOME.read_bytes() == before  # the solution notebook is not modified
    src = nbformat.read(str(WELCOME), as_version=4)
    n_ex = sum(bs._is_exercise(c) for c in src.cells)
    assert n_ex >= 1 and page.exercises == n_ex
    for i, cell in enumerate(nb.cells):
        if bs._is_exercise(cell):
            assert {"exercise", "hide-input"} <= set(cell.metadata["tags"])
            note = nb.cells[i - 1]
            assert note.cell_type == "markdown" and "exercise-note" in note.source
            assert 'href="../notebooks/course/00_welcome.ipynb"' in note.source
    first = nb.cells[0].source
    assert first.splitlines()[0] == src.cells[0].source.splitlines()[0]  # the title stays first
    bar = first.splitlines()[2]
    assert bar.startswith('<div class="lesson-links">')
    for href in ("../notebooks/solutions/00_welcome.ipynb", "../notebooks/course/00_welcome.ipynb",
                 "https://colab.research.google.com/github/o/r/blob/main/course/00_welcome.ipynb",
                 "https://mybinder.org/v2/gh/o/r/main?labpath=course%2F00_welcome.ipynb"):
        assert f'href="{href}"' in bar
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert all(bs.WIDGET_VIEW not in o.get("data", {}) for o in outputs)
    assert page.widgets == sum(bs.WIDGET_VIEW in o.get("data", {}) for c in src.cells if c.cell_type == "code"
                               for o in c.outputs)
    assert "widgets" not in nb.metadata
    assert page.has_math and page.images >= 1
    nbformat.validate(nb)


def test_without_a_learner_notebook_no_link_points_to_it():
    nb, _ = bs.site_notebook(WELCOME, "https://gitlab.com/o/r", "main", has_course=False)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "notebooks/course/" not in text and "colab" not in text and "mybinder" not in text
    assert "notebooks/solutions/00_welcome.ipynb" in text


def _page(name: str, title: str) -> bs.Page:
    return bs.Page(ROOT / "solutions" / name, title, True, 1, 1, 0)


def test_the_lesson_table_follows_the_course_map_and_adds_new_notebooks():
    pages = [_page(lesson.notebook, lesson.title) for lesson in LESSONS[1:]] + [_page("99_new.ipynb", "99 · New")]
    table = bs.lesson_table(pages).splitlines()
    assert table[0] == "| # | lesson | time | built on |"
    rows = table[2:]
    assert len(rows) == len(LESSONS) + 1
    first = LESSONS[0]
    assert rows[0] == f"| {first.number} | {first.title} (coming soon) | {first.minutes} min | {first.papers} |"
    second = LESSONS[1]
    assert rows[1].startswith(f"| {second.number} | [{second.title}](lessons/{Path(second.notebook).stem}.ipynb) |")
    assert f"| {second.minutes} min | {second.papers} |" in rows[1]
    assert rows[-1] == "| 99 | [99 · New](lessons/99_new.ipynb) | - | - |"


def test_the_home_page_has_the_readme_introduction_and_the_two_commands():
    title, intro = bs.readme_intro()
    assert title and "Who it is for" in intro
    home = bs.home_page([_page(lesson.notebook, lesson.title) for lesson in LESSONS], "https://github.com/o/r")
    assert home.startswith(f"# {title}\n")
    assert "make lab" in home and "make test" in home and "git clone https://github.com/o/r && cd r" in home
    assert all(f"lessons/{Path(lesson.notebook).stem}" in home for lesson in LESSONS)


def test_mathjax_comes_from_the_pinned_package():
    mj = bs.mathjax_source()
    for part in bs.MATHJAX_PARTS:
        assert (mj / part).exists(), part
    assert 'VERSION="3.2.2"' in (mj / "tex-chtml.js").read_text(encoding="utf-8", errors="replace")


def test_the_output_folder_is_only_emptied_when_this_tool_built_it(tmp_path):
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(bs.SiteError, match="not a site this tool built"):
        bs._prepare_out(foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
    ours = tmp_path / "_site"
    ours.mkdir()
    (ours / bs.MARKER).write_text("")
    (ours / "stale.html").write_text("old")
    bs._prepare_out(ours)
    assert ours.is_dir() and not any(ours.iterdir())


def test_the_site_settings_file_is_what_the_sphinx_config_reads():
    conf = (ROOT / "website" / "conf.py").read_text()
    for key in ("title", "repo", "branch", "static", "extra"):
        assert f'SETTINGS["{key}"]' in conf
    assert 'nb_execution_mode = "off"' in conf and "nb_ipywidgets_js = {}" in conf
