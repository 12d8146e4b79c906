"""PixelRNN: the LSTM step of eq. (3), the skew, every layer gradient-checked, and causality checked by autograd.

The receptive fields are measured with ``receptive_field`` (|d logit / d input| by autograd):
they guard against the bugs public implementations carry (a sigmoid content gate, the
right-to-left map zeroed in its last row instead of shifted down, a mask that lets a pixel see
itself).
"""

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import kernels, optim
from scratchgen.autograd import nn_ops
from scratchgen.data.glyphs import generate
from scratchgen.gradcheck import gradcheck_module
from scratchgen.models.pixelcnn import RasterBernoulli, receptive_field
from scratchgen.models.pixelrnn import DiagonalBiLSTM, PixelRNN, RowLSTM, skew, unskew

layer_types = pytest.mark.parametrize("layer", ["row", "diagonal"])


def small_pixelrnn(layer, layers=2):
    sg.manual_seed(0)
    return PixelRNN(layer, hidden=3, layers=layers, output_hidden=4)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("scan", ["numpy twin", "op"])
def test_one_step_of_the_lstm_scan_is_equation_3_with_a_tanh_content_gate(scan):
    # the Diagonal BiLSTM's step: K_ss reads the previous state at l - 1 and l (offsets -1, 0)
    rng = np.random.default_rng(0)
    o, f, i = rng.uniform(-2, 2, size=(3, 2, 4, 5))
    g = -rng.uniform(1.5, 2.5, size=(2, 4, 5))  # negative content: tanh(g) < 0 < sigmoid(g)
    previous_hidden = rng.uniform(-0.1, 0.1, size=(2, 4, 5))  # K_ss h_{i-1} within +-1: g stays negative
    previous_cell = rng.uniform(-1, 1, size=(2, 4, 5))
    state_weight = rng.uniform(-1, 1, size=(20, 10))
    gates_from_input = np.concatenate([o, f, i, g], axis=-1)[None]  # one step
    if scan == "op":
        hidden, cell = (s.data[0] for s in nn_ops.lstm_scan(sg.tensor(gates_from_input), state_weight, (-1, 0),
                                                            (previous_hidden, previous_cell)))
    else:
        hidden, cell = (s[0] for s in kernels.lstm_scan_forward_numpy(gates_from_input, state_weight, (-1, 0),
                                                                      previous_hidden, previous_cell)[:2])
    above = np.concatenate([np.zeros((2, 1, 5)), previous_hidden[:, :-1]], axis=1)  # zero above row 0
    o, f, i, g = np.split(gates_from_input[0] + np.concatenate([above, previous_hidden], -1) @ state_weight.T, 4, -1)
    expected_cell = sigmoid(f) * previous_cell + sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(cell, expected_cell, rtol=1e-12)
    np.testing.assert_allclose(hidden, sigmoid(o) * np.tanh(expected_cell), rtol=1e-12)


@pytest.mark.parametrize("gates_shape, weight_shape, offsets, state_shape, message", [
    ((2, 1, 3, 6), (8, 4), (0,), None, r"gates_from_input must be \(T, N, L, 4h\)"),
    ((0, 1, 3, 8), (8, 4), (-1, 0), None, r"gates_from_input must be \(T, N, L, 4h\)"),
    ((2, 1, 3, 8), (8, 6), (-1, 0), None, r"state_weight must have shape \(8, 4\)"),
    ((2, 1, 3, 8), (8, 2), (), None, "offsets must be a non-empty sequence of ints"),
    ((2, 1, 3, 8), (8, 2), (0.5,), None, "offsets must be a non-empty sequence of ints"),
    ((2, 1, 3, 8), (8, 2), 0, None, "offsets must be a non-empty sequence of ints"),
    ((2, 1, 3, 8), (8, 4), (-1, 0), (1, 2, 2), r"state must be a pair \(h, c\) of shape \(1, 3, 2\)"),
])
def test_lstm_scan_refuses_inconsistent_arguments(gates_shape, weight_shape, offsets, state_shape, message):
    state = None if state_shape is None else (np.zeros(state_shape), np.zeros(state_shape))
    with pytest.raises(ValueError, match="lstm_scan: " + message):
        nn_ops.lstm_scan(np.zeros(gates_shape), np.zeros(weight_shape), offsets, state)


