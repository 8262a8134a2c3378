"""Notebook 02 in real JupyterLab: Run All passes, the mask-sparsity explorer renders, moving tau changes the bars."""

from __future__ import annotations

import time

import pytest
from browser import assert_no_errors, fail, lab_page, press_slider, require_browser, widget_control

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
        slider = widget_control(page, "widget-slider", "tau")
        slider.wait_for(state="attached", timeout=30_000)
        slider.scroll_into_view_if_needed()
        if not slider.is_visible():
            fail(page, NOTEBOOK, "the explorer's 'tau' slider is not visible")
        explorer = page.locator(".jupyter-widgets.widget-vbox", has=slider).filter(
            has=page.locator(".widget-output .js-plotly-plot")
        )
        try:
            explorer.first.wait_for(state="visible", timeout=30_000)
        except Exception:
            fail(page, NOTEBOOK, "no plotly figure appeared in the explorer's output area")
        explorer = explorer.first
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
