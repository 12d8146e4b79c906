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
``gather`` computes L X L^T from every window X, ``fold`` adds L^T T L back into the windows, its
exact adjoint.  ``_input_tiles`` uses L = B^T on 4x4 windows with stride 2, ``_output_tiles`` L = A
on 2x2 windows.  The NumPy twins of this fast path are conv.py's per-tap convolution products.
"""
import numpy as np

from ._numba import njit, prange

# G maps a 3-tap filter to the 4 Winograd points; B^T and A^T are applied by _bt/_b and _a/_at.
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
def _load4(plane, index, t):
    return plane[index, t], plane[index + 4, t], plane[index + 8, t], plane[index + 12, t]


@njit(cache=True)
def _store4(plane, index, t, v):
    plane[index, t] = v[0]
    plane[index + 1, t] = v[1]
    plane[index + 2, t] = v[2]
    plane[index + 3, t] = v[3]


@njit(cache=True)
def _add4(row, x, d):
    row[x] += d[0]
    row[x + 1] += d[1]
    row[x + 2] += d[2]
    row[x + 3] += d[3]


@njit(parallel=True, cache=True)
def _input_tiles(padded, tiles, fold):
    """V[:, c, t] = B^T d B for the 4x4 window d of tile t or, if ``fold``, add B V B^T into the windows.

    ``padded`` is (N, C, 2*TH + 2, 2*TW + 2), ``tiles`` (16, C, N*TH*TW), tiles in row-major order.
    """
    n_images, channels, height, width = padded.shape
    tiles_h, tiles_w = (height - 2) // 2, (width - 2) // 2
    # One task per (channel, image) plane: folding writes only its own plane, so tasks never race.
    for plane in prange(channels * n_images):
        c = plane // n_images
        n = plane % n_images
        points = tiles[:, c]
        for ty in range(tiles_h):
            r0, r1 = padded[n, c, 2 * ty], padded[n, c, 2 * ty + 1]
            r2, r3 = padded[n, c, 2 * ty + 2], padded[n, c, 2 * ty + 3]
            first = (n * tiles_h + ty) * tiles_w
            for tx in range(tiles_w):
                t, x = first + tx, 2 * tx
                if not fold:
                    # Columns first (col_j = B^T d[:, j]), then row a of V is B^T (col_0[a], ..., col_3[a]).
                    col0 = _bt(r0[x], r1[x], r2[x], r3[x])
                    col1 = _bt(r0[x + 1], r1[x + 1], r2[x + 1], r3[x + 1])
                    col2 = _bt(r0[x + 2], r1[x + 2], r2[x + 2], r3[x + 2])
                    col3 = _bt(r0[x + 3], r1[x + 3], r2[x + 3], r3[x + 3])
                    _store4(points, 0, t, _bt(col0[0], col1[0], col2[0], col3[0]))
                    _store4(points, 4, t, _bt(col0[1], col1[1], col2[1], col3[1]))
                    _store4(points, 8, t, _bt(col0[2], col1[2], col2[2], col3[2]))
                    _store4(points, 12, t, _bt(col0[3], col1[3], col2[3], col3[3]))
                else:
                    col0 = _b(*_load4(points, 0, t))
                    col1 = _b(*_load4(points, 1, t))
                    col2 = _b(*_load4(points, 2, t))
                    col3 = _b(*_load4(points, 3, t))
                    _add4(r0, x, _b(col0[0], col1[0], col2[0], col3[0]))
                    _add4(r1, x, _b(col0[1], col1[1], col2[1], col3[1]))
                    _add4(r2, x, _b(col0[2], col1[2], col2[2], col3[2]))
                    _add4(r3, x, _b(col0[3], col1[3], col2[3], col3[3]))


@njit(parallel=True, cache=True)
def _output_tiles(image, tiles, fold):
    """M[:, c, t] = A Y A^T for the 2x2 block Y of tile t or, if ``fold``, add A^T M A into the blocks.

    ``image`` is (N, C, 2*TH, 2*TW), ``tiles`` (16, C, N*TH*TW).
    """
    n_images, channels, height, width = image.shape
    tiles_h, tiles_w = height // 2, width // 2
    for plane in prange(channels * n_images):
        c = plane // n_images
        n = plane % n_images
        points = tiles[:, c]
        for ty in range(tiles_h):
            r0, r1 = image[n, c, 2 * ty], image[n, c, 2 * ty + 1]
            first = (n * tiles_h + ty) * tiles_w
            for tx in range(tiles_w):
                t, x = first + tx, 2 * tx
                if not fold:
                    col0 = _a(r0[x], r1[x])
                    col1 = _a(r0[x + 1], r1[x + 1])
                    _store4(points, 0, t, _a(col0[0], col1[0]))
                    _store4(points, 4, t, _a(col0[1], col1[1]))
                    _store4(points, 8, t, _a(col0[2], col1[2]))
                    _store4(points, 12, t, _a(col0[3], col1[3]))
                else:
                    col0 = _at(*_load4(points, 0, t))
                    col1 = _at(*_load4(points, 1, t))
                    col2 = _at(*_load4(points, 2, t))
                    col3 = _at(*_load4(points, 3, t))
                    y0 = _at(col0[0], col1[0], col2[0], col3[0])
                    y1 = _at(col0[1], col1[1], col2[1], col3[1])
                    r0[x] += y0[0]
                    r0[x + 1] += y0[1]
                    r1[x] += y1[0]
                    r1[x + 1] += y1[1]


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


def _weight_points(w):
    """U = G w G^T: (Cout, Cin, 3, 3) -> (16, Cout, Cin)."""
    g = _G.astype(w.dtype)
    return np.einsum("ai,ocij,bj->aboc", g, w, g, optimize=True).reshape(16, *w.shape[:2])


def _weight_from_points(points, w_shape):
    """dw = G^T dU G: the adjoint of _weight_points."""
    g = _G.astype(points.dtype)
    return np.einsum("ai,aboc,bj->ocij", g, points.reshape(4, 4, *w_shape[:2]), g, optimize=True)


def input_points(x, window, grid):
    """V (16, C, N*TH*TW): the Winograd transform of every 4x4 window of ``x`` padded by ``window.padding``."""
    tiles_h, tiles_w = _tile_counts(grid)
    pad_h, pad_w = window.padding
    n_images, channels, height, width = x.shape
    padded = np.zeros((n_images, channels, 2 * tiles_h + 2, 2 * tiles_w + 2), dtype=x.dtype)
    padded[:, :, pad_h:pad_h + height, pad_w:pad_w + width] = x
    points = _points_buffer(channels, n_images * tiles_h * tiles_w, x.dtype)
    _input_tiles(padded, points, False)
    return points


def output_points(grad_y):
    """dM = A dY A^T for every 2x2 block of ``grad_y``, zero-extended to whole tiles."""
    grid = grad_y.shape[2:]
    tiles_h, tiles_w = _tile_counts(grid)
    n_images, channels = grad_y.shape[:2]
    blocks = np.zeros((n_images, channels, 2 * tiles_h, 2 * tiles_w), dtype=grad_y.dtype)
    blocks[:, :, :grid[0], :grid[1]] = grad_y
    points = _points_buffer(channels, n_images * tiles_h * tiles_w, grad_y.dtype)
    _output_tiles(blocks, points, False)
    return points


def conv(points, w, groups, window, grid):
    """y = A^T (U V) A, cropped to ``grid``; ``points`` is input_points of the image."""
    tiles_h, tiles_w = _tile_counts(grid)
    products = np.matmul(_weight_points(w), points, out=_points_buffer(w.shape[0], points.shape[2], points.dtype))
    n_images = points.shape[2] // (tiles_h * tiles_w)
    blocks = np.zeros((n_images, w.shape[0], 2 * tiles_h, 2 * tiles_w), dtype=products.dtype)
    _output_tiles(blocks, products, True)
    return blocks if blocks.shape[2:] == tuple(grid) else np.ascontiguousarray(blocks[:, :, :grid[0], :grid[1]])


def input_grad(grad_points, w, groups, window, x_shape):
    """dx = sum over windows of B (U^T dM) B^T, with the padding cut off; ``grad_points`` is output_points."""
    n_images, channels, height, width = x_shape
    pad_h, pad_w = window.padding
    tiles_h, tiles_w = _tile_counts((height + 2 * pad_h - 2, width + 2 * pad_w - 2))
    point_grads = np.matmul(_weight_points(w).transpose(0, 2, 1), grad_points,
                            out=_points_buffer(channels, grad_points.shape[2], grad_points.dtype))
    padded = np.zeros((n_images, channels, 2 * tiles_h + 2, 2 * tiles_w + 2), dtype=point_grads.dtype)
    _input_tiles(padded, point_grads, True)
    return np.ascontiguousarray(padded[:, :, pad_h:pad_h + height, pad_w:pad_w + width])


def weight_grad(grad_points, points, groups, window, w_shape):
    """dw = G^T (dM V^T) G; ``grad_points`` is output_points of grad_y, ``points`` input_points of the image."""
    return _weight_from_points(np.matmul(grad_points, points.transpose(0, 2, 1)), w_shape)
