"""How to test each registered op: a plain-NumPy reference and a hypothesis recipe for inputs.

The strategies, value recipes and draw functions for kinds of ops (``unary``, ``binary``,
``reduction``) are the public ones of ``scratchgen.testing``; this file adds the ops' own.

A spec's ``draw(data)`` returns ``(arrays, kwargs)``: the float64 arrays that become the op's
differentiable inputs and the constant keyword arguments (axes, exponents, indices...). Values
come from a NumPy generator seeded by hypothesis, then are moved off the op's kinks (|x| near 0
for relu and abs, ties for max, the bounds of clip), so finite differences are well defined.
``call(fn, tensors, kwargs)`` adapts the calling convention of ops that take a list of tensors.
``zero_gradients(arrays, kwargs)`` names the inputs that the drawn arguments cut off from the output
(the branch ``where`` never picks, the operand of ``maximum`` that never wins): gradient checks
expect exactly those to have zero gradient and refuse any other input whose gradient is ~0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import assume, strategies as st
from hypothesis.extra import numpy as hnp

from scratchgen.testing import (
    FLOAT32_RTOL,
    away_from,
    binary,
    broadcastable,
    call_positionally,
    distinct,
    nonempty_shapes,
    reduction,
    rng_from,
    shapes,
    unary,
    uniform,
)


def every_input_matters(arrays, kwargs) -> set[int]:
    return set()


@dataclass
class Spec:
    reference: Callable
    draw: Callable
    call: Callable = call_positionally
    float32_rtol: float = FLOAT32_RTOL
    zero_gradients: Callable = every_input_matters
    notes: str = field(default="")


# ------------------------------------------------------------------ recipes for particular ops
def draw_var(data):
    arrays, kwargs = reduction()(data)
    axes = range(arrays[0].ndim) if kwargs["axis"] is None else np.atleast_1d(kwargs["axis"])
    assume(np.prod([arrays[0].shape[a] for a in axes]) > 1)  # the variance of one value is constant
    kwargs["ddof"] = data.draw(st.sampled_from([0, 1]), label="ddof")
    return arrays, kwargs


def draw_axis_op(data):
    shape = data.draw(nonempty_shapes, label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    assume(shape[axis] > 1)  # softmax over one value is constant
    return [uniform(data, shape)], {"axis": axis}


def draw_matmul(data):
    batch_a, batch_b = broadcastable(data, 2)
    n, k, m = (data.draw(st.integers(1, 4), label=s) for s in "nkm")
    a_shape = data.draw(st.sampled_from([(*batch_a[-2:], n, k), (k,)]), label="a")
    b_shape = data.draw(st.sampled_from([(*batch_b[-2:], k, m), (k,)]), label="b")
    return [uniform(data, a_shape), uniform(data, b_shape)], {}


def draw_where(data):
    cond_shape, a_shape, b_shape = broadcastable(data, 3)
    condition = rng_from(data).random(cond_shape) < 0.5
    return [uniform(data, a_shape), uniform(data, b_shape)], {"condition": condition}


def unpicked_where_branches(arrays, kwargs) -> set[int]:
    condition = kwargs["condition"]
    return {k for k, picked in enumerate((condition.any(), not condition.all())) if not picked}


def never_winning_operands(wins):
    """The operands of an elementwise choice that never win (``wins(a, b)``: where a wins; no ties)."""
    def zero_gradients(arrays, kwargs) -> set[int]:
        a_wins = wins(*arrays)
        return {k for k, won in enumerate((a_wins.any(), not a_wins.all())) if not won}
    return zero_gradients


def draw_reshape(data):
    shape = data.draw(shapes, label="shape")
    size = int(np.prod(shape))
    target = data.draw(st.sampled_from([(size,), (-1, 1), tuple(reversed(shape)), (1, *shape)]), label="target")
    return [uniform(data, shape)], {"shape": target}


def draw_permute(data):
    shape = data.draw(shapes, label="shape")
    return [uniform(data, shape)], {"axes": tuple(data.draw(st.permutations(range(len(shape))), label="axes"))}


def draw_transpose(data):
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=4, max_side=3), label="shape")
    axis0, axis1 = (data.draw(st.integers(-len(shape), len(shape) - 1), label=n) for n in ("axis0", "axis1"))
    return [uniform(data, shape)], {"axis0": axis0, "axis1": axis1}


def draw_flatten(data):
    shape = data.draw(nonempty_shapes, label="shape")
    start = data.draw(st.integers(0, len(shape) - 1), label="start")
    end = data.draw(st.integers(start, len(shape) - 1), label="end")
    return [uniform(data, shape)], {"start_dim": start, "end_dim": end}


def draw_getitem(data):
    shape = data.draw(nonempty_shapes, label="shape")
    index = data.draw(st.one_of(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True),
                                hnp.integer_array_indices(shape)), label="index")
    if np.empty(shape)[index].size == 0:  # an empty selection has no gradient to check
        index = (0,) * len(shape)
    return [uniform(data, shape)], {"index": index}


def draw_pieces(same_shape: bool):
    def draw(data):
        shape = data.draw(nonempty_shapes, label="shape")
        axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
        count = data.draw(st.integers(1, 3), label="count")
        pieces = []
        for _ in range(count):
            piece = list(shape)
            if not same_shape:
                piece[axis] = data.draw(st.integers(1, 3), label="length")
            pieces.append(uniform(data, tuple(piece)))
        return pieces, {"axis": axis}
    return draw


def draw_split(data):
    shape = data.draw(nonempty_shapes, label="shape")
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    length = shape[axis]
    divisors = [d for d in range(1, length + 1) if length % d == 0]
    sections = data.draw(st.one_of(st.sampled_from(divisors),
                                   st.lists(st.integers(0, length), max_size=3).map(sorted)), label="sections")
    return [uniform(data, shape)], {"sections": sections, "axis": axis}


def draw_pad(data):
    shape = data.draw(nonempty_shapes, label="shape")
    widths = [tuple(data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2)), label="width")) for _ in shape]
    return [uniform(data, shape)], {"pad_width": widths, "value": data.draw(st.floats(-1, 1), label="value")}


def draw_clip(data):
    shape = data.draw(shapes, label="shape")
    low = data.draw(st.sampled_from([None, -1.0, -0.5]), label="min")
    high = data.draw(st.sampled_from([None, 0.5, 1.0] if low is not None else [0.5, 1.0]), label="max")
    x = away_from(uniform(data, shape), [b for b in (low, high) if b is not None])
    x.flat[0] = 0.0  # one value strictly inside, so the gradient is not all zero
    return [x], {"min": low, "max": high}


def draw_relu(data):
    arrays, kwargs = unary(kinks=(0.0,))(data)
    arrays[0].flat[0] = abs(arrays[0].flat[0])  # one positive value, so the gradient is not all zero
    return arrays, kwargs


reductions = st.sampled_from(["mean", "sum", "none"])


def draw_loss_pair(target_low=0.0, target_high=1.0):
    def draw(data):
        shape = data.draw(nonempty_shapes, label="shape")
        kwargs = {"reduction": data.draw(reductions, label="reduction")}
        return [uniform(data, shape, -3, 3), uniform(data, shape, target_low, target_high)], kwargs
    return draw


def draw_gaussian_nll(data):
    shape = data.draw(nonempty_shapes, label="shape")
    x = uniform(data, shape)
    # x - mean kept off 0, where the gradients of x and mean vanish
    mean = x + away_from(uniform(data, shape), [0.0])
    return [x, mean, uniform(data, shape, -1, 1)], {"reduction": data.draw(reductions, label="reduction")}


def draw_kl(data):
    shape = data.draw(nonempty_shapes, label="shape")
    return [uniform(data, shape), uniform(data, shape, -1, 1)], {"reduction": data.draw(reductions, label="reduction")}


def draw_cross_entropy(data):
    n, k = data.draw(st.integers(1, 4), label="n"), data.draw(st.integers(2, 5), label="k")
    labels = rng_from(data).integers(0, k, size=n)
    return [uniform(data, (n, k), -3, 3)], {"labels": labels, "reduction": data.draw(reductions, label="reduction")}


# ------------------------------------------------------------------ NumPy references
def np_reduce(values, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](values)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def np_softmax(x, axis):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def np_split(x, sections, axis):
    return np.split(x, sections, axis=axis)


def np_flatten(x, start_dim, end_dim):
    return x.reshape(x.shape[:start_dim] + (-1,) + x.shape[end_dim + 1:])


def np_bce(logits, targets, reduction):
    p = np_sigmoid(logits)
    return np_reduce(-(targets * np.log(p) + (1 - targets) * np.log(1 - p)), reduction)


def np_gaussian_nll(x, mean, logvar, reduction):
    var = np.exp(logvar)
    return np_reduce(-np.log(np.exp(-(x - mean) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)), reduction)


def np_kl(mean, logvar, reduction):
    # KL between N(m, s^2) and N(0, 1), per dimension: log(1/s) + (s^2 + m^2)/2 - 1/2.
    var = np.exp(logvar)
    return np_reduce(np.sum(-0.5 * np.log(var) + (var + mean**2) / 2 - 0.5, axis=-1), reduction)


def np_cross_entropy(logits, labels, reduction):
    p = np_softmax(logits, axis=1)
    return np_reduce(-np.log(p[np.arange(len(labels)), labels]), reduction)


def list_call(fn, tensors, kwargs):
    return fn(tensors, **kwargs)


def np_list_call(fn):
    return lambda *arrays, **kwargs: fn(list(arrays), **kwargs)


def positional_shape_call(fn, tensors, kwargs):
    return fn(*tensors, kwargs["shape"]) if "shape" in kwargs else fn(*tensors, kwargs["axes"])


SPECS: dict[str, Spec] = {
    "add": Spec(np.add, binary()),
    "sub": Spec(np.subtract, binary()),
    "mul": Spec(np.multiply, binary()),
    "div": Spec(np.divide, binary(b_low=0.5, b_high=2.0)),
    "neg": Spec(np.negative, unary()),
    "pow": Spec(lambda x, exponent: x**exponent,
                unary(0.3, 2.0, exponent=st.sampled_from([2, 3, 0.5, -1, 1.5, -0.5]))),
    "matmul": Spec(np.matmul, draw_matmul),
    "exp": Spec(np.exp, unary()),
    "log": Spec(np.log, unary(0.2, 3.0)),
    "sqrt": Spec(np.sqrt, unary(0.2, 3.0)),
    "tanh": Spec(np.tanh, unary(-3, 3)),
    "sigmoid": Spec(np_sigmoid, unary(-4, 4)),
    "relu": Spec(lambda x: np.maximum(x, 0), draw_relu),
    "leaky_relu": Spec(lambda x, negative_slope: np.where(x > 0, x, negative_slope * x),
                       unary(kinks=(0.0,), negative_slope=st.floats(0.01, 0.5))),
    "silu": Spec(lambda x: x * np_sigmoid(x), unary(-4, 4)),
    "softplus": Spec(lambda x: np.log(1 + np.exp(x)), unary(-4, 4)),
    "log_sigmoid": Spec(lambda x: np.log(np_sigmoid(x)), unary(-4, 4)),
    "abs": Spec(np.abs, unary(kinks=(0.0,))),
    "clip": Spec(lambda x, min, max: np.clip(x, min, max), draw_clip),
    "maximum": Spec(np.maximum, binary(no_ties=True), zero_gradients=never_winning_operands(np.greater)),
    "minimum": Spec(np.minimum, binary(no_ties=True), zero_gradients=never_winning_operands(np.less)),
    "where": Spec(lambda a, b, condition: np.where(condition, a, b), draw_where,
                  call=lambda fn, t, kw: fn(kw["condition"], *t), zero_gradients=unpicked_where_branches),
    "sum": Spec(np.sum, reduction()),
    "mean": Spec(np.mean, reduction()),
    "var": Spec(np.var, draw_var, float32_rtol=2e-3),
    "max": Spec(np.max, reduction(values=distinct)),
    "logsumexp": Spec(np_logsumexp, reduction()),
    "softmax": Spec(np_softmax, draw_axis_op),
    "log_softmax": Spec(lambda x, axis: np.log(np_softmax(x, axis)), draw_axis_op),
    "reshape": Spec(lambda x, shape: x.reshape(shape), draw_reshape, call=positional_shape_call),
    "permute": Spec(lambda x, axes: x.transpose(axes), draw_permute, call=positional_shape_call),
    "transpose": Spec(lambda x, axis0, axis1: np.swapaxes(x, axis0, axis1), draw_transpose),
    "flatten": Spec(np_flatten, draw_flatten),
    "getitem": Spec(lambda x, index: x[index], draw_getitem),
    "concatenate": Spec(np_list_call(np.concatenate), draw_pieces(same_shape=False), call=list_call),
    "stack": Spec(np_list_call(np.stack), draw_pieces(same_shape=True), call=list_call),
    "split": Spec(np_split, draw_split),
    "pad": Spec(lambda x, pad_width, value: np.pad(x, pad_width, constant_values=value), draw_pad),
    "binary_cross_entropy_with_logits": Spec(np_bce, draw_loss_pair()),
    "mse_loss": Spec(lambda p, t, reduction: np_reduce((p - t) ** 2, reduction), draw_loss_pair(-2, 2)),
    "gaussian_nll_loss": Spec(np_gaussian_nll, draw_gaussian_nll),
    "kl_normal_standard": Spec(np_kl, draw_kl),
    "cross_entropy": Spec(np_cross_entropy, draw_cross_entropy),
}
