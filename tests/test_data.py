import pytest
import torch

from cltoolkit.data import (
    attribute_tasks,
    load_digits,
    load_source,
    load_stream,
    make_stream,
    permutations,
    permuted_stream,
    rotate,
    rotated_stream,
    split_stream,
)
from cltoolkit.errors import ConfigError


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_source_shapes_and_split(digits):
    assert digits.x_train.shape[1:] == (1, 8, 8)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    assert 0.0 <= digits.x_train.min() and digits.x_train.max() <= 1.0
    assert len(digits.x_train) + len(digits.x_test) == 1797
    # stratified: every class in both splits, test share about 30 %
    assert set(digits.y_test.tolist()) == set(range(10))
    assert 0.25 < len(digits.x_test) / 1797 < 0.35
    again = load_digits()
    assert torch.equal(again.x_test, digits.x_test)


def test_unknown_dataset_lists_choices():
    with pytest.raises(ConfigError, match="unknown dataset 'mnsit'.*digits, mnist"):
        load_source("mnsit")


def test_split_stream_disjoint_classes(digits):
    s = split_stream(digits)
    assert s.num_tasks == 5 and s.scenario == "task" and s.head_sizes == [2] * 5
    seen = set()
    for task in s:
        assert not seen & set(task.classes)
        seen |= set(task.classes)
        assert set(task.y_train.tolist()) == {0, 1}
        # every example really belongs to the task's classes
        original = torch.tensor(task.classes)[task.y_test]
        mask = torch.isin(digits.y_test, torch.tensor(task.classes))
        assert torch.equal(torch.sort(original).values, torch.sort(digits.y_test[mask]).values)
    assert seen == set(range(10))


def test_split_stream_impossible_parameters(digits):
    with pytest.raises(ConfigError, match="needs 12 classes.*has 10"):
        split_stream(digits, num_tasks=6)
    with pytest.raises(ConfigError, match="positive integer"):
        split_stream(digits, num_tasks=0)
    with pytest.raises(ConfigError, match="classes_per_task"):
        split_stream(digits, classes_per_task=1)


def test_permutations_deterministic_bijections():
    a = permutations(4, 64, seed=3)
    b = permutations(4, 64, seed=3)
    c = permutations(4, 64, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[1], c[1])
    assert torch.equal(a[0], torch.arange(64))
    for p in a:
        assert torch.equal(torch.sort(p).values, torch.arange(64))
    assert len({tuple(p.tolist()) for p in a}) == 4


def test_permuted_stream_moves_pixels_not_labels(digits):
    s = permuted_stream(digits, num_tasks=3, seed=1)
    assert s.scenario == "domain" and s.head_sizes == [10, 10, 10]
    perm = s[1].info["permutation"]
    flat = digits.x_test.reshape(len(digits.x_test), -1)
    assert torch.equal(s[1].x_test.reshape(len(flat), -1), flat[:, perm])
    assert torch.equal(s[1].y_test, digits.y_test)
    # the pixel content is preserved
    assert torch.allclose(s[1].x_test.sum(dim=(1, 2, 3)), digits.x_test.sum(dim=(1, 2, 3)))


def test_rotation_by_zero_is_identity_and_90_moves_pixels(digits):
    x = digits.x_test[:4]
    assert torch.allclose(rotate(x, 0.0), x, atol=1e-5)
    r = rotated_stream(digits, num_tasks=4)
    assert [t.info["angle"] for t in r] == [0.0, 45.0, 90.0, 135.0]
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, 0, :] = 1.0  # top row
    turned = rotate(img, 90.0)
    assert turned[0, 0, :, 0].sum() > 6 or turned[0, 0, :, -1].sum() > 6  # became a column


def test_make_stream_kinds_and_errors(digits):
    assert make_stream(digits, "rotated", 2).num_tasks == 2
    with pytest.raises(ConfigError, match="unknown stream 'shuffled'"):
        make_stream(digits, "shuffled")
    with pytest.raises(ConfigError, match="multi-task"):
        make_stream(digits, "attributes")
    with pytest.raises(ConfigError, match="positive integer"):
        make_stream(digits, "permuted", 0)


def test_subsample_is_deterministic(digits):
    s = load_stream("digits", "split")
    a = s.subsample(50, 20, seed=0)
    b = s.subsample(50, 20, seed=0)
    assert len(a[0].x_train) == 50 and len(a[0].x_test) == 20
    assert torch.equal(a[2].x_train, b[2].x_train)


def test_digit_attributes(digits):
    a = attribute_tasks(digits)
    assert len(a.attribute_names) >= 6
    assert a.y_train.shape == (len(digits.x_train), len(a.attribute_names))
    assert set(a.y_train.unique().tolist()) <= {0.0, 1.0}
    # every attribute in exactly one task
    flat = sorted(i for g in a.groups for i in g)
    assert flat == list(range(len(a.attribute_names)))
    # label-derived attributes agree with the labels
    even = a.y_test[:, a.attribute_names.index("even")]
    assert torch.equal(even.bool(), digits.y_test % 2 == 0)
    # no attribute is constant (each is informative)
    rates = a.y_train.mean(0)
    assert ((rates > 0.1) & (rates < 0.9)).all()
    assert a.task_targets(a.y_test, 0).shape[1] == len(a.groups[0])


def test_data_imports_point_one_way():
    """sources -> real -> fetch: the real-dataset modules never import sources (no import cycle)."""
    import ast
    from pathlib import Path

    import cltoolkit.data

    folder = Path(cltoolkit.data.__file__).parent

    def imported(module: str) -> set[str]:
        tree = ast.parse((folder / f"{module}.py").read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names |= {node.module} if node.module else {alias.name for alias in node.names}
        return names

    assert "real" in imported("sources") and "fetch" in imported("real")
    assert not {"sources", "streams", "attributes"} & (imported("real") | imported("fetch"))
    assert not {"real", "sources", "streams", "attributes"} & imported("fetch")
