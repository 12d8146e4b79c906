"""The Tensor and the reverse-mode engine.

A Tensor wraps a NumPy array. When an operation runs on tensors that require gradients, it
records its output as a node of the computation graph: the input tensors (``parents``) and a
``backward`` closure that maps the gradient of the output to the gradients of the inputs.
``Tensor.backward()`` walks that graph from the output back to the leaves.

Every op is written the same way (see ``ops.py``): compute the output with NumPy, write the
closure right below it, and hand both to ``Tensor.from_op``. Ops may return gradients in the
*broadcast* shape and the dtype of their output; the engine reduces them to each input's shape
(``unbroadcast``) and casts them to each input's dtype, so the ops of ``ops.py`` never repeat that
logic. For speed, ``linear``, ``conv2d``/``conv_transpose2d`` and ``group_norm`` of ``nn_ops.py``
reduce their own bias gradients: they add the bias in place rather than through an ``add`` node,
and sum the output gradient over the batch and spatial axes (docs/autograd.md).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import numpy as np

DEFAULT_DTYPE = np.float32
ACCEPTED_DTYPES = (np.float32, np.float64)

# Every differentiable function users can call, by name. The property tests enumerate it, so an
# op added here without a test specification fails the suite.
OPS: dict[str, Callable] = {}


def register_op(fn: Callable) -> Callable:
    """Add a differentiable function to the registry that the property tests enumerate."""
    if fn.__name__ in OPS:
        raise ValueError(f"an op named {fn.__name__!r} is already registered")
    OPS[fn.__name__] = fn
    return fn


class _GradMode:
    enabled = True


@contextlib.contextmanager
def no_grad():
    """Run ops without recording the graph (for sampling, evaluation, optimizer updates)."""
    previous = _GradMode.enabled
    _GradMode.enabled = False
    try:
        yield
    finally:
        _GradMode.enabled = previous


def is_grad_enabled() -> bool:
    return _GradMode.enabled


def check_float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in ACCEPTED_DTYPES:
        raise TypeError(
            f"scratchgen tensors hold float32 or float64, not {dtype}; "
            "pass dtype=np.float32 or dtype=np.float64"
        )
    return dtype


def _to_array(data, dtype) -> np.ndarray:
    """User data as a float array in ``dtype``, or, when it is None, in the dtype the data implies.

    A float NumPy array or scalar keeps its precision (float16 is widened, exactly, to float32:
    the kernels compute in float32 or float64 only). Python numbers and nested lists carry no
    NumPy dtype of their own, so they become float32, as in ``torch.tensor``; ints and bools are
    welcome there. NumPy arrays of ints or bools are refused: their scale is the caller's call.
    """
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        if not np.issubdtype(data.dtype, np.floating):
            raise TypeError(
                f"cannot make a tensor from an array of dtype {data.dtype}: scratchgen tensors "
                "hold float32 or float64 values; convert first, e.g. array.astype(np.float32)"
            )
        if dtype is None:
            dtype = DEFAULT_DTYPE if data.dtype == np.float16 else check_float_dtype(data.dtype)
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"cannot make a tensor from {type(data).__name__} with dtype {array.dtype}: "
            "scratchgen tensors hold float32 or float64 numbers"
        )
    return array.astype(DEFAULT_DTYPE if dtype is None else dtype)


class Tensor:
    """An n-dimensional float32 or float64 array that can record how it was computed.

    ``Tensor(data)`` keeps the dtype of a float32 or float64 NumPy array (or of a Tensor) and
    makes Python numbers and lists float32; ``dtype=`` overrides both.
    """

    __array_priority__ = 100  # so that ndarray + Tensor calls Tensor.__radd__, not NumPy

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        dtype = None if dtype is None else check_float_dtype(dtype)
        self.data: np.ndarray = _to_array(data, dtype)
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Callable | None = None
        self._op = ""

    @classmethod
    def from_op(cls, data: np.ndarray, parents: Sequence["Tensor"], backward: Callable, name: str) -> "Tensor":
        """Wrap an op's output; record the graph node only if some input needs a gradient.

        ``backward(grad_out)`` returns one gradient (or None) per parent, in order.
        """
        out = cls.__new__(cls)
        out.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        out.grad = None
        out.requires_grad = _GradMode.enabled and any(p.requires_grad for p in parents)
        out._parents = tuple(parents) if out.requires_grad else ()
        out._backward = backward if out.requires_grad else None
        out._op = name
        return out

    # ----------------------------------------------------------------- array-like
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={self._op}" if self._op else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{grad}{op})"

    def numpy(self) -> np.ndarray:
        """The underlying array (not a copy, like ``torch.Tensor.numpy``)."""
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> "Tensor":
        """The same values, cut from the graph (shares memory, like PyTorch)."""
        return Tensor.from_op(self.data, (), None, "detach")

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not self.is_leaf:
            raise RuntimeError("requires_grad_ can only be set on leaf tensors; call detach() first")
        self.requires_grad = requires_grad
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # ----------------------------------------------------------------- the engine
    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires it.

        A scalar output needs no ``grad``; any other output needs the upstream gradient
        dL/d(self) with the same shape. Calling backward twice adds the gradients twice,
        as in PyTorch: gradients accumulate until ``zero_grad``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient works only for a scalar output, this one has "
                    f"shape {self.shape}: reduce it first (e.g. .sum() or .mean()) or pass "
                    f"backward(grad) with an array of shape {self.shape}"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(grad): grad has shape {grad.shape}, the tensor has shape {self.shape}")

        # A node may feed several consumers; its gradient is the sum of what each consumer
        # sends back, so it may only pass its gradient on once all of its consumers have run.
        # Reverse topological order guarantees exactly that.
        pending = {id(self): grad}
        for node in reversed(_topological_order(self)):
            node_grad = pending.pop(id(node), None)
            if node_grad is None:
                continue
            if node.is_leaf:
                node._accumulate(node_grad)
                continue
            parent_grads = node._backward(node_grad)
            for parent, parent_grad in zip(node._parents, parent_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                # Every node receives its gradient in its own dtype, so a float32 branch of a
                # graph that a float64 op consumed keeps computing its backward pass in float32.
                parent_grad = unbroadcast(parent_grad, parent.shape).astype(parent.dtype, copy=False)
                key = id(parent)
                pending[key] = pending[key] + parent_grad if key in pending else parent_grad

    def _accumulate(self, grad: np.ndarray) -> None:
        # A copy, because ops may hand the same array to several inputs and optimizers
        # modify .grad in place; C order, because gradients of transposed weights arrive as
        # transposed views and the optimizers' kernels read contiguous arrays.
        grad = np.array(grad, order="C")
        self.grad = grad if self.grad is None else self.grad + grad

    # Operators and methods are attached in ops.py, next to the ops they call.


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes reachable from ``root``, each after all of its parents (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((parent, False) for parent in node._parents if id(parent) not in visited)
    return order


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient over the axes along which an input of ``shape`` was broadcast.

    If y = f(x) broadcast x from ``shape`` to grad.shape, every copy of an element of x
    contributed to y, so dL/dx is the sum of dL/dy over the copies.
    """
    grad = np.asarray(grad)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"cannot reduce a gradient of shape {grad.shape} to the larger shape {shape}")
    stretched = tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    grad = grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True)
    return grad.reshape(shape)


def as_tensor(value, dtype=None) -> Tensor:
    """Return ``value`` as a Tensor (unchanged if it already is one, else as ``Tensor(value, dtype=dtype)``)."""
    if isinstance(value, Tensor):
        return value
    return Tensor(value, dtype=dtype)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Create a tensor, like ``torch.tensor``: float NumPy data keeps its dtype, Python data is float32."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
