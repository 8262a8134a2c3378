import numpy as np
import pytest

from cltoolkit.errors import ConfigError
from cltoolkit.metrics import (
    AccuracyMatrix,
    average_accuracy,
    backward_transfer,
    f1_scores,
    forgetting,
    forgetting_after_learned,
    forgetting_since_learned,
    plot_accuracy_matrix,
    plot_task_accuracies,
)

# Hand-computed example:
#   ACC = (0.6 + 0.7 + 0.9) / 3 = 0.7333
#   BWT = ((0.6 - 0.9) + (0.7 - 0.8)) / 2 = -0.2
#   Chaudhry forgetting: task 0: max(0.9, 0.8) - 0.6 = 0.3; task 1: max(0.5, 0.8) - 0.7 = 0.1 -> 0.2
R = [[0.9, 0.5, 0.1], [0.8, 0.8, 0.2], [0.6, 0.7, 0.9]]


def test_hand_computed_values():
    assert average_accuracy(R) == pytest.approx(2.2 / 3)
    assert backward_transfer(R) == pytest.approx(-0.2)
    assert forgetting(R) == pytest.approx(0.2)
    assert forgetting_since_learned(R) == pytest.approx(0.2)


def test_definitions_disagree_when_accuracy_was_higher_before_learning():
    # task 1 was better *before* it was learned (row 0) than right after (row 1)
    M = [[0.9, 0.9, 0.1], [0.8, 0.6, 0.2], [0.8, 0.5, 0.9]]
    assert forgetting(M) == pytest.approx(((0.9 - 0.8) + (0.9 - 0.5)) / 2)
    assert forgetting_after_learned(M) == pytest.approx(((0.9 - 0.8) + (0.6 - 0.5)) / 2)
    assert forgetting_since_learned(M) == pytest.approx(-backward_transfer(M))
    assert len({round(forgetting(M), 6), round(forgetting_after_learned(M), 6)}) == 2


def test_single_task_and_bad_shapes():
    assert backward_transfer([[0.5]]) == 0.0 and forgetting([[0.5]]) == 0.0
    assert average_accuracy([[0.5]]) == 0.5
    for bad in ([], [[0.1, 0.2]], [0.1, 0.2]):
        with pytest.raises(ConfigError, match="square"):
            average_accuracy(bad)


def test_accuracy_matrix_bookkeeping():
    acc = AccuracyMatrix(["a", "b"])
    assert not acc.complete
    acc.record(0, 0, 1.0)
    acc.record(0, 1, 0.5)
    acc.record(1, 0, 0.5)
    acc.record(1, 1, 1.0)
    assert acc.complete and acc.summary()["forgetting"] == pytest.approx(0.5)
    assert acc.to_list() == [[1.0, 0.5], [0.5, 1.0]]
    with pytest.raises(ConfigError, match="fraction"):
        acc.record(0, 0, 97.0)


def test_f1_scores_by_hand():
    target = np.array([[1, 0], [1, 0], [0, 0], [0, 1]])
    pred = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    # attribute 0: tp=1 fp=1 fn=1 -> F = 2/(2+1+1) = 0.5; attribute 1: tp=0 fn=1 -> 0
    assert f1_scores(pred, target) == pytest.approx([0.5, 0.0])
    assert f1_scores(target, target) == pytest.approx([1.0, 1.0])
    with pytest.raises(ConfigError):
        f1_scores(pred[:, 0], target)


def test_plots_return_axes():
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_accuracy_matrix(R, ["a", "b", "c"])
    assert ax.get_title() == "Accuracy matrix" and len(ax.texts) == 9
    ax = plot_task_accuracies(R, ["a", "b", "c"])
    assert len(ax.lines) == 3
