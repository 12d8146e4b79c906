"""Max and average pooling on (N, C, H, W) images.

A window of KH x KW taps moves with the given stride over the image padded by
``padding`` on each side; output sizes follow the floor formula of
``conv_output_size``.  ``max_pool2d_forward`` also returns ``argmax`` (int64,
same shape as y): the flat index ``h*W + w`` of the winning tap inside its
(H, W) plane, so the backward pass is a scatter-add that never needs x.

Average pooling divides by KH*KW whatever the padding (PyTorch's
count_include_pad=True), so its backward spreads grad/(KH*KW) over every
in-image tap of the window.

The Numba kernels run one task per (n, c) plane; the NumPy twins loop over
the kernel taps and slice the padded image.
"""
import numpy as np

from ._numba import in_bounds_positions, kernel_array, njit, prange
from .windows import Window, conv_output_size, pad_image, sum_into_taps, tap_view

_NO_DILATION = (1, 1)


def _pool_grid(image_hw, kernel_size, stride, padding):
    for kernel, pad in zip(kernel_size, padding):
        if 2 * pad > kernel:
            raise ValueError(f"padding {pad} must be at most half the kernel size {kernel}")
    return tuple(
        conv_output_size(size, kernel, step, pad, 1)
        for size, kernel, step, pad in zip(image_hw, kernel_size, stride, padding)
    )


@njit(cache=True)
def _window_span(position, stride, padding, kernel, size):
    """In-image part [lo, hi) of the window at output ``position``.

    Unsigned, because Numba checks signed indices for negative wraparound on
    every access, which made the max-pool kernel ~1.5x slower.
    """
    start = position * stride - padding
    return np.uint64(max(start, 0)), np.uint64(min(start + kernel, size))


@njit(parallel=True, cache=True)
def _max_pool_kernel(x, y, argmax, kernel_size, stride, padding):
    n_images, channels, height, width = x.shape
    for plane in prange(n_images * channels):
        n = plane // channels
        c = plane % channels
        image = x[n, c]
        for oh in range(y.shape[2]):
            h_lo, h_hi = _window_span(oh, stride[0], padding[0], kernel_size[0], height)
            for ow in range(y.shape[3]):
                w_lo, w_hi = _window_span(ow, stride[1], padding[1], kernel_size[1], width)
                # Skipping the padding is the same as reading it as -inf, because
                # padding <= kernel/2 leaves at least one real tap per window.
                best_h, best_w = h_lo, w_lo
                for h in range(h_lo, h_hi):
                    for w in range(w_lo, w_hi):
                        # Strict '>' keeps the first maximum in raster order.
                        if image[h, w] > image[best_h, best_w]:
                            best_h, best_w = h, w
                y[n, c, oh, ow] = image[best_h, best_w]
                argmax[n, c, oh, ow] = best_h * np.uint64(width) + best_w


@njit(parallel=True, cache=True)
def _scatter_add_rows(values, indices, out):
    """out[r, indices[r, k]] += values[r, k]; rows are independent tasks."""
    for row in prange(out.shape[0]):
        for k in range(values.shape[1]):
            out[row, indices[row, k]] += values[row, k]


@njit(parallel=True, cache=True)
def _window_mean_kernel(image, pooled, kernel_size, stride, padding, adjoint):
    """pooled = window means of image or, if ``adjoint``, image += the transposed map of pooled.

    ``pooled`` must start at zero in the forward direction.
    """
    n_images, channels, height, width = image.shape
    out_h, out_w = pooled.shape[2], pooled.shape[3]
    share = 1.0 / (kernel_size[0] * kernel_size[1])
    # One task per (image, channel) plane, so the adjoint never races.  Taps
    # outermost: long inner loops over output columns run faster than
    # per-window loops over just a few taps.
    for plane in prange(n_images * channels):
        n = plane // channels
        c = plane % channels
        source = image[n, c]
        target = pooled[n, c]
        for i in range(kernel_size[0]):
            oh_lo, oh_hi = in_bounds_positions(i - padding[0], stride[0], height, out_h)
            for j in range(kernel_size[1]):
                ow_lo, ow_hi = in_bounds_positions(j - padding[1], stride[1], width, out_w)
                for oh in range(oh_lo, oh_hi):
                    # Unsigned: see _window_span.
                    h = np.uint64(oh * stride[0] + i - padding[0])
                    for ow in range(ow_lo, ow_hi):
                        w = np.uint64(ow * stride[1] + j - padding[1])
                        if adjoint:
                            source[h, w] += share * target[oh, ow]
                        else:
                            target[oh, ow] += share * source[h, w]


