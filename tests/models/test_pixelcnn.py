"""PixelCNN: the autoregressive property checked by autograd, and a likelihood that sums to one."""
import itertools

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen import kernels
from scratchgen.gradcheck import gradcheck_module
from scratchgen.models.pixelcnn import GatedPixelCNN, PixelCNN, receptive_field
from scratchgen.models.pixelrnn import PixelRNN


def small_pixelcnn(blocks=2):
    sg.manual_seed(0)
    return PixelCNN(channels=8, residual_blocks=blocks, hidden=8)


def small_gated_pixelcnn(blocks=2):
    sg.manual_seed(0)
    return GatedPixelCNN(channels=4, layers=blocks, hidden=8)


both_models = pytest.mark.parametrize("small_model", [small_pixelcnn, small_gated_pixelcnn], ids=["plain", "gated"])


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("kernel_size", [(5, 5), (3, 5), (1, 3)])
def test_masked_conv_is_conv2d_of_the_weight_with_later_taps_zeroed_and_passes_gradcheck(mask_type, kernel_size):
    sg.manual_seed(0)
    layer = nn.MaskedConv2d(2, 3, kernel_size, mask_type, padding=(kernel_size[0] // 2, kernel_size[1] // 2)).double()
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6))
    # A tap survives iff it comes before the centre in raster order, or is the centre for type B.
    raster = np.arange(kernel_size[0] * kernel_size[1]).reshape(kernel_size)
    centre = raster[kernel_size[0] // 2, kernel_size[1] // 2]
    keep = raster < centre if mask_type == "A" else raster <= centre
    expected = kernels.conv2d_forward_numpy(x, layer.weight.data * keep, layer.bias.data, (1, 1), layer.padding,
                                            (1, 1), 1)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12, atol=1e-12)
    assert gradcheck_module(layer, [x], directions=4)


@both_models
@pytest.mark.parametrize("pixel", [(0, 0), (0, 4), (3, 3), (5, 0), (6, 6)])
def test_output_at_a_pixel_has_zero_gradient_wrt_that_pixel_and_every_later_one(small_model, pixel):
    influence = receptive_field(small_model(), (7, 7), pixel)
    raster = np.arange(49).reshape(7, 7)
    index = pixel[0] * 7 + pixel[1]
    assert np.all(influence[raster >= index] == 0.0)
    if index > 0:  # not vacuous: some earlier pixel does influence it
        assert influence[raster < index].max() > 0


def test_wide_models_whose_masked_convolutions_run_through_winograd_show_exact_zeros_too():
    # With 32 channels the masked 3x3 convolutions take the Winograd path, whose transforms leave
    # a masked tap zero only up to rounding; receptive_field must not report that as influence.
    sg.manual_seed(0)
    influence = receptive_field(PixelCNN(channels=32, residual_blocks=2, hidden=32), (9, 9), (4, 4))
    raster = np.arange(81).reshape(9, 9)
    assert np.all(influence[raster >= 40] == 0.0) and influence[raster < 40].max() > 0


def test_the_blind_spot_is_above_right_and_never_seen():
    # 4 blocks: the field reaches 3 + 4 rows up and 3 + 4 columns left; in the row just above the
    # output the pixels more than 3 columns to its right come first in raster order but are unseen
    influence = receptive_field(small_pixelcnn(blocks=4), (17, 17), (12, 8))
    seen = influence > 0
    assert seen[11, 8:12].all() and not seen[11, 12:].any()
    assert seen[12, :8].any() and not seen[12, 8:].any()


def test_the_gated_stacks_have_no_blind_spot():
    # every pixel before the output in its row and in the rows above, within reach, is seen
    seen = receptive_field(small_gated_pixelcnn(blocks=4), (17, 17), (12, 8)) > 0
    assert seen[5:12, 2:15].all() and seen[12, 2:8].all() and not seen[12, 8:].any() and not seen[13:].any()


def small_pixelrnn(layer):
    sg.manual_seed(0)
    return PixelRNN(layer, hidden=3, layers=2, output_hidden=4)


