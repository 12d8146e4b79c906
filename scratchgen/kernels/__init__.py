"""Kernels: the bottom layer of scratchgen.

Pure functions on NumPy arrays (float32 or float64, dtype preserved) with no
autograd and no imports from the rest of scratchgen; the autograd layer calls
them for the forward and backward pass of each operation.  Images are
(N, C, H, W) and every (height, width) argument is a tuple of two ints that
the caller has already normalized.

Each public ``name`` is the fast path: Numba kernels for the gathers, scatters
and reductions, BLAS (``@``) for the matrix products.  ``name_numpy`` is its
plain-NumPy twin with the same signature and results, written to be obviously
correct; the tests hold every fast path to its twin.

    activation  fused SiLU forward/backward
    conv        im2col/col2im, conv2d and conv_transpose2d forward/backward
    winograd    F(2x2, 3x3) transforms: conv's fast path for 3x3 stride-1 layers
    optim       fused Adam update
    pool        max and average pooling forward/backward
    windows     sliding-window geometry and per-tap views shared by the conv and pool twins
    norm        moments, normalize forward/backward for batch/group/layer norm; fused group norm
    upsample    nearest and bilinear upsampling forward/backward
    lstm        PixelRNN's LSTM (eq. 3) over a whole scan of steps, forward/backward through time
"""
from .activation import silu_backward, silu_backward_numpy, silu_forward, silu_forward_numpy
from .conv import (
    col2im,
    col2im_numpy,
    conv2d_backward,
    conv2d_backward_numpy,
    conv2d_forward,
    conv2d_forward_numpy,
    conv_transpose2d_backward,
    conv_transpose2d_backward_numpy,
    conv_transpose2d_forward,
    conv_transpose2d_forward_numpy,
    conv_transpose_output_size,
    im2col,
    im2col_numpy,
)
from .lstm import lstm_scan_backward, lstm_scan_backward_numpy, lstm_scan_forward, lstm_scan_forward_numpy
from .norm import (
    group_norm_backward,
    group_norm_backward_numpy,
    group_norm_forward,
    group_norm_forward_numpy,
    moments,
    moments_numpy,
    normalize_backward,
    normalize_backward_numpy,
    normalize_forward,
    normalize_forward_numpy,
)
from .optim import adam_update, adam_update_numpy
from .pool import (
    avg_pool2d_backward,
    avg_pool2d_backward_numpy,
    avg_pool2d_forward,
    avg_pool2d_forward_numpy,
    max_pool2d_backward,
    max_pool2d_backward_numpy,
    max_pool2d_forward,
    max_pool2d_forward_numpy,
)
from .upsample import (
    upsample_bilinear2d_backward,
    upsample_bilinear2d_backward_numpy,
    upsample_bilinear2d_forward,
    upsample_bilinear2d_forward_numpy,
    upsample_nearest2d_backward,
    upsample_nearest2d_backward_numpy,
    upsample_nearest2d_forward,
    upsample_nearest2d_forward_numpy,
)
from .windows import conv_output_size

__all__ = [
    "adam_update",
    "adam_update_numpy",
    "avg_pool2d_backward",
    "avg_pool2d_backward_numpy",
    "avg_pool2d_forward",
    "avg_pool2d_forward_numpy",
    "col2im",
    "col2im_numpy",
    "conv2d_backward",
    "conv2d_backward_numpy",
    "conv2d_forward",
    "conv2d_forward_numpy",
    "conv_output_size",
    "conv_transpose2d_backward",
    "conv_transpose2d_backward_numpy",
    "conv_transpose2d_forward",
    "conv_transpose2d_forward_numpy",
    "conv_transpose_output_size",
    "group_norm_backward",
    "group_norm_backward_numpy",
    "group_norm_forward",
    "group_norm_forward_numpy",
    "im2col",
    "im2col_numpy",
    "lstm_scan_backward",
    "lstm_scan_backward_numpy",
    "lstm_scan_forward",
    "lstm_scan_forward_numpy",
    "max_pool2d_backward",
    "max_pool2d_backward_numpy",
    "max_pool2d_forward",
    "max_pool2d_forward_numpy",
    "moments",
    "moments_numpy",
    "normalize_backward",
    "normalize_backward_numpy",
    "normalize_forward",
    "normalize_forward_numpy",
    "silu_backward",
    "silu_backward_numpy",
    "silu_forward",
    "silu_forward_numpy",
    "upsample_bilinear2d_backward",
    "upsample_bilinear2d_backward_numpy",
    "upsample_bilinear2d_forward",
    "upsample_bilinear2d_forward_numpy",
    "upsample_nearest2d_backward",
    "upsample_nearest2d_backward_numpy",
    "upsample_nearest2d_forward",
    "upsample_nearest2d_forward_numpy",
]
