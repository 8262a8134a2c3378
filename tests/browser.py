"""Drive a notebook in real JupyterLab with headless Chromium (shared by the ``test_browser_*.py`` tests).

``lab_page("02_piggyback.ipynb")`` copies ``notebooks/`` to a temporary folder (JupyterLab's
autosave never writes outputs into the repository), starts ``jupyter lab`` on 127.0.0.1 with a
random token at smoke scale, opens the notebook in Debian's Chromium through the ``playwright``
package, runs every cell, waits until the kernel is done, fails (with a screenshot) if a cell
raised, and yields the playwright ``Page``. On exit the browser, the server and its kernels are
always stopped.

Typical test::

    @pytest.mark.browser
    def test_my_widget():
        require_browser()
        with lab_page("02_piggyback.ipynb") as page:
            before = wait_for_plotly_title(page, r"^Task 0")
            press_slider(page, "task", "ArrowRight")
            wait_for_plotly_title(page, r"^Task 1")
            assert_no_errors(page)

Chromium comes from Debian (``apt-get install -y chromium``, ``/usr/bin/chromium``); playwright's
own browser download is not used. Set ``CLTK_CHROMIUM`` to use another Chromium binary,
``CLTK_REQUIRE_BROWSER=1`` to turn "Chromium missing" from a skip into a failure (CI does), and
``CLTK_BROWSER_ARTIFACTS`` to choose where failure screenshots go (default: the temp directory).
"""

