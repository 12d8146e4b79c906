"""Differentiable layer operations: convolution, pooling, resampling, normalization, recurrence, dropout.

The heavy loops live in ``scratchgen.kernels`` (Numba kernels, each with a NumPy twin); these
ops validate their arguments, call the kernels for the forward pass, and right below it state
the derivative and call the kernels for the backward pass. ``linear`` is one GEMM with its bias
added in place; the affine parts of batch and layer norm, ``dropout`` and ``embedding`` are
composed from the primitive ops of ``ops.py``, while group norm's fused kernels apply its affine
part and return its gradients themselves.

Signatures follow ``torch.nn.functional``. Inputs of several dtypes follow the rule of
``ops.operands``: the kernels run in the widest dtype, and constants take that dtype.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import kernels
from . import ops
from .random import default_generator
from .tensor import OPS, Tensor, as_tensor, register_op


# ------------------------------------------------------------------------- argument checks
def as_pair(value, name: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as a pair, each at least ``minimum``; else a ValueError naming ``op``."""
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_images(op: str, x: Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op}: expected images of shape (N, C, H, W), got shape {x.shape}")


def _check_conv_weight(op: str, x: Tensor, weight: Tensor, bias, groups: int, transposed: bool) -> int:
    """Validate shapes and return the number of output channels."""
    _check_images(op, x)
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must have 4 dimensions, got shape {weight.shape}")
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if transposed:
        in_channels, out_channels = weight.shape[0], weight.shape[1] * groups
    else:
        in_channels, out_channels = weight.shape[1] * groups, weight.shape[0]
    if x.shape[1] != in_channels:
        raise ValueError(f"{op}: weight of shape {weight.shape} with groups={groups} expects input "
                         f"(N, {in_channels}, H, W), got {x.shape}")
    if (in_channels % groups) or (out_channels % groups):
        raise ValueError(f"{op}: channels ({in_channels} in, {out_channels} out) must be divisible by groups={groups}")
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape}")
    return out_channels


def _conv_arguments(op, x, weight, bias, groups, stride, padding, dilation, transposed):
    """Tensors of one dtype and validated (height, width) pairs for a convolution op, shapes checked."""
    x, weight, bias = ops.operands(x, weight, bias)
    _check_conv_weight(op, x, weight, bias, groups, transposed)
    return (x, weight, bias, as_pair(stride, "stride", op, 1), as_pair(padding, "padding", op, 0),
            as_pair(dilation, "dilation", op, 1))


def _with_bias(inputs: tuple, bias) -> tuple:
    return inputs if bias is None else (*inputs, bias)


# ------------------------------------------------------------------------- dense
@register_op
def linear(x, weight, bias=None) -> Tensor:
    """x @ weight^T + bias, with weight of shape (out_features, in_features) as in PyTorch."""
    x, weight, bias = ops.operands(x, weight, bias)
    if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: weight of shape {weight.shape} expects input (..., {weight.shape[-1]}), "
                         f"got {x.shape}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    # One GEMM over all leading axes; the bias is added in place (no temporary for x W^T).
    x2 = x.data.reshape(-1, x.shape[-1])
    y2 = x2 @ weight.data.T
    if bias is not None:
        y2 += bias.data

    def backward(g):
        # y = x W^T + b: dL/dx = G W, dL/dW = G^T x, dL/db = sum of G over the rows
        g2 = g.reshape(-1, weight.shape[0])
        dx = (g2 @ weight.data).reshape(x.shape) if x.requires_grad else None
        dw = g2.T @ x2 if weight.requires_grad else None
        return (dx, dw) + (() if bias is None else (g2.sum(axis=0),))

    return Tensor.from_op(y2.reshape(x.shape[:-1] + (weight.shape[0],)), _with_bias((x, weight), bias), backward,
                          "linear")


# ------------------------------------------------------------------------- convolution
@register_op
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """Cross-correlation of images x (N, Cin, H, W) with weight (Cout, Cin/groups, KH, KW)."""
    x, weight, bias, stride, padding, dilation = _conv_arguments(
        "conv2d", x, weight, bias, groups, stride, padding, dilation, transposed=False)
    y = kernels.conv2d_forward(x.data, weight.data, None if bias is None else bias.data,
                               stride, padding, dilation, groups)

    def backward(g):
        # y = W * cols(x) + b, so dL/dW = G cols(x)^T, dL/dx = col2im(W^T G), dL/db = sum of G;
        # gradients no parent needs (e.g. dx of a network's first layer) are not computed
        return kernels.conv2d_backward(g, x.data, weight.data, stride, padding, dilation, groups,
                                       need_dx=x.requires_grad, need_dw=weight.requires_grad)

    return Tensor.from_op(y, _with_bias((x, weight), bias), backward, "conv2d")


