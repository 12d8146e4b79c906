"""Weight initializations, with PyTorch's names, formulas and defaults.

Each function fills a Tensor (or a NumPy array) in place and returns it. Random ones draw from
``generator`` if given, else from ``scratchgen.autograd.random.default_generator()`` at the time
of the call, so ``manual_seed(s)`` followed by building a model always gives the same weights.
Values are drawn in float64 and then cast, so a seed gives the same numbers in either dtype.

Why the scales: a layer y = W x with fan_in inputs of unit variance and weights of variance s^2
gives outputs of variance fan_in s^2. Kaiming (He et al. 2015) picks s = gain / sqrt(fan) so
that the variance stays constant through layers followed by a nonlinearity that scales it by
1/gain^2; Xavier (Glorot & Bengio 2010) averages the forward and backward requirements,
s = gain sqrt(2 / (fan_in + fan_out)). A uniform distribution U(-b, b) has standard deviation
b / sqrt(3), hence the sqrt(3) in the uniform variants.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.random import default_generator
from ..autograd.tensor import Tensor


def _array(tensor) -> np.ndarray:
    return tensor.data if isinstance(tensor, Tensor) else tensor


def _fill(tensor, values):
    _array(tensor)[...] = values
    return tensor


def _generator(generator: np.random.Generator | None) -> np.random.Generator:
    return default_generator() if generator is None else generator


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which ``nonlinearity`` shrinks the standard deviation, inverted (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unknown nonlinearity {nonlinearity!r}; use one of linear, conv2d, "
        "conv_transpose2d, sigmoid, tanh, relu, leaky_relu, selu"
    )


def fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel): in * prod(kernel), out * prod(kernel).

    This reads axis 1 as the input, which for a transposed convolution's weight (Cin, Cout/groups,
    KH, KW) gives Cout/groups * KH * KW: PyTorch does the same, and its default initialization of
    ConvTranspose2d depends on it.
    """
    shape = np.shape(_array(tensor))
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive_field = int(np.prod(shape[2:], dtype=int))
    return shape[1] * receptive_field, shape[0] * receptive_field


def _kaiming_std(tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def _xavier_std(tensor, gain: float) -> float:
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None):
    """Fill with U(a, b)."""
    return _fill(tensor, _generator(generator).uniform(a, b, size=np.shape(_array(tensor))))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator: np.random.Generator | None = None):
    """Fill with N(mean, std^2)."""
    return _fill(tensor, _generator(generator).normal(mean, std, size=np.shape(_array(tensor))))


def zeros_(tensor):
    return _fill(tensor, 0.0)


def ones_(tensor):
    return _fill(tensor, 1.0)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None):
    """U(-b, b) with b = sqrt(3) * gain / sqrt(fan).

    PyTorch's default for Linear and Conv weights is a = sqrt(5): gain = sqrt(2 / (1 + 5)), so
    b = 1 / sqrt(fan_in).
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def xavier_uniform_(tensor, gain: float = 1.0, generator: np.random.Generator | None = None):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    bound = math.sqrt(3.0) * _xavier_std(tensor, gain)
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator: np.random.Generator | None = None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    return normal_(tensor, 0.0, _xavier_std(tensor, gain), generator)
