"""Tests for scratchgen.kernels.

Every fast path is held to its plain-NumPy twin on hypothesis-drawn shapes,
dtypes and memory layouts; the twins themselves are pinned down by small
hand-computed cases and by adjoint identities between forward and backward.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import scratchgen.kernels as K
from scratchgen.kernels import conv, windows
from scratchgen.kernels.winograd import MIN_CHANNELS

DTYPES = st.sampled_from([np.float32, np.float64])
LAYOUTS = st.sampled_from(["contiguous", "fortran", "strided"])


def pairs(lo, hi):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


def values(dtype, shape, unique=False):
    """Arrays with every element drawn (no constant fill), exactly representable in float32."""
    elements = st.floats(-1, 1, width=32, allow_subnormal=False)
    return hnp.arrays(dtype, shape, elements=elements, fill=st.nothing(), unique=unique)


def seeded_values(draw, dtype, shape):
    """Like values() for arrays too large to draw element by element: uniform from a drawn seed."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.uniform(-1, 1, shape).astype(np.float32).astype(dtype)


def relayout(a, layout):
    """The same values in a layout that is not C-contiguous (unless ``layout`` is "contiguous")."""
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided":
        wide = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), dtype=a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    return a


def assert_twin_close(fast, twin):
    """Fast result equals the twin's within the dtype's rounding and keeps the dtype."""
    fast, twin = np.asarray(fast), np.asarray(twin)
    assert fast.dtype == twin.dtype
    assert fast.shape == twin.shape
    tol = dict(rtol=1e-4, atol=1e-5) if fast.dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast, twin, **tol)


def fast_and_twin(argnames, *names):
    """Parametrize a test to run on the fast functions ``names`` and then on their NumPy twins."""
    versions = [[getattr(K, name + suffix) for name in names] for suffix in ("", "_numpy")]
    argvalues = [tuple(functions) if len(names) > 1 else functions[0] for functions in versions]
    return pytest.mark.parametrize(argnames, argvalues, ids=["fast", "numpy"])


def inner(a, b):
    return float(np.vdot(a, b))


# ------------------------------------------------------------------ conv


