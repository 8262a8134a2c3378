"""Notebook 00 in real JupyterLab: Run All passes, the stream explorer renders, its slider redraws the figure."""

from __future__ import annotations

import re
import time

import pytest
from browser import assert_no_errors, fail, find_explorer, lab_page, press_slider, require_browser

NOTEBOOK = "00_start_here.ipynb"


@pytest.mark.browser
def test_stream_explorer_renders_and_follows_its_slider():
    require_browser()
    started = time.monotonic()
    with lab_page(NOTEBOOK) as page:
        ran_all = time.monotonic() - started
        slider, explorer = find_explorer(page, NOTEBOOK, "widget-slider", "task")
        figure = explorer.locator(".widget-output .js-plotly-plot")
        if figure.count() != 1:
            fail(page, NOTEBOOK, f"the explorer shows {figure.count()} figures, expected exactly one")

        # Rendered by the jupyterlab-plotly mime renderer into real SVG with the 8 example images.
        if "jp-RenderedPlotly" not in (figure.get_attribute("class") or ""):
            fail(page, NOTEBOOK, "the figure was not rendered by jupyterlab-plotly (is the labextension installed?)")
        images = figure.locator(".heatmaplayer image").count()
        if images < 1:
            fail(page, NOTEBOOK, "the plotly figure has no rendered heatmap images")

        title = explorer.locator(".js-plotly-plot .gtitle")
        first_title = title.text_content() or ""
        if not first_title.startswith("Task 0"):
            fail(page, NOTEBOOK, f"the explorer should start at task 0; its title is {first_title!r}")

        moved = time.monotonic()
        press_slider(page, "task", "ArrowRight")
        deadline = time.monotonic() + 30
        new_title = first_title
        while not new_title.startswith("Task 1"):
            if time.monotonic() > deadline:
                fail(page, NOTEBOOK, f"moving the slider to 1 did not redraw the figure; title still {new_title!r}")
            page.wait_for_timeout(200)
            if title.count() == 1:  # between clear_output and the new figure there is briefly none
                new_title = title.text_content() or ""
        redraw = time.monotonic() - moved

        readout = slider.locator(".widget-readout").text_content() or ""
        if not re.fullmatch(r"\s*1\s*", readout):
            fail(page, NOTEBOOK, f"the slider's readout shows {readout!r} after one step, expected 1")
        if explorer.locator(".widget-output .js-plotly-plot").count() != 1:
            fail(page, NOTEBOOK, "after the redraw the explorer should still show exactly one figure")
        assert_no_errors(page, NOTEBOOK)
    print(
        f"{NOTEBOOK}: Run All done after {ran_all:.1f} s, slider redraw {redraw:.2f} s, "
        f"total {time.monotonic() - started:.1f} s"
    )
