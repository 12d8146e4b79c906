"""scratchgen.optim: update rules against hand-computed numbers, exact resumption, schedules, EMA."""
from __future__ import annotations

import math

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
import scratchgen.optim as optim
from scratchgen.autograd import losses

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.3, 0.8, 1.5]), np.array([1.2, 0.1, -0.7])]
START = np.array([1.0, -2.0, 0.5])


def run_on_fixed_grads(make_optimizer) -> list[np.ndarray]:
    """Feed GRADS to an optimizer over one float64 parameter; return the parameter after each step."""
    param = nn.Parameter(START.copy(), dtype=np.float64)
    optimizer = make_optimizer([param])
    history = []
    for grad in GRADS:
        param.grad = grad.copy()
        optimizer.step()
        history.append(param.data.copy())
    return history


# ------------------------------------------------------------------------- update rules
def test_sgd_with_momentum_and_weight_decay_matches_the_formulas():
    lr, mu, wd = 0.1, 0.9, 0.01
    theta, buffer, expected = START.copy(), None, []
    for grad in GRADS:
        d = grad + wd * theta
        buffer = d if buffer is None else mu * buffer + d
        theta = theta - lr * buffer
        expected.append(theta)
    got = run_on_fixed_grads(lambda p: optim.SGD(p, lr, momentum=mu, weight_decay=wd))
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_sgd_nesterov_matches_the_formulas():
    lr, mu = 0.05, 0.8
    theta, buffer, expected = START.copy(), None, []
    for grad in GRADS:
        buffer = grad if buffer is None else mu * buffer + grad
        theta = theta - lr * (grad + mu * buffer)
        expected.append(theta)
    got = run_on_fixed_grads(lambda p: optim.SGD(p, lr, momentum=mu, nesterov=True))
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_sgd_dampening_spares_the_first_step():
    lr, mu, tau = 0.1, 0.9, 0.5
    buffer_1 = GRADS[0]
    buffer_2 = mu * buffer_1 + (1 - tau) * GRADS[1]
    expected = START - lr * buffer_1 - lr * buffer_2
    got = run_on_fixed_grads(lambda p: optim.SGD(p, lr, momentum=mu, dampening=tau))
    np.testing.assert_allclose(got[1], expected, rtol=1e-14)


def adam_reference(lr, beta1, beta2, eps, weight_decay, decoupled):
    theta, m, v, expected = START.copy(), np.zeros(3), np.zeros(3), []
    for t, grad in enumerate(GRADS, start=1):
        if decoupled:
            theta = theta * (1 - lr * weight_decay)
        else:
            grad = grad + weight_decay * theta
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        expected.append(theta)
    return expected


def test_adam_matches_the_formulas():
    got = run_on_fixed_grads(lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1))
    np.testing.assert_allclose(got, adam_reference(0.01, 0.8, 0.95, 1e-6, 0.1, decoupled=False), rtol=1e-12)


def test_adamw_decays_weights_outside_the_gradient():
    got = run_on_fixed_grads(lambda p: optim.AdamW(p, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1))
    np.testing.assert_allclose(got, adam_reference(0.01, 0.8, 0.95, 1e-6, 0.1, decoupled=True), rtol=1e-12)
    # The two weight decays really differ (otherwise one of the tests above would prove nothing).
    assert not np.allclose(adam_reference(0.01, 0.8, 0.95, 1e-6, 0.1, True)[-1],
                           adam_reference(0.01, 0.8, 0.95, 1e-6, 0.1, False)[-1], rtol=1e-6)


def test_first_adam_step_moves_each_coordinate_by_about_lr():
    # Bias correction makes the first update lr * g / (|g| + eps'), i.e. lr * sign(g).
    got = run_on_fixed_grads(lambda p: optim.Adam(p, lr=0.01))[0]
    np.testing.assert_allclose(START - got, 0.01 * np.sign(GRADS[0]), rtol=1e-6)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
])
def test_updates_match_torch_optim(name, kwargs):
    torch = pytest.importorskip("torch")
    reference = torch.tensor(START.copy(), requires_grad=True)
    torch_optimizer = getattr(torch.optim, name)([reference], **kwargs)
    for grad in GRADS:
        reference.grad = torch.tensor(grad)
        torch_optimizer.step()
    ours = dict(kwargs)
    lr = ours.pop("lr")
    got = run_on_fixed_grads(lambda p: getattr(optim, name)(p, lr, **ours))
    np.testing.assert_allclose(got[-1], reference.detach().numpy(), rtol=1e-12)


