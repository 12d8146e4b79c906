"""scratchgen: generative models for images, written from scratch in NumPy.

    import scratchgen as sg
    x = sg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == 2 x

Every differentiable op is importable from here (``sg.exp``, ``sg.matmul``, ``sg.logsumexp``...).
"""
from .autograd import OPS, Tensor, as_tensor, is_grad_enabled, manual_seed, no_grad, tensor
from .autograd.losses import *  # noqa: F401,F403  (the losses are ops too)
from .autograd.ops import *  # noqa: F401,F403

__version__ = "0.1.0"
