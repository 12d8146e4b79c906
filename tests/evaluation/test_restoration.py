"""evaluation/restoration.py: the damage patterns, PNG masks, down/upsampling, the classical baselines,
restoration through a latent, and the scores; and every family's restoration of every task it can do."""
import matplotlib.image as mpimg
import numpy as np
import pytest

from scratchgen.autograd import ops
from scratchgen.evaluation import restoration
from scratchgen.evaluation.restoration import damage, downsample, known_pixels, scores, upsample
from scratchgen.training import make_config
from scratchgen.training.recipes import RECIPES


def test_mask_patterns_have_the_right_holes():
    rng = np.random.default_rng(0)
    center = known_pixels("center", 2, rng)
    assert center.shape == (2, 28, 28) and (~center).sum() == 2 * 14 * 14
    assert not center[:, 7:21, 7:21].any() and center[:, :7].all() and center[:, 21:].all()
    assert not known_pixels("left", 1, rng)[:, :, :14].any() and known_pixels("left", 1, rng)[:, :, 14:].all()
    bottom = known_pixels("bottom", 1, rng)
    assert not bottom[:, 14:].any() and bottom[:, :14].all()
    random = known_pixels("random", 50, rng, fraction=0.3)
    assert (~random).mean() == pytest.approx(0.3, abs=0.01)
    assert not np.array_equal(random[0], random[1])        # a fresh pattern for every image
    with pytest.raises(ValueError, match="--fraction must be between 0 and 1"):
        known_pixels("random", 1, rng, fraction=1.0)
    with pytest.raises(ValueError, match="unknown mask 'diagonal'"):
        known_pixels("diagonal", 1, rng)


def test_png_masks_black_is_missing_and_the_size_is_checked(tmp_path):
    picture = np.ones((28, 28, 3), np.float32)
    picture[3:9, 10:20] = 0
    path = str(tmp_path / "mask.png")
    mpimg.imsave(path, picture)
    known = known_pixels(path, 3, np.random.default_rng(0))
    assert known.shape == (3, 28, 28) and not known[:, 3:9, 10:20].any() and known.sum() == 3 * (784 - 60)
    small = str(tmp_path / "small.png")
    mpimg.imsave(small, np.ones((14, 20, 3), np.float32))
    with pytest.raises(ValueError, match="is 20x14 pixels: expected 28x28"):
        known_pixels(small, 1, np.random.default_rng(0))


def test_downsample_averages_blocks_and_upsample_repeats_them():
    images = np.random.default_rng(1).uniform(size=(3, 28, 28))
    low = downsample(images)
    assert low.shape == (3, 14, 14)
    assert low[1, 2, 5] == pytest.approx(images[1, 4:6, 10:12].mean())
    assert low.mean() == pytest.approx(images.mean())
    high = upsample(low)
    assert high.shape == (3, 28, 28) and np.all(high[:, 4:6, 10:12] == low[:, 2:3, 5:6])
    np.testing.assert_allclose(downsample(high), low)


def test_damage_gives_the_model_inputs_of_each_task():
    rng = np.random.default_rng(2)
    clean = rng.uniform(size=(4, 28, 28)).astype(np.float32)
    holed, known, shown = damage("inpaint", clean, rng)
    assert np.all(holed[~known] == 0) and np.array_equal(holed[known], clean[known]) and np.all(shown[~known] == 0.5)
    noisy, known, shown = damage("denoise", clean, rng, noise_std=0.3)
    assert known is None and (noisy.min() < 0 or noisy.max() > 1)          # not clipped: the noise is exact
    assert (noisy - clean).std() == pytest.approx(0.3, rel=0.05) and shown.min() >= 0 and shown.max() <= 1
    low, known, shown = damage("superres", clean, rng)
    assert low.shape == (4, 14, 14) and shown.shape == (4, 28, 28)
    with pytest.raises(ValueError, match="unknown task"):
        damage("colorize", clean, rng)