@register_op
def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Tensor:
    """The transpose (adjoint) of conv2d with the same weight: x (N, Cin, H, W), weight (Cin, Cout/groups, KH, KW)."""
    x, weight, bias, stride, padding, dilation = _conv_arguments(
        "conv_transpose2d", x, weight, bias, groups, stride, padding, dilation, transposed=True)
    output_padding = as_pair(output_padding, "output_padding", "conv_transpose2d", 0)
    y = kernels.conv_transpose2d_forward(x.data, weight.data, None if bias is None else bias.data,
                                         stride, padding, output_padding, dilation, groups)

    def backward(g):
        # y = conv2d^T(x), so dL/dx = conv2d(G) with the same weight; dL/dW swaps the roles of x and G
        return kernels.conv_transpose2d_backward(g, x.data, weight.data, stride, padding, output_padding,
                                                 dilation, groups, need_dx=x.requires_grad,
                                                 need_dw=weight.requires_grad)

    return Tensor.from_op(y, _with_bias((x, weight), bias), backward, "conv_transpose2d")


# ------------------------------------------------------------------------- pooling and resampling
def _pool_arguments(op, x, kernel_size, stride, padding):
    _check_images(op, x)
    kernel_size = as_pair(kernel_size, "kernel_size", op, 1)
    stride = kernel_size if stride is None else as_pair(stride, "stride", op, 1)
    padding = as_pair(padding, "padding", op, 0)
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel_size}")
    return kernel_size, stride, padding


@register_op
def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    x = as_tensor(x)
    kernel_size, stride, padding = _pool_arguments("max_pool2d", x, kernel_size, stride, padding)
    y, argmax = kernels.max_pool2d_forward(x.data, kernel_size, stride, padding)

    def backward(g):
        return (kernels.max_pool2d_backward(g, argmax, x.shape),)  # d max/dx = 1 at each window's maximum

    return Tensor.from_op(y, (x,), backward, "max_pool2d")


