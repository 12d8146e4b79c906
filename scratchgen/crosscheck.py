"""Check a PyTorch model against scratchgen's, tensor by tensor.

    from scratchgen.crosscheck import compare
    report = compare(scratchgen_vae, my_torch_vae, (x,), kwargs={"eps": eps})
    print(report)          # one row per tensor, then a one-line verdict
    assert report.ok

Both models get the same weights (scratchgen's, copied into the PyTorch model by parameter name:
``torch_state_dict``), the same inputs and the same dtype (float64 by default, so that any
difference beyond rounding is a real one), then each runs one training step: forward, loss,
backward, one optimizer step. ``compare`` reports, for the forward outputs, the loss, every
parameter's gradient and every parameter after the step, the largest absolute difference against
the tolerance ``atol + rtol * max|PyTorch's value|``.

PyTorch is optional: it is imported when a function here is called, and its absence is a one-line
ImportError saying how to install it. Neither model is modified: both are copied first.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .autograd import Tensor, tensor
from .nn import Module
from .optim import SGD, Adam

INSTALL = 'pip install "scratchgen[bench]" (PyTorch 2.13.0, its CPU build)'


def _torch():
    try:
        import torch  # noqa: PLC0415 (optional dependency)
    except ImportError:
        raise ImportError(f"scratchgen.crosscheck needs PyTorch: {INSTALL}") from None
    return torch


def torch_state_dict(module: Module) -> dict:
    """scratchgen's parameters and buffers as PyTorch tensors (copies), by the same dotted names."""
    torch = _torch()
    return {name: torch.from_numpy(np.array(array)) for name, array in module.state_dict().items()}


def load_torch_state_dict(module: Module, state: dict, strict: bool = True):
    """Copy a PyTorch state dict into a scratchgen module (names and shapes checked first)."""
    return module.load_state_dict({name: value.detach().cpu().numpy() for name, value in state.items()}, strict)


@dataclass
class Difference:
    """One compared tensor: the largest |scratchgen - PyTorch| and the tolerance it is held to."""

    name: str
    max_abs: float
    scale: float          # max |PyTorch's value|
    tolerance: float      # atol + rtol * scale

    @property
    def ok(self) -> bool:
        return self.max_abs <= self.tolerance


@dataclass
class Report:
    rows: list
    dtype: str
    rtol: float

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def differing(self) -> list:
        return [row for row in self.rows if not row.ok]

    @property
    def verdict(self) -> str:
        if self.ok:
            return f"crosscheck: all {len(self.rows)} tensors agree ({self.dtype}, rtol {self.rtol:g})"
        first = self.differing[0]
        return (f"crosscheck: {len(self.differing)} of {len(self.rows)} tensors differ ({self.dtype}, rtol "
                f"{self.rtol:g}); first: {first.name}, max |diff| {first.max_abs:.3g} > tolerance "
                f"{first.tolerance:.3g}")

    def __str__(self) -> str:
        width = max([len(row.name) for row in self.rows] + [len("tensor")])
        lines = [f"{'tensor':<{width}}  {'max |diff|':>10}  {'max |torch|':>11}  {'tolerance':>9}  verdict"]
        lines += [f"{row.name:<{width}}  {row.max_abs:10.3g}  {row.scale:11.3g}  {row.tolerance:9.3g}  "
                  f"{'ok' if row.ok else 'DIFFERS'}" for row in self.rows]
        return "\n".join(lines + [self.verdict])