@st.composite
def conv_cases(draw, transposed=False, path="any"):
    """Geometry, dtype and arrays for a (transposed) convolution; x and w come in random layouts.

    ``path`` "winograd" draws only layers the fast path computes with F(2x2, 3x3): 3x3 kernels,
    stride 1, no dilation, one group and at least winograd.MIN_CHANNELS channels on both sides;
    "pointwise" only 1x1 kernels with stride 1, no padding or dilation and one group.
    """
    dtype = draw(DTYPES)
    groups = 1 if path != "any" else draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel, stride, dilation = draw(pairs(1, 3)), draw(pairs(1, 3)), draw(pairs(1, 2))
    padding = draw(pairs(0, 2))
    if path == "winograd":
        kernel, stride, dilation = (3, 3), (1, 1), (1, 1)
        c_in, c_out = draw(pairs(MIN_CHANNELS, MIN_CHANNELS + 2))
    elif path == "pointwise":
        kernel, stride, padding, dilation = (1, 1), (1, 1), (0, 0), (1, 1)
    case = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if transposed:
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        # Smallest input whose transposed-conv output is non-empty.
        smallest = [
            1 + max(0, -(-(2 * p - d * (k - 1) - op) // s))
            for k, s, p, d, op in zip(kernel, stride, padding, dilation, output_padding)
        ]
        case["output_padding"] = output_padding
        w_shape = (c_in, c_out // groups, *kernel)
    else:
        smallest = [max(1, d * (k - 1) + 1 - 2 * p) for k, p, d in zip(kernel, padding, dilation)]
        w_shape = (c_out, c_in // groups, *kernel)
    hw = tuple(draw(st.integers(lo, lo + 4)) for lo in smallest)
    x_shape = (draw(st.integers(1, 2)), c_in, *hw)
    if path == "winograd":
        x, w = seeded_values(draw, dtype, x_shape), seeded_values(draw, dtype, w_shape)
    else:
        x, w = draw(values(dtype, x_shape)), draw(values(dtype, w_shape))
    case["x"] = relayout(x, draw(LAYOUTS))
    case["w"] = relayout(w, draw(LAYOUTS))
    case["b"] = draw(st.none() | values(dtype, (c_out,)))
    return case


def conv_geometry(case):
    """The geometry arguments of a conv_cases case, in signature order after the arrays."""
    names = ["stride", "padding", "output_padding", "dilation", "groups"]
    return [case[name] for name in names if name in case]


@pytest.mark.parametrize(
    "args, expected",
    [
        ((32, 3, 1, 1, 1), 32),
        ((32, 3, 2, 1, 1), 16),
        ((7, 3, 1, 0, 2), 3),
        ((5, 2, 3, 0, 1), 2),
        ((1, 3, 1, 1, 1), 1),
    ],
)
def test_conv_output_size(args, expected):
    assert K.conv_output_size(*args) == expected


def test_conv_output_size_rejects_empty_output():
    with pytest.raises(ValueError, match="output size"):
        K.conv_output_size(2, 3, 1, 0, 1)


def test_conv_transpose_output_size():
    assert K.conv_transpose_output_size(4, 3, 2, 1, 1, 1) == 8
    assert K.conv_transpose_output_size(3, 3, 1, 0, 1, 2) == 8
    with pytest.raises(ValueError, match="output_padding"):
        K.conv_transpose_output_size(4, 3, 2, 1, 2, 1)


@fast_and_twin("im2col", "im2col")
def test_im2col_hand_computed(im2col):
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    expected = [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]]
    np.testing.assert_array_equal(im2col(x, (2, 2), (1, 1), (0, 0), (1, 1)), expected)

    padded_cols = im2col(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), (2, 2), (1, 1), (1, 1), (1, 1))
    np.testing.assert_array_equal(padded_cols[0], [0, 0, 0, 0, 1, 2, 0, 3, 4])
    np.testing.assert_array_equal(padded_cols[3], [1, 2, 0, 3, 4, 0, 0, 0, 0])

    # A 1x1 kernel shows the layout: row c, column n*OH*OW + oh*OW + ow.
    images = np.arange(16.0).reshape(2, 2, 2, 2)  # images[n, c] = 8n + 4c + [[0, 1], [2, 3]]
    expected = [[0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]]
    np.testing.assert_array_equal(im2col(images, (1, 1), (1, 1), (0, 0), (1, 1)), expected)


@given(conv_cases())
def test_im2col_matches_twin(case):
    args = (case["w"].shape[2:], case["stride"], case["padding"], case["dilation"])
    assert_twin_close(K.im2col(case["x"], *args), K.im2col_numpy(case["x"], *args))


@given(conv_cases(), LAYOUTS, st.data())
def test_col2im_matches_twin(case, layout, data):
    x = case["x"]
    args = (case["w"].shape[2:], case["stride"], case["padding"], case["dilation"])
    cols = relayout(data.draw(values(x.dtype, K.im2col_numpy(x, *args).shape)), layout)
    assert_twin_close(K.col2im(cols, x.shape, *args), K.col2im_numpy(cols, x.shape, *args))


@pytest.mark.parametrize("kernel", ["loop nest", "table"])
@given(case=conv_cases(), data=st.data())
def test_both_unfold_kernels_match_twin(kernel, case, data):
    """im2col picks a kernel by row width (short rows: the table); each must match the twin on any geometry."""
    x = conv.kernel_array(case["x"])
    window = windows.Window(case["w"].shape[2:], case["stride"], case["padding"], case["dilation"])
    grid = conv._conv_grid(x.shape[2:], window)

    def unfold(image, cols, fold):
        if kernel == "table":
            conv._gather(image, cols, window, grid, fold)
        else:
            conv._unfold_kernel(image, cols, *window, grid, fold)
    expected = K.im2col_numpy(x, *window)
    cols = np.full(expected.shape, np.nan, x.dtype)    # every entry must be written, padding as 0
    unfold(x, cols, False)
    assert_twin_close(cols, expected)
    cols = data.draw(values(x.dtype, expected.shape))
    image = np.zeros(x.shape, x.dtype)
    unfold(image, cols, True)
    assert_twin_close(image, K.col2im_numpy(cols, x.shape, *window))


@fast_and_twin("im2col, col2im", "im2col", "col2im")
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_col2im_is_adjoint_of_im2col(im2col, col2im, case, seed):
    x = case["x"].astype(np.float64)
    args = (case["w"].shape[2:], case["stride"], case["padding"], case["dilation"])
    cols = im2col(x, *args)
    c = np.random.default_rng(seed).standard_normal(cols.shape)
    assert np.isclose(inner(cols, c), inner(x, col2im(c, x.shape, *args)), rtol=1e-10, atol=1e-12)


@fast_and_twin("forward, backward", "conv2d_forward", "conv2d_backward")
def test_conv2d_hand_computed(forward, backward):
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    geometry = ((1, 1), (0, 0), (1, 1), 1)
    # y[0, 0] = 1*1 + 2*2 + 4*3 + 5*4 and so on.
    np.testing.assert_allclose(forward(x, w, np.array([0.5]), *geometry)[0, 0], [[37.5, 47.5], [67.5, 77.5]])

    dx, dw, db = backward(np.ones((1, 1, 2, 2)), x, w, *geometry)
    # dx counts every weight that touches the pixel; dw sums every window's pixels per tap.
    np.testing.assert_allclose(dx[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    np.testing.assert_allclose(dw[0, 0], [[12, 16], [24, 28]])
    np.testing.assert_allclose(db, [4])


@fast_and_twin("forward", "conv_transpose2d_forward")
def test_conv_transpose2d_hand_computed(forward):
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = np.array([[[[1.0, -1.0], [2.0, 0.0]]]])
    # Stride 2: every input pixel stamps its own copy of x[h, w] * w.
    stamped = forward(x, w, None, (2, 2), (0, 0), (0, 0), (1, 1), 1)
    np.testing.assert_allclose(stamped[0, 0], [[1, -1, 2, -2], [2, 0, 4, 0], [3, -3, 4, -4], [6, 0, 8, 0]])
    # Stride 1: the stamps overlap and add up.
    overlapped = forward(x, w, np.array([1.0]), (1, 1), (0, 0), (0, 0), (1, 1), 1)
    np.testing.assert_allclose(overlapped[0, 0], np.array([[1, 1, -2], [5, 5, -4], [6, 8, 0]]) + 1)
    # Dilation 2 spreads the stamp's rows apart; output_padding (< dilation, though
    # not < stride) appends a row that nothing reaches.
    dilated = forward(x, w, None, (1, 1), (0, 0), (1, 0), (2, 1), 1)
    np.testing.assert_allclose(dilated[0, 0], [[1, 1, -2], [3, 1, -4], [2, 4, 0], [6, 8, 0], [0, 0, 0]])


@given(conv_cases())
def test_conv2d_forward_matches_twin(case):
    args = (case["x"], case["w"], case["b"], *conv_geometry(case))
    assert_twin_close(K.conv2d_forward(*args), K.conv2d_forward_numpy(*args))


@given(conv_cases(), LAYOUTS, st.data())
def test_conv2d_backward_matches_twin(case, layout, data):
    y_shape = K.conv2d_forward_numpy(case["x"], case["w"], None, *conv_geometry(case)).shape
    grad_y = relayout(data.draw(values(case["x"].dtype, y_shape)), layout)
    args = (grad_y, case["x"], case["w"], *conv_geometry(case))
    for fast, twin in zip(K.conv2d_backward(*args), K.conv2d_backward_numpy(*args)):
        assert_twin_close(fast, twin)


@given(conv_cases(transposed=True))
def test_conv_transpose2d_forward_matches_twin(case):
    args = (case["x"], case["w"], case["b"], *conv_geometry(case))
    assert_twin_close(K.conv_transpose2d_forward(*args), K.conv_transpose2d_forward_numpy(*args))


@given(conv_cases(transposed=True), LAYOUTS, st.data())
def test_conv_transpose2d_backward_matches_twin(case, layout, data):
    y_shape = K.conv_transpose2d_forward_numpy(case["x"], case["w"], None, *conv_geometry(case)).shape
    grad_y = relayout(data.draw(values(case["x"].dtype, y_shape)), layout)
    args = (grad_y, case["x"], case["w"], *conv_geometry(case))
    for fast, twin in zip(K.conv_transpose2d_backward(*args), K.conv_transpose2d_backward_numpy(*args)):
        assert_twin_close(fast, twin)


def assert_sums_close(fast, twin):
    """Like assert_twin_close for results summed from many terms: rounding scales with the largest one.

    Winograd's transforms reorder the sums of a convolution, so in float32 a result near zero
    keeps an error relative to the layer's magnitude, not its own.
    """
    fast, twin = np.asarray(fast), np.asarray(twin)
    assert fast.dtype == twin.dtype and fast.shape == twin.shape
    scale = max(1.0, float(np.abs(twin).max()))
    np.testing.assert_allclose(fast, twin, rtol=0, atol=(1e-5 if fast.dtype == np.float32 else 1e-12) * scale)


@pytest.mark.parametrize("path", ["winograd", "pointwise"])
@pytest.mark.parametrize("layer", ["conv2d", "conv_transpose2d"])
@given(layout=LAYOUTS, data=st.data())
def test_fast_paths_match_twin(layer, path, layout, data):
    """The layers the fast path hands to Winograd or to per-image 1x1 products, held to the twin."""
    case = data.draw(conv_cases(transposed=layer == "conv_transpose2d", path=path))
    args = (case["x"], case["w"], case["b"], *conv_geometry(case))
    y = getattr(K, layer + "_forward_numpy")(*args)
    assert_sums_close(getattr(K, layer + "_forward")(*args), y)
    grad_y = relayout(seeded_values(data.draw, y.dtype, y.shape), layout)
    backward_args = (grad_y, case["x"], case["w"], *conv_geometry(case))
    for fast, twin in zip(getattr(K, layer + "_backward")(*backward_args),
                          getattr(K, layer + "_backward_numpy")(*backward_args)):
        assert_sums_close(fast, twin)


def check_bilinear_gradients(forward, backward, case, seed):
    """y is bilinear in (x, w), so <y, g> = <x, dx> = <w, dw>; db sums g."""
    x, w = case["x"].astype(np.float64), case["w"].astype(np.float64)
    y = forward(x, w, None, *conv_geometry(case))
    grad_y = np.random.default_rng(seed).standard_normal(y.shape)
    dx, dw, db = backward(grad_y, x, w, *conv_geometry(case))
    assert dx.shape == x.shape and dw.shape == w.shape
    assert np.isclose(inner(y, grad_y), inner(x, dx), rtol=1e-10, atol=1e-12)
    assert np.isclose(inner(y, grad_y), inner(w, dw), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, grad_y.sum(axis=(0, 2, 3)))


@fast_and_twin("forward, backward", "conv2d_forward", "conv2d_backward")
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_backward_is_adjoint_of_forward(forward, backward, case, seed):
    check_bilinear_gradients(forward, backward, case, seed)


@fast_and_twin("forward, backward", "conv_transpose2d_forward", "conv_transpose2d_backward")
@given(case=conv_cases(transposed=True), seed=st.integers(0, 2**32 - 1))
def test_conv_transpose2d_backward_is_adjoint_of_forward(forward, backward, case, seed):
    check_bilinear_gradients(forward, backward, case, seed)


@pytest.mark.parametrize("padding, dilation, groups", [((1, 1), (1, 1), 1), ((0, 2), (2, 1), 2), ((2, 0), (1, 2), 3)])
def test_conv2d_input_grad_with_fewer_output_channels_matches_twin(padding, dilation, groups):
    """Stride 1 and Cout < Cin: the fast path computes dx as a convolution with the flipped kernel."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 6, 7, 6)), rng.standard_normal((groups, 6 // groups, 3, 2))
    geometry = ((1, 1), padding, dilation, groups)
    grad_y = rng.standard_normal(K.conv2d_forward_numpy(x, w, None, *geometry).shape)
    for fast, twin in zip(K.conv2d_backward(grad_y, x, w, *geometry), K.conv2d_backward_numpy(grad_y, x, w, *geometry)):
        assert_twin_close(fast, twin)


def assert_backward_skips_unneeded_gradients(backward, shapes, geometry, need_dx, need_dw):
    """The gradients asked for equal the full backward's; the others are None."""
    rng = np.random.default_rng(0)
    grad_y, x, w = (rng.standard_normal(shape) for shape in shapes)
    full = backward(grad_y, x, w, *geometry)
    partial = backward(grad_y, x, w, *geometry, need_dx=need_dx, need_dw=need_dw)
    for needed, got, expected in zip((need_dx, need_dw, True), partial, full):
        if needed:
            np.testing.assert_array_equal(got, expected)
        else:
            assert got is None


@pytest.mark.parametrize("need_dx, need_dw", [(False, True), (True, False)])
@fast_and_twin("forward, backward", "conv2d_forward", "conv2d_backward")
def test_conv2d_backward_skips_unneeded_gradients(forward, backward, need_dx, need_dw):
    assert_backward_skips_unneeded_gradients(backward, [(2, 4, 3, 3), (2, 3, 5, 5), (4, 3, 3, 3)],
                                             ((1, 1), (0, 0), (1, 1), 1), need_dx, need_dw)


@pytest.mark.parametrize("need_dx, need_dw", [(False, True), (True, False)])
@fast_and_twin("forward, backward", "conv_transpose2d_forward", "conv_transpose2d_backward")
def test_conv_transpose2d_backward_skips_unneeded_gradients(forward, backward, need_dx, need_dw):
    assert_backward_skips_unneeded_gradients(backward, [(2, 2, 6, 6), (2, 3, 3, 3), (3, 2, 4, 4)],
                                             ((2, 2), (1, 1), (0, 0), (1, 1), 1), need_dx, need_dw)


# ------------------------------------------------------------------ pool


@st.composite
def pool_cases(draw, unique=False):
    """(x, kernel_size, stride, padding) with padding at most half the kernel, x in a random layout."""
    kernel = draw(pairs(1, 3))
    stride = draw(pairs(1, 3))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    hw = tuple(draw(st.integers(max(1, k - 2 * p), max(1, k - 2 * p) + 4)) for k, p in zip(kernel, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *hw)
    x = draw(values(draw(DTYPES), shape, unique=unique))
    return relayout(x, draw(LAYOUTS)), kernel, stride, padding


@fast_and_twin("forward, backward", "max_pool2d_forward", "max_pool2d_backward")
def test_max_pool2d_hand_computed(forward, backward):
    ties = np.array([[[[1.0, 3.0, 3.0], [3.0, 2.0, 0.0], [0.0, 3.0, 1.0]]]])
    y, argmax = forward(ties, (2, 2), (1, 1), (0, 0))
    np.testing.assert_array_equal(y[0, 0], [[3, 3], [3, 3]])
    np.testing.assert_array_equal(argmax[0, 0], [[1, 1], [3, 7]])  # first maximum in raster order
    assert argmax.dtype == np.int64
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), argmax, ties.shape)
    np.testing.assert_array_equal(dx[0, 0], [[0, 3, 0], [3, 0, 0], [0, 4, 0]])

    negative = -np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    y, argmax = forward(negative, (2, 2), (2, 2), (1, 1))
    np.testing.assert_array_equal(y[0, 0], [[-1, -2], [-3, -4]])  # padding never wins: it is -inf
    np.testing.assert_array_equal(argmax[0, 0], [[0, 1], [2, 3]])


@fast_and_twin("forward, backward", "avg_pool2d_forward", "avg_pool2d_backward")
def test_avg_pool2d_hand_computed(forward, backward):
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    geometry = ((2, 2), (1, 1), (1, 1))
    # Padding counts in the divisor: the corner window holds only x[0, 0] but divides by 4.
    expected = [[0.25, 0.75, 0.5], [1.0, 2.5, 1.5], [0.75, 1.75, 1.0]]
    np.testing.assert_allclose(forward(x, *geometry)[0, 0], expected)
    grad_y = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    np.testing.assert_allclose(backward(grad_y, x.shape, *geometry)[0, 0], [[3, 4], [6, 7]])


def test_pooling_rejects_padding_over_half_the_kernel():
    with pytest.raises(ValueError, match="padding"):
        K.max_pool2d_forward(np.zeros((1, 1, 4, 4)), (2, 2), (1, 1), (2, 0))


@given(pool_cases(unique=True))
def test_max_pool2d_forward_matches_twin(case):
    (y, argmax), (y_twin, argmax_twin) = K.max_pool2d_forward(*case), K.max_pool2d_forward_numpy(*case)
    assert_twin_close(y, y_twin)
    assert argmax.dtype == argmax_twin.dtype == np.int64
    np.testing.assert_array_equal(argmax, argmax_twin)


@given(pool_cases(unique=True), LAYOUTS, st.data())
def test_max_pool2d_backward_matches_twin(case, layout, data):
    x = case[0]
    y, argmax = K.max_pool2d_forward_numpy(*case)
    grad_y = relayout(data.draw(values(x.dtype, y.shape)), layout)
    dx = K.max_pool2d_backward(grad_y, argmax, x.shape)
    assert_twin_close(dx, K.max_pool2d_backward_numpy(grad_y, argmax, x.shape))
    # Given argmax, y is a linear selection from x, so its backward is the adjoint.
    assert np.isclose(inner(dx, x), inner(grad_y, y), rtol=1e-4)


@given(pool_cases())
def test_avg_pool2d_forward_matches_twin(case):
    assert_twin_close(K.avg_pool2d_forward(*case), K.avg_pool2d_forward_numpy(*case))


@given(pool_cases(), LAYOUTS, st.data())
def test_avg_pool2d_backward_matches_twin(case, layout, data):
    x, *geometry = case
    y_shape = K.avg_pool2d_forward_numpy(*case).shape
    grad_y = relayout(data.draw(values(x.dtype, y_shape)), layout)
    dx = K.avg_pool2d_backward(grad_y, x.shape, *geometry)
    assert_twin_close(dx, K.avg_pool2d_backward_numpy(grad_y, x.shape, *geometry))


@fast_and_twin("forward, backward", "avg_pool2d_forward", "avg_pool2d_backward")
@given(case=pool_cases(), seed=st.integers(0, 2**32 - 1))
def test_avg_pool2d_backward_is_adjoint_of_forward(forward, backward, case, seed):
    x, *geometry = case
    x = x.astype(np.float64)
    y = forward(x, *geometry)
    grad_y = np.random.default_rng(seed).standard_normal(y.shape)
    dx = backward(grad_y, x.shape, *geometry)
    assert np.isclose(inner(y, grad_y), inner(x, dx), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ norm


def norm_shapes(min_count=1):
    """(A, B, M) with at least ``min_count`` elements per normalized set."""
    shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 6))
    return shapes.filter(lambda shape: shape[0] * shape[2] >= min_count)


@st.composite
def norm_inputs(draw):
    """x3 in a random layout, with float32 or float64 values."""
    x3 = draw(values(draw(DTYPES), draw(norm_shapes())))
    return relayout(x3, draw(LAYOUTS))


def rstd_of(var, eps=1e-5):
    return (1 / np.sqrt(var + eps)).astype(var.dtype)


@given(norm_inputs())
def test_moments_match_twin(x3):
    for fast, twin in zip(K.moments(x3), K.moments_numpy(x3)):
        assert fast.shape == (x3.shape[1],)
        assert_twin_close(fast, twin)


@fast_and_twin("moments", "moments")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_accurate_for_large_offset(moments, dtype):
    # The variance (1e-4) is 1e-12 of mean**2, so E[x^2] - E[x]^2 would lose it.
    rng = np.random.default_rng(0)
    x3 = (1e4 + 1e-2 * rng.standard_normal((4, 3, 500))).astype(dtype)
    exact = x3.astype(np.float64)
    mean, var = moments(x3)
    assert mean.dtype == var.dtype == dtype
    np.testing.assert_allclose(mean, exact.mean(axis=(0, 2)), rtol=1e-7)
    np.testing.assert_allclose(var, exact.var(axis=(0, 2)), rtol=1e-5)


@given(norm_inputs())
def test_normalize_forward_matches_twin(x3):
    mean, var = K.moments_numpy(x3)
    rstd = rstd_of(var)
    assert_twin_close(K.normalize_forward(x3, mean, rstd), K.normalize_forward_numpy(x3, mean, rstd))


@given(norm_inputs(), LAYOUTS, st.data())
def test_normalize_backward_matches_twin(x3, layout, data):
    mean, var = K.moments_numpy(x3)
    rstd = rstd_of(var)
    xhat3 = K.normalize_forward_numpy(x3, mean, rstd)
    grad3 = relayout(data.draw(values(x3.dtype, x3.shape)), layout)
    assert_twin_close(
        K.normalize_backward(grad3, xhat3, rstd), K.normalize_backward_numpy(grad3, xhat3, rstd)
    )


@fast_and_twin("normalize_backward", "normalize_backward")
@given(shape=norm_shapes(min_count=2), data=st.data())
def test_normalize_backward_matches_finite_differences(normalize_backward, shape, data):
    x3 = data.draw(values(np.float64, shape, unique=True))
    grad3 = data.draw(values(np.float64, shape))
    eps = 1e-3

    def loss(x):
        mean, var = K.moments(x)
        return inner(grad3, K.normalize_forward(x, mean, rstd_of(var, eps)))

    step = 1e-6
    numeric = np.empty(shape)
    for index in np.ndindex(shape):
        bump = np.zeros(shape)
        bump[index] = step
        numeric[index] = (loss(x3 + bump) - loss(x3 - bump)) / (2 * step)
    mean, var = K.moments(x3)
    rstd = rstd_of(var, eps)
    analytic = normalize_backward(grad3, K.normalize_forward(x3, mean, rstd), rstd)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-5)


@st.composite
def group_norm_inputs(draw):
    """x4 (N, G, C/G, M) in a random layout, a per-channel weight and bias, and an upstream gradient."""
    dtype = draw(DTYPES)
    shape = draw(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 6)))
    channels = shape[1] * shape[2]
    x4 = relayout(draw(values(dtype, shape)), draw(LAYOUTS))
    weight, bias = draw(values(dtype, (channels,))), draw(values(dtype, (channels,)))
    grad4 = relayout(draw(values(dtype, shape)), draw(LAYOUTS))
    return x4, weight, bias, grad4


