import pytest
import torch
import torch.nn.functional as F

from cltoolkit.baselines import (
    BASELINES,
    BaselineConfig,
    OnlineEWC,
    SynapticIntelligence,
    default_config,
    run_baseline,
)
from cltoolkit.data import load_digits, make_stream
from cltoolkit.errors import ConfigError
from cltoolkit.nets import build_net


@pytest.fixture(scope="module")
def permuted():
    return make_stream(load_digits(), "permuted", 3, seed=0)


def test_default_config_by_scale():
    assert default_config("smoke").epochs == 5 and default_config("smoke").max_train == 200
    assert default_config("default").epochs > 1
    assert default_config("default", epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="epochs"):
        default_config("default", epochs=0)
    with pytest.raises(ConfigError, match="ewc_gamma"):
        default_config("default", ewc_gamma=2.0)


def test_fisher_matches_per_example_loop():
    torch.manual_seed(0)
    net = build_net("mlp", (1, 2, 2), [3], hidden=(5,))
    x, y = torch.randn(7, 1, 2, 2), torch.randint(0, 3, (7,))
    ewc = OnlineEWC(lam=1.0)
    fisher = ewc.fisher_diagonal(net, x, y, task=0, device="cpu")
    expected = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    for i in range(7):
        net.zero_grad()
        F.cross_entropy(net(x[i : i + 1], 0), y[i : i + 1]).backward()
        for n, p in net.named_parameters():
            expected[n] += p.grad**2 / 7
    for n in expected:
        assert torch.allclose(fisher[n], expected[n], atol=1e-6), n


def test_ewc_penalty_zero_at_anchor_positive_after_change():
    torch.manual_seed(0)
    net = build_net("mlp", (1, 2, 2), [2], hidden=(4,))
    x, y = torch.randn(20, 1, 2, 2), torch.randint(0, 2, (20,))
    ewc = OnlineEWC(lam=10.0, gamma=0.5)
    assert ewc.penalty(net).item() == 0.0
    ewc.consolidate(net, x, y, 0, "cpu")
    assert ewc.penalty(net).item() == pytest.approx(0.0, abs=1e-12)
    first = {n: f.clone() for n, f in ewc.fisher.items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1)
    assert ewc.penalty(net).item() > 0
    ewc.consolidate(net, x, y, 0, "cpu")  # online: F = gamma * F_old + F_new
    new = ewc.fisher_diagonal(net, x, y, 0, "cpu")
    for n in first:
        assert torch.allclose(ewc.fisher[n], 0.5 * first[n] + new[n], atol=1e-6)
    with pytest.raises(ConfigError):
        OnlineEWC(lam=-1)


def test_si_importance_nonnegative_and_penalty():
    torch.manual_seed(0)
    net = build_net("mlp", (1, 2, 2), [2], hidden=(4,))
    si = SynapticIntelligence(c=1.0, xi=0.1)
    si.begin_task(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(32, 1, 2, 2), torch.randint(0, 2, (32,))
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(net(x, 0), y).backward()
        si.before_step(net)
        opt.step()
        si.after_step(net)
    si.consolidate(net)
    assert all((o >= 0).all() for o in si.omega.values())
    assert sum(o.sum() for o in si.omega.values()) > 0
    assert si.penalty(net).item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ConfigError):
        SynapticIntelligence(xi=0)


@pytest.mark.parametrize("method", BASELINES)
def test_every_baseline_fills_the_matrix(method, permuted):
    result = run_baseline(method, permuted, default_config("smoke"), seed=0, progress=False)
    R = result.acc_matrix
    assert R.shape == (3, 3) and not (R != R).any()
    assert ((0 <= R) & (R <= 1)).all()
    d = result.to_dict()
    for key in ("acc_matrix", "avg_acc", "bwt", "forgetting", "bytes_per_task", "params", "tasks"):
        assert key in d


def test_finetune_forgets_joint_does_not(permuted):
    cfg = default_config("default", epochs=4)
    ft = run_baseline("finetune", permuted, cfg, seed=0, progress=False).summary()
    joint = run_baseline("joint", permuted, cfg, seed=0, progress=False).summary()
    assert ft["forgetting"] > 0.2
    assert joint["forgetting"] < 0.05
    assert joint["avg_acc"] > ft["avg_acc"] + 0.2


