"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 convolutions with stride 1 (Lavin & Gray, 2015).

The output is cut into 2x2 tiles; tile t reads a 4x4 window d_t of the padded image, overlapping its
neighbours by two pixels.  For each input channel c and output channel o::

    y_t = A^T [ (G w_oc G^T) * (B^T d_tc B) ] A        (elementwise product of 4x4 matrices)

Summed over c, the elementwise product at each of the 16 positions xi = (a, b) is one matrix product
over channels, so a convolution is 16 GEMMs with 16 multiplications per 2x2 outputs instead of 36:

    M[xi] = U[xi] @ V[xi],   U = G w G^T  (16, Cout, Cin),   V = B^T d B  (16, Cin, tiles)

Everything else is linear in d, so the input gradient runs the same steps transposed
(dM = A dY A^T, dV = U^T dM, dd = B dV B^T summed over overlapping windows) and the weight
gradient is dU = dM V^T, dw = G^T dU G.

Two Numba kernels move between images and the 16 transformed planes, each in both directions:
gathering computes L X L^T from every window X, folding sets the image to the sum of L^T T L over
the windows, its exact adjoint.  ``_input_tiles`` uses L = B^T on 4x4 windows with stride 2,
``_output_tiles`` L = A on 2x2 blocks.  Each pads or crops one plane at a time in a buffer of its
own, so no padded copy of the batch is made.  The NumPy twins of this fast path are conv.py's
per-tap convolution products.

The kernels take the points as the whole (16, C*tiles) buffer, point p of channel c and tile t at
[p, c*tiles + t], and index it with unsigned integers: a contiguous last axis and no checks for
negative indices made the stores ~10% cheaper than through the (16, C, tiles) view.

F(4x4, 3x3) (36 points per 4x4 outputs, 44% fewer multiplications) was tried: its transforms, which
Numba compiles to scalar code, cost what its GEMMs saved, and a UNet step at 2 threads was no faster.
"""
import numpy as np

from ._numba import kernel_array, njit, prange

_U = np.uint64


@njit(cache=True)
def _column(rows, x):
    """Entry x of each of four rows: a window's column x, or, of four point rows, tile x's column."""
    return rows[0][x], rows[1][x], rows[2][x], rows[3][x]


# G maps a 3-tap filter to the 4 Winograd points; B^T and A^T are applied by _bt/_b and _at/_a.
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


@njit(cache=True)
def _bt(d0, d1, d2, d3):
    """B^T d with B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@njit(cache=True)
def _b(v0, v1, v2, v3):
    """B v, the adjoint of _bt."""
    return v0, v1 - v2 + v3, v1 + v2 - v0, -v3


@njit(cache=True)
def _at(m0, m1, m2, m3):
    """A^T m with A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]."""
    return m0 + m1 + m2, m1 - m2 - m3


@njit(cache=True)
def _a(y0, y1):
    """A y, the adjoint of _at."""
    return y0, y0 + y1, y0 - y1, -y1


@njit(cache=True)
def _point_rows(tiles, first):
    """Rows first, first + 4, first + 8, first + 12: column ``first`` of every tile's 4x4 points."""
    return tiles[first], tiles[first + 4], tiles[first + 8], tiles[first + 12]


@njit(cache=True)
def _store_row(tiles, first, t, v):
    tiles[first, t] = v[0]
    tiles[first + _U(1), t] = v[1]
    tiles[first + _U(2), t] = v[2]
    tiles[first + _U(3), t] = v[3]