def test_scores_identical_images_score_high_and_psnr_hole_counts_only_the_hole():
    rng = np.random.default_rng(3)
    clean = rng.uniform(size=(2, 28, 28)).astype(np.float32)
    perfect = scores(clean, clean, clean, None)
    assert perfect["psnr"] >= 99 and perfect["ssim"] == pytest.approx(1.0) and "psnr_hole" not in perfect
    known = known_pixels("center", 2, rng)
    restored = clean.copy()
    restored[~known] += 0.1            # error 0.1 inside the hole only: PSNR 20 dB there
    restored[known] = 1 - clean[known]  # large errors outside the hole must not count
    s = scores(restored, clean, np.where(known, clean, 0.5), known)
    assert s["psnr_hole"] == pytest.approx(20.0, abs=1e-3) and s["psnr"] < 10


def test_psnr_hole_mean_image_is_the_mean_image_baselines_psnr_on_the_hole():
    # one number under two keys: the scores' psnr_hole_mean_image (which the demo page and the reference bands
    # read) and the "mean image" baseline's psnr_hole; the PSNR of the mean image on the missing pixels
    rng = np.random.default_rng(8)
    clean = rng.uniform(size=(3, 28, 28)).astype(np.float32)
    mean_image = rng.uniform(size=(28, 28)).astype(np.float32)
    damaged, known, shown = damage("inpaint", clean, rng, mask="random")
    reported = scores(clean, clean, shown, known, mean_image)["psnr_hole_mean_image"]
    baseline = restoration.baseline_scores("inpaint", damaged, known, clean, mean_image=mean_image)["mean image"]
    assert reported == baseline["psnr_hole"]
    mse = [np.mean((mean_image[hole].astype(np.float64) - image[hole]) ** 2) for image, hole in zip(clean, ~known)]
    assert reported == pytest.approx(np.mean(10 * np.log10(1 / np.array(mse))), rel=1e-12)


def test_superres_damage_takes_a_factor_of_2_or_4():
    clean = np.random.default_rng(4).uniform(size=(2, 28, 28)).astype(np.float32)
    low, known, shown = damage("superres", clean, np.random.default_rng(0), factor=4)
    assert low.shape == (2, 7, 7) and known is None and shown.shape == (2, 28, 28)
    assert low[1, 3, 2] == pytest.approx(clean[1, 12:16, 8:12].mean())
    with pytest.raises(ValueError, match="--factor 3: super-resolution is by a factor of 2 or 4"):
        damage("superres", clean, np.random.default_rng(0), factor=3)


# ---- the classical baselines ---------------------------------------------------------------------------
def _ramp(n=2, size=28):
    """Linear ramps a + b i + c j at the pixel centres, inside (0, 1)."""
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([0.1 + 0.02 * i + 0.01 * j, 0.8 - 0.015 * i + 0.005 * j][:n])


@pytest.mark.parametrize("factor", restoration.FACTORS)
@pytest.mark.parametrize("cubic", [False, True], ids=["bilinear", "bicubic"])
def test_interpolation_reproduces_a_linear_ramp_exactly_up_to_the_edges(cubic, factor):
    # a ramp's block means are its values at the block centres, which the interpolation passes through
    ramp = _ramp()
    up = restoration.interpolate_up(downsample(ramp, factor), factor, cubic)
    np.testing.assert_allclose(up, ramp, atol=1e-12)
    assert np.abs(upsample(downsample(ramp, factor), factor) - ramp).max() > 0.01   # nearest-neighbour does not


def test_bicubic_reproduces_a_quadratic_and_bilinear_does_not():
    # Keys' kernel with a = -1/2 and his boundary extrapolation reproduce quadratics sampled at the centres
    low_centres = (np.arange(14) + 0.5) * 2 - 0.5          # the 14 low-resolution centres in 28-pixel units
    fine = np.arange(28.0)
    quadratic = lambda x, y: 0.2 + 0.001 * (x - 9) ** 2 + 0.0005 * x * y   # noqa: E731
    low = quadratic(low_centres[:, None], low_centres[None, :])[None]
    target = quadratic(fine[:, None], fine[None, :])[None]
    np.testing.assert_allclose(restoration.interpolate_up(low, 2, cubic=True), target, atol=1e-12)
    assert np.abs(restoration.interpolate_up(low, 2, cubic=False) - target).max() > 1e-4


