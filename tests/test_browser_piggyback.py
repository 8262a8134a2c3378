"""Notebook 02 in real JupyterLab: Run All passes, the mask-sparsity explorer renders, moving tau changes the bars."""

from __future__ import annotations

import time

import pytest
from browser import assert_no_errors, fail, find_explorer, lab_page, press_slider, require_browser

NOTEBOOK = "02_piggyback.ipynb"


def _bar_state(explorer) -> tuple[str, list[str]]:
    """The figure's title and its legend entries (each says the task's overall sparsity)."""
    title = explorer.locator(".js-plotly-plot .gtitle")
    legend = explorer.locator(".js-plotly-plot .legendtext")
    text = title.text_content() if title.count() == 1 else ""
    return text or "", [t or "" for t in legend.all_text_contents()]


@pytest.mark.browser
def test_mask_sparsity_explorer_renders_and_follows_tau():
    require_browser()
    with lab_page(NOTEBOOK, timeout_s=300) as page:
        slider, explorer = find_explorer(page, NOTEBOOK, "widget-slider", "tau")
        bars = explorer.locator(".js-plotly-plot .barlayer .point")
        if bars.count() < 4:
            fail(page, NOTEBOOK, f"expected per-layer bars for every task, found {bars.count()} bars")

        first_title, first_legend = _bar_state(explorer)
        if "0.005" not in first_title or len(first_legend) < 3:
            fail(page, NOTEBOOK, f"unexpected start: title {first_title!r}, legend {first_legend}")

        press_slider(page, "tau", "ArrowRight", times=6)  # 0.005 -> 0.008
        deadline = time.monotonic() + 30
        title, legend = first_title, first_legend
        while "0.008" not in title or legend == first_legend:
            if time.monotonic() > deadline:
                fail(page, NOTEBOOK, f"moving tau did not change the bars: title {title!r}, legend {legend}")
            page.wait_for_timeout(200)
            title, legend = _bar_state(explorer)
        assert legend != first_legend  # each entry states the overall sparsity, which grew with tau
        assert_no_errors(page, NOTEBOOK)