def max_pool2d_forward(x, kernel_size, stride, padding):
    """Max pooling; returns (y, argmax) with argmax the flat (H, W)-plane index of each maximum."""
    grid = _pool_grid(x.shape[2:], kernel_size, stride, padding)
    y = np.empty((*x.shape[:2], *grid), dtype=x.dtype)
    argmax = np.empty(y.shape, dtype=np.int64)
    _max_pool_kernel(kernel_array(x), y, argmax, kernel_size, stride, padding)
    return y, argmax


def _plane_rows(a):
    """(N, C, ...) -> (N*C, rest) so that each (n, c) plane is one row."""
    return a.reshape(a.shape[0] * a.shape[1], -1)


def max_pool2d_backward(grad_y, argmax, x_shape):
    """Scatter-add grad_y into a zero image of ``x_shape`` at the argmax positions."""
    dx = np.zeros(x_shape, dtype=grad_y.dtype)
    _scatter_add_rows(kernel_array(_plane_rows(grad_y)), kernel_array(_plane_rows(argmax)), _plane_rows(dx))
    return dx


def avg_pool2d_forward(x, kernel_size, stride, padding):
    """Average pooling with count_include_pad=True."""
    grid = _pool_grid(x.shape[2:], kernel_size, stride, padding)
    y = np.zeros((*x.shape[:2], *grid), dtype=x.dtype)
    _window_mean_kernel(kernel_array(x), y, kernel_size, stride, padding, False)
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel_size, stride, padding):
    """Gradient of avg_pool2d_forward: every tap of a window gets grad/(KH*KW)."""
    dx = np.zeros(x_shape, dtype=grad_y.dtype)
    _window_mean_kernel(dx, kernel_array(grad_y), kernel_size, stride, padding, True)
    return dx


def max_pool2d_forward_numpy(x, kernel_size, stride, padding):
    """Plain-NumPy twin of max_pool2d_forward."""
    grid = _pool_grid(x.shape[2:], kernel_size, stride, padding)
    padded = pad_image(x, padding, value=-np.inf)
    taps = np.stack(
        [tap_view(padded, i, j, stride, _NO_DILATION, grid) for i, j in np.ndindex(*kernel_size)], axis=-1
    )
    tap = taps.argmax(axis=-1)  # np.argmax returns the first maximum, i.e. raster order
    y = np.take_along_axis(taps, tap[..., None], axis=-1)[..., 0]
    h = np.arange(grid[0])[:, None] * stride[0] - padding[0] + tap // kernel_size[1]
    w = np.arange(grid[1]) * stride[1] - padding[1] + tap % kernel_size[1]
    return y, (h * x.shape[3] + w).astype(np.int64)


def max_pool2d_backward_numpy(grad_y, argmax, x_shape):
    """Plain-NumPy twin of max_pool2d_backward."""
    dx = np.zeros(x_shape, dtype=grad_y.dtype)
    planes = np.arange(x_shape[0] * x_shape[1])[:, None]
    np.add.at(_plane_rows(dx), (planes, _plane_rows(argmax)), _plane_rows(grad_y))
    return dx


def avg_pool2d_forward_numpy(x, kernel_size, stride, padding):
    """Plain-NumPy twin of avg_pool2d_forward."""
    grid = _pool_grid(x.shape[2:], kernel_size, stride, padding)
    padded = pad_image(x, padding)
    total = sum(tap_view(padded, i, j, stride, _NO_DILATION, grid) for i, j in np.ndindex(*kernel_size))
    return total / x.dtype.type(kernel_size[0] * kernel_size[1])


def avg_pool2d_backward_numpy(grad_y, x_shape, kernel_size, stride, padding):
    """Plain-NumPy twin of avg_pool2d_backward."""
    share = grad_y / grad_y.dtype.type(kernel_size[0] * kernel_size[1])
    window = Window(kernel_size, stride, padding, _NO_DILATION)
    return sum_into_taps(x_shape, window, grad_y.shape[2:], grad_y.dtype, lambda i, j: share)