from __future__ import annotations

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
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
CHROMIUM = os.environ.get("CLTK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 1000}
TRACEBACK_MARKER = "Traceback (most recent call last)"

# JupyterLab user settings for the throw-away server: no news/update pop-ups (they would cover
# the notebook and fetch from the internet), no autosave, no "open in a new tab" prompts.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

# One JavaScript probe reads the state of the notebook from JupyterLab itself
# (window.jupyterapp, exposed with --LabApp.expose_app_in_browser).
_STATE_JS = """() => {
  const app = window.jupyterapp;
  if (!app) return {ready: false, why: 'window.jupyterapp is not there yet'};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) {
    return {ready: false, why: 'no notebook is open yet'};
  }
  const session = panel.sessionContext.session;
  const kernel = session ? session.kernel : null;
  const cells = [];
  const model = panel.content.model;
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    const info = {type: cell.type, source: cell.sharedModel.getSource(), count: null, running: false, errors: []};
    if (cell.type === 'code') {
      info.count = cell.executionCount;
      info.running = cell.executionState === 'running';
      for (let j = 0; j < cell.outputs.length; j++) {
        const out = cell.outputs.get(j).toJSON();
        if (out.output_type === 'error') {
          info.errors.push({ename: out.ename, evalue: out.evalue, traceback: (out.traceback || []).join('\\n')});
        }
      }
    }
    cells.push(info);
  }
  const busyPrompts = Array.from(panel.node.querySelectorAll('.jp-InputPrompt'))
    .filter((p) => p.textContent.includes('[*]')).length;
  return {
    ready: panel.context.isReady && panel.sessionContext.isReady,
    kernel: kernel ? kernel.status : null,
    kernelName: kernel ? kernel.name : null,
    busyPrompts: busyPrompts,
    cells: cells,
  };
}"""

_DOM_ERRORS_JS = """() => {
  const found = [];
  for (const el of document.querySelectorAll('.jp-OutputArea-output')) {
    const text = el.innerText || '';
    const mime = el.getAttribute('data-mime-type') || '';
    if (text.includes('Error displaying widget') || text.includes('Error rendering')) {
      found.push(text.slice(0, 500));
    } else if (mime === 'application/vnd.jupyter.stderr' && text.includes('Traceback (most recent call last)')) {
      found.push(text.slice(-1500));
    }
  }
  return found;
}"""


_SCROLL_TO_CELL_JS = """(index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cell = panel && panel.content ? panel.content.widgets[index] : null;
  if (cell) { panel.content.activeCellIndex = index; cell.node.scrollIntoView({block: 'center'}); }
}"""


class LabError(AssertionError):
    """The notebook failed in the browser (the message says where; a screenshot is saved)."""


def browser_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (install it: apt-get install -y chromium, or set CLTK_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    return None


def require_browser() -> None:
    """Skip the calling test when Chromium or playwright is missing; fail instead if CLTK_REQUIRE_BROWSER=1."""
    reason = browser_missing_reason()
    if reason is None:
        return
    if os.environ.get("CLTK_REQUIRE_BROWSER", "") not in ("", "0"):
        pytest.fail(f"CLTK_REQUIRE_BROWSER is set but the browser test cannot run: {reason}")
    pytest.skip(f"browser test skipped: {reason}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _artifact_path(notebook: str, what: str) -> Path:
    root = Path(os.environ.get("CLTK_BROWSER_ARTIFACTS") or tempfile.gettempdir()) / "cltk-browser"
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{Path(notebook).stem}-{what}-{time.strftime('%Y%m%d-%H%M%S')}.png"


def screenshot(page, notebook: str, what: str = "failure") -> str:
    """Save a full-page screenshot and return its path (or why it could not be taken)."""
    path = _artifact_path(notebook, what)
    try:
        page.screenshot(path=str(path), full_page=True, timeout=15_000)
    except Exception as exc:  # the page may be gone; the message still matters more
        return f"(no screenshot: {exc.__class__.__name__}: {exc})"
    return str(path)


# Browser-side errors (uncaught exceptions, console.error) of each open page, for failure messages.
_PAGE_ERRORS: dict[int, list[str]] = {}


def _record_page_errors(page) -> None:
    errors = _PAGE_ERRORS.setdefault(id(page), [])

    def remember(text: str) -> None:
        if len(errors) < 20:
            errors.append(text[:500])

    page.on("pageerror", lambda exc: remember(f"uncaught: {exc}"))
    page.on("console", lambda msg: remember(f"console.error: {msg.text}") if msg.type == "error" else None)


def fail(page, notebook: str, message: str) -> None:
    """Raise :class:`LabError` with ``message``, the browser's own errors and a screenshot path."""
    browser_errors = _PAGE_ERRORS.get(id(page)) or []
    extra = "\nbrowser errors:\n  " + "\n  ".join(browser_errors) if browser_errors else ""
    raise LabError(f"{notebook}: {message}{extra}\nscreenshot: {screenshot(page, notebook)}")


class _LabServer:
    """``jupyter lab`` in its own process group, with throw-away config, settings and runtime dirs."""

    def __init__(self, root_dir: Path, work_dir: Path, env_overrides: dict[str, str]):
        self.port = _free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.work_dir = work_dir
        self.log_path = work_dir / "jupyter-lab.log"
        env = dict(os.environ)
        for name in ("config", "settings", "workspaces", "runtime", "ipython", "cache", "data"):
            (work_dir / name).mkdir()
        env.update(
            {
                "JUPYTER_CONFIG_DIR": str(work_dir / "config"),
                "JUPYTERLAB_SETTINGS_DIR": str(work_dir / "settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(work_dir / "workspaces"),
                "JUPYTER_RUNTIME_DIR": str(work_dir / "runtime"),
                "IPYTHONDIR": str(work_dir / "ipython"),
                "JUPYTER_PLATFORM_DIRS": "1",
                "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
                "CLTK_SCALE": os.environ.get("CLTK_TEST_SCALE") or "smoke",  # as tests/conftest.py
                "OMP_NUM_THREADS": "1",
            }
        )
        env.setdefault("CLTK_CACHE", str(work_dir / "cache"))
        env.setdefault("CLTK_DATA", str(work_dir / "data"))
        env.pop("MPLBACKEND", None)
        env.update(env_overrides)
        for rel, values in LAB_SETTINGS.items():
            target = work_dir / "settings" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI machines often run as root
            command.append("--allow-root")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            command,
            cwd=root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _request(self, path: str, method: str = "GET", timeout: float = 5.0) -> bytes:
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def wait_until_up(self, deadline: float) -> None:
        while True:
            if self.process.poll() is not None:
                raise LabError(f"jupyter lab exited with code {self.process.returncode}:\n{_tail(self.log_path)}")
            with suppress(OSError, urllib.error.URLError):
                self._request("/api/status", timeout=2.0)
                return
            if time.monotonic() > deadline:
                raise LabError(f"jupyter lab did not answer on {self.url} in time:\n{_tail(self.log_path)}")
            time.sleep(0.25)

    def stop(self) -> None:
        """Shut the server and its kernels down, then make sure nothing we started survives."""
        if self.process.poll() is None:
            with suppress(OSError, urllib.error.URLError):
                self._request("/api/shutdown", method="POST", timeout=5.0)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        # Kernels run in sessions of their own; they and Chromium carry our unique work_dir in their
        # command lines (connection file, profile directory), which identifies exactly what we started.
        _kill_processes_mentioning(str(self.work_dir))
        self._log.close()


def _kill_processes_mentioning(marker: str) -> None:
    own = os.getpid()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) == own or marker.encode() not in (proc / "cmdline").read_bytes():
                continue
            os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _notebook_name(notebook_relpath: str) -> str:
    name = notebook_relpath.replace("\\", "/")
    return name[len("notebooks/") :] if name.startswith("notebooks/") else name


def _dismiss_dialogs(page) -> None:
    """Accept any modal dialog (e.g. kernel selection) and close toast notifications."""
    for button in page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").all():
        with suppress(Exception):
            button.click(timeout=2_000)
    for button in page.locator(".jp-Notification-Toast-Close, .Toastify__close-button").all():
        with suppress(Exception):
            button.click(timeout=1_000)


def _first_error_cell(state: dict) -> int | None:
    return next((index for index, cell in enumerate(state.get("cells", [])) if cell["errors"]), None)


def _show_cell(page, index: int | None) -> None:
    """Scroll cell ``index`` into view, so that the failure screenshot shows it."""
    if index is not None:
        with suppress(Exception):
            page.evaluate(_SCROLL_TO_CELL_JS, index)
            page.wait_for_timeout(300)


def _describe_errors(state: dict) -> str:
    parts = []
    for index, cell in enumerate(state["cells"]):
        for error in cell["errors"]:
            traceback = re.sub(r"\x1b\[[0-9;]*m", "", error["traceback"])
            source = "\n    ".join(cell["source"].splitlines()[:8])
            parts.append(
                f"cell {index} raised {error['ename']}: {error['evalue']}\n  source:\n    {source}\n"
                f"  traceback (end):\n{traceback[-2500:]}"
            )
    return "\n".join(parts)


def notebook_state(page) -> dict:
    """Kernel status and, per cell, execution count, running flag and error outputs (from JupyterLab's model)."""
    return page.evaluate(_STATE_JS)


def assert_no_errors(page, notebook: str = "notebook") -> None:
    """Fail if any cell shows an error output, a printed traceback or a widget that could not be displayed."""
    state = notebook_state(page)
    described = _describe_errors(state) if state.get("cells") else ""
    if described:
        _show_cell(page, _first_error_cell(state))
        fail(page, notebook, "a cell raised an error:\n" + described)
    dom_errors = page.evaluate(_DOM_ERRORS_JS)
    if dom_errors:
        fail(page, notebook, "error output on the page:\n" + "\n---\n".join(dom_errors))


def run_all_and_wait(page, notebook: str, deadline: float) -> dict:
    """Run every cell (JupyterLab's Run > Run All Cells command) and wait until the kernel is done."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    stable = 0
    state: dict = {}
    while True:
        _dismiss_dialogs(page)
        state = notebook_state(page)
        if any(cell["errors"] for cell in state["cells"]):
            # Run All stops at the first error; let the kernel settle, then report it.
            page.wait_for_timeout(500)
            state = notebook_state(page)
            _show_cell(page, _first_error_cell(state))
            fail(page, notebook, "a cell raised an error:\n" + _describe_errors(state))
        if state["kernel"] in ("dead", "autorestarting"):
            fail(page, notebook, f"the kernel died during Run All (status {state['kernel']}; out of memory?)")
        pending = [
            index
            for index, cell in enumerate(state["cells"])
            if cell["type"] == "code" and cell["source"].strip() and (cell["count"] is None or cell["running"])
        ]
        done = state["kernel"] == "idle" and not pending and state["busyPrompts"] == 0
        stable = stable + 1 if done else 0
        if stable >= 2:
            return state
        if time.monotonic() > deadline:
            _show_cell(page, pending[0] if pending else None)
            where = f"cell {pending[0]}:\n    " + state["cells"][pending[0]]["source"][:400] if pending else "-"
            fail(
                page,
                notebook,
                f"Run All did not finish in time (kernel {state['kernel']}; first unfinished {where})",
            )
        page.wait_for_timeout(500)


@contextmanager
def lab_page(
    notebook_relpath: str,
    timeout_s: float = 180,
    notebooks_dir: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    run_all: bool = True,
) -> Iterator:
    """Open ``notebook_relpath`` (relative to ``notebooks/``) in JupyterLab, Run All, yield the playwright Page.

    ``timeout_s`` bounds everything up to the yield (server start, page load, Run All).
    ``notebooks_dir`` replaces the repository's ``notebooks/`` folder (handy for a scratch notebook);
    ``env`` adds or overrides environment variables of the server and its kernels (CLTK_SCALE is smoke).
    Raises :class:`LabError` (an AssertionError) with a screenshot path if a cell fails.
    """
    from playwright.sync_api import sync_playwright

    deadline = time.monotonic() + timeout_s
    notebook = _notebook_name(notebook_relpath)
    source_dir = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOK_DIR
    if not (source_dir / notebook).is_file():
        raise FileNotFoundError(f"no notebook {notebook!r} in {source_dir}")

    work_dir = Path(tempfile.mkdtemp(prefix="cltk-lab-"))
    root_dir = work_dir / "notebooks"
    shutil.copytree(source_dir, root_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    server = _LabServer(root_dir, work_dir, env or {})
    playwright = context = page = None
    try:
        server.wait_until_up(deadline)
        playwright = sync_playwright().start()
        context = playwright.chromium.launch_persistent_context(
            str(work_dir / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(30_000)
        page = context.pages[0] if context.pages else context.new_page()
        _record_page_errors(page)
        page.goto(f"{server.url}/lab/tree/{notebook}?token={server.token}", wait_until="domcontentloaded")
        while True:
            _dismiss_dialogs(page)
            state = notebook_state(page)
            if state.get("ready") and state.get("kernel") == "idle":
                break
            if time.monotonic() > deadline:
                fail(page, notebook, f"the notebook or its kernel did not become ready: {state}")
            page.wait_for_timeout(500)
        if run_all:
            run_all_and_wait(page, notebook, deadline)
            assert_no_errors(page, notebook)
    except LabError as exc:
        raise LabError(f"{exc}\n--- jupyter lab log (end) ---\n{_tail(server.log_path, 1500)}") from None
    else:
        yield page
    finally:
        if page is not None:
            _PAGE_ERRORS.pop(id(page), None)
        if context is not None:
            with suppress(Exception):
                context.close()
        if playwright is not None:
            with suppress(Exception):
                playwright.stop()
        server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


# ---------------------------------------------------------------- widget helpers for the tests


def widget_control(page, widget_class: str, description: str):
    """The ipywidgets control of CSS class ``widget_class`` (e.g. ``widget-slider``) labelled ``description``."""
    label = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    return page.locator(f".{widget_class}", has=label).first


def find_explorer(page, notebook: str, widget_class: str, description: str, what: str = "explorer"):
    """Locate an explorer: the widget box holding the control ``description`` and an Output with a plotly figure.

    Returns ``(control, explorer)``; fails with a screenshot if the control is hidden or no figure appears.
    """
    control = widget_control(page, widget_class, description)
    control.wait_for(state="attached", timeout=30_000)
    control.scroll_into_view_if_needed()
    if not control.is_visible():
        fail(page, notebook, f"the {what}'s {description!r} control is not visible")
    explorer = page.locator(".jupyter-widgets.widget-vbox", has=control).filter(
        has=page.locator(".widget-output .js-plotly-plot")
    )
    try:
        explorer.first.wait_for(state="visible", timeout=30_000)
    except Exception:
        fail(page, notebook, f"no plotly figure appeared in the {what}'s output area")
    return control, explorer.first


def press_slider(page, description: str, key: str = "ArrowRight", times: int = 1) -> None:
    """Focus the handle of the slider labelled ``description`` and press ``key`` ``times`` times.

    Each key press commits a new value (also with ``continuous_update=False``).
    """
    handle = widget_control(page, "widget-slider", description).locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(times):
        handle.press(key)


def plotly_titles(page, within: str = "") -> list[str]:
    """The titles (``.gtitle`` text) of the plotly figures on the page, or inside the CSS selector ``within``."""
    selector = f"{within} .js-plotly-plot .gtitle".strip()
    return [text or "" for text in page.locator(selector).all_text_contents()]


def wait_for_plotly_title(page, pattern: str, timeout_s: float = 30, within: str = "") -> str:
    """Wait until some plotly figure's title matches the regex ``pattern``; return that title."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout_s
    while True:
        titles = plotly_titles(page, within)
        for title in titles:
            if regex.search(title):
                return title
        if time.monotonic() > deadline:
            fail(page, "notebook", f"no plotly title matching {pattern!r} within {timeout_s:.0f} s; titles: {titles}")
        page.wait_for_timeout(250)


# ---------------------------------------------------------------- static pages (exported HTML, the course website)


class OfflinePage:
    """What :func:`offline_page` yields: the playwright ``page`` and every request it refused (``blocked``)."""

    def __init__(self, page, blocked: list[str]):
        self.page = page
        self.blocked = blocked


@contextmanager
def offline_page(allow_origin: str | None = None, timeout_ms: int = 30_000) -> Iterator[OfflinePage]:
    """Headless Chromium with the network off: only ``file:``, ``data:`` and ``blob:`` URLs load, plus
    ``allow_origin`` (e.g. ``http://127.0.0.1:8123``, a local test server). Every other request is aborted
    and its URL recorded in ``.blocked``, so a test can assert that a page asked for nothing outside.
    """
    from playwright.sync_api import sync_playwright

    work_dir = Path(tempfile.mkdtemp(prefix="cltk-offline-"))
    blocked: list[str] = []

    def route(route_, request) -> None:
        url = request.url
        if url.startswith(("file:", "data:", "blob:")) or (allow_origin and url.startswith(allow_origin + "/")):
            route_.continue_()
        else:
            blocked.append(url)
            route_.abort("internetdisconnected")

    playwright = context = page = None
    try:
        playwright = sync_playwright().start()
        context = playwright.chromium.launch_persistent_context(
            str(work_dir / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, "--allow-file-access-from-files"],
            viewport=VIEWPORT,
        )
        context.set_default_timeout(timeout_ms)
        context.route("**/*", route)
        page = context.pages[0] if context.pages else context.new_page()
        _record_page_errors(page)
        yield OfflinePage(page, blocked)
    finally:
        if page is not None:
            _PAGE_ERRORS.pop(id(page), None)
        if context is not None:
            with suppress(Exception):
                context.close()
        if playwright is not None:
            with suppress(Exception):
                playwright.stop()
        _kill_processes_mentioning(str(work_dir))
        shutil.rmtree(work_dir, ignore_errors=True)


def page_errors(page) -> list[str]:
    """Uncaught exceptions and console errors the page has reported so far."""
    return list(_PAGE_ERRORS.get(id(page)) or [])


def wait_for_plotly_figures(page, count: int, name: str = "page", timeout_s: float = 30) -> list:
    """Wait until at least ``count`` plotly figures are drawn (``.js-plotly-plot`` with an SVG); return them."""
    figures = page.locator(".js-plotly-plot")
    deadline = time.monotonic() + timeout_s
    while True:
        drawn = [f for f in figures.all() if f.locator(".main-svg").count() > 0]
        if len(drawn) >= count:
            return drawn
        if time.monotonic() > deadline:
            fail(page, name, f"expected {count} drawn plotly figure(s), found {len(drawn)} within {timeout_s:.0f} s")
        page.wait_for_timeout(250)


def figure_title(figure) -> str:
    """The title text of one plotly figure (a locator of its ``.js-plotly-plot`` element)."""
    title = figure.locator(".gtitle")
    return (title.first.text_content() or "") if title.count() else ""


_VISIBLE_SPAN_JS = """(el) => {
  const r = el.getBoundingClientRect();
  let left = Math.max(r.left, 0), right = Math.min(r.right, window.innerWidth);
  for (let a = el.parentElement; a; a = a.parentElement) {
    if (a instanceof HTMLElement && getComputedStyle(a).overflowX !== 'visible') {
      const box = a.getBoundingClientRect();
      left = Math.max(left, box.left);
      right = Math.min(right, box.right);
    }
  }
  return {left: left, right: right, x: r.left, width: r.width, y: r.top, height: r.height};
}"""


def move_plotly_slider(page, figure, fraction: float = 1.0) -> None:
    """Press the mouse on a plotly slider's rail at ``fraction`` of its length (0 = first step, 1 = last).

    The press stays on the part of the rail that is visible (a wide figure may scroll inside its output).
    """
    rail = figure.locator(".slider-rail-touch-rect").first
    if rail.count() == 0:
        raise AssertionError("the figure has no plotly slider rail to move")
    rail.scroll_into_view_if_needed()
    span = rail.evaluate(_VISIBLE_SPAN_JS)
    if span["right"] - span["left"] < 8:
        raise AssertionError(f"the slider rail is not visible: {span}")
    x = span["x"] + 4 + (span["width"] - 8) * fraction
    x = min(max(x, span["left"] + 4), span["right"] - 4)
    y = span["y"] + span["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.up()


def wait_for_figure_title_change(page, figure, before: str, name: str = "page", timeout_s: float = 15) -> str:
    """Wait until ``figure``'s title differs from ``before``; return the new title."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = figure_title(figure)
        if now and now != before:
            return now
        if time.monotonic() > deadline:
            fail(page, name, f"moving the slider did not change the figure (title still {before!r})")
        page.wait_for_timeout(200)
