import pytest
import torch
from torch import nn

from cltoolkit.errors import CheckpointMismatchError, ConfigError
from cltoolkit.nets import MLP, SmallCNN, build_net, count_parameters, torchvision_backbone
from cltoolkit.train import (
    checkpoint_path,
    config_hash,
    evaluate,
    load_checkpoint,
    load_or_train,
    save_checkpoint,
    train_epochs,
)


@pytest.mark.parametrize("size", [8, 28, 32])
def test_backbones_handle_all_input_sizes(size):
    x = torch.randn(3, 1, size, size)
    assert MLP(size * size, (16,))(x).shape == (3, 16)
    assert SmallCNN(1, (8, 16))(x).shape == (3, 16)


def test_multihead_uses_chosen_head():
    net = build_net("mlp", (1, 8, 8), [2, 3], shared_head=False, hidden=(16,))
    x = torch.randn(4, 1, 8, 8)
    assert net(x, 0).shape == (4, 2) and net(x, 1).shape == (4, 3)
    with pytest.raises(ConfigError, match="task 2 out of range"):
        net(x, 2)
    shared = build_net("cnn", (1, 8, 8), [10, 10, 10], shared_head=True, channels=(4, 8))
    assert len(shared.heads) == 1 and shared(x, 2).shape == (4, 10)
    with pytest.raises(ConfigError, match="unknown architecture"):
        build_net("transformer", (1, 8, 8), [2])


def test_torchvision_backbone_removes_classifier():
    body, dim = torchvision_backbone("resnet18", weights=None)
    assert dim == 512
    assert body(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    with pytest.raises(ConfigError, match="unknown torchvision model"):
        torchvision_backbone("resnet9000")


def _toy_problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 1, 2, 2, generator=g)
    y = (x.flatten(1).sum(1) > 0).long()
    return x, y


def test_training_learns_and_is_repeatable():
    x, y = _toy_problem()
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        net = build_net("mlp", (1, 2, 2), [2], hidden=(16,))
        losses = train_epochs(net, x, y, epochs=5, lr=1e-2, generator=torch.Generator().manual_seed(0), progress=False)
        results.append((losses, evaluate(net, x, y)))
    assert results[0][0][-1] < results[0][0][0]
    assert results[0][1] > 0.9
    assert results[0] == results[1]  # bit-identical on CPU with a fixed seed


def test_checkpoint_roundtrip_and_mismatch(tmp_path):
    net = build_net("mlp", (1, 2, 2), [2], hidden=(8,))
    cfg = {"hidden": 8, "lr": 0.1}
    path = save_checkpoint(net, tmp_path / "a.pt", cfg)
    other = build_net("mlp", (1, 2, 2), [2], hidden=(8,))
    load_checkpoint(other, path, cfg)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
    with pytest.raises(CheckpointMismatchError, match="another configuration"):
        load_checkpoint(other, path, {"hidden": 8, "lr": 0.2})
    bigger = build_net("mlp", (1, 2, 2), [2], hidden=(9,))
    with pytest.raises(CheckpointMismatchError, match="shape mismatch"):
        load_checkpoint(bigger, path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatchError, match="not a readable"):
        load_checkpoint(other, tmp_path / "junk.pt")


def test_load_or_train_trains_once(tmp_path):
    calls = []

    def train(model: nn.Module):
        calls.append(1)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.5)

    cfg = {"what": "test"}
    net, loaded = load_or_train(build_net("mlp", (1, 2, 2), [2], hidden=(4,)), cfg, train, directory=tmp_path)
    assert not loaded and len(calls) == 1
    again, loaded = load_or_train(build_net("mlp", (1, 2, 2), [2], hidden=(4,)), cfg, train, directory=tmp_path)
    assert loaded and len(calls) == 1
    assert all((p == 0.5).all() for p in again.parameters())
    assert checkpoint_path(cfg, tmp_path).exists()
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert not list(tmp_path.glob("*.tmp"))


def test_count_parameters():
    assert count_parameters(nn.Linear(3, 2)) == 8
