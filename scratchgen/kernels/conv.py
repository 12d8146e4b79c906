"""2-D convolution and transposed convolution on (N, C, H, W) images.

``im2col`` unfolds an image into a column matrix of shape (C*KH*KW, N*OH*OW):
row ``c*KH*KW + i*KW + j`` holds kernel tap (i, j) of channel c, column
``n*OH*OW + oh*OW + ow`` one output position, and taps that land in the
padding read zero.  Because channels lead, a grouped convolution is a single
batched GEMM over the groups::

    y = w.reshape(G, Cout/G, Cin/G*KH*KW) @ cols.reshape(G, Cin/G*KH*KW, N*OH*OW)

``col2im`` is the adjoint of ``im2col`` (overlapping taps add up).

Weights are (Cout, Cin/G, KH, KW) for conv2d and, as in PyTorch,
(Cin, Cout/G, KH, KW) for conv_transpose2d, which is exactly the weight of the
conv2d it transposes.  Every layer here reduces to three products of a
convolution -- output, input gradient, weight gradient -- evaluated on a
"grid" of output positions (OH, OW): a transposed convolution's forward is the
input gradient of that conv2d, its input gradient is that conv2d's output
(evaluated on the transposed conv's input grid, which output_padding may make
smaller than the conv's natural output), and its weight gradient is the conv2d
weight gradient with the roles of image and output gradient swapped.

The fast path picks one of three ways to evaluate the products: Winograd's
F(2x2, 3x3) (winograd.py) for 3x3 stride-1 layers with 16+ channels, one GEMM
per image for 1x1 layers (whose im2col would only copy the image), and
im2col/col2im in Numba with the products by BLAS for everything else.  Each
public function ``name`` has a plain-NumPy twin ``name_numpy`` that loops over
kernel taps and contracts strided slices of the padded image with einsum.
"""
import functools
from typing import Callable, NamedTuple

import numpy as np

from . import winograd
from ._numba import in_bounds_positions, kernel_array, njit, prange
from .windows import Window, conv_output_size, pad_image, sum_into_taps, tap_view


def conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation):
    """Output length of a transposed convolution along one axis."""
    if not 0 <= output_padding < max(stride, dilation):
        raise ValueError(
            f"output_padding {output_padding} must be smaller than stride "
            f"{stride} or dilation {dilation}"
        )
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(
            f"transposed convolution output size would be {out} for input size "
            f"{size}: padding {padding} is too large"
        )
    return out


def _conv_grid(image_hw, window):
    """(OH, OW): the window positions of a convolution over an image of size ``image_hw``."""
    return tuple(
        conv_output_size(size, *params)
        for size, *params in zip(image_hw, window.kernel_size, window.stride, window.padding, window.dilation)
    )


def _transposed_conv_image_hw(x_hw, window, output_padding):
    """(H, W) of a transposed convolution's output, i.e. of the image of the conv it transposes."""
    return tuple(
        conv_transpose_output_size(size, kernel, stride, padding, extra, dilation)
        for size, kernel, stride, padding, extra, dilation in zip(
            x_hw, window.kernel_size, window.stride, window.padding, output_padding, window.dilation
        )
    )


# ---------------------------------------------------------------- fast path


