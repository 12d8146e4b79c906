"""PixelCNN for binary images (van den Oord et al. 2016, "Pixel Recurrent Neural Networks").

The chain rule factorizes the likelihood of an image of D pixels in raster order, eq. (1):

    p(x) = prod_{i=1}^{D} p(x_i | x_1, ..., x_{i-1}),

and the network outputs, for every pixel at once, the logit of a Bernoulli p(x_i = 1 | x_<i).
Masked convolutions (``nn.MaskedConv2d``) guarantee that the output at pixel i never sees pixels
i, i+1, ...: the first layer uses mask A (the centre hidden), later layers mask B. So one forward
pass gives all D conditionals and log p(x) exactly: no bound, no sampling (section 3.4).

``GatedPixelCNN`` is the gated variant of van den Oord et al. 2016b ("Conditional Image
Generation with PixelCNN Decoders", unconditional here): a vertical and a horizontal stack
instead of masked square kernels, which removes the blind spot of the masked 3x3 layers.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from .. import nn
from ..autograd import losses, ops
from ..autograd.tensor import Tensor, no_grad


class ResidualBlock(nn.Module):
    """Figure 5 of the paper: 1x1 halves the channels, a masked 3x3 (type B), 1x1 restores them; plus x."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.reduce = nn.Conv2d(channels, half, 1)
        self.masked = nn.MaskedConv2d(half, half, 3, mask_type="B", padding=1)
        self.expand = nn.Conv2d(half, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.reduce(ops.relu(x))
        h = self.masked(ops.relu(h))
        return x + self.expand(ops.relu(h))


class RasterBernoulli(nn.Module):
    """What every PixelCNN shares: eq. (1) with a Bernoulli per pixel given the logits of ``forward``.

    Subclasses compute, in ``forward``, logits (N, 1, H, W) whose pixel i depends only on the
    input pixels before i in raster order.
    """

    def nll(self, x) -> Tensor:
        """-log p(x) in nats for each image (N,): the sum over pixels of the Bernoulli NLL, exact."""
        bits = np.asarray(x.data if isinstance(x, Tensor) else x)
        per_pixel = losses.binary_cross_entropy_with_logits(self(x), bits.astype(np.float32), reduction="none")
        return ops.sum(per_pixel.reshape(per_pixel.shape[0], -1), axis=1)

    def sample(self, n: int, rng: np.random.Generator, shape=(28, 28), known: np.ndarray | None = None,
               known_mask: np.ndarray | None = None, progress: bool | None = False) -> np.ndarray:
        """Draw images (n, 1, H, W) pixel by pixel in raster order: one forward pass per pixel, batched over images.

        With ``known`` images and a ``known_mask`` (True where a pixel is given; one (H, W) mask
        for all images or one per image, (n, H, W)), the given pixels are kept and only the
        others are drawn, each conditioned on everything before it (completion: e.g. the top
        half given, the bottom half sampled). The given pixels must come first in raster order
        (see ``check_known_pixels_come_first``). ``progress`` shows a tqdm bar (None: only on a terminal).
        """
        images = np.zeros((n, 1, *shape), np.float32)
        if known is not None:
            images[:] = np.asarray(known, np.float32).reshape(n, 1, *shape)
        mask = np.broadcast_to(np.zeros(shape, bool) if known_mask is None else np.asarray(known_mask, bool),
                               (n, *shape))
        check_known_pixels_come_first(mask)
        was_training = self.training
        self.eval()
        memory = {}
        with no_grad():
            for row, col in tqdm(list(np.ndindex(*shape)), desc="sampling pixels", unit="pixel", leave=False,
                                 disable=(not progress) if progress is not None else None):
                if mask[:, row, col].all():
                    continue
                logits = self.conditional_logits(images, row, col, memory)
                drawn = rng.random(n) < 1.0 / (1.0 + np.exp(-logits))
                images[:, 0, row, col] = np.where(mask[:, row, col], images[:, 0, row, col], drawn)
        self.train(was_training)
        return images

    def conditional_logits(self, images: np.ndarray, row: int, col: int, memory: dict) -> np.ndarray:
        """The logits (n,) of pixel (row, col) of ``images``, whose pixels before it are final.

        ``memory`` starts empty for each ``sample`` call and is passed to every call of it: a
        model may keep there what it computed for the earlier pixels and can reuse.
        """
        # The logit of (row, col) sees only rows <= row (the masks), so the rows below are cut
        # off: the same logits at about half the cost on average.
        return self(images[:, :, :row + 1]).data[:, 0, row, col]


def check_known_pixels_come_first(known_mask: np.ndarray) -> None:
    """Raise a ValueError unless, in each mask (n, H, W), no known pixel follows an unknown one in raster order.

    A pixel's conditional sees only the pixels before it, so a drawn pixel could not take a known
    pixel after it into account: the completion would not be a draw given all the known pixels.
    """
    flat = known_mask.reshape(len(known_mask), -1)
    known_after_unknown = flat[:, 1:] & ~flat[:, :-1]
    if known_after_unknown.any():
        image, position = np.argwhere(known_after_unknown)[0]
        width = known_mask.shape[2]
        first_unknown = np.argmin(flat[image])
        raise ValueError(
            f"PixelCNN completion needs the known pixels to come first in raster order (row by row, left to "
            f"right), as the model cannot condition on later pixels: in image {image} the known pixel "
            f"(row {(position + 1) // width}, column {(position + 1) % width}) comes after the unknown pixel "
            f"(row {first_unknown // width}, column {first_unknown % width}); give the first rows "
            f"(and the left part of the next one), e.g. the top half")


class PixelCNN(RasterBernoulli):
    """A 7x7 mask-A convolution, residual mask-B blocks, two 1x1 layers, one logit per pixel."""

    def __init__(self, channels: int = 48, residual_blocks: int = 12, hidden: int = 64):
        super().__init__()
        if channels < 2:
            raise ValueError(f"PixelCNN: channels must be at least 2 (the residual blocks halve them), got {channels}")
        self.input = nn.MaskedConv2d(1, channels, 7, mask_type="A", padding=3)
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(residual_blocks)])
        self.output = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, 1, 1))
        self.channels, self.residual_blocks, self.hidden = channels, residual_blocks, hidden

    def config(self) -> dict:
        return dict(channels=self.channels, residual_blocks=self.residual_blocks, hidden=self.hidden)

    def forward(self, x) -> Tensor:
        """Logits of p(x_i = 1 | x_<i) for every pixel of binary images x (N, 1, H, W)."""
        return self.output(self.blocks(self.input(x)))

