# ML Safety, hands-on: set-up, lab, tests. Everything runs inside .venv, created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=
PYTEST_ARGS ?=
# The test suite pins every notebook to the CPU and one thread so numbers repeat across machines.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 COURSE_DEVICE=cpu PYTHONHASHSEED=0

.PHONY: setup lab test test-fast test-browser execute course course-check clean

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) and installing the course (about a minute) =="
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,site]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the course package with its pinned dependencies

lab: setup ## set up, then open the course in JupyterLab (add LAB_ARGS=--no-browser on a headless machine)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=course $(ROOT_FLAG) $(LAB_ARGS)

test: setup ## the whole suite: unit tests, every notebook (solutions and course), the browser test
	@bash tools/ensure_browser.sh
	$(TEST_ENV) $(PY) -m pytest -n 2 --dist loadfile -m "not browser" --nbval-lax --nbval-current-env tests solutions $(PYTEST_ARGS)
	$(TEST_ENV) $(PY) -m pytest -m browser tests $(PYTEST_ARGS)

test-fast: setup ## unit tests only (no notebooks, no browser)
	$(TEST_ENV) $(PY) -m pytest -n 2 -m "not browser and not slow" tests $(PYTEST_ARGS)

test-browser: setup ## only the JupyterLab-in-Chromium test
	@bash tools/ensure_browser.sh
	$(TEST_ENV) $(PY) -m pytest -m browser tests $(PYTEST_ARGS)

execute: setup ## run every solution notebook headless and print wall time per notebook
	$(TEST_ENV) $(PY) -m tools.execute

course: setup ## regenerate course/ from solutions/
	$(PY) -m tools.build_course

course-check: setup ## fail if course/ differs from a fresh build
	$(PY) -m tools.build_course --check

.PHONY: site test-site
site: setup ## build the course website into _site/ from the committed notebooks (executes none); open _site/index.html
	$(PY) -m tools.build_site

test-site: setup ## only the website tests: build, links, every page in headless Chromium (local server and file://)
	@bash tools/ensure_browser.sh
	$(TEST_ENV) $(PY) -m pytest -m site tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) artifacts .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
