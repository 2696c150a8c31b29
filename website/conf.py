"""Sphinx configuration of the course website. Run through `make site` (python -m tools.build_site), which
lays out the sources and sets COURSE_SITE_STAGE; see that tool's docstring."""

import json
import os
from pathlib import Path

try:
    STAGE = Path(os.environ["COURSE_SITE_STAGE"])
except KeyError:
    raise RuntimeError("build the site with `make site` (python -m tools.build_site), not sphinx-build alone") from None
SETTINGS = json.loads((STAGE / "site.json").read_text(encoding="utf-8"))

project = SETTINGS["title"]
author = "the course authors"
copyright = "the course authors, MIT licence"

extensions = ["myst_nb"]
exclude_patterns = ["**.ipynb_checkpoints"]

# MyST: JupyterLab's markdown (dollar math, LaTeX environments, bare URLs become links).
myst_enable_extensions = ["dollarmath", "amsmath", "linkify"]
myst_heading_anchors = 3
# Warnings fail the build (broken references); skipped heading levels are fine in a notebook (JupyterLab too).
suppress_warnings = ["myst.header"]

# MyST-NB: render the stored outputs, never execute; no widget JavaScript (it would come from a CDN; the
# build replaces widget outputs with a static note).
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_merge_streams = True
nb_code_prompt_show = "Show the solution"
nb_code_prompt_hide = "Hide the solution"

# MathJax 3.2.2 from the site itself (copied there by tools/build_site.py), never from a CDN.
mathjax_path = "mathjax/tex-chtml.js"
mathjax3_config = {"chtml": {"matchFontHeight": True}}

html_theme = "sphinx_book_theme"
html_title = project
html_context = {"default_mode": "light"}  # unset, the theme logs "Got invalid theme mode" on a first visit
html_static_path = ["_static", SETTINGS["static"]]
html_extra_path = [SETTINGS["extra"]]
html_css_files = ["course.css"]
html_copy_source = False
html_show_search_summary = False  # summaries fetch each page, which file:// forbids (console errors)
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": SETTINGS["repo"],
    "repository_branch": SETTINGS["branch"],
    "use_repository_button": True,
    "use_download_button": False,  # the page's own links download the real notebooks
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
