"""Numba set-up and helpers shared by the kernel modules.

This is the one place the kernels package imports Numba, so the set-up happens
once.  Kernel modules take ``njit`` and ``prange`` from here and pass their
input arrays through ``kernel_array``.  Under ``NUMBA_DISABLE_JIT=1`` the kernels
run as plain Python: ``njit`` returns the function unchanged and ``prange`` is
``range``.
"""
import os
import types

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


# Below this many elements a serial kernel beats waking the thread pool (~60 us per launch).
PARALLEL_MIN_SIZE = 1 << 15


def _renamed(fn, suffix):
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    return copy


def serial_and_parallel(loop=None, *, min_size=PARALLEL_MIN_SIZE, **options):
    """Compile ``loop`` (a function whose outer loop is a ``prange``) twice, serial and parallel.

    The returned function runs the parallel version when its first argument has at least
    ``min_size`` elements and the serial one otherwise. ``options`` go to both compilations
    (e.g. ``fastmath``). Use as ``@serial_and_parallel`` or ``@serial_and_parallel(min_size=...)``.
    """
    if loop is None:
        return lambda fn: serial_and_parallel(fn, min_size=min_size, **options)
    # Numba's on-disk cache keys a function by its qualified name and signature, not by its
    # compile options, so each version is compiled from a copy with its own name.
    serial = njit(cache=True, **options)(_renamed(loop, "_serial"))
    parallel = njit(parallel=True, cache=True, **options)(_renamed(loop, "_parallel"))

    def launch(*args):
        return (parallel if args[0].size >= launch.min_size else serial)(*args)

    launch.__name__ = launch.__qualname__ = loop.__name__
    launch.__doc__ = loop.__doc__
    launch.min_size = min_size  # read at every call, so a test can send small inputs down either path
    return launch


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
