"""Neural-network building blocks with PyTorch's names and semantics.

    import scratchgen.nn as nn
    model = nn.Sequential(nn.Linear(2, 32), nn.SiLU(), nn.Linear(32, 1))
    nn.save_state_dict("model.npz", model)
    model.load_state_dict(nn.load_state_dict_file("model.npz"))

``module.py`` holds Parameter, Module and the containers, ``layers.py`` the layers, ``init.py``
the initializations, ``serialization.py`` the pickle-free atomic ``.npz`` checkpoints and
``functional`` the stateless functions the layers call. See docs/nn.md.
"""
from . import functional, init
from .layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    Flatten,
    GroupNorm,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaskedConv2d,
    MaxPool2d,
    ReLU,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
    Unflatten,
    Upsample,
)
from .module import Module, ModuleList, Parameter, Sequential
from .serialization import (
    IncompatibleKeys,
    check_state_dict,
    load_checkpoint,
    load_state_dict_file,
    save_checkpoint,
    save_state_dict,
)

__all__ = [
    "functional", "init",
    "Parameter", "Module", "Sequential", "ModuleList",
    "Linear", "Conv2d", "ConvTranspose2d", "MaskedConv2d", "BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm",
    "Dropout", "Embedding", "Flatten", "Unflatten", "Upsample", "MaxPool2d", "AvgPool2d",
    "ReLU", "LeakyReLU", "SiLU", "Tanh", "Sigmoid", "Softplus", "Identity",
    "save_state_dict", "load_state_dict_file", "save_checkpoint", "load_checkpoint", "check_state_dict",
    "IncompatibleKeys",
]
