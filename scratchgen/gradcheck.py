"""Check analytic gradients against finite differences, in float64.

Every check looks at the scalar f = sum_k <u_k, out_k> for random upstream gradients u_k drawn
from a seeded generator. Random, never all ones: with u = 1 the gradient of softmax (or of
anything normalized, like batch norm) is identically zero, and a check comparing 0 with 0 passes
whatever the backward pass computes.

- ``gradcheck`` compares every element of the gradient with a central difference,
  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps): exact but 2 evaluations per input element.
- ``gradcheck_projection`` compares the directional derivative along random directions v,
  <grad f, v> against (f(x + eps v) - f(x - eps v)) / (2 eps): 2 evaluations per direction,
  so whole models stay affordable.
- ``gradcheck_module`` is the projection check of a Module with respect to its inputs *and* all
  of its parameters at once.

An input whose analytic and numerical gradients are both ~0 makes a check raise instead of pass,
because the check then proves nothing about that input's backward rule, unless the caller lists it
in ``expect_zero``: ``gradcheck(fn, [a, b], expect_zero=[1])`` states that b's gradient is zero
(b is the branch a ``where`` never picks, say), and the check then also fails if it is not.
"""
from __future__ import annotations

import numbers
from typing import Callable, Collection, Sequence

import numpy as np