@given(group_norm_inputs())
def test_group_norm_forward_matches_twin(inputs):
    """y to its dtype's rounding; the float64 mean and rstd to the input dtype's, the dtype the kernel sweeps in."""
    x4, weight, bias, _ = inputs
    (y4, *stats), (twin_y4, *twin_stats) = (K.group_norm_forward(x4, weight, bias, 1e-5),
                                            K.group_norm_forward_numpy(x4, weight, bias, 1e-5))
    assert_twin_close(y4, twin_y4)
    for fast, twin in zip(stats, twin_stats):
        assert fast.dtype == np.float64
        assert_twin_close(fast.astype(x4.dtype), twin.astype(x4.dtype))


@fast_and_twin("forward,backward", "group_norm_forward", "group_norm_backward")
def test_group_norm_keeps_the_deviations_of_a_near_constant_group(forward, backward):
    """float32 groups of mean 100 and std 0.01 (rstd 100): a float32 mean would be off by ~1e-5 and y by ~1e-3."""
    rng = np.random.default_rng(0)
    x4 = (100 + 0.01 * rng.standard_normal((4, 2, 8, 196))).astype(np.float32)
    weight, bias = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    grad4 = rng.standard_normal(x4.shape).astype(np.float32)
    exact_y4, mean, rstd = K.group_norm_forward_numpy(x4.astype(np.float64), weight, bias, 1e-5)
    exact = K.group_norm_backward_numpy(grad4.astype(np.float64), x4.astype(np.float64), mean, rstd, weight)
    np.testing.assert_allclose(forward(x4, weight, bias, 1e-5)[0], exact_y4, rtol=1e-5, atol=1e-5)
    for fast, exact_grad in zip(backward(grad4, x4, mean, rstd, weight), exact):
        np.testing.assert_allclose(fast, exact_grad, rtol=1e-4, atol=1e-4 * np.abs(exact_grad).max())


