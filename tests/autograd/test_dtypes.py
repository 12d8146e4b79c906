"""The dtype rules (docs/autograd.md, "dtypes"): creation, mixing, constants, gradients.

- A float NumPy array or scalar keeps float32 or float64 (float16 is widened to float32); Python
  numbers, lists, ints and bools become float32; an explicit ``dtype=`` wins.
- An op on tensors of different float dtypes computes in the widest (float64), and values that
  are not tensors (numbers, arrays, masks, targets) are constants in that dtype.
- Every tensor of the graph receives its gradient in its own dtype.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import scratchgen as sg
import scratchgen.nn as nn
from helpers import run
from layer_op_specs import LAYER_SPECS
from op_specs import SPECS as CORE_SPECS
from scratchgen.autograd import nn_ops, ops
from scratchgen.nn import load_checkpoint

SPECS = {**CORE_SPECS, **LAYER_SPECS}
# The ops that take several differentiable inputs (checked against the specs below).
MULTI_INPUT_OPS = ["add", "batch_norm", "binary_cross_entropy_with_logits", "concatenate", "conv2d",
                   "conv_transpose2d", "div", "gaussian_nll_loss", "group_norm", "kl_normal_standard",
                   "layer_norm", "linear", "lstm_scan", "matmul", "maximum", "minimum", "mse_loss", "mul", "stack",
                   "sub", "where"]
# A value with more digits than float32 holds: any rounding to float32 changes it.
PRECISE = 0.1 + 2.0**-40


# ------------------------------------------------------------------------- creation
@pytest.mark.parametrize("make", [sg.tensor, sg.as_tensor, sg.Tensor, nn.Parameter], ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_numpy_data_keeps_its_dtype_and_values(make, dtype):
    array = np.array([PRECISE, -3.0], dtype=dtype)
    for data in (array, array[0]):   # an array and a NumPy scalar
        t = make(data)
        assert t.dtype == dtype
        np.testing.assert_array_equal(t.data, data)
    assert make(array).data[0] == dtype(PRECISE)


def test_float16_is_widened_exactly_to_float32():
    half = np.array([0.1, 65504.0], dtype=np.float16)
    t = sg.tensor(half)
    assert t.dtype == np.float32 and np.array_equal(t.data, half.astype(np.float32))


@pytest.mark.parametrize("data", [1, 2.5, True, [1, 2], [[True, False]], [[0.5, 1], [2, 3]]],
                         ids=["int", "float", "bool", "int list", "bool list", "nested list"])
def test_python_numbers_and_lists_become_float32(data):
    t = sg.tensor(data)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


def test_an_explicit_dtype_wins():
    assert sg.tensor(np.array([PRECISE]), dtype=np.float32).dtype == np.float32
    assert sg.tensor(np.array([1.0], np.float32), dtype=np.float64).dtype == np.float64
    assert sg.tensor([PRECISE], dtype=np.float64).data[0] == PRECISE
    assert nn.Parameter(np.zeros(2), dtype=np.float32).dtype == np.float32


def test_a_tensor_made_from_a_tensor_keeps_its_dtype():
    x = sg.tensor(np.array([PRECISE]))
    assert sg.Tensor(x).dtype == np.float64 and sg.Tensor(x).data[0] == PRECISE
    assert sg.as_tensor(x) is x


def test_layers_create_float32_parameters():
    layers = [nn.Linear(2, 3), nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(1, 2, 3), nn.Embedding(4, 2),
              nn.BatchNorm2d(2), nn.GroupNorm(1, 2), nn.LayerNorm(3)]
    for layer in layers:
        assert all(p.dtype == np.float32 for p in layer.parameters()), type(layer).__name__


def test_float_and_double_are_differentiable_casts():
    x32 = sg.tensor([1.5, -2.0], requires_grad=True)
    assert x32.float() is x32
    x64 = x32.double()
    assert x64.dtype == np.float64 and not x64.is_leaf
    (x64 * x64).sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.grad, [3.0, -4.0])
    y = sg.tensor(np.array([PRECISE]), requires_grad=True)
    (y.float() * 2).sum().backward()
    assert y.float().dtype == np.float32 and y.grad.dtype == np.float64 and y.grad[0] == 2.0


# ------------------------------------------------------------------------- mixing
def _run(name, values, kwargs):
    """The op of ``SPECS[name]`` on ``values`` (tensors and NumPy arrays), its first output."""
    out = SPECS[name].call(sg.OPS[name], values, kwargs)
    return out[0] if isinstance(out, list) else out


def test_the_list_of_multi_input_ops_is_complete():
    @settings(max_examples=1)
    @given(data=st.data())
    def count_inputs(data):
        for name, spec in SPECS.items():
            arrays, _ = spec.draw(data)
            if len(arrays) > 1:
                assert name in MULTI_INPUT_OPS, f"{name} takes several tensors: add it to MULTI_INPUT_OPS"
    count_inputs()


def _some_but_not_all(data, n: int, label: str) -> list[bool]:
    """n flags, at least one True and one False: which inputs get the treatment under test."""
    return data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda flags: 0 < sum(flags) < n),
                     label=label)


@pytest.mark.parametrize("name", MULTI_INPUT_OPS)
@given(data=st.data())
def test_tensors_of_different_dtypes_compute_in_float64(name, data):
    """float32 with float64 gives the float64 result of the same values; each input's gradient is in its dtype."""
    arrays, kwargs = SPECS[name].draw(data)
    if len(arrays) < 2:
        return
    narrow = _some_but_not_all(data, len(arrays), "float32 inputs")
    # The float64 reference computes on the same numbers: the float32 inputs, rounded.
    values = [a.astype(np.float32).astype(np.float64) if n else a for a, n in zip(arrays, narrow)]
    mixed = [sg.tensor(v, dtype=np.float32 if n else np.float64, requires_grad=True) for v, n in zip(values, narrow)]
    reference = [sg.tensor(v, dtype=np.float64, requires_grad=True) for v in values]
    out, expected = _run(name, mixed, kwargs), _run(name, reference, kwargs)
    assert out.dtype == np.float64, f"{name} gave {out.dtype} for inputs {[t.dtype for t in mixed]}"
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-12)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(upstream)
    for t, ref in zip(mixed, reference):
        assert t.grad.dtype == t.dtype
        np.testing.assert_allclose(t.grad, ref.grad, rtol=1e-6 if t.dtype == np.float32 else 1e-12, atol=1e-6)


