"""Gradients where the property tests do not reach: the checker's own guard, kinks and ties, fast paths.

- The vacuity guard of ``scratchgen.gradcheck`` works per input: one input whose gradient is ~0
  fails a check unless the caller declares it (``expect_zero``).
- At a kink (relu at 0, clip at its bounds...) or a tie (max of equal values) the derivative is
  not defined, and the property tests keep their inputs away from such points. Here they are
  constructed on purpose to pin the convention (PyTorch's, docs/autograd.md "Kinks and ties");
  a cross-check against PyTorch runs when torch is importable.
- The kernels pick an implementation by shape (Winograd for 3x3 stride-1 convolutions with 16+
  channels, one GEMM per image for 1x1 ones, a gather table for im2col on grids narrower than 16
  positions, NumPy for (N, C) batch norm, serial or parallel Numba kernels by size). Each is
  gradient-checked in float64 at shapes that take it, and each test asserts that the path was
  taken, so it cannot drift off it when the dispatch changes. Pooling and bilinear resampling
  have one implementation whatever the shape, which the property tests check.
"""
from typing import Callable, NamedTuple

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.kernels as K
import scratchgen.nn as nn
from scratchgen.gradcheck import GradcheckError, gradcheck, gradcheck_module, gradcheck_projection
from scratchgen.kernels import conv as conv_kernels, norm as norm_kernels

F64 = np.float64


# ------------------------------------------------------------------ the vacuity guard, per input


def linear_plus_relu(a, b):
    """a + relu(b): b has zero gradient wherever b < 0."""
    return a * 2.0 + sg.relu(b)


NEGATIVE = np.array([-1.0, -2.0])
MIXED = np.array([-1.0, 2.0])


@pytest.mark.parametrize("check", [gradcheck, gradcheck_projection])
def test_gradcheck_refuses_one_vacuous_input_among_others(check):
    # a's gradient is checked, but nothing about relu's backward is: relu of negatives is 0 both ways
    with pytest.raises(GradcheckError, match="vacuous gradient check: .* of input 1 "):
        check(linear_plus_relu, [np.array([0.3, 0.7]), NEGATIVE])


@pytest.mark.parametrize("check", [gradcheck, gradcheck_projection])
def test_gradcheck_accepts_an_input_declared_to_have_zero_gradient(check):
    assert check(linear_plus_relu, [np.array([0.3, 0.7]), NEGATIVE], expect_zero=[1])


@pytest.mark.parametrize("check", [gradcheck, gradcheck_projection])
def test_gradcheck_refuses_a_false_zero_gradient_declaration(check):
    with pytest.raises(GradcheckError, match="input 1 was declared to have zero gradient"):
        check(linear_plus_relu, [np.array([0.3, 0.7]), MIXED], expect_zero=[1])


@pytest.mark.parametrize("check", [gradcheck, gradcheck_projection])
def test_gradcheck_catches_a_missing_gradient_of_a_declared_input(check):
    def relu_without_gradient(a, b):
        dropped = sg.Tensor.from_op(np.maximum(b.data, 0), (b,), lambda g: (np.zeros_like(g),), "broken_relu")
        return a * 2.0 + dropped

    with pytest.raises(GradcheckError, match="disagrees|declared to have zero gradient"):
        check(relu_without_gradient, [np.array([0.3, 0.7]), MIXED], expect_zero=[1])


def test_gradcheck_rejects_expect_zero_naming_no_input():
    with pytest.raises(ValueError, match="expect_zero names no checked input"):
        gradcheck(linear_plus_relu, [np.array([0.3]), MIXED], expect_zero=[2])


class UnusedParameter(nn.Module):
    """A linear layer next to a parameter that never reaches the output."""

    def __init__(self):
        super().__init__()
        self.used = nn.Linear(3, 2)
        self.unused = nn.Parameter(np.ones(4))

    def forward(self, x):
        return self.used(x)


def test_module_check_refuses_a_parameter_without_gradient_unless_declared():
    sg.manual_seed(0)
    module = UnusedParameter().double()
    x = np.random.default_rng(0).standard_normal((2, 3))
    with pytest.raises(GradcheckError, match="vacuous gradient check: .* of unused "):
        gradcheck_module(module, [x])
    assert gradcheck_module(module, [x], expect_zero=["unused"])
    with pytest.raises(GradcheckError, match="used.bias was declared to have zero gradient"):
        gradcheck_module(module, [x], expect_zero=["unused", "used.bias"])


