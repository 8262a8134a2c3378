import pytest

from cltoolkit.data import load_digits, make_stream
from cltoolkit.widgets import stream_explorer, stream_figure, stream_static_figure


@pytest.fixture(scope="module")
def stream():
    return make_stream(load_digits(), "rotated", 3)


def test_figure_shows_chosen_task(stream):
    fig = stream_figure(stream, task=2, n_examples=4)
    assert fig.layout.title.text.startswith("Task 2: rot120")
    assert len(fig.data) == 4
    with pytest.raises(ValueError, match="out of range"):
        stream_figure(stream, task=3)


def test_explorer_redraws_when_slider_moves(stream):
    explorer = stream_explorer(stream, n_examples=3)
    slider = explorer.controls[0]
    assert slider.description == "task" and slider.max == 2
    assert explorer.figure.layout.title.text.startswith("Task 0")
    before = explorer.figure.data[0].z
    slider.value = 1
    assert explorer.figure.layout.title.text.startswith("Task 1")
    assert explorer.redraws == 2
    assert (explorer.figure.data[0].z != before).any()


def test_static_figure_has_a_frame_per_task(stream):
    fig = stream_static_figure(stream, n_examples=3)
    assert len(fig.frames) == 3
    assert len(fig.layout.sliders[0].steps) == 3
    assert fig.frames[1].layout.title.text.startswith("Task 1")