@pytest.mark.parametrize("path", ["serial", "parallel"])
def test_group_norm_serial_and_parallel_kernels_match_twin(path, monkeypatch):
    for kernel in (K.norm._group_norm_forward_kernel, K.norm._group_norm_backward_kernel):
        monkeypatch.setattr(kernel, "min_size", 1 if path == "parallel" else 10**12)
    rng = np.random.default_rng(0)
    x4 = rng.standard_normal((3, 4, 2, 50)).astype(np.float32)
    weight, bias = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    grad4 = rng.standard_normal(x4.shape).astype(np.float32)
    y4, mean, rstd = K.group_norm_forward(x4, weight, bias, 1e-5)
    assert_twin_close(y4, K.group_norm_forward_numpy(x4, weight, bias, 1e-5)[0])
    for fast, twin in zip(K.group_norm_backward(grad4, x4, mean, rstd, weight),
                          K.group_norm_backward_numpy(grad4, x4, mean, rstd, weight)):
        assert_twin_close(fast, twin)


@given(group_norm_inputs())
def test_group_norm_backward_matches_twin(inputs):
    x4, weight, bias, grad4 = inputs
    _, mean, rstd = K.group_norm_forward_numpy(x4, weight, bias, 1e-5)
    fast = K.group_norm_backward(grad4, x4, mean, rstd, weight)
    twin = K.group_norm_backward_numpy(grad4, x4, mean, rstd, weight)
    for a, b in zip(fast, twin):
        assert_twin_close(a, b)


