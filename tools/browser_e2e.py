"""Run notebooks in a real JupyterLab in headless Chromium and exercise their widgets.

    python -m tools.browser_e2e                          # every solutions/*.ipynb, 2 at a time
    python -m tools.browser_e2e tests/tools/fixtures/widgets_fixture.ipynb --jobs 1

For each notebook this starts (once) a JupyterLab server from this project's environment on 127.0.0.1
with a token and a free port, opens a COPY of the notebook (outputs stripped; JupyterLab autosaves) in
Debian's Chromium driven by Playwright, runs all cells, waits until the kernel is idle and every cell has
run, then checks:

* no cell has an error output (read from the notebook as the browser saved it) and no traceback or
  "Error displaying widget" text is on the page;
* every control (slider, button, toggle, text box, dropdown, checkbox, ...) changes the displayed output
  when it is used the way a learner would (keyboard on sliders, clicks, typing, choosing an option):
  the text and image sources of every output outside the controls themselves are compared before and after;
* a screenshot of the whole notebook is saved under artifacts/browser/.

The server is stopped by its process id. Used by tests/test_browser.py (marker ``browser``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "browser"
LAUNCH_ARGS = [
    "--no-sandbox",  # needed as root; harmless otherwise for a local test page
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--mute-audio",
]
# A settings override: no news / update check (they would need the network and can cover the page).
OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}
# Ceilings for a hang, not budgets: a busy machine stretches every wait (notebooks took 3-6x their idle time with
# five busy processes on two cores), and a busy machine alone must not fail the test.
RUN_TIMEOUT_S = float(os.environ.get("BROWSER_E2E_TIMEOUT", "1200"))  # Run All, per notebook
WIDGET_TIMEOUT_S = float(os.environ.get("BROWSER_E2E_WIDGET_TIMEOUT", "60"))  # per widget action
JOBS = int(os.environ.get("BROWSER_E2E_JOBS", "2"))  # notebooks (pages, kernels) at a time
START_CHECK_S = 15.0  # Run All must have started a cell by then, else retry (cold server)


def project_python() -> Path:
    """The interpreter of this project's environment (.venv), else the one running us."""
    venv = ROOT / ".venv" / "bin" / "python"
    return venv if venv.exists() else Path(sys.executable)


