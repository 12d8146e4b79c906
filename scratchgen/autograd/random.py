"""The seeded generator behind every random choice scratchgen makes for you.

Weight initialization and dropout draw from ``default_generator()`` unless they are given a
generator explicitly. ``manual_seed(seed)`` resets it, so the same seed gives the same numbers.

``generator_state_array`` and ``set_generator_state`` save and restore a Generator's state as
an array that an ``.npz`` file holds without pickle (checkpoints, the data loader's state). They
take bit generators whose state is plain JSON: PCG64 (what ``default_rng`` makes) and PCG64DXSM.
"""
from __future__ import annotations

import json

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator (like ``torch.manual_seed``) and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    return _generator


def generator_state_array(rng: np.random.Generator) -> np.ndarray:
    """A Generator's state as uint8 JSON bytes: 128-bit integers fit, and no pickle is needed."""
    return np.frombuffer(json.dumps(rng.bit_generator.state).encode(), dtype=np.uint8).copy()


def set_generator_state(rng: np.random.Generator, array) -> None:
    """Put ``rng`` in the state ``generator_state_array`` saved; ValueError if it is not one."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ValueError(f"a saved generator state is a 1-d uint8 array (JSON bytes), "
                         f"got {array.dtype} of shape {array.shape}")
    try:
        rng.bit_generator.state = json.loads(array.tobytes().decode())
    except (ValueError, TypeError, KeyError) as error:  # bad UTF-8 or JSON, or another generator's
        raise ValueError(f"not a saved state of a {type(rng.bit_generator).__name__} generator: "
                         f"{error!r}") from error