@fast_and_twin("forward,backward", "group_norm_forward", "group_norm_backward")
def test_group_norm_matches_the_composed_normalization(forward, backward):
    """The fused kernels equal moments + normalize + affine, and their backward the unfused chain rule."""
    rng = np.random.default_rng(0)
    x4 = rng.standard_normal((2, 3, 2, 5))
    weight, bias, grad4 = rng.standard_normal(6), rng.standard_normal(6), rng.standard_normal(x4.shape)
    x3 = x4.reshape(1, 6, 10)
    mean, var = K.moments_numpy(x3)
    rstd = rstd_of(var)
    xhat4 = K.normalize_forward_numpy(x3, mean, rstd).reshape(x4.shape)
    per_channel = (1, 3, 2, 1)
    y4, saved_mean, saved_rstd = forward(x4, weight, bias, 1e-5)
    np.testing.assert_allclose(y4, xhat4 * weight.reshape(per_channel) + bias.reshape(per_channel), rtol=1e-10)
    dx4, dweight, dbias = backward(grad4, x4, saved_mean, saved_rstd, weight)
    grad_xhat3 = (grad4 * weight.reshape(per_channel)).reshape(x3.shape)
    np.testing.assert_allclose(dx4.reshape(x3.shape),
                               K.normalize_backward_numpy(grad_xhat3, xhat4.reshape(x3.shape), rstd),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dweight, (grad4 * xhat4).sum(axis=(0, 3)).reshape(-1), rtol=1e-10)
    np.testing.assert_allclose(dbias, grad4.sum(axis=(0, 3)).reshape(-1), rtol=1e-10)


