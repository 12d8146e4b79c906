"""Check analytic gradients against finite differences, in float64.

Both checks look at the scalar f(x) = sum_k <u_k, fn(x)_k> for random upstream gradients u_k
drawn from a seeded generator. Random, never all ones: with u = 1 the gradient of softmax (or of
anything normalized, like batch norm) is identically zero, and a check comparing 0 with 0 passes
whatever the backward pass computes.

- ``gradcheck`` compares every element of the gradient with a central difference,
  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps): exact but 2 evaluations per input element.
- ``gradcheck_projection`` compares the directional derivative along random directions v,
  <grad f, v> against (f(x + eps v) - f(x - eps v)) / (2 eps): 2 evaluations per direction,
  so whole models stay affordable.

A check in which every analytic and numerical gradient is ~0 raises instead of passing.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .autograd.tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with finite differences (or the check proves nothing)."""


def _outputs(fn: Callable, tensors: list[Tensor]) -> list[Tensor]:
    out = fn(*tensors)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _prepare(fn, inputs, seed):
    arrays = [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]
    rng = np.random.default_rng(seed)
    with no_grad():
        outs = _outputs(fn, [Tensor(a, dtype=np.float64) for a in arrays])
    for out in outs:
        if out.dtype != np.float64:
            raise GradcheckError(f"fn returned {out.dtype} for float64 inputs; gradient checks run in float64")
    upstream = [rng.standard_normal(out.shape) for out in outs]

    def objective(values: list[np.ndarray]) -> float:
        with no_grad():
            outs = _outputs(fn, [Tensor(v, dtype=np.float64) for v in values])
        return float(np.sum([np.sum(u * o.data) for u, o in zip(upstream, outs)]))

    leaves = [Tensor(a.copy(), requires_grad=True, dtype=np.float64) for a in arrays]
    for out, u in zip(_outputs(fn, leaves), upstream):
        if out.requires_grad:
            out.backward(u)
    analytic = [np.zeros_like(a) if leaf.grad is None else leaf.grad for a, leaf in zip(arrays, leaves)]
    return arrays, rng, objective, analytic


def _fail_if_vacuous(analytic: list[np.ndarray], numeric: list[np.ndarray], floor: float) -> None:
    largest = max([np.max(np.abs(g), initial=0.0) for g in analytic + numeric])
    if largest <= floor:
        raise GradcheckError(
            "vacuous gradient check: analytic and numerical gradients are both ~0 "
            f"(largest magnitude {largest:.2e}); choose inputs at which the function depends on them"
        )


def gradcheck(fn: Callable, inputs: Sequence, *, eps: float = 1e-6, atol: float = 1e-7,
              rtol: float = 1e-5, seed: int = 0) -> bool:
    """Compare every element of the gradient of ``fn`` at ``inputs`` with central differences.

    ``fn`` maps tensors (one per input array) to a tensor or a sequence of tensors. Inputs are
    evaluated in float64. Raises ``GradcheckError`` naming the worst element on disagreement.
    """
    arrays, _, objective, analytic = _prepare(fn, inputs, seed)
    numeric = []
    for k, base in enumerate(arrays):
        grad = np.zeros_like(base)
        for i in np.ndindex(base.shape):
            shifted = [a.copy() for a in arrays]
            shifted[k][i] = base[i] + eps
            plus = objective(shifted)
            shifted[k][i] = base[i] - eps
            grad[i] = (plus - objective(shifted)) / (2 * eps)
        numeric.append(grad)
    scale = max([1.0] + [np.max(np.abs(n), initial=0.0) for n in numeric])
    _fail_if_vacuous(analytic, numeric, floor=1e-9)
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        error = np.abs(a - n) - (atol * scale + rtol * np.abs(n))
        if error.size and error.max() > 0:
            worst = np.unravel_index(np.argmax(error), error.shape)
            raise GradcheckError(
                f"gradient of input {k} (shape {a.shape}) disagrees with finite differences at {worst}: "
                f"analytic {a[worst]:.8g}, numerical {n[worst]:.8g}"
            )
    return True


def gradcheck_projection(fn: Callable, inputs: Sequence, *, directions: int = 3, eps: float = 1e-6,
                         atol: float = 1e-7, rtol: float = 1e-5, seed: int = 0) -> bool:
    """Compare <grad f, v> with a central difference along ``directions`` random directions v."""
    arrays, rng, objective, analytic = _prepare(fn, inputs, seed)
    checks = []
    for _ in range(directions):
        v = [rng.standard_normal(a.shape) for a in arrays]
        predicted = float(np.sum([np.sum(g * vk) for g, vk in zip(analytic, v)]))
        measured = (objective([a + eps * vk for a, vk in zip(arrays, v)])
                    - objective([a - eps * vk for a, vk in zip(arrays, v)])) / (2 * eps)
        checks.append((predicted, measured))
    _fail_if_vacuous(analytic, [np.array([m for _, m in checks])], floor=1e-9)
    for d, (predicted, measured) in enumerate(checks):
        if abs(predicted - measured) > atol * max(1.0, abs(measured)) + rtol * abs(measured):
            raise GradcheckError(
                f"directional derivative {d} disagrees: analytic <grad, v> = {predicted:.10g}, "
                f"finite difference = {measured:.10g}"
            )
    return True