def _optimizers(name: str, lr: float, model: Module, torch_model):
    torch = _torch()
    if name == "sgd":
        return SGD(model.parameters(), lr=lr), torch.optim.SGD(torch_model.parameters(), lr=lr)
    if name == "adam":
        return Adam(model.parameters(), lr=lr), torch.optim.Adam(torch_model.parameters(), lr=lr)
    raise ValueError(f"optimizer: expected 'sgd' or 'adam', got {name!r}")


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def compare(model: Module, torch_model, inputs=(), *, kwargs=None, loss: Callable | None = None,
            torch_loss: Callable | None = None, optimizer: str = "sgd", lr: float = 0.1,
            dtype=np.float64, rtol: float | None = None, atol: float = 1e-12, buffers: bool = True) -> Report:
    """One training step of both models from the same weights and inputs, compared tensor by tensor.

    ``inputs`` (a tuple of arrays) and ``kwargs`` (a dict of arrays) are passed to both models.
    The loss is ``loss(outputs, *inputs)`` for scratchgen and ``torch_loss(outputs, *inputs)`` (by
    default the same function) for PyTorch; without ``loss`` the model's output is the loss.
    ``optimizer`` is "sgd" or "adam" with learning rate ``lr``. ``rtol`` defaults to 1e-6 in float64
    and 1e-3 in float32. ``buffers=False`` copies only the parameters and leaves the PyTorch model
    its own buffers (masks it builds itself, say, so that a wrong mask shows as a difference).
    """
    torch = _torch()
    dtype = np.dtype(dtype)
    rtol = (1e-6 if dtype == np.float64 else 1e-3) if rtol is None else rtol
    ours = copy.deepcopy(model).to(dtype)
    theirs = copy.deepcopy(torch_model).to(getattr(torch, dtype.name))
    state = torch_state_dict(ours)
    if not buffers:
        state = {name: state[name] for name, _ in ours.named_parameters()}
    names, torch_names = set(state), set(theirs.state_dict() if buffers else dict(theirs.named_parameters()))
    if names != torch_names:
        raise ValueError(f"the models name their parameters differently: only in scratchgen "
                         f"{sorted(names - torch_names)}, only in PyTorch {sorted(torch_names - names)}")
    theirs.load_state_dict(state, strict=buffers)
    kwargs = kwargs or {}
    arrays = [np.asarray(a, dtype=dtype) for a in inputs]
    keyword_arrays = {k: np.asarray(v, dtype=dtype) for k, v in kwargs.items()}
    our_inputs = [tensor(a) for a in arrays]
    their_inputs = [torch.from_numpy(a.copy()) for a in arrays]

    our_out = ours(*our_inputs, **{k: tensor(v) for k, v in keyword_arrays.items()})
    their_out = theirs(*their_inputs, **{k: torch.from_numpy(v.copy()) for k, v in keyword_arrays.items()})
    our_loss = loss(our_out, *our_inputs) if loss else our_out
    their_loss = (torch_loss or loss)(their_out, *their_inputs) if loss else their_out
    for value, side in ((our_loss, "scratchgen"), (their_loss, "PyTorch")):
        if int(np.prod(value.shape)) != 1:
            raise ValueError(f"the {side} loss has shape {tuple(value.shape)}: compare needs one number "
                             "(pass loss=... to reduce the model's output)")

    def difference(name, a, b):
        a = np.asarray(a, dtype=np.float64)
        b = b.detach().cpu().numpy().astype(np.float64) if torch.is_tensor(b) else np.asarray(b, dtype=np.float64)
        scale = float(np.abs(b).max()) if b.size else 0.0
        if a.shape != b.shape:   # never broadcast one against the other: shapes that differ differ
            max_abs = float("inf")
        else:
            max_abs = float(np.abs(a - b).max()) if a.size else 0.0
        return Difference(name, max_abs, scale, atol + rtol * scale)

    outputs = list(zip(_as_list(our_out), _as_list(their_out)))
    rows = [difference("output" if len(outputs) == 1 else f"output[{k}]", a.data if isinstance(a, Tensor) else a, b)
            for k, (a, b) in enumerate(outputs)]
    if loss:   # else the output is the loss, already compared
        rows.append(difference("loss", our_loss.data, their_loss))

    our_optimizer, their_optimizer = _optimizers(optimizer, lr, ours, theirs)
    our_optimizer.zero_grad()
    their_optimizer.zero_grad()
    our_loss.backward()
    their_loss.backward()
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        other = their_params[name].grad
        rows.append(difference(f"grad {name}", np.zeros_like(param.data) if param.grad is None else param.grad,
                               torch.zeros_like(their_params[name]) if other is None else other))
    our_optimizer.step()
    their_optimizer.step()
    for name, param in ours.named_parameters():
        rows.append(difference(f"after {optimizer} step {name}", param.data, their_params[name]))
    return Report(rows, dtype.name, rtol)
