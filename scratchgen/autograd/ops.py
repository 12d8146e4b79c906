"""Differentiable operations, each with its derivative right below its forward computation.

The pattern of every op:

    y = <forward with NumPy>
    def backward(g):                 # g = dL/dy
        return (<dL/dx for each input>,)   # with the derivative as a one-line comment
    return Tensor.from_op(y, inputs, backward, "name")

Gradients may be returned in the broadcast shape of the output; the engine sums them back to
each input's shape (``tensor.unbroadcast``). Inputs that are not tensors (exponents, axes,
masks, indices) are constants and get no gradient.

dtypes: an op computes in the widest float dtype of its tensor inputs (float32 with float64 gives
float64) and a constant takes that dtype; ``operands`` is the one place that applies this rule.
"""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from .. import kernels
from .tensor import OPS, Tensor, as_tensor, check_float_dtype, register_op


# ------------------------------------------------------------------------- helpers
def cast(x: Tensor, dtype) -> Tensor:
    """``x`` in ``dtype`` (``x`` itself if it already is), differentiably, like ``torch.Tensor.to``."""
    if x.dtype == dtype:
        return x
    dtype = check_float_dtype(dtype)

    def backward(g):
        return (g,)  # dx/dx = 1; the engine casts g back to x's dtype

    return Tensor.from_op(x.data.astype(dtype), (x,), backward, "cast")


def operand_like(value, partner: Tensor) -> Tensor:
    """``value`` as a tensor: unchanged if it is one, else a constant in ``partner``'s dtype.

    Constants (numbers, masks, labels, targets) may be bool or integer arrays; only tensors that
    carry gradients must be float.
    """
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"cannot combine a tensor with a value of dtype {array.dtype}; use numbers or float arrays")
    return Tensor(array.astype(partner.dtype, copy=False), dtype=partner.dtype)


def operands(*values) -> tuple:
    """The inputs of an op as tensors of one dtype: the widest float dtype among the tensors.

    Narrower tensors are cast (their gradients come back in their own dtype); values that are
    not tensors (numbers, arrays, masks, targets) become constants in that dtype. If no value is
    a tensor, each becomes one by the creation rule (``Tensor(value)``) first. None stays None
    (an absent bias).
    """
    if not any(isinstance(v, Tensor) for v in values):
        values = tuple(None if v is None else as_tensor(v) for v in values)
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors:
        return values
    widest = builtins.max(tensors, key=lambda t: t.dtype.itemsize)
    return tuple(v if v is None else cast(v, widest.dtype) if isinstance(v, Tensor) else operand_like(v, widest)
                 for v in values)


def _operands(name: str, a, b) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors of one dtype, checking that their shapes broadcast."""
    a, b = operands(a, b)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
    return a, b


def _normalize_axis(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    normalized = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        normalized.append(a % builtins.max(ndim, 1))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(normalized))


def _expand_reduced(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Put back the reduced axes of a reduction's gradient so it broadcasts against the input."""
    return g if keepdims else np.expand_dims(g, axes)


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a large positive number overflows, so each sign takes the form that only
    # exponentiates non-positive numbers: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0, i.e.
    # e^min(x,0) / (1+e^-|x|) (without np.where, which took 6x as long as the rest).
    denominator = np.exp(-np.abs(x))
    denominator += 1
    return np.exp(np.minimum(x, 0)) / denominator


def _softplus(x: np.ndarray) -> np.ndarray:
    # log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): never exponentiates a positive number.
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


# ------------------------------------------------------------------------- arithmetic
@register_op
def add(a, b) -> Tensor:
    a, b = _operands("add", a, b)
    y = a.data + b.data

    def backward(g):
        return g, g  # d(a+b)/da = 1, d(a+b)/db = 1

    return Tensor.from_op(y, (a, b), backward, "add")


@register_op
def sub(a, b) -> Tensor:
    a, b = _operands("sub", a, b)
    y = a.data - b.data

    def backward(g):
        return g, -g  # d(a-b)/da = 1, d(a-b)/db = -1

    return Tensor.from_op(y, (a, b), backward, "sub")


@register_op
def mul(a, b) -> Tensor:
    a, b = _operands("mul", a, b)
    y = a.data * b.data

    def backward(g):
        # d(ab)/da = b, d(ab)/db = a; a constant operand (mask, target) gets no gradient
        return (g * b.data if a.requires_grad else None), (g * a.data if b.requires_grad else None)

    return Tensor.from_op(y, (a, b), backward, "mul")