# ------------------------------------------------------------------ activations


@given(st.data(), DTYPES, LAYOUTS)
def test_silu_matches_twin(data, dtype, layout):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=6))
    x = relayout(data.draw(values(dtype, shape)) * 30, layout)  # into the saturated tails
    grad = relayout(data.draw(values(dtype, shape)), layout)
    assert_twin_close(K.silu_forward(x), K.silu_forward_numpy(x))
    assert_twin_close(K.silu_backward(grad, x), K.silu_backward_numpy(grad, x))


@pytest.mark.parametrize("size", [10, 3 * K._numba.PARALLEL_MIN_SIZE + 1], ids=["serial", "parallel"])
def test_silu_serial_and_parallel_kernels_match_twin(size):
    rng = np.random.default_rng(0)
    x = (20 * rng.standard_normal(size)).astype(np.float32)
    grad = rng.standard_normal(size).astype(np.float32)
    assert_twin_close(K.silu_forward(x), K.silu_forward_numpy(x))
    assert_twin_close(K.silu_backward(grad, x), K.silu_backward_numpy(grad, x))


# ------------------------------------------------------------------ upsample


@st.composite
def nearest_cases(draw):
    """(x in a random layout, (sh, sw)) for nearest upsampling by whole factors."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *draw(pairs(1, 5)))
    return relayout(draw(values(draw(DTYPES), shape)), draw(LAYOUTS)), draw(pairs(1, 3))


@given(nearest_cases())
def test_upsample_nearest2d_forward_matches_twin(case):
    assert_twin_close(K.upsample_nearest2d_forward(*case), K.upsample_nearest2d_forward_numpy(*case))


@given(nearest_cases(), LAYOUTS, st.data())
def test_upsample_nearest2d_backward_matches_twin(case, layout, data):
    x, scale = case
    grad_y = relayout(data.draw(values(x.dtype, (*x.shape[:2], x.shape[2] * scale[0], x.shape[3] * scale[1]))), layout)
    assert_twin_close(K.upsample_nearest2d_backward(grad_y, scale), K.upsample_nearest2d_backward_numpy(grad_y, scale))


@st.composite
def upsample_cases(draw):
    """(x in a random layout, out_size, align_corners), down- and upsampling."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *draw(pairs(1, 5)))
    x = draw(values(draw(DTYPES), shape))
    return relayout(x, draw(LAYOUTS)), draw(pairs(1, 9)), draw(st.booleans())


