"""The property checks scratchgen runs on its own ops, for your ops, losses and modules.

    import numpy as np
    from scratchgen.testing import check_op, unary

    def test_mish():
        check_op(mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), unary(-4, 4))

``check_op`` draws inputs with hypothesis and, for each draw, runs ``check_forward`` (the float64
output against a NumPy reference, the float32 output against the float64 one, inputs left
unmodified) and ``check_backward`` (the gradient against central finite differences for a random
upstream gradient, with every non-empty subset of the inputs requiring gradients; a gradient that
is ~0 on both sides fails unless declared in ``expect_zero``). ``check_module`` runs the same
properties on a whole module at fixed inputs. scratchgen's own property tests
(tests/autograd/test_op_properties.py) are these functions applied to every registered op.

A draw function, ``draw_inputs(data) -> (arrays, kwargs)``, takes hypothesis's ``data`` object
(``st.data()``) and returns the float64 arrays that become the op's differentiable inputs and the
constant keyword arguments (axes, exponents, masks...). The strategies and value recipes below
build them: shapes, mutually broadcastable shapes, axes of a given shape, values from a seeded
generator, values moved off kinks (``away_from``) and values without ties (``distinct``), so that
finite differences are well defined. docs/testing.md walks through an example.

hypothesis is a test dependency: ``import scratchgen`` never imports it, only this module does.
"""
from __future__ import annotations

import itertools
from typing import Callable, Collection, Sequence

import numpy as np

try:
    from hypothesis import given, note, settings, strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError:
    raise ImportError('scratchgen.testing needs hypothesis: pip install "scratchgen[test]"') from None

from .autograd import Tensor, no_grad, tensor
from .gradcheck import GradcheckError, gradcheck, gradcheck_module

__all__ = ["shapes", "nonempty_shapes", "broadcastable", "axis_kwargs", "rng_from", "uniform", "away_from",
           "distinct", "unary", "binary", "reduction", "call_positionally", "check_forward", "check_backward",
           "check_op", "check_module", "FLOAT32_RTOL", "GradcheckError"]

# float32 results are compared with float64 runs to this relative tolerance; ops whose float32 sums
# of squares lose more digits (variances, normalizations) pass a looser one.
FLOAT32_RTOL = 2e-4


# ------------------------------------------------------------------ strategies and value recipes
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonempty_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def broadcastable(data, n: int, min_dims: int = 0) -> tuple[tuple[int, ...], ...]:
    """``n`` shapes that broadcast together (up to 3 axes of up to 3), drawn from ``data``."""
    drawn = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=3, max_side=3))
    return drawn.input_shapes


def axis_kwargs(data, shape) -> dict:
    """``axis`` (None, an int or a tuple of axes of ``shape``) and ``keepdims``, for a reduction."""
    ndim = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1) if ndim else st.none(),
                               hnp.valid_tuple_axes(ndim, min_size=1) if ndim else st.none()), label="axis")
    return {"axis": axis, "keepdims": data.draw(st.booleans(), label="keepdims")}