def test_parameters_without_gradient_are_skipped():
    used, unused = nn.Parameter([1.0, 2.0]), nn.Parameter([3.0])
    optimizer = optim.Adam([used, unused], lr=0.1)
    used.grad = np.array([1.0, 1.0], dtype=np.float32)
    optimizer.step()
    assert np.array_equal(unused.data, [3.0]) and 1 not in optimizer.state
    assert optimizer.state[0]["step"] == 1
    optimizer.zero_grad()
    assert used.grad is None


def test_parameter_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter([1.0]), nn.Parameter([1.0])
    optimizer = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.ones(1, np.float32), np.ones(1, np.float32)
    optimizer.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5], rtol=1e-6)


@pytest.mark.parametrize("build, error, match", [
    (lambda p: optim.SGD(p, -0.1), ValueError, "lr must be >= 0"),
    (lambda p: optim.SGD(p, 0.1, nesterov=True), ValueError, "Nesterov momentum needs momentum > 0"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, r"betas must be two numbers in \[0, 1\)"),
    (lambda p: optim.AdamW(p, eps=-1), ValueError, "eps must be >= 0"),
    (lambda p: optim.Adam([]), ValueError, "empty parameter list"),
    (lambda p: optim.Adam(p + p), ValueError, "appears twice"),
    (lambda p: optim.Adam([p[0] * 2]), ValueError, "leaf tensors"),
    (lambda p: optim.Adam([np.ones(2)]), TypeError, "optimizes Tensors"),
])
def test_invalid_optimizer_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build([nn.Parameter([1.0, 2.0])])


# ------------------------------------------------------------------------- exact resumption
def regression_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    return x, np.sin(2 * x[:, :1]) + x[:, 1:] ** 2


def mlp(seed: int) -> nn.Module:
    sg.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.SiLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))


def train(model, optimizer, schedule, steps):
    x, y = regression_data()
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = losses.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
    return history


