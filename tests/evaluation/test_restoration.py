"""training/restoration.py: the damage patterns, PNG masks, down/upsampling and the scores."""
import matplotlib.image as mpimg
import numpy as np
import pytest

from scratchgen.evaluation.restoration import damage, downsample, known_pixels, scores, upsample


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
