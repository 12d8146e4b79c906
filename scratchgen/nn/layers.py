"""Layers: Modules that own parameters (and buffers) and call the ops of ``scratchgen.autograd``.

Every layer is initialized as PyTorch initializes it, drawing from ``generator`` or the default
generator (``scratchgen.manual_seed``). Hyperparameters are checked when the layer is built and
inputs when it is called, and the error names the layer as it prints, the shape it expects
(N is the batch, ``*`` any number of axes) and the shape it received.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd import nn_ops, ops
from ..autograd.nn_ops import as_pair
from ..autograd.tensor import Tensor, as_tensor
from . import init
from .module import Module, Parameter

_ANY_AXES = "*"


# ------------------------------------------------------------------------- shared checks
def _describe(layer: Module) -> str:
    """The layer as it prints on one line, e.g. "Conv2d(1, 32, kernel_size=(4, 4), stride=(2, 2))"."""
    return f"{type(layer).__name__}({layer.extra_repr()})"


def _dimensions(count: int) -> str:
    return f"{count} dimension" + ("" if count == 1 else "s")


def _mismatch(shape: tuple, pattern: tuple) -> str | None:
    """Why ``shape`` does not fit ``pattern``, or None if it does."""
    if _ANY_AXES in pattern:
        star = pattern.index(_ANY_AXES)
        if len(shape) < len(pattern) - 1:
            return f"the input has {_dimensions(len(shape))}, the layer needs at least {len(pattern) - 1}"
        tail_start = len(shape) - (len(pattern) - star - 1)
        fixed = list(enumerate(pattern[:star])) + list(enumerate(pattern[star + 1:], start=tail_start))
    else:
        if len(shape) != len(pattern):
            return f"the input has {_dimensions(len(shape))}, the layer needs {len(pattern)}"
        fixed = list(enumerate(pattern))
    for axis, want in fixed:
        if not isinstance(want, str) and shape[axis] != want:
            return f"axis {axis} has size {shape[axis]} but the layer was built for {want}"
    return None


def _format_pattern(pattern: tuple) -> str:
    return "(" + ", ".join(str(axis) for axis in pattern) + ")"


def checked_input(layer: Module, x, *patterns: tuple) -> Tensor:
    """``x`` as a Tensor, if its shape matches one of ``patterns``; else a ValueError naming the layer.

    A pattern lists the axes: an int must match exactly, a name ("N", "H") matches any size,
    "*" matches any number of axes.
    """
    x = as_tensor(x)
    reasons = [_mismatch(x.shape, pattern) for pattern in patterns]
    if None in reasons:
        return x
    # With several accepted patterns, only a wrong size on a fitting number of axes is worth a hint.
    specific = [reason for reason in reasons if reason.startswith("axis")]
    hint = specific[0] if specific else reasons[0] if len(reasons) == 1 else ""
    expected = " or ".join(_format_pattern(pattern) for pattern in patterns)
    raise ValueError(f"{_describe(layer)} expected input of shape {expected}, got shape {x.shape}"
                     + (f": {hint}" if hint else ""))


def positive_int(owner: str, name: str, value) -> int:
    """``value`` if it is an int >= 1, else a ValueError naming ``owner`` (also used by the schedules)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


def _probability(owner: str, name: str, value) -> float:
    if not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {value!r}")
    return float(value)


def _reset_dense(weight: Parameter, bias: Parameter | None, generator) -> None:
    """PyTorch's default for Linear and convolutions: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    For the weight this is kaiming_uniform_ with a = sqrt(5) (gain sqrt(1/3), bound
    sqrt(3) * gain / sqrt(fan_in) = 1/sqrt(fan_in)).
    """
    init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        fan_in, _ = init.fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound, generator=generator)