OPTIMIZERS = {
    "sgd-nesterov": lambda params: optim.SGD(params, 0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda params: optim.Adam(params, lr=1e-2),
    "adamw": lambda params: optim.AdamW(params, lr=1e-2, weight_decay=0.05),
}


def warmup_then_cosine(optimizer):
    return optim.LinearWarmup(optimizer, 3, after=optim.CosineAnnealingLR(optimizer, T_max=10, eta_min=1e-4))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_resuming_from_a_checkpoint_is_bitwise_identical(tmp_path, name):
    total, interrupted_at = 12, 5
    model = mlp(seed=0)
    optimizer = OPTIMIZERS[name](model.parameters())
    straight = train(model, optimizer, warmup_then_cosine(optimizer), total)

    first = mlp(seed=0)
    optimizer = OPTIMIZERS[name](first.parameters())
    schedule = warmup_then_cosine(optimizer)
    resumed = train(first, optimizer, schedule, interrupted_at)
    path = tmp_path / "checkpoint.npz"
    nn.save_checkpoint(path, model=first, optimizer=optimizer, schedule=schedule)

    second = mlp(seed=99)  # different initial weights: everything must come from the file
    optimizer = OPTIMIZERS[name](second.parameters())
    schedule = warmup_then_cosine(optimizer)
    parts = nn.load_checkpoint(path)
    second.load_state_dict(parts["model"])
    optimizer.load_state_dict(parts["optimizer"])
    schedule.load_state_dict(parts["schedule"])
    resumed += train(second, optimizer, schedule, total - interrupted_at)

    assert resumed == straight
    for (name_, a), b in zip(model.named_parameters(), second.parameters()):
        assert np.array_equal(a.data, b.data), name_


def test_optimizer_state_dict_is_arrays_with_steps_and_moments():
    model = mlp(seed=0)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    train(model, optimizer, optim.StepLR(optimizer, 100), 2)
    state = optimizer.state_dict()
    assert all(isinstance(value, np.ndarray) for value in state.values())
    assert int(state["state.0.step"]) == 2 and state["state.0.exp_avg"].shape == (16, 2)
    assert tuple(state["param_groups.0.betas"]) == (0.9, 0.999)
    assert list(state["param_groups.0.params"]) == list(range(6))


def test_loading_optimizer_state_reports_mismatches():
    model = mlp(seed=0)
    optimizer = optim.Adam(model.parameters())
    train(model, optimizer, optim.StepLR(optimizer, 100), 1)
    other = nn.Sequential(nn.Linear(3, 16), nn.SiLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    with pytest.raises(ValueError, match=r"state.0.exp_avg expected \(16, 3\), got \(16, 2\)"):
        optim.Adam(other.parameters()).load_state_dict(optimizer.state_dict())
    with pytest.raises(ValueError, match=r"param_groups.0.params expected \(2,\), got \(6,\)"):
        optim.Adam(nn.Linear(2, 16).parameters()).load_state_dict(optimizer.state_dict())
    sgd = optim.SGD(model.parameters(), 0.1)
    with pytest.raises(ValueError, match="missing.*param_groups.0.betas"):
        optim.Adam(model.parameters()).load_state_dict(sgd.state_dict())


# ------------------------------------------------------------------------- clipping
def test_clip_grad_norm_scales_all_gradients_together():
    a, b, untouched = nn.Parameter([0.0, 0.0]), nn.Parameter([0.0]), nn.Parameter([0.0])
    a.grad, b.grad = np.array([3.0, 4.0], np.float32), np.array([12.0], np.float32)
    assert optim.clip_grad_norm_([a, b, untouched], max_norm=6.5) == pytest.approx(13.0)
    factor = 6.5 / (13.0 + 1e-6)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [3 * factor, 4 * factor, 12 * factor], rtol=1e-6)
    assert optim.clip_grad_norm_([a, b], max_norm=100.0) == pytest.approx(6.5, rel=1e-6)
    np.testing.assert_allclose(b.grad, [12 * factor], rtol=1e-6)  # below max_norm: unchanged


def test_clip_grad_norm_inf_norm_and_nonfinite():
    param = nn.Parameter([0.0, 0.0])
    param.grad = np.array([-3.0, 2.0], np.float32)
    assert optim.clip_grad_norm_(param, 1.0, norm_type=math.inf) == pytest.approx(3.0)
    np.testing.assert_allclose(param.grad, [-1.0, 2 / 3], rtol=1e-5)
    param.grad = np.array([np.nan, 1.0], np.float32)
    with pytest.raises(RuntimeError, match="not finite"):
        optim.clip_grad_norm_(param, 1.0, error_if_nonfinite=True)
    assert optim.clip_grad_norm_([nn.Parameter([1.0])], 1.0) == 0.0  # no gradients at all


# ------------------------------------------------------------------------- schedules
def lrs(schedule, steps):
    seen = [schedule.get_last_lr()[0]]
    for _ in range(steps):
        schedule.step()
        seen.append(schedule.get_last_lr()[0])
    return seen


def sgd(lr=1.0):
    return optim.SGD([nn.Parameter([0.0])], lr)


def test_step_lr_sequence():
    np.testing.assert_allclose(lrs(optim.StepLR(sgd(), step_size=2, gamma=0.5), 5), [1, 1, 0.5, 0.5, 0.25, 0.25])


def test_cosine_annealing_sequence():
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    got = lrs(optim.CosineAnnealingLR(sgd(), T_max=4, eta_min=0.1), 4)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[0] == 1.0 and got[-1] == pytest.approx(0.1)


def test_linear_warmup_then_hand_over():
    optimizer = sgd(0.6)
    schedule = optim.LinearWarmup(optimizer, 3, after=optim.StepLR(optimizer, step_size=2, gamma=0.1))
    np.testing.assert_allclose(lrs(schedule, 6), [0.2, 0.4, 0.6, 0.6, 0.6, 0.06, 0.06], rtol=1e-12)
    np.testing.assert_allclose(lrs(optim.LinearWarmup(sgd(1.0), 2), 3), [0.5, 1, 1, 1])
    with pytest.raises(ValueError, match="same optimizer"):
        optim.LinearWarmup(sgd(), 2, after=optim.StepLR(sgd(), 1))


def test_schedules_scale_each_group_from_its_own_base_lr():
    optimizer = optim.SGD([{"params": [nn.Parameter([0.0])]}, {"params": [nn.Parameter([0.0])], "lr": 0.1}], lr=1.0)
    schedule = optim.StepLR(optimizer, step_size=1, gamma=0.5)
    schedule.step()
    np.testing.assert_allclose(schedule.get_last_lr(), [0.5, 0.05])


def test_schedule_resumes_from_its_state_dict():
    original = optim.CosineAnnealingLR(sgd(), T_max=10)
    lrs(original, 4)
    resumed = optim.CosineAnnealingLR(sgd(), T_max=10)
    resumed.load_state_dict(original.state_dict())
    assert lrs(resumed, 3) == lrs(original, 3)
    with pytest.raises(ValueError, match="missing.*last_step"):
        resumed.load_state_dict({"base_lrs": np.ones(1)})
    with pytest.raises(ValueError, match="T_max must be a positive int"):
        optim.CosineAnnealingLR(sgd(), T_max=0)


# ------------------------------------------------------------------------- EMA
class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.norm = nn.BatchNorm1d(2)

    def forward(self, x):
        return self.norm(self.linear(x))


def test_ema_averages_parameters_only():
    model = WithBuffers()
    ema = optim.EMA(model, decay=0.9)
    assert list(ema.shadow) == [name for name, _ in model.named_parameters()]  # no running statistics
    start = model.linear.weight.data.astype(np.float64)
    model.linear.weight.data[...] = 1.0
    ema.update()
    model.linear.weight.data[...] = 3.0
    ema.update()
    # a2 = 0.9 a1 + 0.1 * 3 with a1 = 0.9 start + 0.1 * 1
    expected = 0.9 * (0.9 * start + 0.1) + 0.1 * 3
    np.testing.assert_allclose(ema.shadow["linear.weight"], expected, rtol=1e-6)
    assert ema.num_updates == 2


def test_ema_leaves_buffers_alone():
    model = WithBuffers()
    ema = optim.EMA(model, decay=0.5)
    model(np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32))  # moves the running stats
    buffers = {name: array.copy() for name, array in model.named_buffers()}
    ema.update()
    ema.copy_to(model)
    with ema.average_parameters():
        pass
    for name, array in model.named_buffers():
        assert np.array_equal(array, buffers[name]), name


