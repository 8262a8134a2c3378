"""Interactive explorers (ipywidgets over plotly) and their static plotly figures.

One module per notebook; everything is re-exported here, so
``from cltoolkit.widgets import stream_explorer`` works. Importing this package makes plotly
figures exportable (self-contained HTML next to plotly's JSON, plotly.js once per page) where
plotly runs with its generic Jupyter renderer; see :func:`use_portable_figures`.
"""

from ._common import Explorer, frames_figure, use_portable_figures
from .hypernet import (
    embedding_landscape_explorer,
    embedding_landscape_figure,
    embedding_landscape_static_figure,
)
from .piggyback import mask_sparsity_explorer, mask_sparsity_figure, mask_sparsity_static_figure
from .roaming import roaming_explorer, roaming_figure, roaming_static_figure
from .streams import stream_explorer, stream_figure, stream_static_figure

__all__ = [
    "Explorer",
    "embedding_landscape_explorer",
    "embedding_landscape_figure",
    "embedding_landscape_static_figure",
    "frames_figure",
    "mask_sparsity_explorer",
    "mask_sparsity_figure",
    "mask_sparsity_static_figure",
    "roaming_explorer",
    "roaming_figure",
    "roaming_static_figure",
    "stream_explorer",
    "stream_figure",
    "stream_static_figure",
    "use_portable_figures",
]
