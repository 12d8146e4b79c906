"""Sliding-window geometry shared by convolution and pooling.

A window of KH x KW taps, spaced ``dilation`` apart, moves with ``stride``
over an (N, C, H, W) image padded by ``padding`` on each side; every argument
is a (height, width) pair.  The "grid" is the (OH, OW) of window positions.
The NumPy twins of conv.py and pool.py loop over the taps: ``tap_view`` reads
one tap at every grid position of the padded image, and ``sum_into_taps`` is
its adjoint, adding a value per tap and grid position back into the image.
"""
from typing import NamedTuple

import numpy as np


class Window(NamedTuple):
    """Geometry of a sliding window; each field is a (height, width) pair."""

    kernel_size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple


def conv_output_size(size, kernel, stride, padding, dilation):
    """Number of window positions along one axis (PyTorch's floor formula)."""
    extent = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - extent) // stride + 1
    if out < 1:
        raise ValueError(
            f"convolution output size would be {out}: input size {size} plus "
            f"padding 2*{padding} is smaller than the dilated kernel extent {extent}"
        )
    return out


def pad_image(x, padding, value=0.0):
    """``x`` (N, C, H, W) with ``padding`` rows and columns of ``value`` added on each side."""
    pad_h, pad_w = padding
    return np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)), constant_values=value)


def tap_view(padded, i, j, stride, dilation, grid):
    """View of ``padded`` holding kernel tap (i, j) at every grid position, shape (N, C, *grid)."""
    rows, cols = (
        slice(tap * step, tap * step + stride_ * (n - 1) + 1, stride_)
        for tap, step, stride_, n in zip((i, j), dilation, stride, grid)
    )
    return padded[:, :, rows, cols]


def sum_into_taps(x_shape, window, grid, dtype, tap_values):
    """A zero image of ``x_shape`` into which every kernel tap (i, j) adds ``tap_values(i, j)``.

    ``tap_values(i, j)`` has shape (N, C, *grid): one value per grid position,
    added to the pixel that tap (i, j) reads there.
    """
    n_images, channels, height, width = x_shape
    pad_h, pad_w = window.padding
    padded = np.zeros((n_images, channels, height + 2 * pad_h, width + 2 * pad_w), dtype=dtype)
    for i, j in np.ndindex(*window.kernel_size):
        taps = tap_view(padded, i, j, window.stride, window.dilation, grid)
        taps += tap_values(i, j)
    return padded[:, :, pad_h:pad_h + height, pad_w:pad_w + width]