@njit(parallel=True, cache=True)
def _input_tiles(image, padding, tile_grid, tiles, fold):
    """V[:, c*T + t] = B^T d B for the 4x4 window d of tile t of the zero-padded image or, if ``fold``,
    image = the sum of B V B^T over the windows, with the padding cut off.

    ``image`` is (N, C, H, W), ``tile_grid`` (TH, TW), ``tiles`` (16, C*T) with T = N*TH*TW, tiles in
    row-major order over a padded plane of (2*TH + 2, 2*TW + 2) pixels whose first ``padding`` rows
    and columns precede the image.
    """
    n_images, channels, height, width = image.shape
    pad_h, pad_w = padding
    tiles_h, tiles_w = tile_grid
    per_channel = n_images * tiles_h * tiles_w
    # One task per (channel, image) plane: folding writes only its own plane, so tasks never race.
    for plane in prange(channels * n_images):
        c = plane // n_images
        n = plane % n_images
        # The plane is padded in a buffer of its own, small enough to stay in cache, rather than in a
        # padded copy of the batch.
        padded = np.zeros((2 * tiles_h + 2, 2 * tiles_w + 2), dtype=image.dtype)
        if not fold:
            padded[pad_h:pad_h + height, pad_w:pad_w + width] = image[n, c]
        for ty in range(tiles_h):
            y = 2 * ty
            rows = (padded[y], padded[y + 1], padded[y + 2], padded[y + 3])
            first = _U(c * per_channel + (n * tiles_h + ty) * tiles_w)
            for tx in range(tiles_w):
                t, x = first + _U(tx), _U(2 * tx)
                if not fold:
                    # Columns first (col_j = B^T d[:, j]), then row a of V is B^T (col_0[a], ..., col_3[a]).
                    col0, col1 = _bt(*_column(rows, x)), _bt(*_column(rows, x + _U(1)))
                    col2, col3 = _bt(*_column(rows, x + _U(2))), _bt(*_column(rows, x + _U(3)))
                    for a in range(4):
                        _store_row(tiles, _U(4 * a), t, _bt(col0[a], col1[a], col2[a], col3[a]))
                else:
                    col0, col1 = _b(*_column(_point_rows(tiles, 0), t)), _b(*_column(_point_rows(tiles, 1), t))
                    col2, col3 = _b(*_column(_point_rows(tiles, 2), t)), _b(*_column(_point_rows(tiles, 3), t))
                    for i in range(4):
                        d = _b(col0[i], col1[i], col2[i], col3[i])
                        row = rows[i]
                        for j in range(4):
                            row[x + _U(j)] += d[j]
        if fold:
            image[n, c] = padded[pad_h:pad_h + height, pad_w:pad_w + width]


