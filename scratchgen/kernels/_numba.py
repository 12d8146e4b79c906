"""Numba set-up and helpers shared by the kernel modules.

This is the one place the kernels package imports Numba, so the set-up happens
once.  Kernel modules take ``njit`` and ``prange`` from here and pass their
input arrays through ``kernel_array``.  Under ``NUMBA_DISABLE_JIT=1`` the kernels
run as plain Python: ``njit`` returns the function unchanged and ``prange`` is
``range``.
"""
import os

import numba
import numpy as np

# OpenMP's idle workers keep spinning after a parallel kernel returns and steal
# the cores the OpenBLAS GEMM that usually follows needs (~2x slower on 2-core
# machines); workqueue workers go to sleep.  The layer is picked at the first
# parallel launch, so setting it here, before any kernel runs, is enough.  An
# explicit NUMBA_THREADING_LAYER in the environment still wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

njit = numba.njit
prange = numba.prange


def kernel_array(a):
    """``a`` as a C-contiguous, writable array.

    Kernels are compiled for exactly that kind of array: strided or read-only
    inputs (e.g. from np.broadcast_to) would each trigger another compilation,
    and a read-only one cannot even be typed by a kernel that writes to the
    same argument in its other direction.
    """
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


@njit(cache=True)
def in_bounds_positions(offset, stride, size, n_positions):
    """Range [lo, hi) of the positions p < n_positions with 0 <= p*stride + offset < size.

    Kernels loop over this range instead of testing every tap against the padding.
    Numba's on-disk cache does not notice edits to a callee in another file, so
    after changing this function delete the kernels' cached ``*.nbi``/``*.nbc``.
    """
    lo = max(0, (stride - 1 - offset) // stride)
    hi = min(n_positions, (size - 1 - offset) // stride + 1)
    return lo, max(lo, hi)
