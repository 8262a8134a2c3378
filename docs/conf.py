"""Sphinx configuration of the course website. Build it with ``python scripts/build_site.py``.

That script lays the sources out in ``_build/site-src`` (this folder, the executed notebooks, the
student editions, MathJax and plotly.js) and runs Sphinx there; running Sphinx on ``docs/`` alone
gives the pages without the notebooks.
"""

import os
import re

os.environ.setdefault("CLTK_PROGRESS", "0")

project = "cltoolkit"
author = "the cltoolkit authors"
copyright = "the cltoolkit authors, MIT licence"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.viewcode"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "**/__pycache__"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# Markdown: $...$ math as in the notebooks, ::: fences, anchors for ## headings.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Notebooks arrive executed (scripts/build_site.py runs them, with timeouts); never execute here.
nb_execution_mode = "off"
# No widget manager on a static page: never pick the widget view (explorers carry a static snapshot
# as text/html next to it) and never load the widget scripts, which would come from a CDN.
nb_mime_priority_overrides = [("*", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}
nb_output_stderr = "show"

# Offline: MathJax 2 from the site itself (copied into _static/mathjax by the build script).
# config/local/cltk.js (written by the build) points MathJax at the STIX-Web fonts it ships with.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe,local/cltk"
# myst-nb marks notebook pages tex2jax_ignore and the math itself "math": MathJax 2 must be told.
mathjax2_config = {
    "tex2jax": {
        "processClass": "tex2jax_process|mathjax_process|math|output_area",
        "ignoreClass": "tex2jax_ignore|mathjax_ignore|document",
        "processEscapes": True,
    }
}

autodoc_default_options = {"members": True, "show-inheritance": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False  # torch.autograd.Function.forward's docstring is torch's, not ours

html_theme = "furo"
html_title = "cltoolkit: continual and multi-task learning, built from scratch"
html_static_path = ["_static"]  # cltk.css here; the build adds mathjax/ and cltk-plotly.js
html_css_files = ["cltk.css"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
html_last_updated_fmt = None
# "myst.header": notebooks start at "# 00 · ..." and use ### under ##. "mystnb.unknown_mime_type": the
# plotly JSON next to each figure's HTML (the build script fails on a figure that has no HTML).
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]


def _plain_math(app, what, name, obj, options, lines):
    """The kit's docstrings write |x| for sizes and (P, *shape) for shapes; in reST those start a
    substitution or an emphasis. Escape them outside inline literals; leave table rows alone."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if (stripped[:1], stripped[-1:]) in (("|", "|"), ("+", "+")):
            continue
        parts = line.split("``")  # odd parts are inline literals, where a backslash would show
        for k in range(0, len(parts), 2):
            part = parts[k].replace("|", "\\|")
            if part.count("*") % 2:
                part = re.sub(r"(?<=[\s(,])\*(?=\w)", r"\\*", part)
            parts[k] = part
        lines[i] = "``".join(parts)


def setup(app):
    app.connect("autodoc-process-docstring", _plain_math)