@register_op
def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Window means; padding counts as zeros in the mean (PyTorch's count_include_pad=True)."""
    x = as_tensor(x)
    kernel_size, stride, padding = _pool_arguments("avg_pool2d", x, kernel_size, stride, padding)
    y = kernels.avg_pool2d_forward(x.data, kernel_size, stride, padding)

    def backward(g):
        # each input pixel gets 1/(KH*KW) of the gradient of every window containing it
        return (kernels.avg_pool2d_backward(g, x.shape, kernel_size, stride, padding),)

    return Tensor.from_op(y, (x,), backward, "avg_pool2d")


@register_op
def upsample_nearest2d(x, scale_factor: int = 2) -> Tensor:
    """Repeat every pixel ``scale_factor`` times along height and width."""
    x = as_tensor(x)
    _check_images("upsample_nearest2d", x)
    s = as_pair(scale_factor, "scale_factor", "upsample_nearest2d", 1)
    y = kernels.upsample_nearest2d_forward(x.data, s)

    def backward(g):
        return (kernels.upsample_nearest2d_backward(g, s),)  # each copy sends its gradient home

    return Tensor.from_op(y, (x,), backward, "upsample_nearest2d")


@register_op
def upsample_bilinear2d(x, size, align_corners: bool = False) -> Tensor:
    """Bilinear resampling to ``size`` = (height, width), with PyTorch's coordinate conventions."""
    x = as_tensor(x)
    _check_images("upsample_bilinear2d", x)
    size = as_pair(size, "size", "upsample_bilinear2d", 1)
    y = kernels.upsample_bilinear2d_forward(x.data, size, align_corners)

    def backward(g):
        # y is linear in x (fixed interpolation weights): dL/dx applies the transposed weights
        return (kernels.upsample_bilinear2d_backward(g, x.shape, align_corners),)

    return Tensor.from_op(y, (x,), backward, "upsample_bilinear2d")


def interpolate(x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Resize images like ``torch.nn.functional.interpolate`` (modes "nearest" and "bilinear")."""
    x = as_tensor(x)
    _check_images("interpolate", x)
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError("interpolate: align_corners only applies to mode='bilinear'")
        if size is not None:
            size = as_pair(size, "size", "interpolate", 1)
            if size[0] % x.shape[2] or size[1] % x.shape[3]:
                raise ValueError(f"interpolate: nearest mode needs a size that is a multiple of {x.shape[2:]}, "
                                 f"got {size}")
            scale_factor = (size[0] // x.shape[2], size[1] // x.shape[3])
        return upsample_nearest2d(x, scale_factor)
    if mode == "bilinear":
        if size is None:
            factor = as_pair(scale_factor, "scale_factor", "interpolate", 1)
            size = (x.shape[2] * factor[0], x.shape[3] * factor[1])
        return upsample_bilinear2d(x, size, align_corners=bool(align_corners))
    raise ValueError(f"interpolate: mode must be 'nearest' or 'bilinear', got {mode!r}")


# ------------------------------------------------------------------------- normalization
def _standardize(x: Tensor, shape3: tuple, eps: float, mean=None, var=None):
    """(x - mean) / sqrt(var + eps) for x viewed as (A, B, M), per b over axes 0 and 2.

    Uses the batch statistics when ``mean``/``var`` are not given; returns (xhat, mean, var).
    """
    x3 = x.data.reshape(shape3)
    batch_statistics = mean is None
    if batch_statistics:
        mean, var = kernels.moments(x3)
    rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    xhat3 = kernels.normalize_forward(x3, mean.astype(x.dtype), rstd)

    def backward(g):
        g3 = g.reshape(shape3)
        if batch_statistics:
            # mean and var depend on x: dx = rstd (g - mean(g) - xhat mean(g xhat))
            dx = kernels.normalize_backward(g3, xhat3, rstd)
        else:
            dx = g3 * rstd[None, :, None]  # fixed statistics: d xhat/dx = rstd
        return (dx.reshape(x.shape),)

    return Tensor.from_op(xhat3.reshape(x.shape), (x,), backward, "standardize"), mean, var


def _affine(xhat: Tensor, weight, bias, shape) -> Tensor:
    """xhat * weight + bias (tensors or None) with the per-feature parameters reshaped to broadcast."""
    y = xhat if weight is None else xhat * ops.reshape(weight, shape)
    return y if bias is None else y + ops.reshape(bias, shape)


def _check_param_shape(op: str, name: str, value, shape: tuple) -> None:
    if value is not None and tuple(value.shape) != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {tuple(value.shape)}")


@register_op
def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel of x (N, C) or (N, C, ...) over the batch and spatial axes.

    Training uses the batch's statistics and, if running arrays are given, updates them in place:
    running = (1 - momentum) running + momentum batch (the running variance is the unbiased
    one, as in PyTorch). Evaluation uses the running statistics.
    """
    x, weight, bias = ops.operands(x, weight, bias)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    for name, value in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                        ("bias", bias)):
        _check_param_shape("batch_norm", name, value, (channels,))
    shape3 = (x.shape[0], channels, int(np.prod(x.shape[2:], dtype=int)))
    if training:
        count = shape3[0] * shape3[2]
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")
        xhat, mean, var = _standardize(x, shape3, eps)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * count / (count - 1)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
        xhat, _, _ = _standardize(x, shape3, eps, mean=np.asarray(running_mean), var=np.asarray(running_var))
    return _affine(xhat, weight, bias, (1, channels) + (1,) * (x.ndim - 2))


@register_op
def group_norm(x, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalize each group of channels of each sample (over the group's channels and pixels)."""
    x, weight, bias = ops.operands(x, weight, bias)
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected input (N, C, ...), got shape {x.shape}")
    n, channels = x.shape[:2]
    if num_groups < 1 or channels % num_groups:
        raise ValueError(f"group_norm: {channels} channels cannot be split into {num_groups} groups")
    _check_param_shape("group_norm", "weight", weight, (channels,))
    _check_param_shape("group_norm", "bias", bias, (channels,))
    # One fused kernel normalizes and applies the affine transform; missing ones act as w = 1, b = 0.
    x4 = x.data.reshape(n, num_groups, channels // num_groups, -1)
    weight_data = np.ones(channels, x.dtype) if weight is None else weight.data
    bias_data = np.zeros(channels, x.dtype) if bias is None else bias.data
    y4, mean, rstd = kernels.group_norm_forward(x4, weight_data, bias_data, eps)

    def backward(g):
        # dx = rstd (g w - mean(g w) - xhat mean(g w xhat)) per group; dw = sum g xhat, db = sum g per channel
        dx4, dweight, dbias = kernels.group_norm_backward(g.reshape(x4.shape), x4, mean, rstd, weight_data)
        return (dx4.reshape(x.shape),) + (() if weight is None else (dweight,)) + (() if bias is None else (dbias,))

    parents = (x,) + tuple(p for p in (weight, bias) if p is not None)
    return Tensor.from_op(y4.reshape(x.shape), parents, backward, "group_norm")


@register_op
def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` axes of each sample."""
    x, weight, bias = ops.operands(x, weight, bias)
    normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, numbers.Integral)
                        else tuple(normalized_shape))
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape or len(normalized_shape) > x.ndim:
        raise ValueError(f"layer_norm: expected input (..., {', '.join(map(str, normalized_shape))}), got {x.shape}")
    _check_param_shape("layer_norm", "weight", weight, normalized_shape)
    _check_param_shape("layer_norm", "bias", bias, normalized_shape)
    features = int(np.prod(normalized_shape, dtype=int))
    xhat, _, _ = _standardize(x, (1, x.size // features, features), eps)
    return _affine(xhat, weight, bias, normalized_shape)


# ------------------------------------------------------------------------- recurrence
@register_op
def lstm_scan(gates_from_input, state_weight, offsets, state=None) -> tuple[Tensor, Tensor]:
    """The LSTM of PixelRNN (eq. 3) over T steps of L positions: the hidden and cell states of every step.

    ``gates_from_input`` (T, N, L, 4h) holds each step's input-to-state pre-activations, gates
    [o, f, i, g]. Step t adds the state-to-state convolution along L: the previous hidden state
    read at l + d for each d of ``offsets`` (zero outside the line), the k = len(offsets) reads
    side by side, times ``state_weight``^T; ``state_weight`` (4h, k h) is laid out as ``linear``'s
    weight, so a layer can keep it in an ``nn.Linear``. ``state`` is the (h, c) before step 0, each
    (N, L, h), zeros if None. Returns hidden and cell (T, N, L, h); the state after the last step
    is (hidden[-1], cell[-1]), through which gradients flow like through any slice.
    """
    tensors = ops.operands(gates_from_input, state_weight, *(() if state is None else state))
    gates_from_input, state_weight = tensors[:2]
    if gates_from_input.ndim != 4 or gates_from_input.shape[-1] % 4 or 0 in gates_from_input.shape:
        raise ValueError(f"lstm_scan: gates_from_input must be (T, N, L, 4h), none of them 0, got shape "
                         f"{gates_from_input.shape}")
    n, length, size = *gates_from_input.shape[1:3], gates_from_input.shape[-1] // 4
    taps = tuple(offsets) if np.iterable(offsets) else ()
    if not taps or not all(isinstance(d, numbers.Integral) for d in taps):
        raise ValueError(f"lstm_scan: offsets must be a non-empty sequence of ints, got {offsets!r}")
    offsets = tuple(int(d) for d in taps)
    if state_weight.shape != (4 * size, len(offsets) * size):
        raise ValueError(f"lstm_scan: state_weight must have shape {(4 * size, len(offsets) * size)} for "
                         f"{len(offsets)} offsets and {size} hidden features, got {state_weight.shape}")
    if state is None:
        hidden0 = cell0 = np.zeros((n, length, size), gates_from_input.dtype)
    elif len(tensors) != 4 or any(s.shape != (n, length, size) for s in tensors[2:]):
        raise ValueError(f"lstm_scan: state must be a pair (h, c) of shape {(n, length, size)}")
    else:
        hidden0, cell0 = tensors[2].data, tensors[3].data
    hidden, cell, gates = kernels.lstm_scan_forward(gates_from_input.data, state_weight.data, offsets, hidden0, cell0)

    def backward(g):
        # Backpropagation through time, from the last step to the first (kernels/lstm.py, line by line):
        # h_t = o tanh(c_t): dL/dc_t += dL/dh_t o (1 - tanh(c_t)^2), dL/do = dL/dh_t tanh(c_t)
        # c_t = f c_{t-1} + i g: dL/df = dL/dc_t c_{t-1}, dL/di = dL/dc_t g, dL/dg = dL/dc_t i, dL/dc_{t-1} = dL/dc_t f
        # pre_t = gates_from_input_t + copies(h_{t-1}) W^T: dL/d gates_from_input_t = dL/d pre_t,
        # dL/dh_{t-1} += copies^T(dL/d pre_t W), dL/dW = sum over t of dL/d pre_t^T copies(h_{t-1})
        grads = kernels.lstm_scan_backward(g[0], g[1], gates, hidden, cell, state_weight.data, offsets, hidden0, cell0)
        return grads[:len(tensors)]

    states = Tensor.from_op(np.stack([hidden, cell]), tensors, backward, "lstm_scan")
    return states[0], states[1]


# ------------------------------------------------------------------------- dropout and embedding
@register_op
def dropout(x, p: float = 0.5, training: bool = True, generator: np.random.Generator | None = None) -> Tensor:
    """Zero each value with probability p and scale the rest by 1/(1-p) (identity when not training)."""
    x = as_tensor(x)
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    keep = (generator or default_generator()).random(x.shape) >= p
    return x * (keep / (1 - p)).astype(x.dtype)


@register_op
def embedding(indices, weight) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` of any shape."""
    weight = as_tensor(weight)
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
        raise ValueError(f"embedding: indices must lie in [0, {weight.shape[0]}), got values from "
                         f"{indices.min()} to {indices.max()}")
    return weight[indices]


__all__ = sorted(name for name, fn in OPS.items() if fn.__module__ == __name__) + ["as_pair", "interpolate"]
