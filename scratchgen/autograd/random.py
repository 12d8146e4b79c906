"""The seeded generator behind every random choice scratchgen makes for you.

Weight initialization and dropout draw from ``default_generator()`` unless they are given a
generator explicitly. ``manual_seed(seed)`` resets it, so the same seed gives the same numbers.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator (like ``torch.manual_seed``) and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    return _generator
