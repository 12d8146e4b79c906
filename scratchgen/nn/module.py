"""Parameters, modules and containers, with PyTorch's semantics.

A ``Module`` owns three kinds of state, each registered by name in insertion order:

- **parameters** (``Parameter``, a Tensor that requires a gradient): what the optimizer trains;
- **buffers** (plain NumPy arrays): state that is saved with the model but not trained, such as
  batch norm's running statistics or PixelCNN's masks;
- **sub-modules**, whose parameters and buffers appear under dotted names ("encoder.0.weight").

Assigning a Parameter or a Module to an attribute registers it, as in PyTorch; buffers are
registered explicitly with ``register_buffer``. ``state_dict()`` collects every parameter and
buffer by dotted name; ``load_state_dict()`` puts them back in place (the arrays keep their
identity, so an optimizer holding the parameters keeps working).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from ..autograd.tensor import ACCEPTED_DTYPES, Tensor
from .serialization import IncompatibleKeys, check_state_dict


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable: requires a gradient, dtype as for any Tensor."""

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _check_new_name(owner: "Module", kind: str, name: str) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{kind} name must be a non-empty string, got {name!r}")
    if "." in name:
        raise KeyError(f"{kind} name cannot contain '.', got {name!r}: dots separate the levels of dotted names")
    if hasattr(owner, name) and not any(name in store for store in (owner._parameters, owner._buffers, owner._modules)):
        raise KeyError(f"attribute {name!r} already exists on {type(owner).__name__}; choose another {kind} name")