@register_op
def div(a, b) -> Tensor:
    a, b = _operands("div", a, b)
    y = a.data / b.data

    def backward(g):
        return g / b.data, -g * y / b.data  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2

    return Tensor.from_op(y, (a, b), backward, "div")


@register_op
def neg(x) -> Tensor:
    x = as_tensor(x)

    def backward(g):
        return (-g,)  # d(-x)/dx = -1

    return Tensor.from_op(-x.data, (x,), backward, "neg")


@register_op
def pow(x, exponent: float) -> Tensor:
    x = as_tensor(x)
    if isinstance(exponent, Tensor) or not isinstance(exponent, numbers.Real):
        raise TypeError("pow: the exponent must be a Python number; for x**y with a tensor y use exp(y * log(x))")
    exponent = float(exponent)  # a NumPy float64 exponent would turn float32 x into float64
    y = x.data ** exponent

    def backward(g):
        return (g * exponent * x.data ** (exponent - 1),)  # d(x^p)/dx = p x^(p-1)

    return Tensor.from_op(y, (x,), backward, "pow")


@register_op
def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes broadcast."""
    a, b = operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: scalars are not allowed (shapes {a.shape} and {b.shape}); use mul")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: the last axis of the first "
            f"({a.shape[-1]}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} axis of the second"
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch axes of shapes {a.shape} and {b.shape} cannot be broadcast") from None
    y = a.data @ b.data
    # Vectors become 1-row / 1-column matrices so that one pair of formulas covers all cases.
    a2 = a.data[None, :] if a.ndim == 1 else a.data
    b2 = b.data[:, None] if b.ndim == 1 else b.data

    def backward(g):
        g2 = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:]) if a.ndim == 1 else g
        g2 = g2[..., None] if b.ndim == 1 else g2
        # Each product is skipped when its input needs no gradient (e.g. a first layer's data).
        grad_a = grad_b = None
        if a.requires_grad:
            grad_a = g2 @ np.swapaxes(b2, -1, -2)  # d(AB)/dA: G B^T
            grad_a = grad_a.reshape(grad_a.shape[:-2] + a.shape) if a.ndim == 1 else grad_a
        if b.requires_grad:
            grad_b = np.swapaxes(a2, -1, -2) @ g2  # d(AB)/dB: A^T G
            grad_b = grad_b[..., 0] if b.ndim == 1 else grad_b
        return grad_a, grad_b

    return Tensor.from_op(y, (a, b), backward, "matmul")


# ------------------------------------------------------------------------- elementwise
@register_op
def exp(x) -> Tensor:
    x = as_tensor(x)
    y = np.exp(x.data)

    def backward(g):
        return (g * y,)  # d e^x/dx = e^x

    return Tensor.from_op(y, (x,), backward, "exp")


@register_op
def log(x) -> Tensor:
    x = as_tensor(x)

    def backward(g):
        return (g / x.data,)  # d log x/dx = 1/x

    return Tensor.from_op(np.log(x.data), (x,), backward, "log")


@register_op
def sqrt(x) -> Tensor:
    x = as_tensor(x)
    y = np.sqrt(x.data)

    def backward(g):
        return (g / (2 * y),)  # d sqrt(x)/dx = 1/(2 sqrt(x))

    return Tensor.from_op(y, (x,), backward, "sqrt")


@register_op
def tanh(x) -> Tensor:
    x = as_tensor(x)
    y = np.tanh(x.data)

    def backward(g):
        return (g * (1 - y * y),)  # d tanh(x)/dx = 1 - tanh(x)^2

    return Tensor.from_op(y, (x,), backward, "tanh")


@register_op
def sigmoid(x) -> Tensor:
    x = as_tensor(x)
    y = _stable_sigmoid(x.data)

    def backward(g):
        return (g * y * (1 - y),)  # d s(x)/dx = s(x) (1 - s(x))

    return Tensor.from_op(y, (x,), backward, "sigmoid")


@register_op
def relu(x) -> Tensor:
    x = as_tensor(x)
    positive = x.data > 0

    def backward(g):
        return (g * positive,)  # d relu(x)/dx = 1 if x > 0 else 0

    return Tensor.from_op(np.maximum(x.data, 0), (x,), backward, "relu")


@register_op
def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    x = as_tensor(x)
    # 1 where x > 0, else negative_slope; np.where with scalars took ~10x as long as this.
    slope = (x.data > 0).astype(x.dtype)
    slope *= 1 - negative_slope
    slope += negative_slope

    def backward(g):
        return (g * slope,)  # d/dx = 1 if x > 0 else negative_slope

    return Tensor.from_op(x.data * slope, (x,), backward, "leaky_relu")


@register_op
def silu(x) -> Tensor:
    x = as_tensor(x)
    y = kernels.silu_forward(x.data)  # x s(x) in one fused pass

    def backward(g):
        return (kernels.silu_backward(g, x.data),)  # d x s(x)/dx = s(x) (1 + x (1 - s(x)))

    return Tensor.from_op(y, (x,), backward, "silu")


@register_op
def softplus(x) -> Tensor:
    x = as_tensor(x)

    def backward(g):
        return (g * _stable_sigmoid(x.data),)  # d log(1 + e^x)/dx = s(x)

    return Tensor.from_op(_softplus(x.data), (x,), backward, "softplus")


@register_op
def log_sigmoid(x) -> Tensor:
    x = as_tensor(x)

    def backward(g):
        return (g * _stable_sigmoid(-x.data),)  # d log s(x)/dx = 1 - s(x) = s(-x)

    return Tensor.from_op(-_softplus(-x.data), (x,), backward, "log_sigmoid")


@register_op
def abs(x) -> Tensor:
    x = as_tensor(x)

    def backward(g):
        return (g * np.sign(x.data),)  # d|x|/dx = sign(x)

    return Tensor.from_op(np.abs(x.data), (x,), backward, "abs")


@register_op
def clip(x, min=None, max=None) -> Tensor:
    """Clamp values into [min, max]; the gradient passes only where x was inside."""
    x = as_tensor(x)
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min ({min}) is greater than max ({max})")
    inside = np.ones(x.shape, dtype=bool)
    if min is not None:
        inside &= x.data >= min
    if max is not None:
        inside &= x.data <= max

    def backward(g):
        return (g * inside,)  # d clip(x)/dx = 1 inside [min, max], 0 outside

    # NumPy float64 bounds would turn float32 x into float64
    return Tensor.from_op(np.clip(x.data, min, max).astype(x.dtype, copy=False), (x,), backward, "clip")


def _tie_split(first_wins: np.ndarray, tie: np.ndarray) -> np.ndarray:
    return first_wins + 0.5 * tie


@register_op
def maximum(a, b) -> Tensor:
    a, b = _operands("maximum", a, b)
    share_a = _tie_split(a.data > b.data, a.data == b.data)

    def backward(g):
        return g * share_a, g * (1 - share_a)  # the larger input gets the gradient (ties split it)

    return Tensor.from_op(np.maximum(a.data, b.data), (a, b), backward, "maximum")


@register_op
def minimum(a, b) -> Tensor:
    a, b = _operands("minimum", a, b)
    share_a = _tie_split(a.data < b.data, a.data == b.data)

    def backward(g):
        return g * share_a, g * (1 - share_a)  # the smaller input gets the gradient (ties split it)

    return Tensor.from_op(np.minimum(a.data, b.data), (a, b), backward, "minimum")


@register_op
def where(condition, a, b) -> Tensor:
    """Elementwise choice: ``a`` where ``condition`` is true, ``b`` elsewhere."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    a, b = _operands("where", a, b)
    try:
        np.broadcast_shapes(condition.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"where: condition {condition.shape} and values {a.shape}, {b.shape} cannot be broadcast"
        ) from None

    def backward(g):
        return g * condition, g * ~condition  # each branch gets the gradient where it was chosen

    return Tensor.from_op(np.where(condition, a.data, b.data), (a, b), backward, "where")