from .autograd.tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with finite differences (or the check proves nothing)."""


class _Problem:
    """The leaves to differentiate with respect to, and f(leaves) = sum_k <u_k, out_k>.

    Finite differences perturb the leaves' arrays in place and put them back, so the same code
    serves fresh input tensors and a model's own parameters.
    """

    def __init__(self, evaluate: Callable[[], object], leaves: list[Tensor], seed: int):
        self.evaluate, self.leaves = evaluate, leaves
        self.rng = np.random.default_rng(seed)
        with no_grad():
            outs = self._outputs()
        for out in outs:
            if out.dtype != np.float64:
                raise GradcheckError(f"the checked function returned {out.dtype}; gradient checks run in "
                                     "float64 (pass float64 inputs, call model.double())")
        self.upstream = [self.rng.standard_normal(out.shape) for out in outs]

    def _outputs(self) -> list[Tensor]:
        out = self.evaluate()
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def objective(self) -> float:
        with no_grad():
            outs = self._outputs()
        return float(np.sum([np.sum(u * o.data) for u, o in zip(self.upstream, outs)]))

    def analytic(self) -> list[np.ndarray]:
        for leaf in self.leaves:
            leaf.zero_grad()
        for out, u in zip(self._outputs(), self.upstream):
            if out.requires_grad:
                out.backward(u)
        return [np.zeros_like(leaf.data) if leaf.grad is None else leaf.grad for leaf in self.leaves]

    def central_difference(self, shift: Callable[[int, float], None], eps: float) -> float:
        """(f(+eps) - f(-eps)) / (2 eps) where shift(sign) moves the leaves by sign*eps."""
        originals = [leaf.data.copy() for leaf in self.leaves]
        try:
            shift(+1)
            plus = self.objective()
            for leaf, original in zip(self.leaves, originals):
                leaf.data[...] = original
            shift(-1)
            minus = self.objective()
        finally:
            for leaf, original in zip(self.leaves, originals):
                leaf.data[...] = original
        return (plus - minus) / (2 * eps)


def _float64_leaves(inputs: Sequence) -> list[Tensor]:
    return [Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64), requires_grad=True,
                   dtype=np.float64) for x in inputs]


# Gradients at most this large count as zero for the vacuity guard.
_ZERO = 1e-9


def _largest(array) -> float:
    return float(np.max(np.abs(array), initial=0.0))


def _input_names(count: int) -> list[str]:
    return [f"input {k}" for k in range(count)]


def _names_expected_zero(expect_zero: Collection, names: list[str]) -> set[str]:
    """``expect_zero`` (input positions; for modules also parameter names) as leaf names."""
    declared = {f"input {item}" if isinstance(item, numbers.Integral) else item for item in expect_zero}
    unknown = sorted(declared - set(names))
    if unknown:
        raise ValueError(f"expect_zero names no checked input or parameter: {unknown} (known: {names})")
    return declared


def _check_zero_gradients(names: list[str], analytic: list[float], numeric: list[float],
                          expected_zero: set[str]) -> None:
    """Raise for a leaf whose gradient is ~0 unless expected, and for an expected one that is not.

    ``analytic`` and ``numeric`` hold each leaf's largest gradient magnitude (for projections, of
    its own directional derivative).
    """
    for name, largest_analytic, largest_numeric in zip(names, analytic, numeric):
        vanishes = max(largest_analytic, largest_numeric) <= _ZERO
        if name in expected_zero and not vanishes:
            raise GradcheckError(
                f"{name} was declared to have zero gradient (expect_zero), but its analytic gradient reaches "
                f"{largest_analytic:.2e} and its numerical gradient {largest_numeric:.2e}")
        if vanishes and name not in expected_zero:
            raise GradcheckError(
                f"vacuous gradient check: the analytic and numerical gradients of {name} are both ~0 (at most "
                f"{max(largest_analytic, largest_numeric):.2e}), so the check proves nothing about it; choose values "
                "at which the function depends on it, or list it in expect_zero if a zero gradient is the point")


def _too_far(analytic: float | np.ndarray, numeric, scale: float, atol: float, rtol: float):
    return np.abs(analytic - numeric) - (atol * scale + rtol * np.abs(numeric))


def gradcheck(fn: Callable, inputs: Sequence, *, eps: float = 1e-6, atol: float = 1e-7,
              rtol: float = 1e-5, seed: int = 0, expect_zero: Collection[int] = ()) -> bool:
    """Compare every element of the gradient of ``fn`` at ``inputs`` with central differences.

    ``fn`` maps tensors (one per input array) to a tensor or a sequence of tensors. Inputs are
    evaluated in float64. Raises ``GradcheckError`` naming the worst element on disagreement, and
    for an input whose gradient is ~0 unless its position is in ``expect_zero``.
    """
    leaves = _float64_leaves(inputs)
    names = _input_names(len(leaves))
    expected_zero = _names_expected_zero(expect_zero, names)
    problem = _Problem(lambda: fn(*leaves), leaves, seed)
    analytic = problem.analytic()
    numeric = []
    for leaf in leaves:
        grad = np.zeros_like(leaf.data)
        for i in np.ndindex(leaf.shape):
            def shift(sign, leaf=leaf, i=i):
                leaf.data[i] += sign * eps
            grad[i] = problem.central_difference(shift, eps)
        numeric.append(grad)
    scale = max([1.0] + [np.max(np.abs(n), initial=0.0) for n in numeric])
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        excess = _too_far(a, n, scale, atol, rtol)
        if excess.size and excess.max() > 0:
            worst = np.unravel_index(np.argmax(excess), excess.shape)
            raise GradcheckError(
                f"gradient of input {k} (shape {a.shape}) disagrees with finite differences at {worst}: "
                f"analytic {a[worst]:.8g}, numerical {n[worst]:.8g}"
            )
    _check_zero_gradients(names, [_largest(a) for a in analytic], [_largest(n) for n in numeric], expected_zero)
    return True


def _projection_check(problem: _Problem, names: list[str], directions: int, eps: float, atol: float,
                      rtol: float, expected_zero: set[str]) -> bool:
    analytic = problem.analytic()
    results = []
    for _ in range(directions):
        v = [problem.rng.standard_normal(leaf.shape) for leaf in problem.leaves]

        def shift(sign, v=v):
            for leaf, vk in zip(problem.leaves, v):
                leaf.data += sign * eps * vk

        predicted = float(np.sum([np.sum(g * vk) for g, vk in zip(analytic, v)]))
        results.append((predicted, problem.central_difference(shift, eps), v))
    for d, (predicted, measured, v) in enumerate(results):
        if _too_far(predicted, measured, max(1.0, abs(measured)), atol, rtol) > 0:
            raise GradcheckError(
                f"directional derivative {d} disagrees: analytic <grad, v> = {predicted:.10g}, "
                f"finite difference = {measured:.10g}; "
                f"wrong: {', '.join(_culprits(problem, analytic, v, names, eps, atol, rtol))}"
            )
    # The directional derivatives above mix all leaves, so a leaf whose analytic gradient is ~0, or
    # is declared zero, is moved alone to measure its own; a leaf with a clearly non-zero analytic
    # gradient cannot be vacuous (and was compared above), so it needs no such measurement.
    analytic_sizes = [_largest(g) for g in analytic]
    numeric_sizes = [
        abs(_leaf_derivative(problem, k, problem.rng.standard_normal(problem.leaves[k].shape), eps))
        if analytic_sizes[k] <= _ZERO or name in expected_zero else np.inf
        for k, name in enumerate(names)
    ]
    _check_zero_gradients(names, analytic_sizes, numeric_sizes, expected_zero)
    return True


def _leaf_derivative(problem: _Problem, k: int, direction: np.ndarray, eps: float) -> float:
    """The central-difference derivative of f along ``direction`` moving leaf ``k`` alone."""
    leaf = problem.leaves[k]

    def shift(sign):
        leaf.data += sign * eps * direction

    return problem.central_difference(shift, eps)


def _culprits(problem: _Problem, analytic, v, names, eps, atol, rtol) -> list[str]:
    """The leaves whose own directional derivative disagrees (found by moving one leaf at a time)."""
    wrong = []
    for k in range(len(problem.leaves)):
        measured = _leaf_derivative(problem, k, v[k], eps)
        if _too_far(float(np.sum(analytic[k] * v[k])), measured, max(1.0, abs(measured)), atol, rtol) > 0:
            wrong.append(names[k])
    return wrong or ["no single leaf (the disagreement needs several at once)"]


def gradcheck_projection(fn: Callable, inputs: Sequence, *, directions: int = 3, eps: float = 1e-6,
                         atol: float = 1e-7, rtol: float = 1e-5, seed: int = 0,
                         expect_zero: Collection[int] = ()) -> bool:
    """Compare <grad f, v> with a central difference along ``directions`` random directions v.

    ``expect_zero`` as in ``gradcheck``.
    """
    leaves = _float64_leaves(inputs)
    names = _input_names(len(leaves))
    problem = _Problem(lambda: fn(*leaves), leaves, seed)
    return _projection_check(problem, names, directions, eps, atol, rtol, _names_expected_zero(expect_zero, names))


def gradcheck_module(module, inputs: Sequence, *, directions: int = 3, eps: float = 1e-6, atol: float = 1e-7,
                     rtol: float = 1e-5, seed: int = 0, expect_zero: Collection[int | str] = ()) -> bool:
    """Projection check of ``module(*inputs)`` w.r.t. the inputs and every parameter of ``module``.

    The module must hold float64 parameters (``module.double()``). Its parameters are perturbed
    in place during the check and restored afterwards. ``expect_zero`` lists input positions and
    parameter names (as in ``named_parameters``) whose gradient is expected to be zero.
    """
    named = list(module.named_parameters())
    for name, param in named:
        if param.dtype != np.float64:
            raise GradcheckError(f"parameter {name} is {param.dtype}; call module.double() before checking")
    inputs = _float64_leaves(inputs)
    leaves = inputs + [param for _, param in named]
    names = _input_names(len(inputs)) + [name for name, _ in named]
    expected_zero = _names_expected_zero(expect_zero, names)
    problem = _Problem(lambda: module(*inputs), leaves, seed)
    try:
        return _projection_check(problem, names, directions, eps, atol, rtol, expected_zero)
    finally:
        for _, param in named:
            param.zero_grad()
