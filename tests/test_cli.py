import json
import subprocess
import sys

import pytest

from cltoolkit.cli import main


def run_cli(*args, env_extra=None):
    import os

    env = dict(os.environ, CLTK_SCALE="smoke", **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "cltoolkit", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_run_writes_contract_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(
        ["run", "finetune", "--dataset", "digits", "--tasks", "3", "--scale", "smoke", "--json", str(out), "--quiet"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "average accuracy" in printed and "forgetting" in printed
    data = json.loads(out.read_text())
    for key in (
        "method",
        "dataset",
        "stream",
        "scale",
        "seed",
        "tasks",
        "seconds",
        "acc_matrix",
        "avg_acc",
        "bwt",
        "forgetting",
        "bytes_per_task",
        "params",
    ):
        assert key in data, key
    assert data["method"] == "finetune" and data["scale"] == "smoke" and data["stream"] == "permuted"
    assert len(data["acc_matrix"]) == 3 and len(data["tasks"]) == 3
    assert all(0 <= v <= 1 for row in data["acc_matrix"] for v in row)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "finetune", "--dataset", "imagenet"], "unknown dataset 'imagenet'; choose one of: digits"),
        (["run", "dropout"], "invalid choice: 'dropout'"),
        (["run", "ewc", "--scale", "huge"], "unknown scale 'huge'"),
        (["run", "ewc", "--device", "quantum"], "unknown device 'quantum'"),
        (["run", "ewc", "--stream", "split", "--tasks", "7"], "needs 14 classes"),
        (["run", "ewc", "--tasks", "0"], "expected a positive integer"),
        (["run", "ewc", "--stream", "spiral"], "unknown stream 'spiral'"),
        (["run", "ewc", "--json", "/nonexistent/dir/r.json"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_real_dataset_names_the_download_command(tmp_path):
    proc = run_cli("run", "finetune", "--dataset", "mnist", env_extra={"CLTK_DATA": str(tmp_path)})
    assert proc.returncode == 2
    assert "data_scripts/download.py" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cuda_without_gpu_is_clear():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run_cli("run", "finetune", "--device", "cuda")
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr


def test_help_explains():
    proc = run_cli("--help")
    assert proc.returncode == 0 and "run METHOD" in proc.stdout and "CLTK_SCALE" in proc.stdout
    proc = run_cli("run", "--help")
    assert proc.returncode == 0
    for word in ("--dataset", "--stream", "--json", "permuted", "smoke", "acc_matrix"):
        assert word in proc.stdout


def test_info_and_version(capsys):
    assert main(["info"]) == 0
    assert "torch" in capsys.readouterr().out
    assert main(["--version"]) == 0


def test_real_dataset_runs_through_the_same_cli(tmp_path):
    from fake_datasets import write_fake_mnist

    write_fake_mnist(tmp_path, n_train=40, n_test=20)
    out = tmp_path / "r.json"
    proc = run_cli(
        "run", "ewc", "--dataset", "mnist", "--stream", "split", "--data-root", str(tmp_path), "--json", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["dataset"] == "mnist" and len(data["tasks"]) == 5


def test_hypernet_chunked_with_small_trunk_compresses(tmp_path):
    out = tmp_path / "h.json"
    code = main(
        ["run", "hypernet", "--scale", "smoke", "--tasks", "2", "--chunk-size", "500", "--hnet-hidden", "10,10"]
        + ["--json", str(out), "--quiet"]
    )
    assert code == 0
    assert json.loads(out.read_text())["compression_ratio"] < 1.0
    proc = run_cli("run", "hypernet", "--hnet-hidden", "10,x")
    assert proc.returncode == 2 and "comma-separated positive integers" in proc.stderr
