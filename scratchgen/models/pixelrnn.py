"""PixelRNN for binary images (van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks").

The likelihood is PixelCNN's, eq. (1): one Bernoulli per pixel given the pixels before it in
raster order (``RasterBernoulli``), exact. What changes is how the conditionals see the past: instead
of a stack of masked convolutions of bounded reach, two-dimensional LSTM layers (section 3.1,
eq. 3) carry a state from row to row (Row LSTM, section 3.2) or along the diagonals
(Diagonal BiLSTM, section 3.3), so the context is unbounded upwards. Section 3.4 wraps them in
residual connections between a mask-A input convolution and mask-B output layers (Table 1).

Masks here are for one binary channel, where mask B on a 1x1 convolution keeps its only tap:
such layers are plain ``nn.Conv2d``.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import nn_ops, ops
from ..autograd.tensor import Tensor
from .pixelcnn import RasterBernoulli, shift_down

# ------------------------------------------------------------------------- section 3.1: the LSTM step
# Eq. (3): [o, f, i, g] = [sigmoid, sigmoid, sigmoid, tanh](K_ss * h_{i-1} + K_is * x_i);
# c_i = f * c_{i-1} + i * g; h_i = o * tanh(c_i). The content g goes through tanh, not a sigmoid: it
# must be able to lower the cell state, not only raise it. Each layer type computes K_is * x for the
# whole map at once and hands the recurrence, every row (or skewed column) in turn, to one op,
# ``nn_ops.lstm_scan``: K_ss is a one-dimensional convolution along the row (column), given as its
# weight and the offsets of the positions of h_{i-1} it reads. Eq. (3) is written out line by line
# in kernels/lstm.py (``lstm_scan_forward_numpy``).


# ------------------------------------------------------------------------- section 3.2: Row LSTM
class RowLSTM(nn.Module):
    """Row LSTM: one LSTM step per row, from the top; the state of row r comes from row r - 1 only.

    Input-to-state: a 1 x ``kernel`` convolution along the row with mask B (the pixel and those
    left of it), computed for the whole map at once. State-to-state: a 1 x ``kernel`` convolution
    of the previous row's hidden state (unmasked: that row is all in the past), computed as one
    product of the weight with the ``kernel`` shifted copies of the row. The context of a pixel
    is the triangle above it, plus, through the input map, the pixels to its left.
    """

    def __init__(self, channels_in: int, hidden: int, kernel: int = 3):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"RowLSTM: kernel must be a positive odd int (it is centred on the pixel), got {kernel}")
        self.hidden, self.kernel = hidden, kernel
        self.input_to_state = nn.MaskedConv2d(channels_in, 4 * hidden, (1, kernel), "B", padding=(0, kernel // 2))
        # K_ss as a linear layer's weight, for the ``kernel`` neighbours side by side (lstm_scan applies it);
        # the input-to-state bias serves both terms of the sum of eq. (3)
        self.state_to_state = nn.Linear(kernel * hidden, 4 * hidden, bias=False)

    def forward(self, x) -> Tensor:
        """Hidden states (N, hidden, H, W) of an input map x (N, channels_in, H, W)."""
        return self.scan(x)[0]

    def scan(self, x, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The hidden states of the rows of x, continuing from ``state`` (h, c) of the row above them.

        Returns them with the state after the last row, so the rows of an image can be fed in
        several calls (sampling feeds one row at a time). No state: zeros above the first row.
        States are (N, W, hidden).
        """
        half = self.kernel // 2
        gates_by_row = self.input_to_state(x).permute(2, 0, 3, 1)  # (H, N, W, 4 hidden)
        hidden, cell = nn_ops.lstm_scan(gates_by_row, self.state_to_state.weight, range(-half, half + 1), state)
        return hidden.permute(1, 3, 0, 2), (hidden[-1], cell[-1])


# ------------------------------------------------------------------------- section 3.3: Diagonal BiLSTM
def skew(x: Tensor) -> Tensor:
    """Shift row r of x (N, C, H, W) right by r: pixel (r, c) goes to (r, r + c) of (N, C, H, W + H - 1).

    Figure 3 (right): the diagonals of the image become the columns of the skewed map. With the
    rows padded to W + H and laid end to end, pixel (r, c) sits at r (W + H) + c = r (W + H - 1)
    + (r + c), so the first H (W + H - 1) values, read as rows of W + H - 1, are the skewed map.
    """
    n, channels, height, width = x.shape
    flat = ops.pad(x, ((0, 0), (0, 0), (0, 0), (0, height))).reshape(n, channels, height * (width + height))
    return flat[:, :, :height * (width + height - 1)].reshape(n, channels, height, width + height - 1)