@njit(parallel=True, cache=True)
def _output_tiles(image, tiles, fold, bias):
    """M[:, c*T + t] = A Y A^T for the 2x2 block Y of tile t of the image, zero-extended to whole tiles,
    or, if ``fold``, image = A^T M A of every tile, cut to the image's size, plus bias[c].

    ``image`` is (N, C, OH, OW), ``tiles`` (16, C*T) with T = N * ceil(OH / 2) * ceil(OW / 2); ``bias``
    (C,) is read only when folding (the convolution's output), where adding it here saves a pass.
    """
    n_images, channels, height, width = image.shape
    tiles_h, tiles_w = -(-height // 2), -(-width // 2)
    per_channel = n_images * tiles_h * tiles_w
    for plane in prange(channels * n_images):
        c = plane // n_images
        n = plane % n_images
        blocks = np.zeros((2 * tiles_h, 2 * tiles_w), dtype=image.dtype)
        if not fold:
            blocks[:height, :width] = image[n, c]
        for ty in range(tiles_h):
            r0, r1 = blocks[2 * ty], blocks[2 * ty + 1]
            first = _U(c * per_channel + (n * tiles_h + ty) * tiles_w)
            for tx in range(tiles_w):
                t, x = first + _U(tx), _U(2 * tx)
                if not fold:
                    col0, col1 = _a(r0[x], r1[x]), _a(r0[x + _U(1)], r1[x + _U(1)])
                    for a in range(4):
                        _store_row(tiles, _U(4 * a), t, _a(col0[a], col1[a]))
                else:
                    col0, col1 = _at(*_column(_point_rows(tiles, 0), t)), _at(*_column(_point_rows(tiles, 1), t))
                    col2, col3 = _at(*_column(_point_rows(tiles, 2), t)), _at(*_column(_point_rows(tiles, 3), t))
                    y0 = _at(col0[0], col1[0], col2[0], col3[0])
                    y1 = _at(col0[1], col1[1], col2[1], col3[1])
                    r0[x], r0[x + _U(1)] = y0[0], y0[1]
                    r1[x], r1[x + _U(1)] = y1[0], y1[1]
        if fold:
            plane_out = image[n, c]
            for h in range(height):
                for w in range(width):
                    plane_out[h, w] = blocks[h, w] + bias[c]


# With fewer channels on either side the transforms, which cost per channel, outweigh the saved
# multiplications (a 1-channel stem ran 6x slower than im2col + GEMM).
MIN_CHANNELS = 16


def applies(w_shape, stride, dilation, groups):
    """Whether F(2x2, 3x3) computes this layer: 3x3 kernel, stride 1, no dilation, one group, 16+ channels."""
    return (tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1
            and min(w_shape[:2]) >= MIN_CHANNELS)


def _tile_counts(grid):
    return tuple(-(-size // 2) for size in grid)


def _points_buffer(channels, n_tiles, dtype):
    """An empty (16, C, tiles) array whose 16 planes start one cache line apart modulo 4 KiB.

    A transform kernel reads or writes all 16 planes at once; with plane strides a multiple of
    4 KiB (C * tiles * 4 bytes is one in every layer of an MNIST UNet) the 16 streams fight over
    one set of the L1 cache and the kernels ran 3.5x slower.
    """
    itemsize = np.dtype(dtype).itemsize
    plane = channels * n_tiles
    stride = (-(-plane * itemsize // 4096) * 4096 + 64) // itemsize
    return np.empty((16, stride), dtype=dtype)[:, :plane].reshape(16, channels, n_tiles)


def _kernel_rows(points):
    """The whole (16, plane stride) buffer behind a _points_buffer view, as the kernels index it."""
    return np.lib.stride_tricks.as_strided(points, (16, points.strides[0] // points.itemsize),
                                           (points.strides[0], points.itemsize))


# tensordot rather than einsum, whose contraction-path search cost more than the products here.
def _weight_points(w):
    """U = G w G^T: (Cout, Cin, 3, 3) -> (16, Cout, Cin)."""
    g = _G.astype(w.dtype)
    points = np.tensordot(np.tensordot(g, w, axes=(1, 2)), g, axes=(3, 1))      # (a, Cout, Cin, b)
    return np.ascontiguousarray(points.transpose(0, 3, 1, 2)).reshape(16, *w.shape[:2])


def _weight_from_points(points, w_shape):
    """dw = G^T dU G: the adjoint of _weight_points."""
    g = _G.astype(points.dtype)
    by_point = points.reshape(4, 4, *w_shape[:2])
    taps = np.tensordot(np.tensordot(g, by_point, axes=(0, 0)), g, axes=(1, 0))  # (i, Cout, Cin, j)
    return np.ascontiguousarray(taps.transpose(1, 2, 0, 3))


def input_points(x, window, grid):
    """V (16, C, N*TH*TW): the Winograd transform of every 4x4 window of ``x`` padded by ``window.padding``."""
    tile_grid = _tile_counts(grid)
    points = _points_buffer(x.shape[1], x.shape[0] * tile_grid[0] * tile_grid[1], x.dtype)
    _input_tiles(kernel_array(x), tuple(window.padding), tile_grid, _kernel_rows(points), False)
    return points


def output_points(grad_y):
    """dM = A dY A^T for every 2x2 block of ``grad_y``, zero-extended to whole tiles."""
    tiles_h, tiles_w = _tile_counts(grad_y.shape[2:])
    points = _points_buffer(grad_y.shape[1], grad_y.shape[0] * tiles_h * tiles_w, grad_y.dtype)
    _output_tiles(kernel_array(grad_y), _kernel_rows(points), False, np.zeros(0, dtype=grad_y.dtype))
    return points


def conv(points, w, b, groups, window, grid):
    """y = A^T (U V) A + b, cut to ``grid``; ``points`` is input_points of the image, ``b`` (Cout,) or None."""
    tiles_h, tiles_w = _tile_counts(grid)
    products = np.matmul(_weight_points(w), points, out=_points_buffer(w.shape[0], points.shape[2], points.dtype))
    y = np.empty((points.shape[2] // (tiles_h * tiles_w), w.shape[0], *grid), dtype=products.dtype)
    bias = np.zeros(w.shape[0], dtype=y.dtype) if b is None else kernel_array(b.astype(y.dtype, copy=False))
    _output_tiles(y, _kernel_rows(products), True, bias)
    return y


def input_grad(grad_points, w, groups, window, x_shape):
    """dx = sum over windows of B (U^T dM) B^T, with the padding cut off; ``grad_points`` is output_points."""
    pad_h, pad_w = window.padding
    tile_grid = _tile_counts((x_shape[2] + 2 * pad_h - 2, x_shape[3] + 2 * pad_w - 2))
    point_grads = np.matmul(_weight_points(w).transpose(0, 2, 1), grad_points,
                            out=_points_buffer(x_shape[1], grad_points.shape[2], grad_points.dtype))
    dx = np.empty(x_shape, dtype=point_grads.dtype)
    _input_tiles(dx, (pad_h, pad_w), tile_grid, _kernel_rows(point_grads), True)
    return dx


def weight_grad(grad_points, points, groups, window, w_shape):
    """dw = G^T (dM V^T) G; ``grad_points`` is output_points of grad_y, ``points`` input_points of the image."""
    return _weight_from_points(np.matmul(grad_points, points.transpose(0, 2, 1)), w_shape)
