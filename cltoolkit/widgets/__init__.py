"""Interactive explorers (ipywidgets over plotly) and their static plotly figures.

One module per notebook; everything is re-exported here, so
``from cltoolkit.widgets import stream_explorer`` works.
"""

from ._common import Explorer, frames_figure
from .streams import stream_explorer, stream_figure, stream_static_figure

__all__ = ["Explorer", "frames_figure", "stream_explorer", "stream_figure", "stream_static_figure"]