def unskew(x: Tensor) -> Tensor:
    """The inverse of ``skew``: (N, C, H, W + H - 1) back to (N, C, H, W), pixel (r, c) from (r, r + c)."""
    n, channels, height, skewed_width = x.shape
    width = skewed_width - height + 1
    flat = ops.pad(x.reshape(n, channels, height * skewed_width), ((0, 0), (0, 0), (0, height)))
    return flat.reshape(n, channels, height, width + height)[:, :, :, :width]


class DiagonalLSTM(nn.Module):
    """One direction of the Diagonal BiLSTM: the state of pixel (r, c) from those of (r - 1, c) and (r, c - 1).

    On the skewed map, these two are the previous column's states at rows r - 1 and r: the
    state-to-state part is a 2 x 1 convolution of the previous column (padded on top), computed as
    one product of the weight with the column and its copy shifted down, and the columns are
    processed left to right. Input-to-state: a 1 x 1 convolution (mask B, which for one binary
    channel keeps its only tap), applied before skewing so that the pre-activations of the padding
    are zero; the padding left of the image then keeps zero states (sigmoid(0) * 0 and tanh(0) add
    nothing to a zero cell), and the pixels of column 0 start from a zero state, as those of row 0 do.
    """

    def __init__(self, channels_in: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = nn.Conv2d(channels_in, 4 * hidden, 1)
        self.state_to_state = nn.Linear(2 * hidden, 4 * hidden, bias=False)  # K_ss, applied by lstm_scan

    def forward(self, x) -> Tensor:
        """Hidden states (N, hidden, H, W) of an input map x (N, channels_in, H, W)."""
        gates_by_column = skew(self.input_to_state(x)).permute(3, 0, 2, 1)  # (W + H - 1, N, H, 4 hidden)
        hidden, _ = nn_ops.lstm_scan(gates_by_column, self.state_to_state.weight, (-1, 0))  # rows r - 1 and r
        return unskew(hidden.permute(1, 3, 2, 0))


def flip_width(x: Tensor) -> Tensor:
    return x[:, :, :, ::-1]


class DiagonalBiLSTM(nn.Module):
    """Section 3.3: two diagonal LSTMs, one from the left and one from the right, with their own weights.

    The one from the left sees, at (r, c), every pixel above and to the left (with the pixel
    itself, whose features the mask-A input layer keeps free of its value). The one from the
    right runs on the width-flipped map, and at (r, c) sees the pixels above and to the right
    - including those right of it in row r, which are in the future. Its output is therefore
    shifted down by one row (row r receives row r - 1, row 0 zeros) before the two are added:
    together they see the rows above and the row up to the pixel (see ``PixelRNN`` for the one
    pixel this misses when both directions read features that exclude each pixel's own value).
    """

    def __init__(self, channels_in: int, hidden: int):
        super().__init__()
        self.from_left = DiagonalLSTM(channels_in, hidden)
        self.from_right = DiagonalLSTM(channels_in, hidden)

    def forward(self, x, right_input=None) -> Tensor:
        """Hidden states (N, hidden, H, W) of an input map x (N, channels_in, H, W).

        ``right_input`` (default x), the map the direction from the right reads, may hold each
        pixel's own value: that direction's output at row r - 1 is only ever used at row r.
        """
        from_right = flip_width(self.from_right(flip_width(x if right_input is None else right_input)))
        return self.from_left(x) + shift_down(from_right)


# ------------------------------------------------------------------------- section 3.4: the network
LAYERS = {"row": RowLSTM, "diagonal": DiagonalBiLSTM}


class PixelRNN(RasterBernoulli):
    """A 7x7 mask-A convolution to 2h features, ``layers`` residual LSTM layers, ReLU and 1x1 output layers.

    Section 3.4: each recurrent layer reads the 2h-feature map, computes h features per gate,
    and its hidden state (h features) goes through a 1x1 convolution back to 2h before the
    layer's input is added (the residual connection). Then ReLU, a 1x1 convolution to
    ``output_hidden`` features, ReLU, and a 1x1 convolution to one logit per pixel.

    One departure from the paper, for the Diagonal BiLSTM: fed only the mask-A features, no layer
    ever sees the last pixel (r - 1, W - 1) of the row above from more than 3 columns to its left.
    No feature of row r - 1 holds it (each sees its own row only up to, not including, itself), so
    the direction from the right, the only one that carries values leftwards, never picks it up,
    and the direction from the left gets it only from row r's features within the 7x7 input
    layer's reach. So the first layer's direction from the right reads a mask-B 7x7 convolution
    of the image, which includes each pixel's own value: safe, as that direction's output is
    shifted down a row, and enough, as every feature of the first layer's output then sees the
    whole past and later layers pass it on.
    """

    # Defaults for one hour on 2 cores: a training step of batch 64 on 28 x 28 images takes about
    # 0.6 of the default PixelCNN's (0.45 s against 0.74 s, measured side by side), so the Row LSTM
    # gets more steps than PixelCNN in the hour that brings PixelCNN to 88.7 nats, with an unbounded
    # context upwards (84.3 nats in an hour, docs/pixelrnn.md); the Diagonal BiLSTM takes about 1.05 s a step.
    def __init__(self, layer: str = "row", hidden: int = 16, layers: int = 4, output_hidden: int = 32):
        super().__init__()
        if layer not in LAYERS:
            raise ValueError(f"PixelRNN: layer must be one of {sorted(LAYERS)}, got {layer!r}")
        for name, value in dict(hidden=hidden, layers=layers, output_hidden=output_hidden).items():
            if value < 1:
                raise ValueError(f"PixelRNN: {name} must be positive, got {value}")
        self.layer, self.hidden, self.layers, self.output_hidden = layer, hidden, layers, output_hidden
        self.input = nn.MaskedConv2d(1, 2 * hidden, 7, mask_type="A", padding=3)
        if layer == "diagonal":
            self.input_from_right = nn.MaskedConv2d(1, 2 * hidden, 7, mask_type="B", padding=3)
        self.recurrent = nn.ModuleList([LAYERS[layer](2 * hidden, hidden) for _ in range(layers)])
        self.expand = nn.ModuleList([nn.Conv2d(hidden, 2 * hidden, 1) for _ in range(layers)])
        self.output = nn.Sequential(nn.ReLU(), nn.Conv2d(2 * hidden, output_hidden, 1), nn.ReLU(),
                                    nn.Conv2d(output_hidden, 1, 1))

    def config(self) -> dict:
        return dict(layer=self.layer, hidden=self.hidden, layers=self.layers, output_hidden=self.output_hidden)

    def forward(self, x) -> Tensor:
        """Logits of p(x_i = 1 | x_<i) for every pixel of binary images x (N, 1, H, W)."""
        features = self.input(x)
        for index, (recurrent, expand) in enumerate(zip(self.recurrent, self.expand)):
            if self.layer == "diagonal" and index == 0:
                hidden = recurrent(features, right_input=self.input_from_right(x))
            else:
                hidden = recurrent(features)
            features = features + expand(hidden)
        return self.output(features)

    def conditional_logits(self, images: np.ndarray, row: int, col: int, memory: dict) -> np.ndarray:
        """As ``RasterBernoulli.conditional_logits``; with Row LSTM layers, only row ``row`` is recomputed.

        The states of the Row LSTMs after row r - 1 summarize rows 0..r-1 (section 3.2), so
        ``memory`` keeps them, per layer, once those rows are final, and each pixel of row r
        costs one row through the network instead of rows 0..r. A Diagonal BiLSTM's state runs
        along the diagonals, which cross the rows still to be drawn: it recomputes rows 0..r.
        """
        if self.layer != "row":
            return super().conditional_logits(images, row, col, memory)
        memory.setdefault("finished_rows", 0)
        memory.setdefault("states", [None] * self.layers)
        while memory["finished_rows"] < row:
            memory["states"] = self._next_row(images, memory["finished_rows"], memory["states"])[1]
            memory["finished_rows"] += 1
        return self._next_row(images, row, memory["states"])[0][:, col]

    def _next_row(self, images: np.ndarray, row: int, states: list) -> tuple[np.ndarray, list]:
        """The logits (n, W) of row ``row`` and each Row LSTM's state after it, from their states before it."""
        reach = self.input.kernel_size[0] // 2
        features = self.input(images[:, :, max(0, row - reach):row + 1])[:, :, -1:]
        states_after = []
        for recurrent, expand, state in zip(self.recurrent, self.expand, states):
            hidden, state = recurrent.scan(features, state)
            features = features + expand(hidden)
            states_after.append(state)
        return self.output(features).data[:, 0, 0], states_after