# ------------------------------------------------------------------------- reductions
@register_op
def sum(x, axis=None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)

    def backward(g):
        return (np.broadcast_to(_expand_reduced(g, axes, keepdims), x.shape),)  # d sum/dx_i = 1

    return Tensor.from_op(np.sum(x.data, axis=axes, keepdims=keepdims), (x,), backward, "sum")


@register_op
def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))

    def backward(g):
        return (np.broadcast_to(_expand_reduced(g, axes, keepdims) / count, x.shape),)  # d mean/dx_i = 1/n

    return Tensor.from_op(np.mean(x.data, axis=axes, keepdims=keepdims), (x,), backward, "mean")


@register_op
def var(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance with NumPy's convention: divides by n - ddof (ddof=0, the biased estimate)."""
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    if count - ddof <= 0:
        raise ValueError(f"var: {count} values with ddof={ddof} leave no degrees of freedom")
    centered = x.data - x.data.mean(axis=axes, keepdims=True)

    def backward(g):
        # d var/dx_i = 2(x_i - mean)/(n - ddof)
        return (_expand_reduced(g, axes, keepdims) * 2 * centered / (count - ddof),)

    y = np.sum(centered * centered, axis=axes, keepdims=keepdims) / (count - ddof)
    return Tensor.from_op(y, (x,), backward, "var")


@register_op
def max(x, axis=None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    y = np.max(x.data, axis=axes, keepdims=True)
    is_max = x.data == y
    share = is_max / is_max.sum(axis=axes, keepdims=True)

    def backward(g):
        return (_expand_reduced(g, axes, keepdims) * share,)  # d max/dx_i = 1 at the maximum (ties share it)

    return Tensor.from_op(y if keepdims else np.squeeze(y, axis=axes), (x,), backward, "max")


@register_op
def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = _normalize_axis(axis, x.ndim)
    # Subtracting the maximum keeps exp() from overflowing; it is added back outside the log.
    shift = np.max(x.data, axis=axes, keepdims=True)
    exps = np.exp(x.data - shift)
    total = exps.sum(axis=axes, keepdims=True)
    y = shift + np.log(total)

    def backward(g):
        return (_expand_reduced(g, axes, keepdims) * (exps / total),)  # d lse/dx_i = softmax(x)_i

    return Tensor.from_op(y if keepdims else np.squeeze(y, axis=axes), (x,), backward, "logsumexp")


@register_op
def softmax(x, axis: int = -1) -> Tensor:
    x = as_tensor(x)
    exps = np.exp(x.data - np.max(x.data, axis=axis, keepdims=True))
    y = exps / exps.sum(axis=axis, keepdims=True)

    def backward(g):
        return (y * (g - np.sum(g * y, axis=axis, keepdims=True)),)  # dy_i/dx_j = y_i (delta_ij - y_j)

    return Tensor.from_op(y, (x,), backward, "softmax")


@register_op
def log_softmax(x, axis: int = -1) -> Tensor:
    x = as_tensor(x)
    shifted = x.data - np.max(x.data, axis=axis, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - np.exp(y) * np.sum(g, axis=axis, keepdims=True),)  # dy_i/dx_j = delta_ij - softmax_j

    return Tensor.from_op(y, (x,), backward, "log_softmax")


# ------------------------------------------------------------------------- shapes
@register_op
def reshape(x, *shape) -> Tensor:
    x = as_tensor(x)
    shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else shape
    try:
        y = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} values) "
                         f"into {shape}") from None

    def backward(g):
        return (g.reshape(x.shape),)  # reshaping moves values, so the gradient moves back

    return Tensor.from_op(y, (x,), backward, "reshape")


