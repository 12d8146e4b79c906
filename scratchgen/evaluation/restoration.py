"""Damaging test images in known ways, and scoring restorations of them (``scratchgen restore``).

Every restoration task starts from clean test images, damages them in a known way (a hole, noise,
lower resolution) and asks a trained model for the clean image back; PSNR and SSIM of the
restoration are reported beside those of the damaged input, the baseline any method must beat.
"""
from __future__ import annotations

import os

import numpy as np

from ..evaluation.metrics import psnr, ssim
from ..models.pixelcnn import check_known_pixels_come_first

MASK_PATTERNS = {
    "center": "a centered 14x14 hole",
    "left": "the left half missing",
    "bottom": "the bottom half missing (complete the digit from its top half)",
    "random": "each pixel missing with probability --fraction",
}
FRACTION = 0.5     # of the pixels missing, --mask random's default
NOISE_STD = 0.3    # denoise's default noise
MASK_TASKS = ("inpaint", "complete")   # the tasks that take a --mask
TASKS = {
    "inpaint": "fill the missing pixels of a mask",
    "complete": "sample the missing pixels of a mask pixel by pixel (PixelCNN, PixelRNN); default mask: bottom, "
                "and the known pixels must come first in raster order",
    "denoise": "remove Gaussian noise of standard deviation --noise-std",
    "superres": "2x super-resolution of a 14x14 average-pooled image",
}


def known_pixels(mask: str, n: int, rng: np.random.Generator, fraction: float = FRACTION, size: int = 28) -> np.ndarray:
    """Boolean (n, size, size): True where the pixel is known. ``mask`` is a pattern name or a PNG
    (black = missing) of size x size pixels."""
    if mask in MASK_PATTERNS:
        known = np.ones((n, size, size), bool)
        half, quarter = size // 2, size // 4
        if mask == "center":
            known[:, quarter:quarter + half, quarter:quarter + half] = False
        elif mask == "left":
            known[:, :, :half] = False
        elif mask == "bottom":
            known[:, half:, :] = False
        else:
            if not 0 < fraction < 1:
                raise ValueError(f"--fraction must be between 0 and 1, got {fraction}")
            known = rng.random((n, size, size)) >= fraction
        return known
    if not os.path.isfile(mask):
        raise ValueError(f"unknown mask {mask!r}: expected one of {', '.join(MASK_PATTERNS)} or a PNG file")
    import matplotlib.image as mpimg  # noqa: PLC0415 (matplotlib only for PNG masks, off evaluation's import path)
    try:
        picture = np.asarray(mpimg.imread(mask), np.float32)
    except (OSError, SyntaxError, ValueError) as e:   # PIL reports a damaged PNG as a SyntaxError
        raise ValueError(f"mask {mask} is not a readable PNG image ({e}): expected a {size}x{size} PNG, "
                         f"black = missing, white = known") from None
    gray = picture[..., :3].mean(axis=-1) if picture.ndim == 3 else picture
    if gray.shape != (size, size):
        raise ValueError(f"mask {mask} is {gray.shape[1]}x{gray.shape[0]} pixels: expected {size}x{size} "
                         f"(black = missing, white = known)")
    return np.broadcast_to(gray > 0.5, (n, size, size)).copy()


def downsample(images: np.ndarray, factor: int = 2) -> np.ndarray:
    """Average pooling by ``factor``: (n, H, W) -> (n, H/factor, W/factor)."""
    n, h, w = images.shape
    return images.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def upsample(images: np.ndarray, factor: int = 2) -> np.ndarray:
    """Nearest-neighbour upsampling, the naive restoration a super-resolution method must beat."""
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


def damage(task: str, clean: np.ndarray, rng: np.random.Generator, *, mask: str | None = None,
           fraction: float = FRACTION, noise_std: float = NOISE_STD):
    """(damaged images as the model receives them, known-pixel mask or None, damaged images to show)."""
    if task in ("inpaint", "complete"):
        known = known_pixels(mask or ("bottom" if task == "complete" else "center"), len(clean), rng, fraction)
        if task == "complete":
            check_known_pixels_come_first(known)  # at once, not only when the model starts sampling
        return np.where(known, clean, 0).astype(np.float32), known, np.where(known, clean, 0.5).astype(np.float32)
    if task == "denoise":
        noisy = (clean + noise_std * rng.standard_normal(clean.shape)).astype(np.float32)
        return noisy, None, np.clip(noisy, 0, 1)
    if task == "superres":
        low = downsample(clean).astype(np.float32)
        return low, None, upsample(low)
    raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")


def scores(restored: np.ndarray, clean: np.ndarray, shown_damaged: np.ndarray, known: np.ndarray | None,
           mean_image: np.ndarray | None = None) -> dict:
    """PSNR and SSIM of the restoration and of the damaged input (the baseline); for a hole, also
    the PSNR on the missing pixels alone, of the restoration and of filling the hole with
    ``mean_image`` (the mean training image: the best constant guess)."""
    out = {"psnr": psnr(restored, clean), "ssim": ssim(restored, clean),
           "psnr_damaged": psnr(np.clip(shown_damaged, 0, 1), clean),
           "ssim_damaged": ssim(np.clip(shown_damaged, 0, 1), clean)}
    if known is not None:
        out["psnr_hole"] = psnr(restored, clean, where=~known)
        if mean_image is not None:
            out["psnr_hole_mean_image"] = psnr(np.broadcast_to(mean_image, clean.shape), clean, where=~known)
    return out