@njit(parallel=True, cache=True)
def _unfold_kernel(image, cols, kernel_size, stride, padding, dilation, grid, fold):
    """Copy taps of ``image`` into ``cols`` or, if ``fold``, add ``cols`` back into ``image``.

    One loop nest for both directions keeps im2col and col2im exact adjoints.
    """
    n_images, channels, height, width = image.shape
    kernel_h, kernel_w = kernel_size
    grid_h, grid_w = grid
    # One task per (channel, image) plane: folding writes only its own plane, so
    # tasks never race, and there are plenty even for one-channel images.
    # Channel-major order lets a thread write each cols row in one sweep.
    for plane in prange(channels * n_images):
        c = plane // n_images
        n = plane % n_images
        for i in range(kernel_h):
            h_offset = i * dilation[0] - padding[0]
            oh_lo, oh_hi = in_bounds_positions(h_offset, stride[0], height, grid_h)
            for j in range(kernel_w):
                w_offset = j * dilation[1] - padding[1]
                ow_lo, ow_hi = in_bounds_positions(w_offset, stride[1], width, grid_w)
                row = cols[(c * kernel_h + i) * kernel_w + j]
                if not fold and (oh_lo > 0 or oh_hi < grid_h or ow_lo > 0 or ow_hi < grid_w):
                    # This tap reads padding at some positions: zero this image's stretch of the
                    # row first (in cache, cheaper than zero-filling all of cols beforehand).
                    row[n * grid_h * grid_w:(n + 1) * grid_h * grid_w] = 0
                for oh in range(oh_lo, oh_hi):
                    line = image[n, c, oh * stride[0] + h_offset]
                    row_start = (n * grid_h + oh) * grid_w
                    # Unsigned indices spare Numba's negative-index wraparound
                    # checks, which made this copy loop ~3x slower.
                    for ow in range(ow_lo, ow_hi):
                        at_row = np.uint64(row_start + ow)
                        at_line = np.uint64(ow * stride[1] + w_offset)
                        if fold:
                            line[at_line] += row[at_row]
                        else:
                            row[at_row] = line[at_line]


@njit(parallel=True, cache=True)
def _gather_kernel(images, cols, sources, inside, zero, fold):
    """_unfold_kernel through a table: entry k of tap t's row reads pixel ``sources[t, k]`` of the
    flattened plane, or ``zero`` where not ``inside[t, k]`` (the padding); ``fold`` adds back.

    Every (plane, tap) is one loop over all window positions, however short the image rows:
    the loop nest of _unfold_kernel restarts for every row of positions, which dominated
    small strided layers (7 positions per row in a 4x4 stride-2 layer on 14x14 images).
    """
    n_images, channels, _ = images.shape
    taps, positions = sources.shape
    for plane in prange(channels * n_images):
        c = plane // n_images
        n = plane % n_images
        pixels = images[n, c]
        for tap in range(taps):
            stretch = cols[c * taps + tap, n * positions:(n + 1) * positions]
            for k in range(positions):
                at = sources[tap, k]
                if fold:
                    if inside[tap, k]:
                        pixels[at] += stretch[k]
                else:
                    stretch[k] = pixels[at] if inside[tap, k] else zero


@functools.lru_cache(maxsize=128)
def _tap_sources(image_hw, window, grid):
    """(sources, inside), each (KH*KW, OH*OW): the flat pixel every tap reads at every window
    position, and whether that pixel is in the image rather than the padding (read-only arrays)."""
    (kernel_h, kernel_w), stride, padding, dilation = window
    tap_h, tap_w = np.arange(kernel_h)[:, None, None, None], np.arange(kernel_w)[None, :, None, None]
    at_h = np.arange(grid[0])[:, None] * stride[0] + tap_h * dilation[0] - padding[0]
    at_w = np.arange(grid[1])[None, :] * stride[1] + tap_w * dilation[1] - padding[1]
    inside = (at_h >= 0) & (at_h < image_hw[0]) & (at_w >= 0) & (at_w < image_hw[1])
    sources = np.where(inside, at_h * image_hw[1] + at_w, 0).astype(np.uint64)
    tables = sources.reshape(kernel_h * kernel_w, -1), inside.reshape(kernel_h * kernel_w, -1)
    for table in tables:
        table.flags.writeable = False
    return tables


def _gather(image, cols, window, grid, fold):
    window = Window(*(tuple(int(v) for v in field) for field in window))
    sources, inside = _tap_sources(tuple(image.shape[2:]), window, tuple(grid))
    _gather_kernel(image.reshape(*image.shape[:2], -1), cols, sources, inside, image.dtype.type(0), fold)


def _unfold(image, cols, window, grid, fold):
    # Rows of fewer than 16 window positions go through the table (convT 4x4 stride 2 on a 7x7 grid:
    # unfold 4.8 -> 1.5 ms); on wider rows the loop nest's contiguous copies win (28 wide: 2.8 vs 5.5 ms).
    if grid[1] < 16:
        _gather(image, cols, window, grid, fold)
    else:
        _unfold_kernel(image, cols, *window, tuple(grid), fold)