class Module:
    """Base class of every layer and model: subclass it, assign layers in ``__init__``, write ``forward``."""

    def __init__(self):
        # object.__setattr__ because our __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, ...) in the subclass")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name``; None reserves the name (e.g. ``bias=False``)."""
        self._require_init("register a parameter")
        _check_new_name(self, "parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register {type(param).__name__} as parameter {name!r}: wrap it in nn.Parameter")
        self._claim(name, self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, array: np.ndarray | None) -> None:
        """Register non-trainable state: saved in ``state_dict()``, never given to optimizers or EMA."""
        self._require_init("register a buffer")
        _check_new_name(self, "buffer", name)
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(f"buffer {name!r} must be a NumPy array or None, got {type(array).__name__}")
        self._claim(name, self._buffers)
        self._buffers[name] = array

    def add_module(self, name: str, module: "Module") -> None:
        self._require_init("add a sub-module")
        _check_new_name(self, "module", name)
        if not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module and cannot be added as {name!r}")
        self._claim(name, self._modules)
        self._modules[name] = module

    def _require_init(self, action: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot {action} before Module.__init__() ran: call super().__init__() first in "
                f"{type(self).__name__}.__init__"
            )

    def _claim(self, name: str, store: OrderedDict | None) -> None:
        """Remove ``name`` from every place but ``store``, where it keeps its position if present."""
        for other in (self._parameters, self._buffers, self._modules):
            if other is not store:
                other.pop(name, None)
        self.__dict__.pop(name, None)

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif "_parameters" in self.__dict__ and name in self._parameters:
            self.register_parameter(name, value)  # only None (or a Parameter) may replace a parameter
        elif "_buffers" in self.__dict__ and name in self._buffers:
            self.register_buffer(name, value)
        elif "_modules" in self.__dict__ and name in self._modules:
            raise TypeError(f"cannot assign {type(value).__name__} to sub-module {name!r}: assign a Module, "
                            f"or remove it first with del")
        else:
            if "_parameters" in self.__dict__:
                self._claim(name, None)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # Called only when normal lookup fails, i.e. for registered names. Reads through
        # __dict__ so that a half-built object (copy, unpickling) does not recurse forever.
        for store in ("_parameters", "_buffers", "_modules"):
            registered = self.__dict__.get(store)
            if registered is not None and name in registered:
                return registered[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if any(name in store for store in (self._parameters, self._buffers, self._modules)):
            self._claim(name, None)
        else:
            object.__delattr__(self, name)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every descendant, depth first, each once, with its dotted name."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            stack.extend(reversed([(f"{name}.{child_name}" if name else child_name, child)
                                   for child_name, child in module._modules.items()]))

    def modules(self) -> Iterator["Module"]:
        return (module for _, module in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        return iter(self._modules.items())

    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def _named_members(self, store: str, prefix: str, recurse: bool):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, member in getattr(module, store).items():
                if member is None or id(member) in seen:
                    continue
                seen.add(id(member))
                yield (f"{module_name}.{name}" if module_name else name), member

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) in registration order; a shared parameter appears once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (param for _, param in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        return (buffer for _, buffer in self.named_buffers(recurse=recurse))

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call ``fn`` on every sub-module, children first, then on this module (e.g. custom inits)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> "Module":
        """Set the training flag here and in every sub-module (dropout, batch norm read it)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (set to None, PyTorch's default)."""
        for param in self.parameters():
            param.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter, e.g. a GAN's discriminator during the generator step."""
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def to(self, dtype) -> "Module":
        """Convert parameters, their gradients and float buffers to ``dtype`` (float32 or float64), in place.

        The Parameter objects stay the same, so references held elsewhere remain valid.
        """
        dtype = np.dtype(dtype)
        if dtype not in ACCEPTED_DTYPES:
            raise TypeError(f"Module.to: parameters can be float32 or float64, not {dtype}")
        for param in self.parameters():
            param.data = param.data.astype(dtype)
            if param.grad is not None:
                param.grad = param.grad.astype(dtype)
        for module in self.modules():
            for name, buffer in module._buffers.items():
                # Integer buffers (counters) keep their type: they are counts, not values.
                if buffer is not None and buffer.dtype.kind == "f":
                    module._buffers[name] = buffer.astype(dtype)
        return self

    def double(self) -> "Module":
        """float64 everywhere, for gradient checks of whole models."""
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    # ------------------------------------------------------------------ state
    def _named_state(self) -> Iterator[tuple[str, np.ndarray]]:
        """Each module's parameters then its buffers, module by module (PyTorch's order)."""
        for module_name, module in self.named_modules():
            for store, unwrap in (("_parameters", lambda p: p.data), ("_buffers", lambda b: b)):
                for name, member in getattr(module, store).items():
                    if member is not None:
                        yield (f"{module_name}.{name}" if module_name else name), unwrap(member)

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer array, by dotted name."""
        return OrderedDict((name, array.copy()) for name, array in self._named_state())

    def load_state_dict(self, state: Mapping, strict: bool = True) -> IncompatibleKeys:
        """Copy ``state``'s arrays into this module's parameters and buffers, in place.

        Every name and shape is checked before anything is written, so a failed load leaves the
        module unchanged; the ValueError lists every missing, unexpected and mis-shaped entry.
        Values are cast to the receiver's dtype.
        """
        targets = OrderedDict(self._named_state())
        result = check_state_dict(type(self).__name__, {name: array.shape for name, array in targets.items()},
                                  state, strict)
        for name, target in targets.items():
            if name in state:
                target[...] = np.asarray(state[name])
        return result

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its parentheses; override in layers."""
        return ""

    def __repr__(self) -> str:
        extra_lines = self.extra_repr().split("\n") if self.extra_repr() else []
        child_lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"


class _ModuleSequence(Module):
    """Children kept in order, reachable by position: what Sequential and ModuleList share."""

    def __init__(self, modules: Iterable[Module] | Mapping[str, Module] = ()):
        super().__init__()
        if isinstance(modules, Mapping):
            for name, module in modules.items():
                self.add_module(name, module)
        else:
            self.extend(modules)

    def append(self, module: Module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]):
        for module in modules:
            self.append(module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def _name_at(self, index: int) -> str:
        names = list(self._modules)
        if not -len(names) <= index < len(names):
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of length {len(names)}")
        return names[index]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._sliced(list(self._modules.items())[index])
        return self._modules[self._name_at(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(self._name_at(index), module)


class Sequential(_ModuleSequence):
    """Modules applied one after the other: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Also accepts a single OrderedDict of named modules, as PyTorch does.
    """

    def __init__(self, *modules):
        super().__init__(modules[0] if len(modules) == 1 and isinstance(modules[0], OrderedDict) else modules)

    def _sliced(self, items):
        return Sequential(OrderedDict(items))

    def forward(self, x):
        for module in self:
            x = module(x)
        return x


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (a plain Python list would hide them)."""

    def _sliced(self, items):
        return ModuleList(module for _, module in items)