def solution_notebooks() -> list[Path]:
    return sorted((ROOT / "solutions").glob("*.ipynb"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


Transform = Callable[[nbformat.NotebookNode], None]


def strip_copy(src: Path, dst: Path, transform: Transform | None = None) -> None:
    """Copy a notebook without outputs, execution counts or saved widget state (a fresh run must produce
    everything the test looks at); ``transform`` may then edit the copy (used to break a widget on purpose)."""
    nb = nbformat.read(str(src), as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    if transform is not None:
        transform(nb)
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dst))


def drop_lines(marker: str) -> Transform:
    """A transform that removes every code line containing ``marker``."""
    def transform(nb: nbformat.NotebookNode) -> None:
        hits = 0
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            lines = cell.source.splitlines()
            kept = [line for line in lines if marker not in line]
            hits += len(lines) - len(kept)
            cell.source = "\n".join(kept)
        if not hits:
            raise ValueError(f"no code line contains {marker!r}")
    return transform


def append_code(source: str) -> Transform:
    """A transform that appends a code cell."""
    def transform(nb: nbformat.NotebookNode) -> None:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    return transform


# --------------------------------------------------------------------------------------------- server


class LabServer:
    """JupyterLab from this project's environment, in a temporary root, with isolated settings.

    Use as a context manager; the server is stopped by its process id on exit (its process group, which
    holds the kernels it started, is ended too).
    """

    def __init__(self, python: Path | None = None, startup_timeout: float = 300.0):
        self.python = python or project_python()
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="browser-e2e-"))
        self.root = self.tmp / "root"
        self.log_path = self.tmp / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LabServer":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        app_settings = self.tmp / "app-settings"
        for d in (self.root, app_settings, self.tmp / "config", self.tmp / "user-settings",
                  self.tmp / "workspaces", self.tmp / "runtime"):
            d.mkdir(parents=True, exist_ok=True)
        (app_settings / "overrides.json").write_text(json.dumps(OVERRIDES, indent=2))
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.tmp / "config"),  # ignore ~/.jupyter
            JUPYTERLAB_SETTINGS_DIR=str(self.tmp / "user-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.tmp / "workspaces"),
            JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"),
            PYTHONUNBUFFERED="1",
            MPLBACKEND="module://matplotlib_inline.backend_inline",
        )
        env.pop("JUPYTER_PATH", None)
        last = ""
        for _attempt in range(3):  # a port can be taken between free_port() and bind: try another
            self.port = free_port()
            cmd = [
                str(self.python), "-m", "jupyterlab",
                "--no-browser", "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                f"--LabApp.app_settings_dir={app_settings}",
                "--ServerApp.terminals_enabled=False",
                "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                cmd.append("--allow-root")
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=3) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
                time.sleep(0.3)
            last = self.log_tail()
            self.stop_process()
        raise RuntimeError(f"JupyterLab did not start; last log lines:\n{last}")

    def api(self, path: str) -> object:
        with urllib.request.urlopen(f"{self.url}{path}?token={self.token}", timeout=10) as r:
            return json.loads(r.read())

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop_process(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        pid = proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # the server shuts its kernels down
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # our own session: the server and its kernels
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # any kernel left behind in the server's process group

    def stop(self) -> None:
        try:
            self.stop_process()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------- page JS

_SCROLLER = "'.jp-NotebookPanel .jp-WindowedPanel-outer'"

# Controls, in the order they are claimed (a control inside an already claimed one is skipped).
_ENUMERATE_JS = r"""
() => {
  const KINDS = [
    ['slider', '.widget-slider'],
    ['togglebuttons', '.widget-toggle-buttons'],
    ['radio', '.widget-radio'],
    ['dropdown', '.widget-dropdown'],
    ['select', '.widget-select'],
    ['textarea', '.widget-textarea'],
    ['text', '.widget-text'],
    ['checkbox', '.widget-checkbox'],
    ['togglebutton', 'button.widget-toggle-button'],
    ['button', 'button.widget-button'],
  ];
  const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell'));
  const found = [];
  let k = 0;
  cells.forEach((cell, ci) => {
    const outputs = cell.querySelector('.jp-Cell-outputWrapper');
    if (!outputs) return;
    const claimed = [];
    for (const [kind, sel] of KINDS) {
      for (const el of outputs.querySelectorAll(sel)) {
        if (claimed.some(c => c.contains(el) || el.contains(c))) continue;
        claimed.push(el);
        const id = 'w' + (k++);
        el.setAttribute('data-e2e', id);
        const lab = el.querySelector('.widget-label, label');
        const clean = (t) => (t || '').replace(/[\u200b\s]+/g, ' ').trim();
        const label = (clean(lab && lab.textContent) || clean(el.getAttribute('title')) || clean(el.textContent)).slice(0, 40);
        found.push({id, kind, cell: ci, label, el});
      }
    }
  });
  found.sort((a, b) => (a.el.compareDocumentPosition(b.el) & Node.DOCUMENT_POSITION_FOLLOWING) ? -1 : 1);
  return found.map(({el, ...rest}) => rest);
}
"""

# What a learner sees as output, per cell: the text and image sources of the output area with every
# control removed (a control's own readout changes when it is moved; that must not count).
_SIGNATURE_JS = r"""
() => {
  const CONTROLS = '.widget-slider, .widget-toggle-buttons, .widget-radio, .widget-dropdown, .widget-select,' +
    ' .widget-textarea, .widget-text, .widget-checkbox, button.widget-toggle-button, button.widget-button,' +
    ' .widget-play, .widget-readout';
  const hash = (s) => { let h = 2166136261 >>> 0; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619) >>> 0; } return h.toString(16) + ':' + s.length; };
  const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell'));
  return cells.map(cell => {
    const outputs = cell.querySelector('.jp-Cell-outputWrapper');
    if (!outputs) return '';
    const imgs = Array.from(outputs.querySelectorAll('img')).filter(i => !i.closest(CONTROLS)).map(i => i.getAttribute('src') || '');
    const bars = Array.from(outputs.querySelectorAll('.progress-bar')).map(b => b.getAttribute('style') || '');
    const clone = outputs.cloneNode(true);
    clone.querySelectorAll(CONTROLS).forEach(e => e.remove());
    return hash((clone.textContent || '') + '\u0000' + imgs.join('\u0001') + '\u0000' + bars.join('\u0001'));
  });
}
"""

_STATE_JS = r"""
() => {
  const ind = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
  const prompts = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')).map(p => p.textContent.trim());
  const text = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Cell-outputWrapper')).map(o => o.textContent).join('\n');
  return {
    status: ind ? ind.getAttribute('data-status') : null,
    prompts,
    widgetErrors: (text.match(/Error displaying widget[^\n]{0,120}/g) || []).slice(0, 5),
    tracebacks: (text.match(/Traceback \(most recent call last\)/g) || []).length,
  };
}
"""


# --------------------------------------------------------------------------------------------- reports


@dataclass
class WidgetResult:
    cell: int
    kind: str
    label: str
    action: str
    changed: bool
    detail: str = ""

    def __str__(self) -> str:
        mark = "ok  " if self.changed else "FAIL"
        return f"{mark} cell {self.cell} {self.kind} {self.label!r}: {self.action}{'; ' + self.detail if self.detail else ''}"


@dataclass
class NotebookReport:
    name: str
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    widgets: list[WidgetResult] = field(default_factory=list)
    screenshot: Path | None = None
    stdout: list[str] = field(default_factory=list)  # text outputs of the saved notebook
    notes: list[str] = field(default_factory=list)
    kernel: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and all(w.changed for w in self.widgets)

    def summary(self) -> str:
        lines = [f"{self.name}: {'ok' if self.ok else 'FAILED'} in {self.seconds:.0f} s (kernel {self.kernel or '?'}), "
                 f"{len(self.widgets)} control(s) exercised; screenshot: {self.screenshot}"]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  {w}" for w in self.widgets]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def saved_notebook_problems(path: Path) -> tuple[list[str], list[str]]:
    """Errors and unexecuted code cells in the notebook as the browser saved it; also its stream text."""
    nb = nbformat.read(str(path), as_version=4)
    problems, text = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        allowed = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        for out in cell.outputs:
            if out.output_type == "error" and not allowed:
                problems.append(f"cell {i} raised {out.ename}: {str(out.evalue)[:200]}")
            elif out.output_type == "stream":
                text.append(out.text)
        if cell.source.strip() and cell.execution_count is None:
            problems.append(f"cell {i} was not executed")
    return problems, text


# --------------------------------------------------------------------------------------------- driver


class Driver:
    def __init__(self, server: LabServer, browser, artifacts: Path = ARTIFACTS):
        self.server = server
        self.browser = browser
        self.artifacts = artifacts

    async def _dismiss_dialogs(self, page, report: NotebookReport) -> None:
        dialog = page.locator(".jp-Dialog")
        if not await dialog.count():
            return
        text = " ".join((await dialog.first.inner_text()).split())
        if "Select Kernel" in text:  # seen on a cold server; a learner would press Select
            report.notes.append("JupyterLab asked to select a kernel; accepted the preselected one")
            await dialog.locator(".jp-mod-accept").first.click()
        else:
            report.problems.append(f"unexpected dialog: {text[:200]}")
            await dialog.locator(".jp-mod-reject, .jp-mod-accept").first.click()

    async def _state(self, page) -> dict:
        return await page.evaluate(_STATE_JS)

    async def _menu(self, page, menu: str, item: str) -> None:
        await page.locator(".lm-MenuBar-item", has_text=menu).first.click()
        await page.locator(".lm-Menu-item:visible .lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()

    async def _wait_kernel(self, page, relpath: str, report: NotebookReport, timeout: float = 300.0) -> None:
        """Before Run All: the server has a session with a started kernel for this notebook and the page
        shows it idle (running cells before that makes JupyterLab ask for a kernel and run nothing)."""
        deadline = time.monotonic() + timeout
        stable = 0
        while time.monotonic() < deadline:
            await self._dismiss_dialogs(page, report)
            sessions = await asyncio.to_thread(self.server.api, "/api/sessions")
            kernel = next((s.get("kernel") or {} for s in sessions if s.get("path") == relpath), {})
            st = await self._state(page)
            ready = kernel.get("execution_state") == "idle" and st["status"] == "idle"
            stable = stable + 1 if ready else 0
            if stable >= 2:
                if not report.kernel:
                    report.kernel = kernel.get("name", "?")
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"no idle kernel for {relpath} after {timeout:.0f} s")

    async def _run_all(self, page, report: NotebookReport) -> None:
        if not (await self._state(page))["prompts"]:
            return  # no code cell
        for attempt in range(3):
            await self._dismiss_dialogs(page, report)
            await self._menu(page, "Run", "Run All Cells")
            deadline = time.monotonic() + START_CHECK_S
            while time.monotonic() < deadline:
                st = await self._state(page)
                if any(p not in ("", "[ ]:") for p in st["prompts"]):
                    return
                await self._dismiss_dialogs(page, report)
                await asyncio.sleep(0.5)
            report.notes.append(f"Run All started no cell within {START_CHECK_S:.0f} s (attempt {attempt + 1}); retrying")
        raise TimeoutError("Run All Cells started no cell after 3 attempts")

    async def _wait_done(self, page, report: NotebookReport, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        stable = 0
        while time.monotonic() < deadline:
            await self._dismiss_dialogs(page, report)
            st = await self._state(page)
            running = any("*" in p for p in st["prompts"])
            if st["status"] == "idle" and not running:
                stable += 1
                if stable >= 3:
                    return
            else:
                stable = 0
            await asyncio.sleep(1.0)
        st = await self._state(page)
        raise TimeoutError(f"cells still running after {timeout:.0f} s (kernel {st['status']}, "
                           f"{sum('*' in p for p in st['prompts'])} cell(s) pending)")

    async def _save(self, page) -> None:
        await self._menu(page, "File", "Save Notebook")
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-current")
        for _ in range(60):
            cls = await tab.first.get_attribute("class") or ""
            if "jp-mod-dirty" not in cls:
                return
            await asyncio.sleep(0.5)

    async def _signature(self, page) -> list[str]:
        return await page.evaluate(_SIGNATURE_JS)

    async def _wait_change(self, page, before: list[str], timeout: float) -> list[int]:
        """Cells whose displayed output differs from ``before``: wait until some change, or until the kernel
        has stayed idle for a while after the action (then nothing is coming), or the timeout."""
        start = time.monotonic()
        idle_since = None
        while True:
            await asyncio.sleep(0.25)
            now = await self._signature(page)
            changed = [i for i, (a, b) in enumerate(zip(before, now)) if a != b] + list(range(len(before), len(now)))
            st = await self._state(page)
            if changed:
                # let the update settle (a redraw may clear first), so the next baseline is stable; only a
                # change that is still there afterwards counts (not a clear followed by the same output)
                for _ in range(40):
                    await asyncio.sleep(0.25)
                    st = await self._state(page)
                    again = await self._signature(page)
                    if st["status"] == "idle" and again == now:
                        break
                    now = again
                changed = [i for i, (a, b) in enumerate(zip(before, now)) if a != b] + list(range(len(before), len(now)))
                if changed:
                    return changed
            elapsed = time.monotonic() - start
            if st["status"] == "idle":
                idle_since = idle_since or time.monotonic()
                if elapsed > 6.0 and time.monotonic() - idle_since > 4.0:
                    return []
            else:
                idle_since = None
            if elapsed > timeout:
                return []

    async def _exercise(self, page, w: dict) -> WidgetResult:
        loc = page.locator(f'[data-e2e="{w["id"]}"]')
        kind = w["kind"]
        res = WidgetResult(w["cell"], kind, w["label"], "", False)
        disabled = await loc.evaluate(
            "el => el.matches(':disabled') || !!el.querySelector(':disabled, [disabled]')")
        if disabled:  # e.g. a game's answer buttons once the game is over
            res.action, res.changed, res.detail = "skipped", True, "disabled"
            return res
        await loc.scroll_into_view_if_needed(timeout=10_000)
        before = await self._signature(page)
        attempts = []  # (description, coroutine factory)
        if kind == "slider":
            handle = loc.locator(".noUi-handle").first
            readout = loc.locator(".widget-readout")
            read = (lambda: readout.first.inner_text()) if await readout.count() else (lambda: asyncio.sleep(0, ""))
            v0 = await read()
            await handle.focus()
            await handle.press("ArrowRight")
            await asyncio.sleep(0.3)
            key, back = "ArrowRight", False
            if await read() == v0 and v0:
                await handle.press("ArrowLeft")
                key, back = "ArrowLeft", True
            v1 = await read()
            res.action = f"moved {v0!r} -> {v1!r} with {key}"
            big = "PageDown" if back else "PageUp"

            async def more():
                await handle.focus()
                await handle.press(big)
                return f"then {big} -> {await read()!r}"
            attempts.append(more)
        elif kind in ("button", "togglebutton"):
            await loc.click()
            res.action = "clicked"

            async def again():
                await loc.click()
                return "clicked again"
            attempts.append(again)
        elif kind == "togglebuttons":
            target = loc.locator("button:not(.mod-active)").first
            name = (await target.inner_text()).strip()
            await target.click()
            res.action = f"chose {name!r}"
        elif kind == "radio":
            target = loc.locator("input[type=radio]:not(:checked)").first
            await target.check()
            res.action = "chose another option"
        elif kind in ("dropdown", "select"):
            sel = loc.locator("select").first
            n = await sel.locator("option").count()
            cur = await sel.evaluate("s => s.selectedIndex")
            idx = (max(cur, 0) + 1) % max(n, 1)
            label = await sel.locator("option").nth(idx).inner_text()
            await sel.select_option(index=idx)
            res.action = f"chose {label.strip()!r}"
        elif kind == "checkbox":
            await loc.locator("input[type=checkbox]").first.click()
            res.action = "toggled"
        elif kind in ("text", "textarea"):
            box = loc.locator("textarea, input").first
            typ = (await box.get_attribute("type")) or "text"
            await box.click()
            if typ == "number":
                await box.press("ArrowUp")
                await box.press("Enter")
                res.action = "stepped up with ArrowUp, Enter"
            else:
                await box.press("Control+End" if kind == "textarea" else "End")
                await box.press_sequentially(" ok", delay=30)
                if kind == "text":
                    await box.press("Enter")
                await box.blur()
                res.action = "typed ' ok'"
        else:  # pragma: no cover - KINDS and this switch are kept in step
            res.action, res.changed, res.detail = "skipped", True, f"unknown kind {kind}"
            return res
        changed = await self._wait_change(page, before, WIDGET_TIMEOUT_S)
        for more in attempts:
            if changed:
                break
            res.action += "; " + await more()
            changed = await self._wait_change(page, before, WIDGET_TIMEOUT_S)
        res.changed = bool(changed)
        res.detail = (f"output changed in cell(s) {changed}" if changed
                      else "no displayed output changed (is the widget's callback wired?)")
        return res

    async def _screenshot(self, page, report: NotebookReport, max_height: int = 16000) -> None:
        """The whole notebook in one image (a tall viewport); a notebook taller than ``max_height`` is shown
        from a little above its first widget (or from the top when it has none)."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{Path(report.name).stem}.png"
        with contextlib.suppress(Exception):
            height = await page.evaluate("() => { const s = document.querySelector(" + _SCROLLER + ");"
                                         " return s ? s.scrollHeight : 0; }")
            if height:
                await page.set_viewport_size({"width": 1280, "height": int(min(max(900, height + 200), max_height))})
                first = min((w.cell for w in report.widgets), default=None)
                top = 0
                if height + 200 > max_height and first is not None:
                    top = await page.evaluate(
                        "(i) => { const s = document.querySelector(" + _SCROLLER + ");"
                        " const c = document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')[i];"
                        " return c ? c.getBoundingClientRect().top - s.getBoundingClientRect().top + s.scrollTop - 400 : 0; }",
                        first)
                    report.notes.append(f"screenshot starts above cell {first} (the notebook is taller than {max_height} px)")
                await page.evaluate("(t) => { const s = document.querySelector(" + _SCROLLER + "); if (s) s.scrollTop = t; }",
                                    max(0, int(top)))
                await asyncio.sleep(1.5)
        await page.screenshot(path=str(path))
        report.screenshot = path

    async def run_notebook(self, relpath: str, timeout: float = RUN_TIMEOUT_S) -> NotebookReport:
        report = NotebookReport(relpath)
        start = time.monotonic()
        ctx = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        page = await ctx.new_page()
        page.set_default_timeout(30_000)
        console_errors = []
        page.on("pageerror", lambda err: console_errors.append(str(err)[:200]))
        try:
            ws = re.sub(r"[^A-Za-z0-9]", "-", relpath)  # own workspace: parallel pages must not share tabs
            await page.goto(f"{self.server.url}/lab/workspaces/e2e-{ws}/tree/{relpath}?reset&token={self.server.token}",
                            wait_until="domcontentloaded")
            await page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=300_000)
            await self._wait_kernel(page, relpath, report)
            await self._run_all(page, report)
            await self._wait_done(page, report, timeout)
            await self._save(page)
            problems, report.stdout = saved_notebook_problems(self.server.root / relpath)
            report.problems += problems
            st = await self._state(page)
            report.problems += [f"on the page: {e}" for e in st["widgetErrors"]]
            if st["tracebacks"] and not problems:
                report.problems.append("a traceback is shown on the page")
            if not problems:
                controls = await page.evaluate(_ENUMERATE_JS)
                # value controls first, then buttons (a 'reset' button changes nothing before a value moved)
                controls.sort(key=lambda w: (w["cell"], w["kind"] in ("button", "togglebutton")))
                for w in controls:
                    try:
                        report.widgets.append(await self._exercise(page, w))
                    except Exception as err:  # a control that cannot be operated is a failure, not a crash
                        report.widgets.append(WidgetResult(w["cell"], w["kind"], w["label"], "could not operate",
                                                           False, f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"))
                st = await self._state(page)
                report.problems += [f"after using the widgets: {e}" for e in st["widgetErrors"]]
                if st["tracebacks"]:
                    report.problems.append("a traceback is shown on the page after using the widgets")
        except Exception as err:
            report.problems.append(f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}")
        finally:
            try:
                await self._screenshot(page, report)
            except Exception as err:
                report.notes.append(f"no screenshot: {err}")
            if console_errors:
                report.notes.append(f"page errors: {console_errors[:3]}")
            await ctx.close()
            report.seconds = time.monotonic() - start
        return report


async def run_many(server: LabServer, relpaths: list[str], jobs: int = 2, artifacts: Path = ARTIFACTS,
                   timeout: float = RUN_TIMEOUT_S) -> list[NotebookReport]:
    """Run notebooks already copied under ``server.root``, ``jobs`` pages at a time, one browser."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            driver = Driver(server, browser, artifacts)
            sem = asyncio.Semaphore(max(1, jobs))

            async def one(rel: str) -> NotebookReport:
                async with sem:
                    return await driver.run_notebook(rel, timeout)
            return list(await asyncio.gather(*(one(r) for r in relpaths)))
        finally:
            await browser.close()


def longest_first(relpaths: list[str], artifacts: Path = ARTIFACTS) -> list[str]:
    """Order for the fewest seconds in all: notebooks by their last measured time, longest first (a short
    one left for the end fills the gap while the other page finishes); unmeasured ones first, in order."""
    try:
        last = json.loads((artifacts / "timings.json").read_text())
    except (OSError, ValueError):
        last = {}
    return sorted(relpaths, key=lambda r: -float(last.get(r, float("inf"))))


def save_timings(reports: list[NotebookReport], artifacts: Path = ARTIFACTS) -> None:
    path = artifacts / "timings.json"
    with contextlib.suppress(OSError, ValueError):
        old = json.loads(path.read_text()) if path.exists() else {}
        old.update({r.name: round(r.seconds, 1) for r in reports if r.ok or r.widgets})
        artifacts.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(old, indent=1, sort_keys=True))


def run_notebooks(sources: dict[str, tuple[Path, Transform | None]], jobs: int = 2, artifacts: Path = ARTIFACTS,
                  timeout: float = RUN_TIMEOUT_S) -> tuple[list[NotebookReport], float]:
    """Start a server, copy each source to its path under the server root (outputs stripped, then the
    optional transform), run them all ``jobs`` at a time; stop the server; return the reports and wall time."""
    t0 = time.monotonic()
    server = LabServer()
    try:
        server.start()
        for rel, (src, transform) in sources.items():
            strip_copy(src, server.root / rel, transform)
        reports = asyncio.run(run_many(server, longest_first(list(sources), artifacts), jobs, artifacts, timeout))
        save_timings(reports, artifacts)
        if not all(r.ok for r in reports):  # server warnings and errors help to tell why
            noise = ("is not trusted", "websocket_ping_timeout")
            bad = [line for line in server.log_tail(400).splitlines()
                   if line.startswith(("[W", "[E", "[C")) and not any(n in line for n in noise)]
            for r in reports:
                if not r.ok and bad:
                    r.notes.append("server log (warnings/errors, last 8):\n    " + "\n    ".join(bad[-8:]))
    finally:
        server.stop()  # by its process id
    return reports, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run notebooks in JupyterLab in headless Chromium; use their widgets.")
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: solutions/*.ipynb")
    ap.add_argument("--jobs", type=int, default=JOBS, help=f"notebooks at a time (default {JOBS})")
    ap.add_argument("--drop-lines-with", default=None, help="remove source lines containing this text (to break a widget)")
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: run `bash tools/ensure_browser.sh` (as root) first", file=sys.stderr)
        return 2
    paths = [p.resolve() for p in args.notebooks] or solution_notebooks()
    sources = {}
    for p in paths:
        try:
            rel = p.relative_to(ROOT).as_posix()
        except ValueError:
            rel = p.name
        sources[rel] = (p, drop_lines(args.drop_lines_with) if args.drop_lines_with else None)
    reports, wall = run_notebooks(sources, args.jobs)
    for r in reports:
        print(r.summary())
    print(f"{len(reports)} notebook(s) in {wall:.0f} s wall; screenshots in {ARTIFACTS}")
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