def test_skew_places_pixel_r_c_at_r_r_plus_c_and_unskew_inverts_it():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 6))
    skewed = skew(sg.tensor(x, dtype=np.float64)).data
    assert skewed.shape == (2, 3, 4, 6 + 4 - 1)
    expected = np.zeros_like(skewed)
    for r, c in np.ndindex(4, 6):
        expected[:, :, r, r + c] = x[:, :, r, c]
    np.testing.assert_array_equal(skewed, expected)
    np.testing.assert_array_equal(unskew(sg.tensor(skewed, dtype=np.float64)).data, x)


@pytest.mark.parametrize("make_layer", [lambda: RowLSTM(3, 2), lambda: RowLSTM(3, 2, kernel=5),
                                        lambda: DiagonalBiLSTM(3, 2)], ids=["row", "row-kernel-5", "diagonal"])
def test_each_recurrent_layer_passes_a_whole_gradient_check(make_layer):
    sg.manual_seed(0)
    layer = make_layer().double()
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5))
    assert gradcheck_module(layer, [x], directions=4)


@layer_types
def test_the_whole_model_passes_a_gradient_check(layer):
    model = small_pixelrnn(layer).double()
    x = (np.random.default_rng(3).uniform(size=(2, 1, 5, 4)) > 0.5).astype(np.float64)
    # the input pixels are data, not parameters, but the check still covers d logits / d x
    assert gradcheck_module(model, [x], directions=4)


@layer_types
@pytest.mark.parametrize("pixel", [(0, 0), (0, 8), (1, 7), (4, 0), (4, 4), (8, 0), (8, 8)])
def test_the_logit_at_a_pixel_has_zero_gradient_wrt_that_pixel_and_every_later_one(layer, pixel):
    influence = receptive_field(small_pixelrnn(layer), (9, 9), pixel)
    raster = np.arange(81).reshape(9, 9)
    index = pixel[0] * 9 + pixel[1]
    assert np.all(influence[raster >= index] == 0.0)
    if index > 0:
        assert influence[raster < index].max() > 0


@pytest.mark.parametrize("pixel", [(0, 8), (1, 0), (4, 4), (7, 1), (7, 5), (8, 8)])
def test_the_diagonal_bilstm_sees_the_whole_past_with_no_blind_spot(pixel):
    seen = receptive_field(small_pixelrnn("diagonal"), (9, 9), pixel) > 0
    np.testing.assert_array_equal(seen, np.arange(81).reshape(9, 9) < pixel[0] * 9 + pixel[1])


def test_without_the_pixels_from_the_right_the_last_pixel_of_the_row_above_is_missed(monkeypatch):
    # The paper's layer, both directions reading the mask-A features: (r - 1, W - 1) is seen only
    # within the input layer's 3 columns of it. This is why PixelRNN gives the first layer's
    # direction from the right its own mask-B input.
    forward = DiagonalBiLSTM.forward
    monkeypatch.setattr(DiagonalBiLSTM, "forward", lambda self, x, right_input=None: forward(self, x))
    seen = receptive_field(small_pixelrnn("diagonal"), (9, 9), (4, 2)) > 0
    expected = np.arange(81).reshape(9, 9) < 4 * 9 + 2
    expected[3, 8] = False
    np.testing.assert_array_equal(seen, expected)


def test_the_row_lstm_sees_the_triangle_above_and_the_pixels_to_its_left_within_reach():
    # Row r - k is seen from column c - 3 - L - k to c + k + 2: the 7x7 mask-A input layer reaches
    # 3 columns either way in the rows above (only left in its own row), each of the L layers'
    # mask-B 1 x 3 input-to-state one more to the left, and each row up the 1 x 3
    # state-to-state one more either way. Row r itself: from c - 3 - L to c - 1.
    layers, (r, c) = 2, (9, 8)
    seen = receptive_field(small_pixelrnn("row", layers), (13, 17), (r, c)) > 0
    rows, columns = np.indices(seen.shape)
    up = r - rows
    expected = (up >= 1) & (columns >= c - 3 - layers - up) & (columns <= c + up + 2)
    expected |= (up == 0) & (columns >= c - 3 - layers) & (columns < c)
    np.testing.assert_array_equal(seen, expected)