def _im2col(x, window, grid):
    n_images, channels = x.shape[:2]
    kernel_h, kernel_w = window.kernel_size
    # The kernel writes every entry (zeros where a tap lands in the padding).
    cols = np.empty((channels * kernel_h * kernel_w, n_images * grid[0] * grid[1]), dtype=x.dtype)
    _unfold(kernel_array(x), cols, window, grid, False)
    return cols


def _col2im(cols, x_shape, window, grid):
    image = np.zeros(x_shape, dtype=cols.dtype)
    _unfold(image, kernel_array(cols), window, grid, True)
    return image


def im2col(x, kernel_size, stride, padding, dilation):
    """Unfold ``x`` (N, C, H, W) into columns (C*KH*KW, N*OH*OW); see the module docstring."""
    window = Window(kernel_size, stride, padding, dilation)
    return _im2col(x, window, _conv_grid(x.shape[2:], window))


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    """Adjoint of im2col: sum every column entry back into its tap of a zero image of ``x_shape``."""
    window = Window(kernel_size, stride, padding, dilation)
    return _col2im(cols, x_shape, window, _conv_grid(x_shape[2:], window))


def _by_group(matrix, groups):
    """(rows, k) -> (groups, rows/groups, k): consecutive row blocks belong to consecutive groups."""
    return matrix.reshape(groups, matrix.shape[0] // groups, -1)


def _channels_first(images):
    """(N, C, H, W) -> (C, N*H*W), the column layout of im2col."""
    return images.transpose(1, 0, 2, 3).reshape(images.shape[1], -1)


def _images_first(channel_rows, n_images, grid):
    """(C, N*OH*OW) -> contiguous (N, C, OH, OW)."""
    images = channel_rows.reshape(channel_rows.shape[0], n_images, *grid)
    return np.ascontiguousarray(images.transpose(1, 0, 2, 3))


def _gemm_conv(cols, w, b, groups, window, grid):
    y = _by_group(w.reshape(w.shape[0], -1), groups) @ _by_group(cols, groups)
    return _add_bias(_images_first(y.reshape(w.shape[0], -1), cols.shape[1] // (grid[0] * grid[1]), grid), b)


def _flipped_window(window):
    """The window of the stride-1 convolution whose output is the input gradient, or None.

    With stride 1, dx[h] = sum_i g[h + p - i d] w[i]: a convolution of grad_y with the kernel
    flipped, padded by d (K - 1) - p, which must not be negative.
    """
    if window.stride != (1, 1):
        return None
    padding = tuple(d * (k - 1) - p for k, p, d in zip(window.kernel_size, window.padding, window.dilation))
    return window._replace(padding=padding) if min(padding) >= 0 else None


def _flipped_weight(w, groups):
    """(G*Cout/G, Cin/G, KH, KW) -> (G*Cin/G, Cout/G, KH, KW), in- and output channels swapped, taps reversed."""
    by_group = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
    flipped = by_group.transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    return flipped.reshape(groups * w.shape[1], w.shape[0] // groups, *w.shape[2:])


def _gemm_input_grad(grad_y, w, groups, window, x_shape):
    flipped = _flipped_window(window)
    if (flipped is not None and w.shape[0] < w.shape[1] * groups
            and _conv_grid(grad_y.shape[2:], flipped) == tuple(x_shape[2:])):
        # Fewer output than input channels: unfolding grad_y (Cout*KH*KW rows) for a convolution
        # with the flipped kernel moves less memory than col2im of Cin*KH*KW rows, and its GEMM
        # sums over Cout*KH*KW instead of Cout.
        return _gemm_conv(_im2col(grad_y, flipped, x_shape[2:]), _flipped_weight(w, groups), None, groups, flipped,
                          x_shape[2:])
    w_t = _by_group(w.reshape(w.shape[0], -1), groups).transpose(0, 2, 1)
    dcols = w_t @ _by_group(_channels_first(grad_y), groups)
    return _col2im(dcols.reshape(-1, dcols.shape[2]), x_shape, window, grad_y.shape[2:])


def _gemm_weight_grad(grad_y, cols, groups, window, w_shape):
    dw = _by_group(_channels_first(grad_y), groups) @ _by_group(cols, groups).transpose(0, 2, 1)
    return dw.reshape(w_shape)


def _pointwise_columns(images, window=None, grid=None):
    """(N, C, H, W) -> (N, C, H*W): a 1x1 convolution's im2col is a reshape of the image itself."""
    # contiguous, because NumPy's matmul leaves BLAS for a slow loop on strided images (a permuted view)
    return np.ascontiguousarray(images).reshape(*images.shape[:2], -1)


def _pointwise_conv(x3, w, b, groups, window, grid):
    # One (Cout, Cin) @ (Cin, H*W) product per image writes NCHW directly: no unfold, no transposes.
    return _add_bias(np.matmul(w.reshape(w.shape[:2]), x3).reshape(x3.shape[0], w.shape[0], *grid), b)


def _pointwise_input_grad(grad3, w, groups, window, x_shape):
    return np.matmul(w.reshape(w.shape[:2]).T, grad3).reshape(x_shape)


def _pointwise_weight_grad(grad3, x3, groups, window, w_shape):
    return np.matmul(grad3, x3.transpose(0, 2, 1)).sum(axis=0).reshape(w_shape)


# ---------------------------------------------------------------- NumPy twins


def _by_group_nchw(images, groups):
    """(N, C, H, W) -> (N, groups, C/groups, H, W)."""
    return images.reshape(images.shape[0], groups, -1, *images.shape[2:])


def _im2col_numpy(x, window, grid):
    n_images, channels = x.shape[:2]
    padded = pad_image(x, window.padding)
    cols = np.empty((channels, *window.kernel_size, n_images, *grid), dtype=x.dtype)
    for i, j in np.ndindex(*window.kernel_size):
        taps = tap_view(padded, i, j, window.stride, window.dilation, grid)
        cols[:, i, j] = taps.transpose(1, 0, 2, 3)
    return cols.reshape(-1, n_images * grid[0] * grid[1])


def _col2im_numpy(cols, x_shape, window, grid):
    taps_by_offset = cols.reshape(x_shape[1], *window.kernel_size, x_shape[0], *grid)
    return sum_into_taps(
        x_shape, window, grid, cols.dtype, lambda i, j: taps_by_offset[:, i, j].transpose(1, 0, 2, 3)
    )


def im2col_numpy(x, kernel_size, stride, padding, dilation):
    """Plain-NumPy twin of im2col."""
    window = Window(kernel_size, stride, padding, dilation)
    return _im2col_numpy(x, window, _conv_grid(x.shape[2:], window))


def col2im_numpy(cols, x_shape, kernel_size, stride, padding, dilation):
    """Plain-NumPy twin of col2im."""
    window = Window(kernel_size, stride, padding, dilation)
    return _col2im_numpy(cols, x_shape, window, _conv_grid(x_shape[2:], window))


def _naive_conv(padded, w, b, groups, window, grid):
    w_by_group = w.reshape(groups, -1, *w.shape[1:])
    y = np.zeros((padded.shape[0], groups, w_by_group.shape[1], *grid), dtype=np.result_type(padded, w))
    for i, j in np.ndindex(*window.kernel_size):
        taps = _by_group_nchw(tap_view(padded, i, j, window.stride, window.dilation, grid), groups)
        y += np.einsum("ngchw,goc->ngohw", taps, w_by_group[..., i, j])
    return _add_bias(y.reshape(padded.shape[0], -1, *grid), b)


def _naive_input_grad(grad_y, w, groups, window, x_shape):
    grad_by_group = _by_group_nchw(grad_y, groups)
    w_by_group = w.reshape(groups, -1, *w.shape[1:])

    def tap_values(i, j):
        dx_by_group = np.einsum("ngohw,goc->ngchw", grad_by_group, w_by_group[..., i, j])
        return dx_by_group.reshape(x_shape[0], x_shape[1], *grad_y.shape[2:])

    return sum_into_taps(x_shape, window, grad_y.shape[2:], np.result_type(grad_y, w), tap_values)


def _naive_weight_grad(grad_y, padded, groups, window, w_shape):
    grad_by_group = _by_group_nchw(grad_y, groups)
    dw = np.empty((groups, w_shape[0] // groups, *w_shape[1:]), dtype=np.result_type(grad_y, padded))
    for i, j in np.ndindex(*window.kernel_size):
        taps = tap_view(padded, i, j, window.stride, window.dilation, grad_y.shape[2:])
        dw[..., i, j] = np.einsum("ngohw,ngchw->goc", grad_by_group, _by_group_nchw(taps, groups))
    return dw.reshape(w_shape)


# ------------------------------------------------- layers, shared by both paths


class _ConvProducts(NamedTuple):
    """The three products every layer below is assembled from.

    The image enters the convolution and the weight gradient only through ``unfold`` (im2col
    columns or Winograd points on the fast path, the padded image for the twin), and the output
    gradient enters both gradients through ``unfold_grad``, so a layer that needs two products of
    one tensor transforms it once.
    """

    unfold: Callable  # (x, window, grid) -> the unfolded image
    unfold_grad: Callable  # (grad_y) -> grad_y in the form input_grad and weight_grad read
    conv: Callable  # (unfolded x, w, b or None, groups, window, grid) -> y, the bias added
    input_grad: Callable  # (unfolded grad_y, w, groups, window, x_shape) -> dx
    weight_grad: Callable  # (unfolded grad_y, unfolded x, groups, window, w_shape) -> dw


def _unchanged(grad_y):
    return grad_y


_GEMM = _ConvProducts(_im2col, _unchanged, _gemm_conv, _gemm_input_grad, _gemm_weight_grad)
_POINTWISE = _ConvProducts(_pointwise_columns, _pointwise_columns, _pointwise_conv, _pointwise_input_grad,
                           _pointwise_weight_grad)
_WINOGRAD = _ConvProducts(winograd.input_points, winograd.output_points, winograd.conv, winograd.input_grad,
                          winograd.weight_grad)
_NAIVE = _ConvProducts(lambda x, window, grid: pad_image(x, window.padding), _unchanged, _naive_conv,
                       _naive_input_grad, _naive_weight_grad)


def _add_bias(y, b):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def _bias_grad(grad_y):
    return grad_y.sum(axis=(0, 2, 3))


def _conv2d_forward(products, x, w, b, stride, padding, dilation, groups):
    window = Window(w.shape[2:], stride, padding, dilation)
    grid = _conv_grid(x.shape[2:], window)
    return products.conv(products.unfold(x, window, grid), w, b, groups, window, grid)


def _conv2d_backward(products, grad_y, x, w, stride, padding, dilation, groups, need_dx, need_dw):
    window = Window(w.shape[2:], stride, padding, dilation)
    unfolded_grad = products.unfold_grad(grad_y)
    dx = products.input_grad(unfolded_grad, w, groups, window, x.shape) if need_dx else None
    dw = None
    if need_dw:
        dw = products.weight_grad(unfolded_grad, products.unfold(x, window, grad_y.shape[2:]), groups, window,
                                  w.shape)
    return dx, dw, _bias_grad(grad_y)


def _conv_transpose2d_forward(products, x, w, b, stride, padding, output_padding, dilation, groups):
    window = Window(w.shape[2:], stride, padding, dilation)
    y_hw = _transposed_conv_image_hw(x.shape[2:], window, output_padding)
    y_shape = (x.shape[0], w.shape[1] * groups, *y_hw)
    return _add_bias(products.input_grad(products.unfold_grad(x), w, groups, window, y_shape), b)


def _conv_transpose2d_backward(products, grad_y, x, w, stride, padding, output_padding, dilation, groups,
                               need_dx, need_dw):
    window = Window(w.shape[2:], stride, padding, dilation)
    expected_hw = _transposed_conv_image_hw(x.shape[2:], window, output_padding)
    if grad_y.shape[2:] != expected_hw:
        raise ValueError(f"grad_y has spatial shape {grad_y.shape[2:]}, the forward output had {expected_hw}")
    # Both gradients read grad_y unfolded on the input's grid: unfold it once.
    unfolded = products.unfold(grad_y, window, x.shape[2:]) if need_dx or need_dw else None
    dx = products.conv(unfolded, w, None, groups, window, x.shape[2:]) if need_dx else None
    dw = products.weight_grad(products.unfold_grad(x), unfolded, groups, window, w.shape) if need_dw else None
    return dx, dw, _bias_grad(grad_y)


def _fast(w, stride, padding, dilation, groups):
    """The fast path's products: Winograd for 3x3 stride-1 kernels, batched GEMMs for 1x1, else im2col + GEMM."""
    if winograd.applies(w.shape, stride, dilation, groups):
        return _WINOGRAD
    if (w.shape[2:] == (1, 1) and tuple(stride) == (1, 1) and tuple(padding) == (0, 0) and tuple(dilation) == (1, 1)
            and groups == 1):
        return _POINTWISE
    return _GEMM


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """Grouped 2-D cross-correlation of x (N, Cin, H, W) with w (Cout, Cin/G, KH, KW); b (Cout,) or None."""
    return _conv2d_forward(_fast(w, stride, padding, dilation, groups), x, w, b, stride, padding, dilation, groups)


def conv2d_backward(grad_y, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """Gradients (dx, dw, db) of conv2d_forward given grad_y (N, Cout, OH, OW).

    dx or dw is None, and not computed, when ``need_dx`` or ``need_dw`` is false.
    """
    return _conv2d_backward(_fast(w, stride, padding, dilation, groups), grad_y, x, w, stride, padding, dilation,
                            groups, need_dx, need_dw)


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups):
    """Transposed convolution of x (N, Cin, H, W) with w (Cin, Cout/G, KH, KW); b (Cout,) or None.

    Output size per axis: (H-1)*stride - 2*padding + dilation*(K-1) + output_padding + 1.
    """
    return _conv_transpose2d_forward(_fast(w, stride, padding, dilation, groups), x, w, b, stride, padding,
                                     output_padding, dilation, groups)


def conv_transpose2d_backward(grad_y, x, w, stride, padding, output_padding, dilation, groups, need_dx=True,
                              need_dw=True):
    """Gradients (dx, dw, db) of conv_transpose2d_forward given grad_y; see conv2d_backward for the flags."""
    return _conv_transpose2d_backward(_fast(w, stride, padding, dilation, groups), grad_y, x, w, stride, padding,
                                      output_padding, dilation, groups, need_dx, need_dw)


def conv2d_forward_numpy(x, w, b, stride, padding, dilation, groups):
    """Plain-NumPy twin of conv2d_forward."""
    return _conv2d_forward(_NAIVE, x, w, b, stride, padding, dilation, groups)


def conv2d_backward_numpy(grad_y, x, w, stride, padding, dilation, groups, need_dx=True, need_dw=True):
    """Plain-NumPy twin of conv2d_backward."""
    return _conv2d_backward(_NAIVE, grad_y, x, w, stride, padding, dilation, groups, need_dx, need_dw)


def conv_transpose2d_forward_numpy(x, w, b, stride, padding, output_padding, dilation, groups):
    """Plain-NumPy twin of conv_transpose2d_forward."""
    return _conv_transpose2d_forward(_NAIVE, x, w, b, stride, padding, output_padding, dilation, groups)


def conv_transpose2d_backward_numpy(grad_y, x, w, stride, padding, output_padding, dilation, groups,
                                    need_dx=True, need_dw=True):
    """Plain-NumPy twin of conv_transpose2d_backward."""
    return _conv_transpose2d_backward(_NAIVE, grad_y, x, w, stride, padding, output_padding, dilation, groups,
                                      need_dx, need_dw)
