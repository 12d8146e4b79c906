"""Property-test specifications for the layer ops of ``scratchgen.autograd.nn_ops``.

References are independent NumPy computations: the kernels' plain-NumPy twins (naive loops over
kernel taps) for convolution, pooling and bilinear resampling, the textbook formulas for the
normalizations, and eq. (3) of PixelRNN one step and one position at a time for ``lstm_scan``.
Shapes stay small because every gradient is checked element by element.
"""
from __future__ import annotations

import numpy as np
from hypothesis import assume, strategies as st

from op_specs import Spec
from scratchgen import kernels
from scratchgen.testing import rng_from, uniform

small = st.integers(1, 2)


def draw_conv(data, transposed=False):
    groups = data.draw(small, label="groups")
    cin, cout = groups * data.draw(small, label="cin/g"), groups * data.draw(small, label="cout/g")
    n = data.draw(small, label="n")
    h, w = data.draw(st.integers(2, 5), label="h"), data.draw(st.integers(2, 5), label="w")
    k = (data.draw(st.integers(1, 3), label="kh"), data.draw(st.integers(1, 3), label="kw"))
    kwargs = {"stride": data.draw(st.integers(1, 2), label="stride"),
              "padding": data.draw(st.integers(0, 1), label="padding"),
              "dilation": data.draw(st.integers(1, 2), label="dilation"), "groups": groups}
    if transposed:
        weight_shape = (cin, cout // groups, *k)
        kwargs["output_padding"] = data.draw(st.integers(0, max(kwargs["stride"], kwargs["dilation"]) - 1), label="op")
        size = [(s - 1) * kwargs["stride"] - 2 * kwargs["padding"] + kwargs["dilation"] * (kk - 1)
                + kwargs["output_padding"] + 1 for s, kk in zip((h, w), k)]
    else:
        weight_shape = (cout, cin // groups, *k)
        size = [(s + 2 * kwargs["padding"] - kwargs["dilation"] * (kk - 1) - 1) // kwargs["stride"] + 1
                for s, kk in zip((h, w), k)]
    assume(min(size) >= 1)
    arrays = [uniform(data, (n, cin, h, w)), uniform(data, weight_shape)]
    if data.draw(st.booleans(), label="bias"):
        arrays.append(uniform(data, (cout,)))
    return arrays, kwargs


def conv_reference(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    return kernels.conv2d_forward_numpy(x, w, b, (stride,) * 2, (padding,) * 2, (dilation,) * 2, groups)


def conv_transpose_reference(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    return kernels.conv_transpose2d_forward_numpy(x, w, b, (stride,) * 2, (padding,) * 2, (output_padding,) * 2,
                                                  (dilation,) * 2, groups)


def draw_pool(data):
    n, c = data.draw(small, label="n"), data.draw(small, label="c")
    h, w = data.draw(st.integers(2, 6), label="h"), data.draw(st.integers(2, 6), label="w")
    k = data.draw(st.integers(1, 3), label="k")
    stride = data.draw(st.sampled_from([None, 1, 2]), label="stride")
    padding = data.draw(st.integers(0, k // 2), label="padding")
    assume(min(h, w) + 2 * padding >= k)
    # distinct values so every window has a unique maximum
    x = (rng_from(data).permutation(n * c * h * w) * 0.05 - 1.0).reshape(n, c, h, w)
    return [x], {"kernel_size": k, "stride": stride, "padding": padding}


def pool_reference(twin):
    def reference(x, kernel_size, stride, padding):
        out = twin(x, (kernel_size,) * 2, (stride or kernel_size,) * 2, (padding,) * 2)
        return out[0] if isinstance(out, tuple) else out
    return reference


def draw_images(data, max_side=4):
    shape = (data.draw(small, label="n"), data.draw(st.integers(1, 3), label="c"),
             data.draw(st.integers(1, max_side), label="h"), data.draw(st.integers(1, max_side), label="w"))
    return uniform(data, shape)


def draw_nearest(data):
    return [draw_images(data)], {"scale_factor": data.draw(st.integers(1, 3), label="scale")}


def draw_bilinear(data):
    x = draw_images(data)
    size = (data.draw(st.integers(1, 7), label="out_h"), data.draw(st.integers(1, 7), label="out_w"))
    return [x], {"size": size, "align_corners": data.draw(st.booleans(), label="align_corners")}


def draw_batch_norm(data):
    x = draw_images(data)
    assume(x.shape[0] * x.shape[2] * x.shape[3] > 1)
    c = x.shape[1]
    training = data.draw(st.booleans(), label="training")
    rng = rng_from(data)
    return [x, uniform(data, (c,)), uniform(data, (c,))], {
        "training": training, "running_mean": rng.normal(size=c), "running_var": rng.uniform(0.5, 2, size=c)}


def batch_norm_call(fn, tensors, kwargs):
    # copies: training updates the running statistics in place, and gradcheck calls fn many times
    x, weight, bias = tensors
    return fn(x, kwargs["running_mean"].copy(), kwargs["running_var"].copy(), weight, bias,
              training=kwargs["training"])


def batch_norm_reference(x, weight, bias, training, running_mean, running_var):
    axes = (0, 2, 3)
    mean, var = (x.mean(axis=axes), x.var(axis=axes)) if training else (running_mean, running_var)
    per_channel = (1, -1, 1, 1)
    xhat = (x - mean.reshape(per_channel)) / np.sqrt(var.reshape(per_channel) + 1e-5)
    return xhat * weight.reshape(per_channel) + bias.reshape(per_channel)


def draw_group_norm(data):
    groups = data.draw(st.integers(1, 3), label="groups")
    shape = (data.draw(small, label="n"), groups * data.draw(small, label="c/g"),
             data.draw(st.integers(1, 3), label="h"), data.draw(st.integers(1, 3), label="w"))
    assume(shape[1] // groups * shape[2] * shape[3] > 1)
    return [uniform(data, shape), uniform(data, (shape[1],)), uniform(data, (shape[1],))], {"num_groups": groups}


def group_norm_reference(x, weight, bias, num_groups):
    n, c = x.shape[:2]
    grouped = x.reshape(n, num_groups, -1)
    xhat = ((grouped - grouped.mean(axis=2, keepdims=True)) / np.sqrt(grouped.var(axis=2, keepdims=True) + 1e-5))
    return xhat.reshape(x.shape) * weight.reshape(1, c, 1, 1) + bias.reshape(1, c, 1, 1)


def draw_layer_norm(data):
    lead = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2), label="lead"))
    normalized = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=2), label="normalized"))
    assume(int(np.prod(normalized)) > 1)
    return ([uniform(data, lead + normalized), uniform(data, normalized), uniform(data, normalized)],
            {"normalized_shape": normalized})


def layer_norm_reference(x, weight, bias, normalized_shape):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    xhat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    return xhat * weight + bias


def draw_linear(data):
    lead = tuple(data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=2), label="lead"))
    fan_in, fan_out = data.draw(st.integers(1, 4), label="in"), data.draw(st.integers(1, 4), label="out")
    arrays = [uniform(data, lead + (fan_in,)), uniform(data, (fan_out, fan_in))]
    if data.draw(st.booleans(), label="bias"):
        arrays.append(uniform(data, (fan_out,)))
    return arrays, {}