@fast_and_twin("forward", "upsample_bilinear2d_forward")
def test_upsample_bilinear2d_hand_computed(forward):
    x = np.array([[[[0.0, 3.0], [6.0, 9.0]]]])
    # align_corners=True: sources 0, 1/3, 2/3, 1 along each axis.
    corners = [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    np.testing.assert_allclose(forward(x, (4, 4), True)[0, 0], corners)
    # align_corners=False: sources -0.25 -> 0, 0.25, 0.75, 1.25 -> clamped to the last pixel.
    centers = [[0, 0.75, 2.25, 3], [1.5, 2.25, 3.75, 4.5], [4.5, 5.25, 6.75, 7.5], [6, 6.75, 8.25, 9]]
    np.testing.assert_allclose(forward(x, (4, 4), False)[0, 0], centers)


@given(upsample_cases())
def test_upsample_bilinear2d_forward_matches_twin(case):
    assert_twin_close(K.upsample_bilinear2d_forward(*case), K.upsample_bilinear2d_forward_numpy(*case))


@given(upsample_cases(), LAYOUTS, st.data())
def test_upsample_bilinear2d_backward_matches_twin(case, layout, data):
    x, out_size, align_corners = case
    grad_y = relayout(data.draw(values(x.dtype, (*x.shape[:2], *out_size))), layout)
    assert_twin_close(
        K.upsample_bilinear2d_backward(grad_y, x.shape, align_corners),
        K.upsample_bilinear2d_backward_numpy(grad_y, x.shape, align_corners),
    )


@fast_and_twin("forward, backward", "upsample_bilinear2d_forward", "upsample_bilinear2d_backward")
@given(case=upsample_cases(), seed=st.integers(0, 2**32 - 1))
def test_upsample_bilinear2d_backward_is_adjoint_of_forward(forward, backward, case, seed):
    x, out_size, align_corners = case
    x = x.astype(np.float64)
    y = forward(x, out_size, align_corners)
    grad_y = np.random.default_rng(seed).standard_normal(y.shape)
    dx = backward(grad_y, x.shape, align_corners)
    assert np.isclose(inner(y, grad_y), inner(x, dx), rtol=1e-10, atol=1e-12)


def read_only(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def test_fast_paths_accept_read_only_inputs():
    # E.g. gradients the autograd layer gets from np.broadcast_to are read-only.
    x_shape = (1, 2, 4, 4)
    window = ((2, 2), (2, 2), (0, 0))
    cols = read_only(np.ones((8, 9)))
    assert_twin_close(
        K.col2im(cols, x_shape, (2, 2), (1, 1), (0, 0), (1, 1)),
        K.col2im_numpy(cols, x_shape, (2, 2), (1, 1), (0, 0), (1, 1)),
    )
    grad_y = read_only(np.arange(8.0).reshape(1, 2, 2, 2))
    assert_twin_close(
        K.avg_pool2d_backward(grad_y, x_shape, *window), K.avg_pool2d_backward_numpy(grad_y, x_shape, *window)
    )
    argmax = read_only(np.zeros(grad_y.shape, dtype=np.int64))
    assert_twin_close(
        K.max_pool2d_backward(grad_y, argmax, x_shape), K.max_pool2d_backward_numpy(grad_y, argmax, x_shape)
    )
    assert_twin_close(
        K.upsample_bilinear2d_backward(grad_y, x_shape, False),
        K.upsample_bilinear2d_backward_numpy(grad_y, x_shape, False),
    )
    scan = (read_only(np.linspace(-2, 2, 24).reshape(2, 1, 3, 4)), read_only(np.ones((4, 2))), (-1, 0),
            read_only(np.full((1, 3, 1), 0.5)), read_only(np.full((1, 3, 1), -0.5)))
    hidden, cell, gates = K.lstm_scan_forward_numpy(*scan)
    for fast, twin in zip(K.lstm_scan_forward(*scan), (hidden, cell, gates)):
        assert_twin_close(fast, twin)
    saved = (read_only(gates), read_only(hidden), read_only(cell), *scan[1:])
    grads = (read_only(np.ones(hidden.shape)), read_only(np.ones(hidden.shape)))
    for fast, twin in zip(K.lstm_scan_backward(*grads, *saved), K.lstm_scan_backward_numpy(*grads, *saved)):
        assert_twin_close(fast, twin)


# ------------------------------------------------------------------ optimizers


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4), (2 * K._numba.PARALLEL_MIN_SIZE,)], ids=["serial", "parallel"])
def test_adam_update_matches_twin(shape, dtype):
    rng = np.random.default_rng(0)
    param = rng.standard_normal(shape).astype(dtype)
    fast = [param, np.zeros(shape, dtype), np.zeros(shape, dtype)]  # param, exp_avg, exp_avg_sq
    twin = [param.copy(), np.zeros(shape, dtype), np.zeros(shape, dtype)]
    for step in range(1, 4):
        grad = rng.standard_normal(shape).astype(dtype)
        K.adam_update(fast[0], grad, fast[1], fast[2], 1e-3, 0.9, 0.999, 1e-8, step)
        K.adam_update_numpy(twin[0], grad, twin[1], twin[2], 1e-3, 0.9, 0.999, 1e-8, step)
    for a, b in zip(fast, twin):
        assert_twin_close(a, b)