def test_the_gaussian_filter_keeps_a_constant_image_and_averages_noise_away():
    constant = np.full((2, 28, 28), 0.37)
    np.testing.assert_allclose(restoration.gaussian_filter(constant), constant, atol=1e-12)
    noise = np.random.default_rng(5).standard_normal((4, 28, 28))
    smoothed = restoration.gaussian_filter(noise)
    # white noise through weights w keeps sum w^2 of its variance: 1 / (4 pi sigma^2) for a 2-d Gaussian
    assert smoothed[:, 8:20, 8:20].var() == pytest.approx(1 / (4 * np.pi), rel=0.3)


def test_the_median_filter_removes_an_isolated_spike_and_keeps_an_edge():
    spike = np.zeros((1, 28, 28))
    spike[0, 10, 12] = 1.0
    assert not restoration.median_filter(spike).any()
    edge = np.zeros((1, 28, 28))
    edge[:, :, 14:] = 1.0
    np.testing.assert_array_equal(restoration.median_filter(edge), edge)   # a straight edge is its own median


def test_baselines_of_each_task_are_images_in_the_unit_range_that_keep_known_pixels():
    rng = np.random.default_rng(6)
    clean = rng.uniform(size=(3, 28, 28)).astype(np.float32)
    mean_image = np.full((28, 28), 0.25, np.float32)
    expected = {"inpaint": {"mean image"}, "complete": {"mean image"},
                "denoise": {"gaussian filter (sigma 1)", "median filter (3x3)"}, "superres": {"bilinear", "bicubic"}}
    for task, names in expected.items():
        for factor in restoration.FACTORS if task == "superres" else [2]:
            damaged, known, _ = damage(task, clean, rng, factor=factor)
            out = restoration.baselines(task, damaged, known, factor=factor, mean_image=mean_image)
            assert set(out) == names
            for images in out.values():
                assert images.shape == clean.shape and images.min() >= 0 and images.max() <= 1
                if known is not None:
                    assert np.array_equal(images[known], clean[known]) and np.all(images[~known] == 0.25)
            graded = restoration.baseline_scores(task, damaged, known, clean, factor=factor, mean_image=mean_image)
            assert set(graded) == names and all({"psnr", "ssim"} <= set(s) for s in graded.values())


def test_back_projection_matches_the_low_resolution_image_and_never_moves_away_from_the_clean_one():
    rng = np.random.default_rng(7)
    clean = rng.uniform(size=(5, 28, 28))
    for factor in restoration.FACTORS:
        low = downsample(clean, factor)
        guess = rng.uniform(size=clean.shape)
        matched = restoration.match_low_resolution(guess, low, factor)
        assert np.linalg.norm(matched - clean) <= np.linalg.norm(guess - clean)
        inside = (matched > 0) & (matched < 1)       # blocks where the clipping did not act
        whole_blocks = downsample(inside.astype(float), factor) == 1
        np.testing.assert_allclose(downsample(matched, factor)[whole_blocks], low[whole_blocks], atol=1e-6)


# ---- restoration through a latent ------------------------------------------------------------------------
def test_latent_map_finds_the_maximum_a_posteriori_latent():
    # loss(z) = 50 ||z - c||^2 + ||z||^2 / 2 is least at z = 100 c / 101: the prior pulls towards 0
    c = np.array([[1.0, -2.0], [0.5, 0.0]], np.float32)
    z, loss = restoration.latent_map(lambda z: 50 * ops.sum((z - c) * (z - c), axis=1), np.zeros_like(c), steps=600)
    np.testing.assert_allclose(z, 100 * c / 101, atol=2e-3)
    np.testing.assert_allclose(loss, 50 * np.sum((z - c) ** 2, 1) + 0.5 * np.sum(z ** 2, 1), rtol=1e-4)