# ------------------------------------------------------------------ kinks and ties


def max_pool(x, **kwargs):
    return sg.OPS["max_pool2d"](x, **kwargs)


def image(rows):
    """A (1, 1, H, W) batch of one single-channel image."""
    return np.array(rows, dtype=F64)[None, None]


class KinkCase(NamedTuple):
    """An op evaluated exactly at its kinks or ties, and the gradient the convention gives there."""

    ours: Callable
    torch_name: str  # the torch function with the same semantics, as an attribute path of torch
    inputs: list
    expected: list  # gradient of sum(op(inputs)) w.r.t. each input
    kwargs: dict = {}


KINK_CASES = {
    # one-sided derivative from the right at 0: relu'(0) = 0, leaky_relu'(0) = slope, |x|'(0) = 0
    "relu at 0": KinkCase(sg.relu, "relu", [[-1.0, 0.0, 2.0]], [[0.0, 0.0, 1.0]]),
    "leaky_relu at 0": KinkCase(sg.leaky_relu, "nn.functional.leaky_relu", [[-1.0, 0.0, 2.0]], [[0.1, 0.1, 1.0]],
                                {"negative_slope": 0.1}),
    "abs at 0": KinkCase(sg.abs, "abs", [[-1.5, 0.0, 2.0]], [[-1.0, 0.0, 1.0]]),
    # the clip bounds belong to the inside: the gradient passes at x == min and x == max
    "clip at both bounds": KinkCase(sg.clip, "clamp", [[-2.0, -0.5, 0.0, 0.5, 2.0]], [[0.0, 1.0, 1.0, 1.0, 0.0]],
                                    {"min": -0.5, "max": 0.5}),
    "clip at min only": KinkCase(sg.clip, "clamp", [[-2.0, -0.5, 3.0]], [[0.0, 1.0, 1.0]], {"min": -0.5}),
    "clip at max only": KinkCase(sg.clip, "clamp", [[-2.0, 0.5, 3.0]], [[1.0, 1.0, 0.0]], {"max": 0.5}),
    # equal operands share the gradient equally
    "maximum of equal operands": KinkCase(sg.maximum, "maximum", [[1.0, 2.0, 3.0], [1.0, 1.0, 4.0]],
                                          [[0.5, 1.0, 0.0], [0.5, 0.0, 1.0]]),
    "minimum of equal operands": KinkCase(sg.minimum, "minimum", [[1.0, 2.0, 3.0], [1.0, 1.0, 4.0]],
                                          [[0.5, 0.0, 1.0], [0.5, 1.0, 0.0]]),
    "maximum with a broadcast operand": KinkCase(sg.maximum, "maximum", [[1.0, 0.0, 2.0], 1.0],
                                                 [[0.5, 0.0, 1.0], 1.5]),
    # tied maxima of a reduction share the gradient equally (torch.amax; torch.max(x, dim) does not)
    "max over all with a tie": KinkCase(sg.max, "amax", [[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]],
                                        [[[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]]),
    "max over an axis with ties": KinkCase(sg.max, "amax", [[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]],
                                           [[[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]], {"axis": 1}),
    "max over an axis, keepdims": KinkCase(sg.max, "amax", [[[5.0, 1.0], [5.0, 7.0]]], [[[0.5, 0.0], [0.5, 1.0]]],
                                           {"axis": 0, "keepdims": True}),
    # max pooling: the first maximum of each window in raster order takes the whole gradient, and
    # overlapping windows add up
    "max_pool2d, tied windows": KinkCase(max_pool, "nn.functional.max_pool2d", [image([[1, 1, 1, 1], [1, 1, 1, 1]])],
                                         [image([[1, 0, 1, 0], [0, 0, 0, 0]])], {"kernel_size": 2}),
    "max_pool2d, overlapping tied windows": KinkCase(
        max_pool, "nn.functional.max_pool2d", [image([[1, 1, 1], [1, 1, 0]])], [image([[1, 1, 0], [0, 0, 0]])],
        {"kernel_size": 2, "stride": 1}),
    "max_pool2d, tie with padding": KinkCase(max_pool, "nn.functional.max_pool2d", [image([[1, 1], [1, 1]])],
                                             [image([[4, 0], [0, 0]])], {"kernel_size": 3, "stride": 1, "padding": 1}),
}

TORCH_KWARGS = {"min": "min", "max": "max", "axis": "dim", "keepdims": "keepdim", "negative_slope": "negative_slope",
                "kernel_size": "kernel_size", "stride": "stride", "padding": "padding"}


def gradients_at(case):
    tensors = [sg.tensor(np.asarray(x, dtype=F64), requires_grad=True, dtype=F64) for x in case.inputs]
    case.ours(*tensors, **case.kwargs).sum().backward()
    return [t.grad for t in tensors]


@pytest.mark.parametrize("name", sorted(KINK_CASES))
def test_gradient_at_kinks_and_ties_follows_the_convention(name):
    case = KINK_CASES[name]
    for grad, expected in zip(gradients_at(case), case.expected):
        np.testing.assert_array_equal(grad, np.asarray(expected, dtype=F64))


@pytest.mark.parametrize("name", sorted(KINK_CASES))
def test_kink_and_tie_convention_is_pytorchs(name):
    torch = pytest.importorskip("torch")
    case = KINK_CASES[name]
    fn = torch
    for part in case.torch_name.split("."):
        fn = getattr(fn, part)
    tensors = [torch.tensor(np.asarray(x, dtype=F64), requires_grad=True) for x in case.inputs]
    fn(*tensors, **{TORCH_KWARGS[k]: v for k, v in case.kwargs.items()}).sum().backward()
    for tensor, expected in zip(tensors, case.expected):
        np.testing.assert_array_equal(tensor.grad.numpy(), np.asarray(expected, dtype=F64))


# ------------------------------------------------------------------ the kernels' fast paths


def record_calls(monkeypatch, module, name):
    """Replace ``module.name`` by a wrapper that records each call's result; return the list of results."""
    results = []
    original = getattr(module, name)

    def recorded(*args, **kwargs):
        results.append(original(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(module, name, recorded)
    return results


class ConvPath(NamedTuple):
    layer: str  # "conv2d" or "conv_transpose2d"
    x_shape: tuple
    w_shape: tuple
    geometry: dict
    products: str  # the _ConvProducts the dispatch must pick: "_WINOGRAD", "_POINTWISE" or "_GEMM"
    unfold: str = ""  # for _GEMM: "_gather" (table, grids narrower than 16) or "_unfold_kernel" (loop nest)
    # for _GEMM, how conv2d's dx (conv_transpose2d's output) is computed: "_col2im", or "_flipped_weight"
    # for a convolution of grad_y with the flipped kernel (stride 1, fewer output than input channels)
    input_grad: str = ""


CONV_PATHS = {
    # 16 channels each way; a 4x5 grid of outputs, so the last column of 2x2 tiles is cropped
    "winograd conv2d": ConvPath("conv2d", (1, 16, 4, 5), (16, 16, 3, 3), {"padding": 1}, "_WINOGRAD"),
    "winograd conv_transpose2d": ConvPath("conv_transpose2d", (1, 16, 3, 4), (16, 16, 3, 3), {"padding": 1},
                                          "_WINOGRAD"),
    "pointwise conv2d": ConvPath("conv2d", (2, 3, 2, 3), (4, 3, 1, 1), {}, "_POINTWISE"),
    "pointwise conv_transpose2d": ConvPath("conv_transpose2d", (2, 3, 3, 2), (3, 2, 1, 1), {}, "_POINTWISE"),
    "gemm gather, col2im": ConvPath("conv2d", (2, 2, 5, 5), (3, 2, 3, 3), {"stride": 2, "padding": 1}, "_GEMM",
                                    "_gather", "_col2im"),
    "gemm gather, flipped kernel": ConvPath("conv2d", (1, 3, 4, 5), (2, 3, 3, 3), {"padding": 1}, "_GEMM", "_gather",
                                            "_flipped_weight"),
    "gemm loop nest, col2im": ConvPath("conv2d", (1, 2, 3, 16), (3, 2, 3, 3), {"padding": 1}, "_GEMM",
                                       "_unfold_kernel", "_col2im"),
    "gemm loop nest, flipped kernel": ConvPath("conv2d", (1, 3, 3, 18), (2, 3, 3, 3), {}, "_GEMM", "_unfold_kernel",
                                               "_flipped_weight"),
    "gemm gather, transposed, col2im": ConvPath("conv_transpose2d", (1, 2, 3, 3), (2, 3, 4, 4),
                                                {"stride": 2, "padding": 1}, "_GEMM", "_gather", "_col2im"),
    "gemm gather, transposed, flipped kernel": ConvPath("conv_transpose2d", (1, 2, 3, 4), (2, 3, 3, 3),
                                                        {"padding": 1}, "_GEMM", "_gather", "_flipped_weight"),
    "gemm loop nest, transposed, col2im": ConvPath("conv_transpose2d", (1, 2, 2, 16), (2, 2, 3, 3), {"padding": 1},
                                                   "_GEMM", "_unfold_kernel", "_col2im"),
}
UNFOLDS = ("_gather", "_unfold_kernel")
INPUT_GRADS = ("_col2im", "_flipped_weight")


@pytest.mark.parametrize("name", sorted(CONV_PATHS))
def test_convolution_fast_path_passes_a_gradient_check(name, monkeypatch):
    path = CONV_PATHS[name]
    dispatched = record_calls(monkeypatch, conv_kernels, "_fast")
    called = {fn: record_calls(monkeypatch, conv_kernels, fn) for fn in UNFOLDS + INPUT_GRADS}
    out_channels = path.w_shape[1] if path.layer == "conv_transpose2d" else path.w_shape[0]
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(-1, 1, path.x_shape), rng.uniform(-1, 1, path.w_shape), rng.uniform(-1, 1, out_channels)]
    layer = sg.OPS[path.layer]
    # Winograd needs 16x16x3x3 weights, whose element-by-element check (2 evaluations each) took
    # seconds; random directions catch any wrong element of a float64 gradient all the same.
    check = gradcheck_projection if path.products == "_WINOGRAD" else gradcheck
    assert check(lambda x, w, b: layer(x, w, b, **path.geometry), inputs)

    expected = getattr(conv_kernels, path.products)
    assert dispatched and all(products is expected for products in dispatched), f"{name} left {path.products}"
    for fn in UNFOLDS:
        assert bool(called[fn]) == (fn == path.unfold), f"{name}: {fn} called {len(called[fn])} times"
    if path.input_grad:
        for fn in INPUT_GRADS:
            assert bool(called[fn]) == (fn == path.input_grad), f"{name}: {fn} called {len(called[fn])} times"


@pytest.mark.parametrize("shape, columns", [((5, 3), True), ((3, 2, 2, 3), False)],
                         ids=["(N, C): NumPy columns", "(N, C, H, W): kernels"])
def test_batch_norm_both_paths_pass_a_gradient_check(shape, columns, monkeypatch):
    decisions = record_calls(monkeypatch, norm_kernels, "_columns")
    rng = np.random.default_rng(0)
    channels = shape[1]
    inputs = [rng.uniform(-1, 1, shape), rng.uniform(0.5, 1.5, channels), rng.uniform(-1, 1, channels)]
    batch_norm = sg.OPS["batch_norm"]
    assert gradcheck(lambda x, w, b: batch_norm(x, weight=w, bias=b, training=True), inputs)
    assert decisions and all(decision == columns for decision in decisions)


@pytest.mark.parametrize("path", ["serial", "parallel"])
def test_group_norm_serial_and_parallel_kernels_pass_a_gradient_check(path, monkeypatch):
    kernels = (norm_kernels._group_norm_forward_kernel, norm_kernels._group_norm_backward_kernel)
    for kernel in kernels:
        monkeypatch.setattr(kernel, "min_size", 1 if path == "parallel" else 10**12)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 4, 2, 3))
    # each kernel's first argument has the size of x; the launcher compares it with min_size
    assert all((x.size >= kernel.min_size) == (path == "parallel") for kernel in kernels)
    group_norm = sg.OPS["group_norm"]
    assert gradcheck(lambda x, w, b: group_norm(x, 2, weight=w, bias=b),
                     [x, rng.uniform(0.5, 1.5, 4), rng.uniform(-1, 1, 4)])


@pytest.mark.parametrize("path", ["serial", "parallel"])
def test_silu_serial_and_parallel_kernels_pass_a_gradient_check(path, monkeypatch):
    kernels = (K.activation._silu_forward_kernel, K.activation._silu_backward_kernel)
    for kernel in kernels:
        monkeypatch.setattr(kernel, "min_size", 1 if path == "parallel" else 10**12)
    x = np.random.default_rng(0).uniform(-4, 4, (3, 5))
    assert all((x.size >= kernel.min_size) == (path == "parallel") for kernel in kernels)
    assert gradcheck(sg.silu, [x])