def shift_down(x: Tensor) -> Tensor:
    """Row r receives row r - 1 (row 0 zeros): the vertical stack's rows <= r become rows < r."""
    return ops.pad(x, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]


def gate(x: Tensor) -> Tensor:
    """tanh(a) * sigmoid(b) over the two halves of the channels, eq. (2) of van den Oord et al. 2016b."""
    a, b = ops.split(x, 2, axis=1)
    return ops.tanh(a) * ops.sigmoid(b)


class GatedLayer(nn.Module):
    """One layer of the two stacks (van den Oord et al. 2016b, Figure 2).

    Vertical stack: a (k//2 + 1) x k convolution of the rows above and the current row (padded on
    top only), so it sees everything above within reach, with no blind spot. Horizontal stack:
    a 1 x k masked convolution of the current row up to the pixel (mask A in the first layer:
    without it), plus the vertical features shifted down one row, so a pixel receives the rows
    above only from rows strictly above. The horizontal stack is residual after the first layer.
    """

    def __init__(self, in_channels: int, channels: int, kernel: int, first: bool):
        super().__init__()
        self.kernel, self.first = kernel, first
        self.vertical = nn.Conv2d(in_channels, 2 * channels, (kernel // 2 + 1, kernel))
        self.horizontal = nn.MaskedConv2d(in_channels, 2 * channels, (1, kernel), mask_type="A" if first else "B",
                                          padding=(0, kernel // 2))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = nn.Conv2d(channels, channels, 1)

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        half = self.kernel // 2
        v_features = self.vertical(ops.pad(v, ((0, 0), (0, 0), (half, 0), (half, half))))
        h_features = self.horizontal(h) + self.vertical_to_horizontal(shift_down(v_features))
        h_out = self.horizontal_out(gate(h_features))
        return gate(v_features), (h_out if self.first else h + h_out)


class GatedPixelCNN(RasterBernoulli):
    """Gated PixelCNN without conditioning: a 7x7 first layer, ``layers`` 3x3 gated layers, two 1x1 layers."""

    def __init__(self, channels: int = 32, layers: int = 5, hidden: int = 64):
        super().__init__()
        self.stack = nn.ModuleList([GatedLayer(1 if i == 0 else channels, channels, 7 if i == 0 else 3, i == 0)
                                    for i in range(layers + 1)])
        self.output = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, 1, 1))
        self.channels, self.layers, self.hidden = channels, layers, hidden

    def config(self) -> dict:
        return dict(channels=self.channels, layers=self.layers, hidden=self.hidden)

    def forward(self, x) -> Tensor:
        """Logits of p(x_i = 1 | x_<i) for every pixel of binary images x (N, 1, H, W)."""
        v = h = x
        for layer in self.stack:
            v, h = layer(v, h)
        return self.output(h)


def receptive_field(model: nn.Module, shape, pixel, seed: int = 0) -> np.ndarray:
    """|d logit(pixel) / d input| over an (H, W) image, computed by autograd in float64 at a random input.

    Non-zero exactly where the input can influence the output at ``pixel``: the autoregressive
    property requires zeros at ``pixel`` and after it in raster order, and the blind spot shows
    as zeros before it. The model is converted to float64 in place.
    """
    model.double()
    x = Tensor(np.random.default_rng(seed).uniform(size=(1, 1, *shape)), requires_grad=True)
    model(x)[0, 0, pixel[0], pixel[1]].backward()
    influence = np.abs(x.grad[0, 0])
    # Masked 3x3 convolutions of 16 or more channels run through Winograd's transforms, which keep
    # a masked tap zero only up to float64 rounding (residues ~1e-19 where real influences exceed
    # 1e-6 of the largest): such residues are not influence.
    influence[influence <= 1e-12 * influence.max()] = 0
    return influence