def test_ema_swaps_averages_in_and_restores_trained_parameters():
    model = WithBuffers()
    ema = optim.EMA(model, decay=0.0)  # the average is then the latest parameters
    model.linear.bias.data[...] = 5.0
    ema.update()
    model.linear.bias.data[...] = -1.0
    with pytest.raises(KeyError):
        with ema.average_parameters():
            assert np.all(model.linear.bias.data == 5.0)
            raise KeyError("the block fails")
    assert np.all(model.linear.bias.data == -1.0)  # restored despite the error
    copy = WithBuffers()
    ema.copy_to(copy)
    assert np.all(copy.linear.bias.data == 5.0)
    with pytest.raises(ValueError, match="missing"):
        ema.copy_to(nn.Linear(2, 2))


def test_ema_state_dict_round_trip_through_a_file(tmp_path):
    model = WithBuffers()
    ema = optim.EMA(model, decay=0.99)
    model.linear.weight.data[...] = 2.0
    ema.update()
    nn.save_state_dict(tmp_path / "ema.npz", ema)
    restored = optim.EMA(WithBuffers(), decay=0.5)
    restored.load_state_dict(nn.load_state_dict_file(tmp_path / "ema.npz"))
    assert restored.decay == 0.99 and restored.num_updates == 1
    assert all(np.array_equal(restored.shadow[name], ema.shadow[name]) for name in ema.shadow)
    with pytest.raises(ValueError, match="decay must be in"):
        optim.EMA(model, decay=1.0)


def test_ema_warmup_forgets_the_initial_weights():
    model = WithBuffers()
    model.linear.weight.data[...] = 0.0
    plain, warm = optim.EMA(model, decay=0.999), optim.EMA(model, decay=0.999, warmup=True)
    model.linear.weight.data[...] = 1.0
    kept = 1.0                           # the weight of the initial value in the warm average
    for t in range(2000):
        assert warm.current_decay() == pytest.approx(min(0.999, (1 + t) / (10 + t)))
        kept *= warm.current_decay()
        plain.update()
        warm.update()
    # the plain average still holds 0.999^2000 = 13.5% of the initial zeros; the warm one a tiny fraction
    assert plain.shadow["linear.weight"][0, 0] == pytest.approx(1 - 0.999**2000, rel=1e-4)
    assert warm.shadow["linear.weight"][0, 0] == pytest.approx(1 - kept, rel=1e-4) and kept < 1e-3


# ------------------------------------------------------------------------- training
def test_adam_trains_a_small_mlp():
    model = mlp(seed=1)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    history = train(model, optimizer, optim.CosineAnnealingLR(optimizer, T_max=300), 300)
    assert history[-1] < 0.1 * history[0], f"loss went from {history[0]:.3f} to {history[-1]:.3f}"
