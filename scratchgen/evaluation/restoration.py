"""Damaging test images in known ways, restoring them without a model (the classical baselines) or
through a generative model's latent, and scoring restorations (``scratchgen restore``).

Every restoration task starts from clean test images, damages them in a known way (a hole, noise,
lower resolution) and asks for the clean image back; PSNR and SSIM of the restoration are reported
beside those of the damaged input and of the classical baselines, which any model must beat.
docs/restoration.md says which family restores what, and how.
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager

import numpy as np

from ..autograd import Tensor, ops
from ..evaluation.metrics import psnr, ssim
from ..models.pixelcnn import check_known_pixels_come_first
from ..nn.functional import avg_pool2d
from ..optim import Adam

MASK_PATTERNS = {
    "center": "a centered 14x14 hole",
    "left": "the left half missing",
    "bottom": "the bottom half missing (complete the digit from its top half)",
    "random": "each pixel missing with probability --fraction",
}
FRACTION = 0.5     # of the pixels missing, --mask random's default
NOISE_STD = 0.3    # denoise's default noise
FACTORS = (2, 4)   # super-resolution factors: 28x28 from 14x14 or from 7x7
FACTOR = 2         # --factor's default
MASK_TASKS = ("inpaint", "complete")   # the tasks that take a --mask
TASKS = {
    "inpaint": "fill the missing pixels of a mask",
    "complete": "sample the missing pixels of a mask pixel by pixel (PixelCNN, PixelRNN); default mask: bottom, "
                "and the known pixels must come first in raster order",
    "denoise": "remove Gaussian noise of standard deviation --noise-std",
    "superres": "super-resolution by --factor 2 or 4 of an average-pooled image (14x14 or 7x7)",
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


def check_factor(factor: int) -> None:
    if factor not in FACTORS:
        raise ValueError(f"--factor {factor}: super-resolution is by a factor of {' or '.join(map(str, FACTORS))}")


def downsample(images: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    """Average pooling by ``factor``: (n, H, W) -> (n, H/factor, W/factor)."""
    n, h, w = images.shape
    return images.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def upsample(images: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    """Nearest-neighbour upsampling, the naive restoration a super-resolution method must beat."""
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


def match_low_resolution(images: np.ndarray, low: np.ndarray, factor: int) -> np.ndarray:
    """``images`` with each factor x factor block shifted so that its mean is the pixel of ``low``, then
    clipped to [0, 1] (back-projection). Both steps are orthogonal projections onto convex sets that hold
    the clean image, so neither moves a restoration further from it."""
    consistent = images - upsample(downsample(images, factor) - low, factor)
    return np.clip(consistent, 0, 1).astype(np.float32)


def damage(task: str, clean: np.ndarray, rng: np.random.Generator, *, mask: str | None = None,
           fraction: float = FRACTION, noise_std: float = NOISE_STD, factor: int = FACTOR):
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
        check_factor(factor)
        low = downsample(clean, factor).astype(np.float32)
        return low, None, upsample(low, factor)
    raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")


# ---- the classical baselines: NumPy only ----------------------------------------------------------
GAUSSIAN_SIGMA = 1.0   # pixels: the Gaussian filter's standard deviation
MEDIAN_SIZE = 3        # the median filter's window is MEDIAN_SIZE x MEDIAN_SIZE
KEYS_A = -0.5          # Keys' cubic convolution parameter: the one that reproduces quadratics


def _filter_rows_and_columns(images: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Separable filtering of (n, H, W) by the 1-d ``weights`` (odd length) along both axes, edges replicated."""
    r = len(weights) // 2
    out = np.asarray(images, np.float64)
    for axis in (1, 2):
        padded = np.pad(out, [(0, 0)] + [(r, r) if a == axis else (0, 0) for a in (1, 2)], mode="edge")
        size = out.shape[axis]
        out = sum(w * padded.take(np.arange(k, k + size), axis=axis) for k, w in enumerate(weights))
    return out


