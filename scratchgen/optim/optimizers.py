"""Optimizers with PyTorch's update rules, and gradient-norm clipping.

Each optimizer holds ``param_groups`` (lists of parameters with their hyperparameters, as in
PyTorch, so a schedule can change ``group["lr"]``) and ``state`` (per-parameter moments and step
counts, keyed by the parameter's position across the groups). ``step()`` updates ``param.data``
in place with NumPy: no graph is recorded, and the Parameter objects the model holds stay the
same. Parameters whose ``grad`` is None are skipped and their state does not advance.

``state_dict()`` is flat, like a module's: "param_groups.<g>.<hyperparameter>" and
"state.<i>.<name>" to NumPy arrays, so it is saved by ``scratchgen.nn.save_state_dict`` without
pickle, and loading it into a fresh optimizer over the same parameters resumes bit for bit.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Iterable, Mapping

import numpy as np

from .. import kernels
from ..autograd.tensor import Tensor
from ..nn.serialization import check_state_dict


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``step``, ``state_dict``/``load_state_dict``.

    A subclass gives its ``defaults`` (hyperparameters), checks them in ``_check_hyperparameters``,
    describes its per-parameter state in ``_initial_state`` and updates one parameter in ``_update``.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        groups = [params] if isinstance(params, Tensor) else list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list: pass model.parameters() "
                             "of a model that has parameters")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add parameters with their own hyperparameters (those not given take the defaults)."""
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        known = {id(p) for existing in self.param_groups for p in existing["params"]}
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(f"{type(self).__name__} optimizes Tensors, got {type(param).__name__}")
            if not param.is_leaf:
                raise ValueError(f"{type(self).__name__} can only optimize leaf tensors (parameters), "
                                 "not results of operations")
            if id(param) in known:
                raise ValueError(f"{type(self).__name__}: a parameter appears twice among the parameter groups")
            known.add(id(param))
        hyperparameters = {**self.defaults, **{key: value for key, value in group.items() if key != "params"}}
        self._check_hyperparameters(hyperparameters)
        self.param_groups.append({"params": params, **hyperparameters})

    def _check_hyperparameters(self, group: dict) -> None:
        raise NotImplementedError

    def _initial_state(self, param: np.ndarray) -> dict:
        """The state of one parameter before its first step (also the template a load is checked against)."""
        raise NotImplementedError

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def _indexed_params(self):
        index = 0
        for group in self.param_groups:
            for param in group["params"]:
                yield index, group, param
                index += 1

    def zero_grad(self) -> None:
        """Drop the gradients (set them to None), so the next backward() starts from zero."""
        for _, _, param in self._indexed_params():
            param.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        for index, group, param in self._indexed_params():
            if param.grad is not None:
                self._update(param.data, param.grad, self.state.setdefault(index, {}), group)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Hyperparameters of every group, then each parameter's state, as arrays (copies)."""
        state = OrderedDict()
        for g, group in enumerate(self.param_groups):
            for key, value in group.items():
                if key != "params":
                    state[f"param_groups.{g}.{key}"] = np.array(value)
            state[f"param_groups.{g}.params"] = np.array(
                [index for index, owner, _ in self._indexed_params() if owner is group], dtype=np.int64)
        for index in sorted(self.state):
            for name, value in self.state[index].items():
                state[f"state.{index}.{name}"] = np.array(value)
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Restore hyperparameters and per-parameter state saved by ``state_dict``.

        The optimizer must be built over parameters of the same shapes in the same groups; every
        missing, unexpected or mis-shaped entry is reported at once, before anything changes.
        """
        params = [param for _, _, param in self._indexed_params()]
        expected = OrderedDict()
        for g, group in enumerate(self.param_groups):
            for key in self.defaults:
                expected[f"param_groups.{g}.{key}"] = np.shape(self.defaults[key])
            expected[f"param_groups.{g}.params"] = (len(group["params"]),)
        templates = {}
        for key in state:
            kind, _, rest = key.partition(".")
            position, _, name = rest.partition(".")
            if not position.isdigit() or not name:
                continue
            if kind == "param_groups" and int(position) < len(self.param_groups) and key not in expected:
                expected[key] = np.shape(state[key])  # extra settings, e.g. a schedule's initial_lr
            elif kind == "state" and int(position) < len(params) and int(position) not in templates:
                templates[int(position)] = self._initial_state(params[int(position)].data)
                for entry, value in templates[int(position)].items():
                    expected[f"state.{position}.{entry}"] = np.shape(value)
        check_state_dict(type(self).__name__, expected, state)

        for g, group in enumerate(self.param_groups):
            for key, value in state.items():
                prefix = f"param_groups.{g}."
                if key.startswith(prefix) and key != prefix + "params":
                    group[key[len(prefix):]] = _python_value(value)
        self.state = {
            index: {name: (np.array(state[f"state.{index}.{name}"], dtype=template.dtype)
                           if isinstance(template, np.ndarray) else type(template)(state[f"state.{index}.{name}"]))
                    for name, template in entries.items()}
            for index, entries in sorted(templates.items())
        }


def _python_value(array: np.ndarray):
    """A saved hyperparameter back as the Python value it was: float, int, bool, or tuple."""
    array = np.asarray(array)
    return array.item() if array.ndim == 0 else tuple(array.tolist())


def _check_non_negative(owner: str, group: dict, *names: str) -> None:
    for name in names:
        if not group[name] >= 0:
            raise ValueError(f"{owner}: {name} must be >= 0, got {group[name]!r}")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay."""

    def __init__(self, params, lr: float, *, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _check_hyperparameters(self, group: dict) -> None:
        _check_non_negative("SGD", group, "lr", "momentum", "dampening", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")

    def _initial_state(self, param: np.ndarray) -> dict:
        return {"momentum_buffer": np.zeros_like(param)}

    def _update(self, param, grad, state, group):
        """With g the gradient, mu the momentum, tau the dampening, lambda the weight decay:

            g <- g + lambda theta
            b <- g                          at the first step
            b <- mu b + (1 - tau) g         afterwards
            g <- g + mu b  (Nesterov)   or   g <- b
            theta <- theta - lr g
        """
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        if weight_decay != 0:
            grad = grad + weight_decay * param
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                # The first buffer is the gradient itself, undamped (PyTorch's convention).
                buffer = state["momentum_buffer"] = grad.copy()
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param -= lr * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` adds lambda theta to the gradient (L2)."""

    decoupled_weight_decay = False

    def __init__(self, params, lr: float = 1e-3, *, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _check_hyperparameters(self, group: dict) -> None:
        name = type(self).__name__
        _check_non_negative(name, group, "lr", "eps", "weight_decay")
        betas = group["betas"]
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas!r}")

    def _initial_state(self, param: np.ndarray) -> dict:
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def _update(self, param, grad, state, group):
        """At step t, with g the gradient and lambda the weight decay:

            theta <- theta (1 - lr lambda)          AdamW (decoupled)
            g <- g + lambda theta                   Adam (L2)
            m <- beta1 m + (1 - beta1) g
            v <- beta2 v + (1 - beta2) g^2
            theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        """
        if not state:
            state.update(self._initial_state(param))
        lr, weight_decay, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = state["step"]
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                param *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param
        # The moments start at zero, so early on they underestimate E[g] and E[g^2] by the
        # factors 1 - beta^t; dividing by them removes that bias. One fused pass (kernels.optim).
        kernels.adam_update(param, grad, state["exp_avg"], state["exp_avg_sq"], lr, beta1, beta2, eps, step)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): theta shrinks by lr lambda
    directly instead of through the gradient, so the decay is not rescaled by Adam's denominator."""

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, *, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``; return the norm before.

    The norm is taken over all gradients as one vector (``norm_type`` 2 by default, ``inf`` for
    the largest magnitude). Gradients are multiplied in place by max_norm / (norm + 1e-6) when
    that factor is below 1 (PyTorch's formula), so their direction is unchanged.
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [param.grad for param in params if param.grad is not None]
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    per_tensor = [np.linalg.norm(grad.astype(np.float64).ravel(), ord=norm_type) for grad in grads]
    total_norm = float(np.linalg.norm(np.array(per_tensor), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(f"clip_grad_norm_: the total gradient norm is {total_norm}; some gradient is not finite")
    clip_coefficient = max_norm / (total_norm + 1e-6)
    if clip_coefficient < 1:
        for grad in grads:
            grad *= clip_coefficient
    return total_norm