@pytest.mark.parametrize("small_model", [small_pixelcnn, small_gated_pixelcnn, lambda: small_pixelrnn("row"),
                                         lambda: small_pixelrnn("diagonal")],
                         ids=["plain", "gated", "pixelrnn-row", "pixelrnn-diagonal"])
def test_probabilities_of_all_binary_images_sum_to_one(small_model):
    # the exact likelihood defines a normalized distribution: sum over all 2^9 images of a 3x3 grid
    model = small_model().double()
    images = np.array(list(itertools.product([0.0, 1.0], repeat=9))).reshape(-1, 1, 3, 3)
    with sg.no_grad():
        log_p = -model.nll(sg.tensor(images, dtype=np.float64)).data
    assert np.exp(log_p).sum() == pytest.approx(1.0, rel=1e-10)


@both_models
def test_nll_gradient_check(small_model):
    model = small_model().double()
    images = (np.random.default_rng(1).uniform(size=(2, 1, 6, 6)) > 0.5).astype(np.float64)

    class NLL(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self):
            return model.nll(sg.tensor(images, dtype=np.float64)).mean()

    assert gradcheck_module(NLL(), [], directions=4)


def test_sampling_is_binary_seeded_and_completion_keeps_the_given_pixels():
    model = small_pixelcnn()
    a = model.sample(3, np.random.default_rng(2), shape=(5, 5))
    b = model.sample(3, np.random.default_rng(2), shape=(5, 5))
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    given = (np.random.default_rng(3).uniform(size=(3, 5, 5)) > 0.5).astype(np.float32)
    top = np.zeros((5, 5), bool)
    top[:2] = True
    completed = model.sample(3, np.random.default_rng(4), shape=(5, 5), known=given, known_mask=top)
    np.testing.assert_array_equal(completed[:, 0, :2], given[:, :2])


@both_models
def test_logits_of_the_rows_above_do_not_depend_on_the_rows_below(small_model):
    # sampling feeds only rows 0..r to draw a pixel of row r; this must change none of their logits
    model = small_model()
    images = (np.random.default_rng(5).uniform(size=(2, 1, 9, 9)) > 0.5).astype(np.float32)
    with sg.no_grad():
        full = model(images).data
        for row in (0, 4, 8):
            np.testing.assert_allclose(model(images[:, :, :row + 1]).data, full[:, :, :row + 1], rtol=1e-5, atol=1e-6)


def test_completion_with_one_mask_per_image_keeps_each_images_given_pixels():
    model = small_pixelcnn()
    rng = np.random.default_rng(6)
    given = (rng.uniform(size=(4, 6, 6)) > 0.5).astype(np.float32)
    # each image gives a different number of its first pixels in raster order, some ending mid-row
    known = np.arange(36).reshape(6, 6) < np.array([0, 7, 20, 33])[:, None, None]
    completed = model.sample(4, np.random.default_rng(7), shape=(6, 6), known=given, known_mask=known)[:, 0]
    np.testing.assert_array_equal(completed[known], given[known])
    assert set(np.unique(completed[~known])) <= {0.0, 1.0}


@both_models
def test_completion_refuses_a_known_pixel_after_an_unknown_one(small_model):
    # the conditional of a drawn pixel sees only earlier pixels, so it could not respect a later known one
    model = small_model()
    given = np.zeros((2, 6, 6), np.float32)
    hole = np.ones((6, 6), bool)
    hole[2:4, 2:4] = False
    with pytest.raises(ValueError, match=r"raster order.*in image 0 the known pixel \(row 2, column 4\) comes after "
                                         r"the unknown pixel \(row 2, column 2\)"):
        model.sample(2, np.random.default_rng(0), shape=(6, 6), known=given, known_mask=hole)
    one_bad_image = np.arange(36).reshape(6, 6) < np.array([[[10]], [[20]]])
    one_bad_image[1, 5, 5] = True  # the last pixel given, after unknown ones
    with pytest.raises(ValueError, match=r"in image 1 the known pixel \(row 5, column 5\)"):
        model.sample(2, np.random.default_rng(0), shape=(6, 6), known=given, known_mask=one_bad_image)