def draw_dropout(data):
    x = uniform(data, data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), label="shape"))
    return [x], {"p": data.draw(st.sampled_from([0.0, 0.2, 0.5]), label="p"),
                 "seed": data.draw(st.integers(0, 1000), label="seed")}


def dropout_call(fn, tensors, kwargs):
    # a fresh generator with the same seed per call, so every finite-difference evaluation drops
    # the same values
    return fn(tensors[0], p=kwargs["p"], training=True, generator=np.random.default_rng(kwargs["seed"]))


def dropout_reference(x, p, seed):
    keep = np.random.default_rng(seed).random(x.shape) >= p
    return x * keep / (1 - p)


def draw_embedding(data):
    num, dim = data.draw(st.integers(1, 5), label="num"), data.draw(st.integers(1, 3), label="dim")
    index_shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2), label="index_shape"))
    return [uniform(data, (num, dim))], {"indices": rng_from(data).integers(0, num, size=index_shape)}


def draw_lstm_scan(data):
    steps, n, length, size = (data.draw(st.integers(1, 3), label=name) for name in ("steps", "n", "length", "size"))
    offsets = tuple(data.draw(st.lists(st.integers(-2, 2), min_size=1, max_size=3, unique=True), label="offsets"))
    arrays = [uniform(data, (steps, n, length, 4 * size)), uniform(data, (4 * size, len(offsets) * size), -1, 1)]
    if data.draw(st.booleans(), label="state"):
        arrays += [uniform(data, (n, length, size), -1, 1), uniform(data, (n, length, size), -1, 1)]
    return arrays, {"offsets": offsets}