def rng_from(data) -> np.random.Generator:
    """A NumPy generator seeded by hypothesis, so a failing example replays and shrinks."""
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def uniform(data, shape, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return rng_from(data).uniform(low, high, size=shape)


def away_from(x: np.ndarray, points, gap: float = 0.05) -> np.ndarray:
    """Push values that lie within ``gap`` of any kink in ``points`` out to distance ``gap``."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = p + np.where(x[near] >= p, gap, -gap)
    return x


def distinct(data, shape, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """Values with no ties, at least 0.01 apart (for max and its gradient)."""
    size = int(np.prod(shape))
    rng = rng_from(data)
    return (rng.permutation(size) * 0.01 + rng.uniform(low, high)).reshape(shape)


# ------------------------------------------------------------------ draw functions for kinds of ops
def unary(low: float = -2.0, high: float = 2.0, kinks=(), **kwarg_strategies) -> Callable:
    """One array of any shape, uniform in [low, high] and off ``kinks``; each keyword drawn from its strategy."""
    def draw(data):
        shape = data.draw(shapes, label="shape")
        kwargs = {k: data.draw(v, label=k) for k, v in kwarg_strategies.items()}
        return [away_from(uniform(data, shape, low, high), kinks)], kwargs
    return draw


def binary(b_low: float = -2.0, b_high: float = 2.0, no_ties: bool = False) -> Callable:
    """Two arrays of mutually broadcastable shapes; ``no_ties`` keeps |a - b| >= 0.05 (for maximum)."""
    def draw(data):
        shape_a, shape_b = broadcastable(data, 2)
        a = uniform(data, shape_a)
        b = uniform(data, shape_b, b_low, b_high)
        if no_ties:  # a on a grid of tenths, b halfway between grid points
            a, b = np.round(a, 1), np.round(b, 1) + 0.05
        return [a, b], {}
    return draw


def reduction(values: Callable = uniform) -> Callable:
    """One array (``values(data, shape)``) with the ``axis`` and ``keepdims`` of ``axis_kwargs``."""
    def draw(data):
        shape = data.draw(shapes, label="shape")
        return [values(data, shape)], axis_kwargs(data, shape)
    return draw


# ------------------------------------------------------------------ the properties
def call_positionally(op: Callable, tensors: list, kwargs: dict):
    """How the checks call an op by default: ``op(*tensors, **kwargs)``."""
    return op(*tensors, **kwargs)


def _as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _run(op, call, arrays, kwargs, dtype, requires_grad=False) -> tuple[list[Tensor], list[Tensor]]:
    tensors = [tensor(a, dtype=dtype, requires_grad=requires_grad) for a in arrays]
    return tensors, _as_list(call(op, tensors, kwargs))


def _assert_unmodified(originals, arrays) -> None:
    for k, (before, after) in enumerate(zip(originals, arrays)):
        np.testing.assert_array_equal(before, after, err_msg=f"the op modified its input {k}")


def check_forward(op: Callable, reference: Callable, arrays: Sequence[np.ndarray], kwargs: dict | None = None, *,
                  call: Callable = call_positionally, float32_rtol: float = FLOAT32_RTOL) -> None:
    """``op`` on float64 tensors of ``arrays`` equals ``reference(*arrays, **kwargs)`` (NumPy, same outputs);
    on float32 tensors it returns float32 that equals the float64 result; ``arrays`` are left unmodified.

    ``call(op, tensors, kwargs)`` says how to call the op (default ``op(*tensors, **kwargs)``).
    Raises AssertionError on the first property that fails.
    """
    kwargs = kwargs or {}
    originals = [a.copy() for a in arrays]
    _, outs64 = _run(op, call, arrays, kwargs, np.float64)
    _assert_unmodified(originals, arrays)  # float64 tensors share the arrays; float32 ones are copies
    expected = _as_list(reference(*arrays, **kwargs))
    assert len(outs64) == len(expected), f"the op returned {len(outs64)} outputs, the reference {len(expected)}"
    for k, (out, ref) in enumerate(zip(outs64, expected)):
        assert out.dtype == np.float64, f"output {k}: float64 inputs gave {out.dtype}"
        assert out.shape == np.shape(ref), f"output {k}: shape {out.shape}, the reference's {np.shape(ref)}"
        np.testing.assert_allclose(out.data, ref, rtol=1e-9, atol=1e-12,
                                   err_msg=f"output {k}: float64 forward differs from the reference")
    _, outs32 = _run(op, call, arrays, kwargs, np.float32)
    for k, (out32, out64) in enumerate(zip(outs32, outs64)):
        assert out32.dtype == np.float32, f"output {k}: float32 inputs were promoted to {out32.dtype}"
        np.testing.assert_allclose(out32.data, out64.data, rtol=float32_rtol, atol=1e-5,
                                   err_msg=f"output {k}: float32 forward differs from float64")


def _nonempty_subsets(count: int) -> list[tuple[int, ...]]:
    return [subset for size in range(1, count + 1) for subset in itertools.combinations(range(count), size)]


def _check_gradients_of_subset(op, call, arrays, kwargs, trainable, expect_zero) -> None:
    """gradcheck with only the inputs at positions ``trainable`` requiring gradients; the others get none."""
    frozen = {k: tensor(a, dtype=np.float64) for k, a in enumerate(arrays) if k not in trainable}

    def fn(*trainable_tensors):
        given_tensors = iter(trainable_tensors)
        return call(op, [frozen[k] if k in frozen else next(given_tensors) for k in range(len(arrays))], kwargs)

    try:
        gradcheck(fn, [arrays[k] for k in trainable],
                  expect_zero=[position for position, k in enumerate(trainable) if k in expect_zero])
    except GradcheckError as error:
        if len(trainable) == len(arrays):
            raise
        raise GradcheckError(f"with only inputs {list(trainable)} of {len(arrays)} requiring gradients "
                             f"(numbered 0 to {len(trainable) - 1} below): {error}") from None
    assert all(t.grad is None for t in frozen.values()), "an input with requires_grad=False got a gradient"


def check_backward(op: Callable, arrays: Sequence[np.ndarray], kwargs: dict | None = None, *,
                   call: Callable = call_positionally, float32_rtol: float = FLOAT32_RTOL,
                   expect_zero: Collection[int] = ()) -> None:
    """The gradient of ``op`` at ``arrays`` against central finite differences, in float64.

    For every non-empty subset of the inputs requiring gradients (the others, like frozen weights,
    must get none), ``scratchgen.gradcheck.gradcheck`` with a random upstream gradient; an input
    whose gradient is ~0 both ways fails the check unless its position is in ``expect_zero`` (and
    then it must be ~0). The float32 gradient must match the float64 one; ``arrays`` are left
    unmodified. Raises GradcheckError or AssertionError.
    """
    kwargs = kwargs or {}
    originals = [a.copy() for a in arrays]
    for trainable in _nonempty_subsets(len(arrays)):
        _check_gradients_of_subset(op, call, arrays, kwargs, trainable, set(expect_zero))
    _assert_unmodified(originals, arrays)

    grads, upstreams = {}, None
    for dtype in (np.float64, np.float32):
        tensors, outs = _run(op, call, arrays, kwargs, dtype, requires_grad=True)
        if upstreams is None:
            rng = np.random.default_rng(1)
            upstreams = [rng.standard_normal(o.shape) for o in outs]
        for out, u in zip(outs, upstreams):
            out.backward(u.astype(dtype))
        grads[dtype] = [t.grad for t in tensors]
    for k, (g32, g64) in enumerate(zip(grads[np.float32], grads[np.float64])):
        if g64 is None:
            assert g32 is None, f"input {k} gets a gradient in float32 only"
            continue
        assert g32.dtype == np.float32, f"input {k}: the gradient of a float32 input is {g32.dtype}"
        np.testing.assert_allclose(g32, g64, rtol=float32_rtol, atol=1e-4 * max(1.0, np.abs(g64).max()),
                                   err_msg=f"input {k}: float32 gradient differs from float64")


def check_op(op: Callable, reference: Callable, draw_inputs: Callable, *, call: Callable = call_positionally,
             float32_rtol: float = FLOAT32_RTOL, expect_zero: Collection[int] | Callable = (),
             max_examples: int | None = None) -> None:
    """Run ``check_forward`` and ``check_backward`` on inputs drawn by hypothesis.

    ``draw_inputs(data) -> (arrays, kwargs)`` draws one example (``unary``, ``binary``,
    ``reduction`` or your own). ``expect_zero`` lists the input positions whose gradient is zero
    on purpose, or is a function ``(arrays, kwargs) -> positions`` when that depends on the draw.
    ``max_examples`` overrides the active hypothesis profile's number of examples. On failure,
    hypothesis shrinks to a small example, prints it, and raises the failing check's error.
    """
    def positions_expected_zero(arrays, kwargs):
        return set(expect_zero(arrays, kwargs) if callable(expect_zero) else expect_zero)

    # No deadline: one example gradient-checks every subset of the inputs element by element.
    options = {"deadline": None}
    if max_examples is not None:
        options["max_examples"] = max_examples

    @settings(**options)
    @given(data=st.data())
    def properties(data):
        arrays, kwargs = draw_inputs(data)
        note(f"inputs: {', '.join(np.array2string(np.asarray(a), precision=6) for a in arrays)}; kwargs: {kwargs}")
        check_forward(op, reference, arrays, kwargs, call=call, float32_rtol=float32_rtol)
        check_backward(op, arrays, kwargs, call=call, float32_rtol=float32_rtol,
                       expect_zero=positions_expected_zero(arrays, kwargs))

    properties()


def check_module(module, inputs: Sequence[np.ndarray], *, float32_rtol: float = FLOAT32_RTOL,
                 expect_zero: Collection[int | str] = (), directions: int = 3, seed: int = 0) -> None:
    """The properties of ``check_op`` for a whole module at fixed ``inputs`` (float arrays).

    In float64: the gradient with respect to the inputs and every parameter against central
    differences along ``directions`` random directions (``scratchgen.gradcheck.gradcheck_module``;
    ``expect_zero`` takes input positions and parameter names, as in ``named_parameters``). The
    float32 output must equal the float64 one, and the inputs are left unmodified. The module must
    be deterministic (dropout off: ``module.eval()``); it may be in either dtype, and its dtype,
    parameters and buffers (running statistics) are restored afterwards.
    """
    parameters = list(module.parameters())
    dtype = parameters[0].dtype if parameters else np.float64
    state = module.state_dict()
    originals = [np.array(x, copy=True) for x in inputs]
    try:
        outputs = {}
        for precision in (np.float64, np.float32):
            module.to(precision)
            module.load_state_dict(state)
            with no_grad():
                outputs[precision] = _as_list(module(*[tensor(x, dtype=precision) for x in inputs]))
        for k, (out32, out64) in enumerate(zip(outputs[np.float32], outputs[np.float64])):
            assert out32.dtype == np.float32, f"output {k}: a float32 module gave {out32.dtype}"
            np.testing.assert_allclose(out32.data, out64.data, rtol=float32_rtol,
                                       atol=1e-5 * max(1.0, np.abs(out64.data).max(initial=0.0)),
                                       err_msg=f"output {k}: float32 forward differs from float64")
        module.to(np.float64)
        module.load_state_dict(state)
        gradcheck_module(module, inputs, directions=directions, seed=seed, expect_zero=expect_zero)
        _assert_unmodified(originals, inputs)
    finally:
        module.to(dtype)
        module.load_state_dict(state)