def test_map_latents_keeps_the_best_start_of_each_image():
    # one step of size 0 from every start: the winner is the start with the lowest loss
    damaged = np.zeros((2, 28, 28), np.float32)
    starts = np.array([[3.0], [0.5], [-0.1], [2.0]], np.float32)     # image 0: 3.0 then -0.1; image 1: 0.5, 2.0
    z = restoration.map_latents(lambda z, d, k: ops.sum(z * 0, axis=1), starts, damaged, None, steps=0)
    np.testing.assert_array_equal(z, starts[[2, 1]])


TINY_MODELS = {"vae": dict(latent=4, hidden=16), "gan": dict(latent=4, g_widths=[8], d_widths=[8]),
               "dcgan": dict(latent=4, width=4)}


def _tiny(name, **options):
    config = make_config({"model": name, **TINY_MODELS[name], **options})
    model = RECIPES[name].build(config)
    model.eval()
    return config, model


def test_latent_optimization_lowers_the_loss_on_the_known_pixels():
    config, model = _tiny("gan")
    rng = np.random.default_rng(8)
    clean = model.generate(model.noise(3, rng))       # images the generator can make, from other latents
    damaged, known, _ = damage("inpaint", clean, rng)

    def known_pixel_loss(z, damaged=damaged, known=known):
        return restoration.gaussian_observation_nll("inpaint", model(z), damaged, known)
    starts = model.noise(3, rng)
    with restoration.frozen(model):
        z, loss = restoration.latent_map(known_pixel_loss, starts)
        before = known_pixel_loss(starts).data
    after = known_pixel_loss(z).data
    assert np.all(after < 0.5 * before), (before, after)
    assert all(p.requires_grad and p.grad is None for p in model.parameters())   # the model is left as it was


TASK_RUNS = [(name, task, factor, method) for name in TINY_MODELS for task in ("inpaint", "denoise", "superres")
             for factor in (restoration.FACTORS if task == "superres" else [2])
             for method in (("latent", "encoder") if name == "vae" else [None])]


@pytest.mark.parametrize("name, task, factor, method", TASK_RUNS)
def test_every_family_restores_each_task_it_can_into_images_that_keep_what_is_known(name, task, factor, method):
    config, model = _tiny(name)
    rng = np.random.default_rng(9)
    clean = rng.uniform(size=(3, 28, 28)).astype(np.float32)
    damaged, known, _ = damage(task, clean, rng, factor=factor)
    options = dict(noise_std=restoration.NOISE_STD, factor=factor, method=method)
    restored = RECIPES[name].restore[task](model, config, damaged, known, rng, options)
    assert restored.shape == clean.shape and restored.dtype == np.float32
    assert restored.min() >= 0 and restored.max() <= 1
    if task == "inpaint":
        assert np.array_equal(restored[known], clean[known])
    if task == "superres":   # the blocks untouched by the clipping average to the low-resolution pixels
        whole = downsample(((restored > 0) & (restored < 1)).astype(float), factor) == 1
        np.testing.assert_allclose(downsample(restored, factor)[whole], damaged[whole], atol=1e-5)


def test_a_vae_refuses_an_unknown_method():
    config, model = _tiny("vae")
    damaged = np.zeros((1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="--method 'map': a vae restores by one of latent, encoder"):
        RECIPES["vae"].restore["denoise"](model, config, damaged, None, np.random.default_rng(0), {"method": "map"})


@pytest.mark.parametrize("task", ["inpaint", "denoise"])
def test_a_gaussian_vae_restores_by_its_latent_too(task):
    config, model = _tiny("vae", likelihood="gaussian", binarize="none")
    rng = np.random.default_rng(10)
    clean = rng.uniform(size=(2, 28, 28)).astype(np.float32)
    damaged, known, _ = damage(task, clean, rng)
    restored = RECIPES["vae"].restore[task](model, config, damaged, known, rng, dict(noise_std=0.3, method="latent"))
    assert restored.shape == clean.shape and restored.min() >= 0 and restored.max() <= 1
    assert task != "inpaint" or np.array_equal(restored[known], clean[known])