def test_adam_update_of_non_contiguous_parameter_matches_twin():
    rng = np.random.default_rng(1)
    param, grad = rng.standard_normal((4, 6)).T, rng.standard_normal((6, 4))
    expected = param.copy()
    exp_avg, exp_avg_sq = np.zeros((4, 6)).T, np.zeros((4, 6)).T
    K.adam_update(param, grad, exp_avg, exp_avg_sq, 1e-2, 0.9, 0.999, 1e-8, 1)
    K.adam_update_numpy(expected, grad, np.zeros((6, 4)), np.zeros((6, 4)), 1e-2, 0.9, 0.999, 1e-8, 1)
    assert_twin_close(param, expected)


# ------------------------------------------------------------------ LSTM scan


@st.composite
def lstm_scan_cases(draw):
    """The forward arguments (gates_from_input, state_weight, offsets, hidden0, cell0) in random layouts."""
    dtype = draw(DTYPES)
    steps, n, length, size = (draw(st.integers(1, 3)) for _ in range(4))
    offsets = tuple(draw(st.lists(st.integers(-2, 2), min_size=1, max_size=3, unique=True)))
    shapes = [(steps, n, length, 4 * size), (4 * size, len(offsets) * size), (n, length, size), (n, length, size)]
    # pre-activations up to +-4 reach into the sigmoids' and tanh's flat tails
    gates_from_input, state_weight, hidden0, cell0 = (
        relayout(draw(values(dtype, shape)) * scale, draw(LAYOUTS)) for shape, scale in zip(shapes, (4, 2, 1, 1)))
    return gates_from_input, state_weight, offsets, hidden0, cell0


@given(lstm_scan_cases(), LAYOUTS, st.data())
def test_lstm_scan_forward_and_backward_match_twin(case, layout, data):
    gates_from_input, state_weight, offsets, hidden0, cell0 = case
    fast, twin = K.lstm_scan_forward(*case), K.lstm_scan_forward_numpy(*case)
    for a, b in zip(fast, twin):
        assert_twin_close(a, b)
    hidden, cell, gates = twin
    grad_hidden, grad_cell = (relayout(data.draw(values(hidden.dtype, hidden.shape)), layout) for _ in range(2))
    saved = (gates, hidden, cell, state_weight, offsets, hidden0, cell0)
    for a, b in zip(K.lstm_scan_backward(grad_hidden, grad_cell, *saved),
                    K.lstm_scan_backward_numpy(grad_hidden, grad_cell, *saved)):
        assert_twin_close(a, b)