@layer_types
def test_logits_of_the_rows_above_do_not_depend_on_the_rows_below(layer):
    # sampling feeds only rows 0..r to draw a pixel of row r; this must change none of their logits
    model = small_pixelrnn(layer)
    images = (np.random.default_rng(5).uniform(size=(2, 1, 7, 7)) > 0.5).astype(np.float32)
    with sg.no_grad():
        full = model(images).data
        for row in (0, 3, 6):
            np.testing.assert_allclose(model(images[:, :, :row + 1]).data, full[:, :, :row + 1], rtol=1e-5,
                                       atol=1e-6)


def test_row_by_row_sampling_gives_the_logits_of_the_whole_image():
    # the Row LSTM sampler feeds one row at a time from the states of the rows above
    model = small_pixelrnn("row").double()
    images = (np.random.default_rng(6).uniform(size=(2, 1, 6, 5)) > 0.5).astype(np.float64)
    memory = {}
    with sg.no_grad():
        full = model(images).data[:, 0]
        for row, col in np.ndindex(6, 5):
            np.testing.assert_allclose(model.conditional_logits(images, row, col, memory), full[:, row, col],
                                       rtol=1e-10, atol=1e-12)


@layer_types
def test_nll_is_finite_and_falls_with_adam_on_glyph_digits(layer):
    digits = (generate(16, seed=3)[0][:, None, ::2, ::2] > 127).astype(np.float32)  # 14 x 14 binary
    model = small_pixelrnn(layer, layers=1)
    optimizer = optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(12):
        loss = model.nll(digits).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.7 * losses[0]


@layer_types
def test_sampling_is_binary_seeded_and_completion_keeps_the_given_pixels(layer):
    model = small_pixelrnn(layer)
    a = model.sample(3, np.random.default_rng(2), shape=(5, 6))
    b = model.sample(3, np.random.default_rng(2), shape=(5, 6))
    assert a.shape == (3, 1, 5, 6) and set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    given = (np.random.default_rng(3).uniform(size=(3, 5, 6)) > 0.5).astype(np.float32)
    known = np.arange(30).reshape(5, 6) < np.array([0, 8, 20])[:, None, None]  # one ends mid-row
    completed = model.sample(3, np.random.default_rng(4), shape=(5, 6), known=given, known_mask=known)[:, 0]
    np.testing.assert_array_equal(completed[known], given[known])
    assert set(np.unique(completed[~known])) <= {0.0, 1.0}


def test_row_lstm_sampling_draws_what_recomputing_the_whole_image_draws():
    model = small_pixelrnn("row")
    fast = model.sample(2, np.random.default_rng(8), shape=(6, 6))
    plain = model.sample.__func__  # the same loop, with the pixel's logits from a whole forward pass
    model.conditional_logits = lambda images, row, col, memory: RasterBernoulli.conditional_logits(
        model, images, row, col, memory)
    np.testing.assert_array_equal(plain(model, 2, np.random.default_rng(8), shape=(6, 6)), fast)


@pytest.mark.parametrize("arguments", [dict(layer="column"), dict(hidden=0), dict(layers=0), dict(output_hidden=-1)])
def test_bad_arguments_raise_a_value_error(arguments):
    with pytest.raises(ValueError, match="PixelRNN: "):
        PixelRNN(**arguments)
    with pytest.raises(ValueError, match="RowLSTM: kernel"):
        RowLSTM(2, 2, kernel=2)


@layer_types
def test_config_rebuilds_the_model(layer):
    model = PixelRNN(layer, hidden=5, layers=3, output_hidden=7)
    rebuilt = PixelRNN(**model.config())
    assert [(name, p.shape) for name, p in rebuilt.named_parameters()] == \
           [(name, p.shape) for name, p in model.named_parameters()]