@register_op
def permute(x, *axes) -> Tensor:
    """Reorder axes (``transpose`` with an explicit order, like ``torch.permute``)."""
    x = as_tensor(x)
    axes = tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], numbers.Integral) else axes
    if sorted(a % builtins.max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    inverse = np.argsort([a % x.ndim for a in axes])

    def backward(g):
        return (np.transpose(g, inverse),)  # the inverse permutation puts each gradient back

    return Tensor.from_op(np.transpose(x.data, axes), (x,), backward, "permute")


@register_op
def transpose(x, axis0: int = -2, axis1: int = -1) -> Tensor:
    """Swap two axes (the last two by default), like ``torch.transpose``."""
    x = as_tensor(x)
    order = list(range(x.ndim))
    order[axis0], order[axis1] = order[axis1], order[axis0]
    return permute(x, order)


@register_op
def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge the axes start_dim..end_dim into one, like ``torch.flatten``."""
    x = as_tensor(x)
    start, end = start_dim % builtins.max(x.ndim, 1), end_dim % builtins.max(x.ndim, 1)
    return reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1:])


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (numbers.Integral, slice, type(None), type(Ellipsis))) for i in items)


@register_op
def getitem(x, index) -> Tensor:
    """Indexing and slicing, basic and integer-array, with NumPy's semantics."""
    x = as_tensor(x)
    if isinstance(index, Tensor):
        raise TypeError("index a tensor with integers, slices or integer arrays, not with a Tensor")
    y = x.data[index]
    basic = _is_basic_index(index)

    def backward(g):
        grad = np.zeros(x.shape, dtype=g.dtype)
        if basic:
            grad[index] = g  # each selected element receives its own gradient
        else:
            np.add.at(grad, index, g)  # an element picked k times receives k gradients
        return (grad,)

    return Tensor.from_op(y, (x,), backward, "getitem")


@register_op
def concatenate(tensors, axis: int = 0) -> Tensor:
    tensors = operands(*tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    try:
        y = np.concatenate([t.data for t in tensors], axis=axis)
    except (ValueError, np.exceptions.AxisError):
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"concatenate: shapes {shapes} must match on every axis but axis {axis}") from None
    boundaries = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, boundaries, axis=axis))  # each input gets back its own slice

    return Tensor.from_op(y, tensors, backward, "concatenate")