def lstm_scan_call(fn, tensors, kwargs):
    return list(fn(tensors[0], tensors[1], kwargs["offsets"], state=tuple(tensors[2:]) or None))


def lstm_scan_reference(gates_from_input, state_weight, hidden0=None, cell0=None, *, offsets):
    """Eq. (3) of PixelRNN one step and one position at a time: sigmoid gates o, f, i, tanh content g."""
    steps, n, length, four_size = gates_from_input.shape
    size = four_size // 4
    h = np.zeros((n, length, size)) if hidden0 is None else hidden0
    c = np.zeros((n, length, size)) if cell0 is None else cell0
    hidden, cell = [], []
    for t in range(steps):
        pre = gates_from_input[t].copy()
        for position in range(length):
            for j, offset in enumerate(offsets):
                if 0 <= position + offset < length:
                    pre[:, position] += h[:, position + offset] @ state_weight[:, j * size:(j + 1) * size].T
        o, f, i = (1 / (1 + np.exp(-pre[..., k * size:(k + 1) * size])) for k in range(3))
        g = np.tanh(pre[..., 3 * size:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hidden.append(h)
        cell.append(c)
    return np.stack(hidden), np.stack(cell)


def lstm_scan_cut_off(arrays, kwargs) -> set[int]:
    """No hidden state to read (one step from zeros, or every offset off the line): K_ss and h0 get no gradient."""
    steps, _, length, _ = arrays[0].shape
    reads_nothing = all(abs(offset) >= length for offset in kwargs["offsets"])
    if reads_nothing:
        return {1, 2}
    return {1} if steps == 1 and len(arrays) == 2 else set()


def affine_norm_call(fn, tensors, kwargs):
    x, weight, bias = tensors
    return fn(x, weight=weight, bias=bias, **kwargs)


LAYER_SPECS = {
    "linear": Spec(lambda x, w, b=None: x @ w.T + (0 if b is None else b), draw_linear),
    "conv2d": Spec(conv_reference, draw_conv),
    "conv_transpose2d": Spec(conv_transpose_reference, lambda data: draw_conv(data, transposed=True)),
    "max_pool2d": Spec(pool_reference(kernels.max_pool2d_forward_numpy), draw_pool),
    "avg_pool2d": Spec(pool_reference(kernels.avg_pool2d_forward_numpy), draw_pool),
    "upsample_nearest2d": Spec(lambda x, scale_factor: np.kron(x, np.ones((scale_factor, scale_factor))),
                               draw_nearest),
    "upsample_bilinear2d": Spec(lambda x, size, align_corners: kernels.upsample_bilinear2d_forward_numpy(
        x, size, align_corners), draw_bilinear),
    "batch_norm": Spec(batch_norm_reference, draw_batch_norm, call=batch_norm_call, float32_rtol=2e-3),
    "group_norm": Spec(group_norm_reference, draw_group_norm, call=affine_norm_call, float32_rtol=2e-3),
    "layer_norm": Spec(layer_norm_reference, draw_layer_norm, call=affine_norm_call, float32_rtol=2e-3),
    "dropout": Spec(dropout_reference, draw_dropout, call=dropout_call),
    "lstm_scan": Spec(lstm_scan_reference, draw_lstm_scan, call=lstm_scan_call, zero_gradients=lstm_scan_cut_off),
    "embedding": Spec(lambda w, indices: w[indices], draw_embedding,
                      call=lambda fn, t, kw: fn(kw["indices"], t[0])),
}
