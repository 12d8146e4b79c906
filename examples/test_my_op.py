"""Property tests for an op, a loss and a module of your own, with scratchgen.testing (docs/testing.md).

    python -m pytest examples/test_my_op.py
"""
import numpy as np
from hypothesis import strategies as st

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen.autograd import Tensor, as_tensor
from scratchgen.testing import away_from, check_module, check_op, nonempty_shapes, unary, uniform


# ------------------------------------------------------------------ an op with its own backward
def mish(x) -> Tensor:
    """Mish, x * tanh(softplus(x)) (Misra, 2019)."""
    x = as_tensor(x)
    t = np.tanh(np.logaddexp(0, x.data))  # tanh(softplus(x)); logaddexp(0, x) = log(1 + e^x) without overflow
    sigmoid = 1 / (1 + np.exp(-x.data))

    def backward(g):
        return (g * (t + x.data * (1 - t * t) * sigmoid),)  # d/dx = tanh(sp) + x (1 - tanh(sp)^2) s(x)

    return Tensor.from_op(x.data * t, (x,), backward, "mish")


def np_mish(x):
    return x * np.tanh(np.log1p(np.exp(x)))


def test_mish():
    check_op(mish, np_mish, unary(-4, 4))


def test_mish_from_scratchgen_ops():
    """The same activation composed from scratchgen's ops needs no backward of its own; check it all the same."""
    check_op(lambda x: x * sg.tanh(sg.softplus(x)), np_mish, unary(-4, 4))


# ------------------------------------------------------------------ a loss from scratchgen's ops
def quantile_loss(prediction, target, quantile=0.5, reduction="mean"):
    """The pinball loss: quantile * r where r = target - prediction >= 0, (quantile - 1) * r below."""
    residual = target - prediction
    loss = sg.maximum(quantile * residual, (quantile - 1) * residual)
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


def np_quantile_loss(prediction, target, quantile, reduction):
    residual = target - prediction
    loss = np.maximum(quantile * residual, (quantile - 1) * residual)
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


def draw_prediction_and_target(data):
    shape = data.draw(nonempty_shapes, label="shape")
    prediction = uniform(data, shape)
    target = prediction + away_from(uniform(data, shape), [0.0])  # the residual off the loss's kink at 0
    kwargs = {"quantile": data.draw(st.floats(0.05, 0.95), label="quantile"),
              "reduction": data.draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")}
    return [prediction, target], kwargs


def test_quantile_loss():
    check_op(quantile_loss, np_quantile_loss, draw_prediction_and_target)


# ------------------------------------------------------------------ a module using them
class Mish(nn.Module):
    def forward(self, x):
        return mish(x)


def test_network_with_mish():
    sg.manual_seed(0)
    network = nn.Sequential(nn.Linear(3, 5), Mish(), nn.Linear(5, 2))
    check_module(network, [np.random.default_rng(0).standard_normal((4, 3))])