@pytest.mark.parametrize("name", MULTI_INPUT_OPS)
@given(data=st.data())
def test_constants_take_the_dtype_of_the_tensors(name, data):
    """float32 tensors with float64 NumPy arrays: the arrays are constants, the result is float32."""
    arrays, kwargs = SPECS[name].draw(data)
    if len(arrays) < 2:
        return
    is_tensor = _some_but_not_all(data, len(arrays), "tensor inputs")
    mixed = [sg.tensor(a, dtype=np.float32, requires_grad=True) if t else a for a, t in zip(arrays, is_tensor)]
    all_float32 = [sg.tensor(a, dtype=np.float32) for a in arrays]
    out = _run(name, mixed, kwargs)
    assert out.dtype == np.float32, f"{name} gave {out.dtype}"
    np.testing.assert_allclose(out.data, _run(name, all_float32, kwargs).data, rtol=1e-6, atol=1e-6)
    out.backward(np.ones(out.shape, np.float32))
    assert all(t.grad.dtype == np.float32 for t in mixed if isinstance(t, sg.Tensor))


@pytest.mark.parametrize("call", [
    lambda x: x ** np.float64(2.0),
    lambda x: sg.clip(x, np.float64(-0.5), np.float64(0.5)),
    lambda x: x * np.float64(PRECISE),
    lambda x: np.float64(PRECISE) - x,
    lambda x: sg.maximum(x, np.float64(0.0)),
    lambda x: sg.leaky_relu(x, np.float64(0.1)),
    lambda x: sg.pad(x, ((1, 1), (0, 0), (0, 0), (0, 0)), np.float64(PRECISE)),
    lambda x: nn_ops.group_norm(x, 1, eps=np.float64(1e-5)),
    lambda x: nn_ops.batch_norm(x, np.zeros(2), np.ones(2), np.ones(2), np.zeros(2)),
    lambda x: nn_ops.conv2d(x, np.ones((1, 2, 1, 1)) * PRECISE),
    lambda x: sg.mse_loss(x, np.full(x.shape, PRECISE)),
], ids=["pow", "clip", "mul", "rsub", "maximum", "leaky_relu", "pad", "group_norm", "batch_norm eval", "conv2d",
        "mse_loss"])