@register_op
def stack(tensors, axis: int = 0) -> Tensor:
    tensors = operands(*tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    if len({t.shape for t in tensors}) != 1:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"stack: all tensors must have the same shape, got {shapes}")
    y = np.stack([t.data for t in tensors], axis=axis)

    def backward(g):
        return tuple(np.moveaxis(g, axis, 0))  # each input gets back its own slice

    return Tensor.from_op(y, tensors, backward, "stack")


@register_op
def split(x, sections, axis: int = 0) -> list[Tensor]:
    """Split into ``sections`` equal parts (an int) or at the given indices (a list), like NumPy.

    Each part is a slice of ``x``, so its gradient flows back through ``getitem``.
    """
    x = as_tensor(x)
    length = x.shape[axis]
    if isinstance(sections, numbers.Integral):
        if sections <= 0 or length % sections:
            raise ValueError(f"split: axis {axis} of shape {x.shape} cannot be split into {sections} equal parts")
        bounds = list(range(0, length + 1, length // sections))
    else:
        bounds = [0, *sections, length]
    prefix = (slice(None),) * (axis % x.ndim)
    return [getitem(x, prefix + (slice(lo, hi),)) for lo, hi in zip(bounds[:-1], bounds[1:])]


@register_op
def pad(x, pad_width, value: float = 0.0) -> Tensor:
    """Constant padding with NumPy's ``pad_width`` convention ((before, after) per axis)."""
    x = as_tensor(x)
    widths = np.zeros((x.ndim, 2), dtype=int)
    if x.ndim:
        widths[:] = np.asarray(pad_width, dtype=int)
    if (widths < 0).any():
        raise ValueError(f"pad: widths must be non-negative, got {pad_width}")
    y = np.pad(x.data, widths, mode="constant", constant_values=value)
    inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))

    def backward(g):
        return (g[inner],)  # padding values are constants: only the original region gets gradient

    return Tensor.from_op(y, (x,), backward, "pad")


# ------------------------------------------------------------------------- Tensor methods
def _swapped(fn):
    return lambda self, other: fn(other, self)


Tensor.__add__ = add
Tensor.__radd__ = _swapped(add)
Tensor.__sub__ = sub
Tensor.__rsub__ = _swapped(sub)
Tensor.__mul__ = mul
Tensor.__rmul__ = _swapped(mul)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = _swapped(div)
Tensor.__neg__ = neg
Tensor.__pow__ = pow
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = _swapped(matmul)
Tensor.__getitem__ = getitem
for _name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "clip", "sum", "mean", "var", "max",
              "logsumexp", "softmax", "log_softmax", "reshape", "permute", "transpose", "flatten", "pad"):
    setattr(Tensor, _name, globals()[_name])
Tensor.float = lambda self: cast(self, np.float32)  # differentiable, like torch.Tensor.float
Tensor.double = lambda self: cast(self, np.float64)
Tensor.T = property(lambda self: permute(self, tuple(reversed(range(self.ndim)))))


def _compare(numpy_op):
    # Comparisons are not differentiable; they return plain boolean arrays (masks).
    return lambda self, other: numpy_op(self.data, other.data if isinstance(other, Tensor) else other)


Tensor.__lt__ = _compare(np.less)
Tensor.__le__ = _compare(np.less_equal)
Tensor.__gt__ = _compare(np.greater)
Tensor.__ge__ = _compare(np.greater_equal)

__all__ = sorted(name for name, fn in OPS.items() if fn.__module__ == __name__)
