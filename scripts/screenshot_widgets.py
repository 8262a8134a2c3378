"""Screenshot each notebook's explorer in real JupyterLab for the README (needs Chromium).

Run from the repository root: ``python scripts/screenshot_widgets.py``; writes ``docs/images/<notebook>.png``.
Uses the browser-test harness in ``tests/browser.py`` (smoke scale, a temporary copy of the notebooks).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import browser_missing_reason, lab_page  # noqa: E402

NOTEBOOKS = ["00_start_here", "02_piggyback", "03_maximum_roaming", "04_hypernetworks"]


def main() -> int:
    reason = browser_missing_reason()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    out_dir = ROOT / "docs" / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or NOTEBOOKS:
        with lab_page(f"{name}.ipynb", timeout_s=300) as page:
            explorer = page.locator(".jupyter-widgets.widget-vbox").filter(
                has=page.locator(".widget-output .js-plotly-plot")
            )
            explorer.first.wait_for(state="visible", timeout=60_000)
            explorer.first.scroll_into_view_if_needed()
            page.wait_for_timeout(1500)  # let plotly finish drawing
            path = out_dir / f"{name}.png"
            explorer.first.screenshot(path=str(path))
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
