import pytest
import torch

from cltoolkit import config
from cltoolkit.errors import ConfigError


def test_scale_defaults_and_env(monkeypatch):
    monkeypatch.delenv("CLTK_SCALE", raising=False)
    assert config.get_scale() == "default"
    monkeypatch.setenv("CLTK_SCALE", "Smoke")
    assert config.get_scale() == "smoke"
    assert config.get_scale("paper") == "paper"


def test_unknown_scale_names_choices(monkeypatch):
    monkeypatch.setenv("CLTK_SCALE", "huge")
    with pytest.raises(ConfigError, match="CLTK_SCALE 'huge'.*smoke, default, paper"):
        config.get_scale()
    with pytest.raises(ConfigError, match="unknown scale 'tiny'"):
        config.get_scale("tiny")


def test_by_scale_picks_and_requires_all():
    assert config.by_scale("smoke", smoke=1, default=2, paper=3) == 1
    assert config.by_scale("paper", smoke=1, default=2, paper=3) == 3
    with pytest.raises(TypeError, match="missing"):
        config.by_scale("smoke", smoke=1)


def test_device_choices(monkeypatch):
    monkeypatch.delenv("CLTK_DEVICE", raising=False)
    assert config.get_device("cpu") == torch.device("cpu")
    assert config.get_device().type in ("cpu", "cuda", "mps")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        config.get_device("tpu")
    monkeypatch.setenv("CLTK_DEVICE", "gpu")
    with pytest.raises(ConfigError, match="CLTK_DEVICE 'gpu'"):
        config.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        config.get_device("cuda")


def test_seed_everything_is_repeatable():
    g1 = config.seed_everything(7)
    a = torch.randn(5), torch.randperm(10, generator=g1)
    g2 = config.seed_everything(7)
    b = torch.randn(5), torch.randperm(10, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ConfigError, match="seed"):
        config.seed_everything(-1)


def test_paths_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CLTK_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("CLTK_CACHE", str(tmp_path / "c"))
    assert config.data_dir() == tmp_path / "d"
    assert config.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CLTK_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.data_dir() == tmp_path / "xdg" / "cltoolkit" / "data"


def test_progress_quiet_at_smoke(monkeypatch):
    monkeypatch.delenv("CLTK_PROGRESS", raising=False)
    assert config.progress_enabled("smoke") is False
    assert config.progress_enabled("default") is True
    monkeypatch.setenv("CLTK_PROGRESS", "0")
    assert config.progress_enabled("default") is False


def test_describe_environment_has_versions():
    info = config.describe_environment(scale="smoke", device="cpu")
    assert info["scale"] == "smoke" and info["device"] == "cpu"
    assert info["torch"] == torch.__version__
