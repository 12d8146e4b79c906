"""The same workloads in PyTorch, for the side-by-side comparison of ``run.py --compare torch``.

``twin(workload)`` builds the PyTorch model of a scratchgen ``Workload`` with the same module
names, copies every parameter and buffer from the scratchgen model (scratchgen.crosscheck's
``torch_state_dict``), and uses the same fixed inputs, so the first step of both computes the same
loss. Of run.py's modules this is the only one that imports torch; ``available()`` says whether it can.
"""
from __future__ import annotations

import math

from scratchgen.crosscheck import torch_state_dict

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # the comparison is optional; run.py reports that it is skipped
    torch = None


def available() -> bool:
    return torch is not None


def _copy_weights(torch_module, scratchgen_module):
    torch_module.load_state_dict(torch_state_dict(scratchgen_module), strict=True)
    return torch_module


def _training_step(optimizer, loss_fn):
    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def _vae_loss(logits, x, mean, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mean * mean - logvar.exp())
    return (reconstruction + kl) / x.shape[0]


def _reparameterize(stats, latent_dim, eps):
    mean, logvar = stats[:, :latent_dim], stats[:, latent_dim:]
    return mean + torch.exp(0.5 * logvar) * eps, mean, logvar


class MlpVAE(nn.Module):
    latent_dim = 20

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * self.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(self.latent_dim, 400), nn.ReLU(), nn.Linear(400, 784))

    def forward(self, x, eps):
        z, mean, logvar = _reparameterize(self.encoder(x), self.latent_dim, eps)
        return self.decoder(z), mean, logvar


class ConvVAE(nn.Module):
    latent_dim = 16

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(3136, 2 * self.latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(self.latent_dim, 3136), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))

    def forward(self, x, eps):
        z, mean, logvar = _reparameterize(self.encoder(x), self.latent_dim, eps)
        return self.decoder(z), mean, logvar


def _vae(workload, model_class):
    model = _copy_weights(model_class(), workload.modules["model"])
    x, eps = (torch.from_numpy(workload.inputs[key]) for key in ("x", "eps"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss():
        logits, mean, logvar = model(x, eps)
        return _vae_loss(logits, x, mean, logvar)

    return _training_step(optimizer, loss)


class Generator(nn.Module):
    """scratchgen.models.gan.MLPGenerator, module for module."""

    def __init__(self):
        super().__init__()
        layers, width = [], 64
        for out in (128, 256, 512, 1024):
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU()]
            width = out
        self.net = nn.Sequential(*layers, nn.Linear(width, 784), nn.Sigmoid())

    def forward(self, z):
        return self.net(z).reshape(-1, 1, 28, 28)


class Discriminator(nn.Module):
    """scratchgen.models.gan.MLPDiscriminator(activation="leaky_relu"), module for module."""

    def __init__(self):
        super().__init__()
        layers, width = [nn.Flatten()], 784
        for out in (512, 256, 128):
            layers += [nn.Linear(width, out), nn.LeakyReLU(0.2)]
            width = out
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, images):
        return self.net(images).reshape(-1)


