# ML Safety, hands-on: set-up, lab, tests. Everything runs inside .venv, created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=
# Your own copies of the exercise notebooks (git-ignored; see tools/workspace.py). Nothing but `make lab` (which
# only adds lessons you do not have yet) and `make restart-lesson` (which keeps your old copy) writes there.
WORKSPACE ?= workspace
PYTEST_ARGS ?=
# The test suite pins every notebook to the CPU and one thread so numbers repeat across machines.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 COURSE_DEVICE=cpu PYTHONHASHSEED=0

.PHONY: setup lab restart-lesson test test-fast test-browser execute bench course course-check clean

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) and installing the course (about a minute) =="
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,site]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the course package with its pinned dependencies

lab: setup ## set up, copy new lessons into workspace/ (never overwriting), open it in JupyterLab (LAB_ARGS=--no-browser when headless)
	$(PY) -m tools.workspace sync --workspace $(WORKSPACE)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(WORKSPACE) $(ROOT_FLAG) $(LAB_ARGS)

restart-lesson: setup ## a fresh copy of one lesson in workspace/, your old copy kept under a new name: make restart-lesson LESSON=03
	@test -n "$(LESSON)" || { echo "usage: make restart-lesson LESSON=03"; exit 2; }
	$(PY) -m tools.workspace fresh $(LESSON) --workspace $(WORKSPACE)

test: setup ## the whole suite: unit tests, every notebook (solutions and course), the browser test
	@bash tools/ensure_browser.sh
	$(TEST_ENV) $(PY) -m pytest -n 2 --dist loadfile -m "not browser" --nbval-lax --nbval-current-env --nbval-kernel-startup-timeout=300 tests solutions $(PYTEST_ARGS)
	$(TEST_ENV) $(PY) -m pytest -m browser tests $(PYTEST_ARGS)

test-fast: setup ## unit tests only (no notebooks, no browser)
	$(TEST_ENV) $(PY) -m pytest -n 2 -m "not browser and not slow" tests $(PYTEST_ARGS)

test-browser: setup ## only the JupyterLab-in-Chromium test
	@bash tools/ensure_browser.sh
	$(TEST_ENV) $(PY) -m pytest -m browser tests $(PYTEST_ARGS)

execute: setup ## run every solution notebook headless and print wall and CPU time per notebook
	$(TEST_ENV) $(PY) -m tools.execute

bench: setup ## run each notebook alone; table of wall and CPU seconds + the fixed kernel cost (BENCH_ARGS=--compete 1)
	$(TEST_ENV) $(PY) -m tools.bench $(BENCH_ARGS)

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
