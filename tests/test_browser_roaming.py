"""Notebook 03 in real JupyterLab: Run All passes, the roaming explorer renders, moving c changes the heatmap."""

from __future__ import annotations

import time

import pytest
from browser import assert_no_errors, fail, find_explorer, lab_page, press_slider, require_browser

NOTEBOOK = "03_maximum_roaming.ipynb"

_HEATMAP_JS = """el => {
    const trace = (el._fullData || []).find(t => t.type === 'heatmap');
    if (!trace) return '';
    return JSON.stringify(Array.from(trace.z, row => Array.from(row)));
}"""


def _state(explorer) -> tuple[str, str]:
    """The explorer figure's title and its heatmap values (as JSON)."""
    plot = explorer.locator(".js-plotly-plot").first
    title = explorer.locator(".js-plotly-plot .gtitle")
    text = title.first.text_content() if title.count() else ""
    return text or "", plot.evaluate(_HEATMAP_JS) or ""


@pytest.mark.browser
def test_roaming_explorer_renders_and_follows_c():
    require_browser()
    with lab_page(NOTEBOOK, timeout_s=300) as page:
        slider, explorer = find_explorer(page, NOTEBOOK, "widget-slider", "update c")
        first_title, first_heat = _state(explorer)
        if "update c = 0 " not in first_title or not first_heat:
            fail(page, NOTEBOOK, f"unexpected start: title {first_title!r}, heatmap found: {bool(first_heat)}")

        press_slider(page, "update c", "ArrowRight", times=2)
        deadline = time.monotonic() + 30
        title, heat = first_title, first_heat
        while "update c = 2 " not in title or heat == first_heat:
            if time.monotonic() > deadline:
                fail(page, NOTEBOOK, f"moving c did not change the heatmap: title {title!r}")
            page.wait_for_timeout(200)
            title, heat = _state(explorer)
        assert heat != first_heat
        assert_no_errors(page, NOTEBOOK)