def _gan(workload):
    generator = _copy_weights(Generator(), workload.modules["generator"])
    discriminator = _copy_weights(Discriminator(), workload.modules["discriminator"])
    real, z = (torch.from_numpy(workload.inputs[key]) for key in ("real", "z"))
    ones, zeros = torch.ones(len(real)), torch.zeros(len(real))
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step():
        opt_d.zero_grad(set_to_none=True)
        fake = generator(z)
        d_loss = (F.binary_cross_entropy_with_logits(discriminator(real), ones)
                  + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
        g_loss.backward()
        opt_g.step()
        return d_loss.item() + g_loss.item()

    return step


def sinusoidal_embedding(t, dim=32):
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    angles = t.to(torch.float64)[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb_dim=128):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(temb_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class TimeEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(32, 128), nn.SiLU(), nn.Linear(128, 128))

    def forward(self, t):
        return self.mlp(sinusoidal_embedding(t))


class UNet(nn.Module):
    """scratchgen.models.unet.UNet with widths (32, 64), module for module."""

    def __init__(self):
        super().__init__()
        self.time_embedding = TimeEmbedding()
        self.stem = nn.Conv2d(1, 32, 3, padding=1)
        self.down1 = ResBlock(32, 32)
        self.downsample1 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.down2 = ResBlock(32, 64)
        self.downsample2 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.middle1 = ResBlock(64, 64)
        self.middle2 = ResBlock(64, 64)
        self.upsample2 = nn.Conv2d(64, 64, 3, padding=1)
        self.up2 = ResBlock(128, 64)
        self.upsample1 = nn.Conv2d(64, 64, 3, padding=1)
        self.up1 = ResBlock(96, 32)
        self.out_norm = nn.GroupNorm(8, 32)
        self.out_conv = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, x, t):
        temb = self.time_embedding(t)
        h = self.stem(x)
        skip1 = self.down1(h, temb)
        skip2 = self.down2(self.downsample1(skip1), temb)
        h = self.middle2(self.middle1(self.downsample2(skip2), temb), temb)
        h = self.upsample2(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up2(torch.cat([h, skip2], dim=1), temb)
        h = self.upsample1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up1(torch.cat([h, skip1], dim=1), temb)
        return self.out_conv(F.silu(self.out_norm(h)))


def _ddpm_unet(workload):
    model = _copy_weights(UNet(), workload.modules["model"])
    x_t, t, noise = (torch.from_numpy(workload.inputs[key]) for key in ("x_t", "t", "noise"))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    return _training_step(optimizer, lambda: F.mse_loss(model(x_t, t), noise))


def _ddpm_sample(workload):
    model = _copy_weights(UNet(), workload.modules["model"]).eval()
    x_t, t, z = (torch.from_numpy(workload.inputs[key]) for key in ("x_t", "t", "z"))
    constants = workload.extra

    def step():
        with torch.no_grad():
            eps = model(x_t, t)
            x_prev = constants["scale"] * (x_t - constants["eps_scale"] * eps) + constants["sigma"] * z
        return float(x_prev.double().mean())

    return step


class MaskedConv2d(nn.Conv2d):
    """PixelCNN's causal convolution: the weight times a mask of the kernel's rows above the centre
    and its centre row left of the centre, with the centre (mask B) or without it (mask A)."""

    def __init__(self, in_channels, out_channels, kernel_size, mask_type, padding):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding)
        kh, kw = self.kernel_size
        mask = torch.zeros(self.weight.shape)
        mask[:, :, :kh // 2] = 1
        mask[:, :, kh // 2, :kw // 2 + (mask_type == "B")] = 1
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def lstm_step(pre_activations, cell):
    """Eq. (3) of the PixelRNN paper: the new (hidden, cell) from the pre-activations [o, f, i, g] (..., 4h)."""
    o, f, i, g = pre_activations.chunk(4, dim=-1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


class RowLSTM(nn.Module):
    """scratchgen.models.pixelrnn.RowLSTM: one LSTM step per row, from the top."""

    def __init__(self, channels_in, hidden, kernel=3):
        super().__init__()
        self.hidden, self.kernel = hidden, kernel
        self.input_to_state = MaskedConv2d(channels_in, 4 * hidden, (1, kernel), "B", padding=(0, kernel // 2))
        self.state_to_state = nn.Linear(kernel * hidden, 4 * hidden, bias=False)

    def forward(self, x):
        n, _, height, width = x.shape
        half = self.kernel // 2
        gates = self.input_to_state(x).permute(0, 2, 3, 1)  # (N, H, W, 4h)
        hidden = cell = x.new_zeros(n, width, self.hidden)
        rows = []
        for row in range(height):
            # K_ss reads the row above at columns c - half ... c + half (zeros outside), side by side
            padded = F.pad(hidden, (0, 0, half, half))
            neighbours = torch.cat([padded[:, j:j + width] for j in range(self.kernel)], dim=-1)
            hidden, cell = lstm_step(gates[:, row] + self.state_to_state(neighbours), cell)
            rows.append(hidden)
        return torch.stack(rows, dim=1).permute(0, 3, 1, 2)  # (N, h, H, W)


def skew(x):
    """Shift row r of (N, C, H, W) right by r, padding with zeros to width W + H - 1: diagonals become columns."""
    height = x.shape[2]
    return torch.stack([F.pad(x[:, :, row], (row, height - 1 - row)) for row in range(height)], dim=2)


def unskew(x):
    """The inverse of ``skew``: (N, C, H, W + H - 1) back to (N, C, H, W)."""
    height = x.shape[2]
    width = x.shape[3] - height + 1
    return torch.stack([x[:, :, row, row:row + width] for row in range(height)], dim=2)


def shift_down(x):
    """Row r receives row r - 1, row 0 zeros."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class DiagonalLSTM(nn.Module):
    """scratchgen.models.pixelrnn.DiagonalLSTM: one LSTM step per column of the skewed map, from the left."""

    def __init__(self, channels_in, hidden):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = nn.Conv2d(channels_in, 4 * hidden, 1)
        self.state_to_state = nn.Linear(2 * hidden, 4 * hidden, bias=False)

    def forward(self, x):
        n, _, height, _ = x.shape
        gates = skew(self.input_to_state(x)).permute(0, 3, 2, 1)  # (N, W + H - 1, H, 4h)
        hidden = cell = x.new_zeros(n, height, self.hidden)
        columns = []
        for column in range(gates.shape[1]):
            # K_ss reads the previous column at rows r - 1 (zeros above row 0) and r, side by side
            above = F.pad(hidden, (0, 0, 1, 0))[:, :-1]
            hidden, cell = lstm_step(gates[:, column] + self.state_to_state(torch.cat([above, hidden], dim=-1)), cell)
            columns.append(hidden)
        return unskew(torch.stack(columns, dim=3).permute(0, 2, 1, 3))  # (N, h, H, W)


class DiagonalBiLSTM(nn.Module):
    """scratchgen.models.pixelrnn.DiagonalBiLSTM: from the left, plus from the right shifted down a row."""

    def __init__(self, channels_in, hidden):
        super().__init__()
        self.from_left = DiagonalLSTM(channels_in, hidden)
        self.from_right = DiagonalLSTM(channels_in, hidden)

    def forward(self, x, right_input=None):
        right_input = x if right_input is None else right_input
        from_right = self.from_right(right_input.flip(3)).flip(3)
        return self.from_left(x) + shift_down(from_right)


class PixelRNN(nn.Module):
    """scratchgen.models.pixelrnn.PixelRNN, module for module, with the same default sizes."""

    def __init__(self, layer, hidden=16, layers=4, output_hidden=32):
        super().__init__()
        self.layer = layer
        self.input = MaskedConv2d(1, 2 * hidden, 7, "A", padding=3)
        if layer == "diagonal":
            # scratchgen's fix: the first layer's direction from the right also reads each pixel's own value
            self.input_from_right = MaskedConv2d(1, 2 * hidden, 7, "B", padding=3)
        recurrent = {"row": RowLSTM, "diagonal": DiagonalBiLSTM}[layer]
        self.recurrent = nn.ModuleList([recurrent(2 * hidden, hidden) for _ in range(layers)])
        self.expand = nn.ModuleList([nn.Conv2d(hidden, 2 * hidden, 1) for _ in range(layers)])
        self.output = nn.Sequential(nn.ReLU(), nn.Conv2d(2 * hidden, output_hidden, 1), nn.ReLU(),
                                    nn.Conv2d(output_hidden, 1, 1))

    def forward(self, x):
        features = self.input(x)
        for index, (recurrent, expand) in enumerate(zip(self.recurrent, self.expand)):
            if self.layer == "diagonal" and index == 0:
                hidden = recurrent(features, right_input=self.input_from_right(x))
            else:
                hidden = recurrent(features)
            features = features + expand(hidden)
        return self.output(features)

    def nll(self, x):
        """-log p(x) in nats for each image: the Bernoulli NLL of every pixel, summed."""
        return F.binary_cross_entropy_with_logits(self(x), x, reduction="none").flatten(1).sum(1)


def pixelrnn_twin(scratchgen_model):
    """The PixelRNN of the same layer type with the weights of a scratchgen PixelRNN, and its own masks.

    The masks are architecture, not weights: the twin computes with those it built, so that a
    mask of scratchgen's that differs shows in the loss instead of being copied over.
    """
    model = PixelRNN(scratchgen_model.layer)
    own_masks = {name: mask.clone() for name, mask in model.named_buffers()}
    _copy_weights(model, scratchgen_model)
    model.load_state_dict(own_masks, strict=False)
    return model


def _pixelrnn(workload):
    model = pixelrnn_twin(workload.modules["model"])
    x = torch.from_numpy(workload.inputs["x"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return _training_step(optimizer, lambda: model.nll(x).mean())


def _op(workload, forward, names):
    tensors = [torch.from_numpy(workload.inputs[name]).clone().requires_grad_() for name in names]
    upstream = torch.from_numpy(workload.inputs["upstream"])

    def step():
        for tensor in tensors:
            tensor.grad = None
        y = forward(*tensors)
        y.backward(upstream)
        return float(torch.vdot(y.detach().reshape(-1), upstream.reshape(-1)))

    return step


_TWINS = {
    "vae_mlp": lambda w: _vae(w, MlpVAE),
    "vae_conv": lambda w: _vae(w, ConvVAE),
    "gan_mlp": _gan,
    "ddpm_unet": _ddpm_unet,
    "ddpm_sample": _ddpm_sample,
    "pixelrnn_row": _pixelrnn,
    "pixelrnn_diagonal": _pixelrnn,
    "conv2d": lambda w: _op(w, lambda x, w_, b: F.conv2d(x, w_, b, stride=1, padding=1), ("x", "w", "b")),
    "conv_transpose2d": lambda w: _op(w, lambda x, w_, b: F.conv_transpose2d(x, w_, b, stride=2, padding=1),
                                      ("x", "w", "b")),
    "groupnorm": lambda w: _op(w, lambda x, weight, bias: F.group_norm(x, 8, weight, bias),
                               ("x", "weight", "bias")),
    "matmul": lambda w: _op(w, F.linear, ("x", "weight", "bias")),
}


def twin(workload):
    """The PyTorch step function computing what ``workload.step`` computes, from the same weights and inputs."""
    return _TWINS[workload.name](workload)


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def version() -> str:
    return torch.__version__
