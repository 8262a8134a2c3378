"""Notebook 04 in real JupyterLab: Run All passes, the embedding landscape renders, changing the task redraws it."""

from __future__ import annotations

import time

import pytest
from browser import assert_no_errors, fail, find_explorer, lab_page, require_browser

NOTEBOOK = "04_hypernetworks.ipynb"


@pytest.mark.browser
def test_embedding_landscape_renders_and_follows_the_task_dropdown():
    require_browser()
    started = time.monotonic()
    with lab_page(NOTEBOOK, timeout_s=300) as page:
        ran_all = time.monotonic() - started
        dropdown, explorer = find_explorer(page, NOTEBOOK, "widget-dropdown", "task", what="landscape explorer")
        figure = explorer.locator(".widget-output .js-plotly-plot")
        if figure.count() != 1:
            fail(page, NOTEBOOK, f"the explorer shows {figure.count()} figures, expected exactly one")
        if figure.locator(".heatmaplayer image").count() < 1:
            fail(page, NOTEBOOK, "the landscape has no rendered heatmap")
        if figure.locator(".scatterlayer .point").count() < 3:
            fail(page, NOTEBOOK, "the learned embeddings are not marked on the landscape")

        title = explorer.locator(".js-plotly-plot .gtitle")
        first_title = title.text_content() or ""
        if not first_title.startswith("Task 0"):
            fail(page, NOTEBOOK, f"the explorer should start at task 0; its title is {first_title!r}")
        first_image = figure.locator(".heatmaplayer image").first.get_attribute("href") or ""

        moved = time.monotonic()
        dropdown.locator("select").select_option(index=1)
        deadline = time.monotonic() + 30
        new_title = first_title
        while not new_title.startswith("Task 1"):
            if time.monotonic() > deadline:
                fail(page, NOTEBOOK, f"choosing task 1 did not redraw the landscape; title still {new_title!r}")
            page.wait_for_timeout(200)
            if title.count() == 1:  # between clear_output and the new figure there is briefly none
                new_title = title.text_content() or ""
        redraw = time.monotonic() - moved
        new_image = explorer.locator(".widget-output .heatmaplayer image").first.get_attribute("href") or ""
        if first_image and new_image == first_image:
            fail(page, NOTEBOOK, "the title changed but the landscape (heatmap image) is the same for task 0 and 1")
        if explorer.locator(".widget-output .js-plotly-plot").count() != 1:
            fail(page, NOTEBOOK, "after the redraw the explorer should still show exactly one figure")
        assert_no_errors(page, NOTEBOOK)
    print(
        f"{NOTEBOOK}: Run All done after {ran_all:.1f} s, task change redraw {redraw:.2f} s, "
        f"total {time.monotonic() - started:.1f} s"
    )
