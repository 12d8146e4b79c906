"""scratchgen: generative models for images, written from scratch in NumPy.

    import scratchgen as sg
    x = sg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == 2 x

Every differentiable op is importable from here (``sg.exp``, ``sg.matmul``, ``sg.logsumexp``...).
"""
import os

# OpenBLAS's idle workers spin for about 2^28 cycles (~0.1 s) after every BLAS call and take a core
# from the Numba kernel that usually follows on a 2-core machine; with 2^4 they sleep at once
# (docs/speed.md: every benchmark workload steadier, several faster). OpenBLAS reads this when NumPy
# loads it, so it applies when scratchgen is imported before NumPy, as in every `scratchgen`
# command and in benchmarks/run.py; a value already in the environment wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .allocator import keep_freed_memory_unless_opted_out
from .autograd import OPS, Tensor, as_tensor, is_grad_enabled, manual_seed, no_grad, tensor  # noqa: F401  (re-exported)
from .autograd.losses import *  # noqa: F401,F403  (the losses are ops too)
from .autograd.ops import *  # noqa: F401,F403

# Freed memory is kept for reuse, for the Python API as for the `scratchgen` command: drawing DDIM
# samples from an untrained default UNet took 0.17-0.22 s per image instead of 0.25-0.27 (256 images, two
# runs each; allocator.py, docs/speed.md). SCRATCHGEN_KEEP_FREED_MEMORY=0 opts out.
keep_freed_memory_unless_opted_out()

__version__ = "0.1.0"