def test_ewc_reduces_forgetting(permuted):
    cfg = default_config("default", epochs=4)
    ft = run_baseline("finetune", permuted, cfg, seed=0, progress=False).summary()
    ewc = run_baseline("ewc", permuted, cfg, seed=0, progress=False).summary()
    assert ewc["forgetting"] < ft["forgetting"] - 0.1


def test_same_seed_same_result(permuted):
    a = run_baseline("si", permuted, default_config("smoke"), seed=3, progress=False)
    b = run_baseline("si", permuted, default_config("smoke"), seed=3, progress=False)
    assert (a.acc_matrix == b.acc_matrix).all()


def test_split_stream_uses_heads_and_counts_head_bytes():
    stream = make_stream(load_digits(), "split", 2)
    result = run_baseline("finetune", stream, default_config("smoke"), progress=False)
    assert len(result.model.heads) == 2
    assert result.bytes_per_task == (result.model.feature_dim * 2 + 2) * 4


def test_unknown_baseline():
    with pytest.raises(ConfigError, match="unknown baseline 'lwf'"):
        run_baseline("lwf", make_stream(load_digits(), "split", 2))


def _si_penalty_only(steps: int = 200) -> SynapticIntelligence:
    """SI with Omega = 1 on a weight displaced from its anchor, trained on the penalty alone (task loss grad 0)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    si = SynapticIntelligence(c=1.0, xi=0.1)
    si.begin_task(model)
    si.consolidate(model)  # anchor = current weights
    for name in si.omega:
        si.omega[name] = torch.ones_like(si.omega[name])
    with torch.no_grad():
        model.weight.add_(1.0)  # displaced: the penalty pulls it back
    si.begin_task(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(8, 3)
    for _ in range(steps):
        opt.zero_grad()
        task_loss = 0.0 * model(x).sum()  # zero gradient from the task
        (task_loss + si.penalty(model)).backward()
        si.before_step(model)
        opt.step()
        si.after_step(model)
    si.consolidate(model)
    return si


def test_si_path_integral_ignores_the_penalty_gradient():
    # Zenke et al.: w accumulates -g_task * delta; with a zero task gradient w stays 0, so Omega stays 1.
    # (Reading the gradient of loss + penalty made Omega grow from 1.0 to about 1.95 here.)
    si = _si_penalty_only()
    for name, omega in si.omega.items():
        assert torch.allclose(omega, torch.ones_like(omega)), f"{name}: Omega drifted to {omega.flatten().tolist()}"


def test_si_clamps_the_cumulative_omega_not_each_contribution():
    model = torch.nn.Linear(2, 1, bias=False)
    si = SynapticIntelligence(c=1.0, xi=1.0)
    si.begin_task(model)
    si.omega = {"weight": torch.tensor([[1.0, 1.0]])}
    si.anchor = {"weight": model.weight.detach().clone()}
    si._w = {"weight": torch.tensor([[-0.5, -3.0]])}  # negative path integrals; Delta = 0
    si.consolidate(model)
    # 1 - 0.5 = 0.5 stays; 1 - 3 = -2 is clamped to 0 (per-contribution clamping would keep both at 1)
    assert si.omega["weight"].tolist() == [[0.5, 0.0]]


@pytest.mark.parametrize(
    "field, value",
    [
        ("lr", float("nan")),  # hostile
        ("lr", float("inf")),  # hostile
        ("lr", 0.0),  # hostile
        ("ewc_lambda", float("nan")),  # hostile
        ("ewc_lambda", float("inf")),  # hostile
        ("ewc_lambda", -1.0),  # hostile
        ("si_c", float("nan")),  # hostile
        ("si_xi", 0.0),  # hostile
        ("ewc_gamma", 1.5),  # hostile
        ("epochs", 0),  # hostile
        ("epochs", 2.5),  # hostile
        ("epochs", True),  # hostile
        ("batch_size", 0),  # hostile
        ("hidden", (256, -1)),  # hostile
        ("hidden", "256"),  # hostile
        ("optimizer", "rmsprop"),  # hostile
        ("arch", "transformer"),  # hostile
    ],
)
def test_config_refuses_bad_values(field, value):
    with pytest.raises(ConfigError, match=field):
        default_config("smoke", **{field: value})


def test_config_refuses_unknown_override_and_direct_construction_checks():
    with pytest.raises(ConfigError, match="lrr"):
        default_config("smoke", lrr=0.1)
    with pytest.raises(ConfigError, match="lr must be a finite number"):
        BaselineConfig(lr=float("nan"))