# ------------------------------------------------------------------------- dense
class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 generator: np.random.Generator | None = None):
        super().__init__()
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        self.weight = Parameter(np.zeros((out_features, in_features), np.float32))
        self.register_parameter("bias", Parameter(np.zeros(out_features, np.float32)) if bias else None)
        _reset_dense(self.weight, self.bias, generator)

    def forward(self, x) -> Tensor:
        x = checked_input(self, x, ("N", _ANY_AXES, self.in_features))
        return nn_ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A table of ``num_embeddings`` learned vectors of size ``embedding_dim``, initialized N(0, 1)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, generator: np.random.Generator | None = None):
        super().__init__()
        self.num_embeddings = positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("Embedding", "embedding_dim", embedding_dim)
        self.weight = Parameter(np.zeros((num_embeddings, embedding_dim), np.float32))
        init.normal_(self.weight, generator=generator)

    def forward(self, indices) -> Tensor:
        return nn_ops.embedding(indices.data if isinstance(indices, Tensor) else indices, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


# ------------------------------------------------------------------------- convolutions
class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: hyperparameter checks, parameters, init, printing."""

    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 output_padding, generator):
        super().__init__()
        name = type(self).__name__
        self.in_channels = positive_int(name, "in_channels", in_channels)
        self.out_channels = positive_int(name, "out_channels", out_channels)
        self.kernel_size = as_pair(kernel_size, "kernel_size", name, 1)
        self.stride = as_pair(stride, "stride", name, 1)
        self.padding = as_pair(padding, "padding", name, 0)
        self.dilation = as_pair(dilation, "dilation", name, 1)
        self.output_padding = as_pair(output_padding, "output_padding", name, 0)
        self.groups = positive_int(name, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        if any(extra >= max(s, d) for extra, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller than stride "
                             f"{self.stride} or dilation {self.dilation} along each axis")
        if self.transposed:
            weight_shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            weight_shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(np.zeros(weight_shape, np.float32))
        self.register_parameter("bias", Parameter(np.zeros(out_channels, np.float32)) if bias else None)
        _reset_dense(self.weight, self.bias, generator)

    def _checked(self, x) -> Tensor:
        return checked_input(self, x, ("N", self.in_channels, "H", "W"))

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-D cross-correlation; weight (out_channels, in_channels/groups, KH, KW)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, generator: np.random.Generator | None = None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         output_padding=0, generator=generator)

    def conv_weight(self) -> Tensor:
        """The weight the convolution uses (MaskedConv2d masks it)."""
        return self.weight

    def forward(self, x) -> Tensor:
        return nn_ops.conv2d(self._checked(x), self.conv_weight(), self.bias, self.stride, self.padding,
                             self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """The transpose of Conv2d (upsampling by ``stride``); weight (in_channels, out_channels/groups, KH, KW).

    Output size per axis: (in - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1.
    """

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, generator: np.random.Generator | None = None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         output_padding=output_padding, generator=generator)

    def forward(self, x) -> Tensor:
        return nn_ops.conv_transpose2d(self._checked(x), self.weight, self.bias, self.stride, self.padding,
                                       self.output_padding, self.groups, self.dilation)


def mask_for_masked_conv(kernel_size, in_channels: int, out_channels: int, mask_type: str) -> np.ndarray:
    """PixelCNN's mask for a weight (out_channels, in_channels, KH, KW).

    Output pixel i may only see input pixels before i in raster order: rows above the centre,
    and the pixels left of the centre in the centre row. Type "A" (first layer) also hides the
    centre pixel itself, so a pixel never sees its own value; type "B" (later layers) lets it see
    the centre, which there holds features of pixels before it.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"MaskedConv2d: mask_type must be 'A' or 'B', got {mask_type!r}")
    kh, kw = as_pair(kernel_size, "kernel_size", "MaskedConv2d", 1)
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"MaskedConv2d: kernel_size must be odd so the kernel has a centre, got {(kh, kw)}")
    mask = np.zeros((out_channels, in_channels, kh, kw), dtype=np.float32)
    mask[:, :, : kh // 2, :] = 1
    mask[:, :, kh // 2, : kw // 2 + (mask_type == "B")] = 1
    return mask


class MaskedConv2d(Conv2d):
    """PixelCNN's causal convolution: Conv2d whose weight is multiplied by ``mask_for_masked_conv``.

    The mask is a buffer (saved with the model but never trained). The gradient is the
    convolution's, masked, so the masked taps get none. The kernel size must be odd, and
    ``padding=kernel_size // 2`` keeps the image size.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, mask_type: str, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, generator: np.random.Generator | None = None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, generator)
        self.mask_type = mask_type
        self.register_buffer("mask", mask_for_masked_conv(self.kernel_size, in_channels // groups, out_channels,
                                                          mask_type))

    def conv_weight(self) -> Tensor:
        return self.weight * self.mask

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


# ------------------------------------------------------------------------- normalization
class _BatchNorm(Module):
    """Normalize each channel with the batch's statistics in training, the running ones in evaluation.

    The running statistics are buffers updated as running = (1 - momentum) running + momentum
    batch; ``momentum=None`` makes them cumulative averages (the k-th batch weighs 1/k), which is
    what ``num_batches_tracked`` counts for.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        name = type(self).__name__
        self.num_features = positive_int(name, "num_features", num_features)
        if not eps > 0:
            raise ValueError(f"{name}: eps must be positive, got {eps!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None (cumulative average), got {momentum!r}")
        self.eps, self.momentum = float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if affine:
            self.weight = Parameter(np.ones(num_features, np.float32))
            self.bias = Parameter(np.zeros(num_features, np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(buffer, None)

    def forward(self, x) -> Tensor:
        x = checked_input(self, x, *self._input_patterns())
        updates_running_stats = self.training and self.track_running_stats
        momentum = 0.0
        if updates_running_stats:
            momentum = 1.0 / (int(self.num_batches_tracked) + 1) if self.momentum is None else self.momentum
        y = nn_ops.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              training=self.training or not self.track_running_stats, momentum=momentum,
                              eps=self.eps)
        if updates_running_stats:
            self.num_batches_tracked += 1
        return y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of features (N, C) or sequences (N, C, L)."""

    def _input_patterns(self):
        return ("N", self.num_features), ("N", self.num_features, "L")


class BatchNorm2d(_BatchNorm):
    """Batch norm of images (N, C, H, W): one mean and variance per channel."""

    def _input_patterns(self):
        return (("N", self.num_features, "H", "W"),)


class GroupNorm(Module):
    """Normalize each sample's channels in ``num_groups`` groups (independent of the batch size)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.num_groups = positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = positive_int("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.eps, self.affine = float(eps), bool(affine)
        if affine:
            self.weight = Parameter(np.ones(num_channels, np.float32))
            self.bias = Parameter(np.zeros(num_channels, np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x) -> Tensor:
        x = checked_input(self, x, ("N", self.num_channels, _ANY_AXES))
        return nn_ops.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LayerNorm(Module):
    """Normalize each sample over its trailing ``normalized_shape`` axes."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
        self.normalized_shape = tuple(positive_int("LayerNorm", "normalized_shape", size) for size in shape)
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, np.float32))
            self.bias = Parameter(np.zeros(self.normalized_shape, np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x) -> Tensor:
        x = checked_input(self, x, ("N", _ANY_AXES, *self.normalized_shape))
        return nn_ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


# ------------------------------------------------------------------------- regularization and shapes
class Dropout(Module):
    """In training, zero each value with probability p and scale the rest by 1/(1-p); identity in eval."""

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None):
        super().__init__()
        self.p = _probability("Dropout", "p", p)
        self.generator = generator

    def forward(self, x) -> Tensor:
        return nn_ops.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge axes start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        for axis in (self.start_dim, self.end_dim):
            if not -x.ndim <= axis < x.ndim:
                raise ValueError(f"{_describe(self)}: an input of shape {x.shape} has no axis {axis}")
        if self.start_dim % x.ndim > self.end_dim % x.ndim:
            raise ValueError(f"{_describe(self)}: start_dim comes after end_dim for an input of shape {x.shape}")
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size``: the inverse of Flatten (e.g. (N, 784) -> (N, 1, 28, 28))."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = int(dim)
        self.unflattened_size = tuple(int(size) for size in unflattened_size)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{_describe(self)}: an input of shape {x.shape} has no axis {self.dim}")
        axis = self.dim % x.ndim
        if -1 not in self.unflattened_size and math.prod(self.unflattened_size) != x.shape[axis]:
            raise ValueError(f"{_describe(self)}: axis {self.dim} of the input shape {x.shape} has size "
                             f"{x.shape[axis]}, which cannot be split into {self.unflattened_size}")
        return ops.reshape(x, x.shape[:axis] + self.unflattened_size + x.shape[axis + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# ------------------------------------------------------------------------- resampling and pooling
class Upsample(Module):
    """Resize images by an integer ``scale_factor`` or to ``size``, mode "nearest" or "bilinear"."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Upsample: mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, x) -> Tensor:
        x = checked_input(self, x, ("N", "C", "H", "W"))
        return nn_ops.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        target = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{target}, mode={self.mode!r}"


class _Pool2d(Module):
    pool = None  # the nn_ops function, set by each subclass

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = as_pair(kernel_size, "kernel_size", name, 1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride", name, 1)
        self.padding = as_pair(padding, "padding", name, 0)
        if any(pad > k // 2 for pad, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel size {self.kernel_size}")

    def forward(self, x) -> Tensor:
        x = checked_input(self, x, ("N", "C", "H", "W"))
        return self.pool(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each window."""

    pool = staticmethod(nn_ops.max_pool2d)


class AvgPool2d(_Pool2d):
    """The mean of each window (padding counts as zeros, PyTorch's count_include_pad=True)."""

    pool = staticmethod(nn_ops.avg_pool2d)


# ------------------------------------------------------------------------- activations
class Identity(Module):
    """Returns its input; accepts and ignores any arguments, so it can stand in for any layer."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class ReLU(Module):
    def forward(self, x) -> Tensor:
        return ops.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x) -> Tensor:
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class SiLU(Module):
    """x * sigmoid(x) (also called swish)."""

    def forward(self, x) -> Tensor:
        return ops.silu(x)


class Tanh(Module):
    def forward(self, x) -> Tensor:
        return ops.tanh(x)


class Sigmoid(Module):
    def forward(self, x) -> Tensor:
        return ops.sigmoid(x)


class Softplus(Module):
    """log(1 + e^x), computed without overflow."""

    def forward(self, x) -> Tensor:
        return ops.softplus(x)