def test_numpy_float64_scalars_and_arrays_do_not_promote_a_float32_tensor(call):
    x = sg.tensor(np.random.default_rng(0).standard_normal((2, 2, 3, 3)), dtype=np.float32, requires_grad=True)
    out = call(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_a_float32_branch_computes_its_backward_pass_in_float32():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def backward(g):
        seen.append(g.dtype)
        return (2 * g,)

    doubled = sg.Tensor.from_op(2 * x.data, (x,), backward, "double")   # a float32 node...
    (doubled * sg.tensor(np.array([PRECISE, 1.0]))).sum().backward()     # ...consumed by a float64 op
    assert seen == [np.float32] and x.grad.dtype == np.float32


# ------------------------------------------------------------------------- models
def _conv_model():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.SiLU(), nn.Flatten(),
                         nn.Linear(4 * 25, 3))


def _reference_forward(model, x):
    """The same network written out in NumPy, float64 throughout."""
    w = {name: p.data.astype(np.float64) for name, p in model.named_parameters()}
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    h = np.einsum("ncyxij,ocij->noyx", windows, w["0.weight"]) + w["0.bias"][:, None, None]
    groups = h.reshape(len(h), 2, -1)
    groups = (groups - groups.mean(2, keepdims=True)) / np.sqrt(groups.var(2, keepdims=True) + 1e-5)
    h = groups.reshape(h.shape) * w["1.weight"][:, None, None] + w["1.bias"][:, None, None]
    h = h / (1 + np.exp(-h))
    return h.reshape(len(h), -1) @ w["4.weight"].T + w["4.bias"]


def test_a_float64_model_fed_float64_numpy_data_computes_in_float64():
    sg.manual_seed(0)
    model = _conv_model().double()
    x = np.random.default_rng(1).standard_normal((2, 1, 5, 5)) * PRECISE
    out = model(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, _reference_forward(model, x), rtol=1e-12, atol=1e-13)
    rounded = _reference_forward(model, x.astype(np.float32).astype(np.float64))
    assert np.abs(out.data - rounded).max() > 1e-9   # the input was not rounded to float32
    out.sum().backward()
    assert all(p.grad.dtype == np.float64 for p in model.parameters())


def test_a_float32_model_fed_float64_numpy_data_computes_in_float64_with_float32_gradients():
    """The layers turn the array into a float64 tensor, which meets the float32 weights: the mixing rule."""
    sg.manual_seed(0)
    model = _conv_model()
    x = np.random.default_rng(1).standard_normal((2, 1, 5, 5))
    out = model(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, _reference_forward(model, x), rtol=1e-10, atol=1e-12)
    out.sum().backward()
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    assert model(x.astype(np.float32)).dtype == np.float32


TINY_RUNS = {
    "ae": ["--latent", "4", "--hidden", "16"],
    "vae": ["--latent", "2", "--hidden", "16"],
    "gan": ["--latent", "8", "--g-widths", "16,32", "--d-widths", "32,16"],
    "ddpm": ["--net", "mlp", "--widths", "16", "--timesteps", "25"],
    "pixelcnn": ["--channels", "8", "--blocks", "1", "--hidden", "8", "--figure-samples", "0"],   # 784 passes
}


@pytest.mark.parametrize("family", sorted(TINY_RUNS))
def test_training_a_float32_model_stays_float32(family, data_dir, tmp_path, monkeypatch):
    """No float32 tensor is promoted to float64 (``ops.cast`` is where the mixing rule promotes) and
    the checkpoint's tensors (parameters, buffers, optimizer moments, EMA weights) are float32."""
    promotions = []
    cast = ops.cast

    def recording_cast(x, dtype):
        if x.dtype != dtype:
            promotions.append((x.shape, x.dtype, np.dtype(dtype)))
        return cast(x, dtype)

    monkeypatch.setattr(ops, "cast", recording_cast)
    out = tmp_path / family
    r = run("train", family, "--data", data_dir, "--epochs", "1", "--limit", "64", "--batch-size", "32",
            "--eval-images", "40", "--no-progress", "--out", str(out), *TINY_RUNS[family])
    assert r.returncode == 0, r.stderr
    assert promotions == []
    checked = 0
    for part, state in load_checkpoint(out / "checkpoint.npz").items():
        for name, array in state.items():
            # parameters and buffers, Adam's moments, EMA weights (hyperparameters are Python floats)
            if part == "model" or name.startswith(("state.", "shadow.")):
                assert array.dtype.kind != "f" or array.dtype == np.float32, f"{part}.{name} is {array.dtype}"
                checked += 1
    assert checked > 0