def gaussian_filter(images: np.ndarray, sigma: float = GAUSSIAN_SIGMA) -> np.ndarray:
    """Each pixel replaced by a Gaussian-weighted mean of its neighbours (radius 3 sigma, weights summing to 1)."""
    offsets = np.arange(-math.ceil(3 * sigma), math.ceil(3 * sigma) + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return _filter_rows_and_columns(images, weights / weights.sum())


def median_filter(images: np.ndarray, size: int = MEDIAN_SIZE) -> np.ndarray:
    """Each pixel replaced by the median of the size x size window around it, edges replicated."""
    r = size // 2
    n, h, w = images.shape
    padded = np.pad(np.asarray(images, np.float64), ((0, 0), (r, r), (r, r)), mode="edge")
    windows = np.stack([padded[:, i:i + h, j:j + w] for i in range(size) for j in range(size)])
    return np.median(windows, axis=0)


def _extrapolated(samples: int, pad: int, degree: int) -> np.ndarray:
    """(samples + 2 pad, samples): the matrix that extends a 1-d signal by ``pad`` values at each end,
    each the polynomial of ``degree`` through its ``degree + 1`` neighbours (degree 2 is Keys' boundary
    condition), so that interpolation reproduces such polynomials up to the edges."""
    rows = list(np.eye(samples))
    # Newton's forward differences of order degree + 1 vanish: x_{-1} = sum_k (-1)^k C(d+1, k+1) x_k
    coefficients = [(-1) ** k * math.comb(degree + 1, k + 1) for k in range(degree + 1)]
    for _ in range(pad):
        rows.insert(0, sum(c * rows[k] for k, c in enumerate(coefficients)))
        rows.append(sum(c * rows[-1 - k] for k, c in enumerate(coefficients)))
    return np.array(rows)


def _keys_cubic(distance: np.ndarray, a: float = KEYS_A) -> np.ndarray:
    """Keys' (1981) cubic convolution kernel at ``distance``."""
    d = np.abs(distance)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _interpolation_matrix(samples: int, factor: int, cubic: bool) -> np.ndarray:
    """(samples * factor, samples): interpolation of a signal sampled at pixel centres onto a grid
    ``factor`` times finer (output pixel i sits at (i + 1/2) / factor - 1/2 in input pixels)."""
    pad = 2 if cubic else 1
    position = (np.arange(samples * factor) + 0.5) / factor - 0.5 + pad     # in padded input pixels
    taps = np.arange(samples + 2 * pad)
    distance = position[:, None] - taps[None, :]
    weights = _keys_cubic(distance) if cubic else np.maximum(1 - np.abs(distance), 0)
    return weights @ _extrapolated(samples, pad, degree=2 if cubic else 1)


def interpolate_up(low: np.ndarray, factor: int, cubic: bool) -> np.ndarray:
    """Bilinear (``cubic=False``) or bicubic upsampling of (n, h, w) by ``factor``, clipped to [0, 1]."""
    rows, columns = (_interpolation_matrix(size, factor, cubic) for size in low.shape[1:])
    return np.clip(np.einsum("ih,nhw,jw->nij", rows, np.asarray(low, np.float64), columns), 0, 1)


def fill_with_mean_image(damaged: np.ndarray, known: np.ndarray, mean_image: np.ndarray) -> np.ndarray:
    """The mean-image baseline of a hole: the known pixels kept, the missing ones those of ``mean_image`` (the
    mean training image: the best constant guess)."""
    return np.where(known, damaged, mean_image)


def baselines(task: str, damaged: np.ndarray, known: np.ndarray | None, *, factor: int = FACTOR,
              mean_image: np.ndarray | None = None) -> dict:
    """Name -> restorations (n, H, W) in [0, 1] by the classical methods that apply to ``task``: for a hole,
    the mean training image ``mean_image`` in it; for noise, a Gaussian and a median filter; for low
    resolution, bilinear and bicubic interpolation (nearest-neighbour is the damaged input as shown)."""
    if task in MASK_TASKS:
        return {} if mean_image is None else {"mean image": fill_with_mean_image(damaged, known, mean_image)}
    if task == "denoise":
        return {f"gaussian filter (sigma {GAUSSIAN_SIGMA:g})": np.clip(gaussian_filter(damaged), 0, 1),
                f"median filter ({MEDIAN_SIZE}x{MEDIAN_SIZE})": np.clip(median_filter(damaged), 0, 1)}
    if task == "superres":
        return {"bilinear": interpolate_up(damaged, factor, cubic=False),
                "bicubic": interpolate_up(damaged, factor, cubic=True)}
    raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")


# ---- restoration through a generative model's latent ----------------------------------------------
OBSERVATION_STD = 0.1   # how far a generated image may be from what was observed, in [0, 1] units
LATENT_STEPS = 200      # Adam steps on z
LATENT_LR = 0.05
RESTARTS = 4            # starting latents per image; the one with the lowest loss wins


@contextmanager
def frozen(module):
    """The module's parameters without gradients inside the block: only d/dz is wanted."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad = False
    try:
        yield module
    finally:
        for p in trainable:
            p.requires_grad = True


def observe(task: str, images: Tensor, factor: int = FACTOR) -> Tensor:
    """What the damage leaves of images (N, 1, H, W): for superres their average pooling, else the images."""
    return avg_pool2d(images, factor) if task == "superres" else images


def gaussian_observation_nll(task: str, mean_images: Tensor, damaged: np.ndarray, known: np.ndarray | None, *,
                             noise_std: float = 0.0, factor: int = FACTOR) -> Tensor:
    """Per image, -log N(damaged; observe(mean_images), s^2) over the observed values, up to a constant:
    sum (observe(x) - damaged)^2 / (2 s^2), s^2 = OBSERVATION_STD^2 + noise_std^2 (the noise is denoise's)."""
    residual = observe(task, mean_images, factor) - damaged.reshape(len(damaged), 1, *damaged.shape[1:])
    if known is not None:
        residual = residual * known[:, None].astype(np.float32)
    variance = OBSERVATION_STD ** 2 + noise_std ** 2
    return ops.sum(ops.reshape(residual * residual, len(damaged), -1), axis=1) * (0.5 / variance)


def latent_map(negative_log_likelihood, starts: np.ndarray, *, steps: int = LATENT_STEPS,
               lr: float = LATENT_LR) -> tuple[np.ndarray, np.ndarray]:
    """(z, loss) per row: the lowest of  loss(z) = negative_log_likelihood(z) + ||z||^2 / 2  (the MAP
    objective under the prior N(0, I)) met in ``steps`` Adam steps from each row of ``starts``.
    ``negative_log_likelihood`` maps a Tensor z (m, d) to a Tensor (m,) built with the autograd; rows
    are independent (Adam's update is per coordinate), so a batch optimizes many latents at once."""
    z = Tensor(np.array(starts, np.float32), requires_grad=True)
    optimizer = Adam([z], lr=lr)
    best_z, best = z.data.copy(), np.full(len(starts), np.inf)
    for step in range(steps + 1):
        loss = negative_log_likelihood(z) + 0.5 * ops.sum(z * z, axis=1)
        better = loss.data < best
        best[better], best_z[better] = loss.data[better], z.data[better]
        if step == steps:
            break
        optimizer.zero_grad()
        ops.sum(loss).backward()
        optimizer.step()
    return best_z, best


def map_latents(negative_log_likelihood, starts: np.ndarray, damaged: np.ndarray, known: np.ndarray | None,
                **adam) -> np.ndarray:
    """The MAP latent (n, d) of each of the n damaged images: ``latent_map`` from ``len(starts) // n`` starts per
    image (laid out start by start), the lowest loss winning. ``negative_log_likelihood(z, damaged, known)``
    gets the images and masks repeated once per start."""
    n = len(damaged)
    restarts = len(starts) // n
    tiled = lambda a: None if a is None else np.tile(a, (restarts, 1, 1))  # noqa: E731
    z, loss = latent_map(lambda z: negative_log_likelihood(z, tiled(damaged), tiled(known)), starts, **adam)
    winner = loss.reshape(restarts, n).argmin(axis=0)
    return z.reshape(restarts, n, -1)[winner, np.arange(n)]


def finish(task: str, restored: np.ndarray, damaged: np.ndarray, known: np.ndarray | None,
           factor: int = FACTOR) -> np.ndarray:
    """A model's restoration made to agree with what is known: the known pixels of a hole kept, a super-resolved
    image made to average to the low-resolution input; in [0, 1] as float32."""
    if task in MASK_TASKS:
        return np.where(known, damaged, np.clip(restored, 0, 1)).astype(np.float32)
    if task == "superres":
        return match_low_resolution(restored, damaged, factor)
    return np.clip(restored, 0, 1).astype(np.float32)


# ---- scores ------------------------------------------------------------------------------------------
def _psnr_hole(restored: np.ndarray, clean: np.ndarray, known: np.ndarray) -> float:
    """PSNR on the missing pixels alone."""
    return psnr(restored, clean, where=~known)


def _restored_scores(restored: np.ndarray, clean: np.ndarray, known: np.ndarray | None) -> dict:
    """PSNR and SSIM of a restoration; for a hole (``known`` given), also the PSNR on the hole alone."""
    out = {"psnr": psnr(restored, clean), "ssim": ssim(restored, clean)}
    if known is not None:
        out["psnr_hole"] = _psnr_hole(restored, clean, known)
    return out


def scores(restored: np.ndarray, clean: np.ndarray, shown_damaged: np.ndarray, known: np.ndarray | None,
           mean_image: np.ndarray | None = None) -> dict:
    """PSNR and SSIM of the restoration and of the damaged input (the baseline); for a hole, also
    the PSNR on the missing pixels alone, of the restoration and of the mean-image baseline
    (``fill_with_mean_image``: ``baseline_scores``' "mean image" has the same ``psnr_hole``)."""
    out = {**_restored_scores(restored, clean, known),
           "psnr_damaged": psnr(np.clip(shown_damaged, 0, 1), clean),
           "ssim_damaged": ssim(np.clip(shown_damaged, 0, 1), clean)}
    if known is not None and mean_image is not None:
        # the hole's pixels alone are scored: filling the clean images' hole gives the baseline's score
        out["psnr_hole_mean_image"] = _psnr_hole(fill_with_mean_image(clean, known, mean_image), clean, known)
    return out


def baseline_scores(task: str, damaged: np.ndarray, known: np.ndarray | None, clean: np.ndarray, *,
                    factor: int = FACTOR, mean_image: np.ndarray | None = None) -> dict:
    """Name -> PSNR, SSIM (and, for a hole, the PSNR on it) of each classical baseline of ``task``."""
    return {name: _restored_scores(restored, clean, known)
            for name, restored in baselines(task, damaged, known, factor=factor, mean_image=mean_image).items()}
