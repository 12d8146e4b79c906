"""Whole models gradient-checked end to end in float64, w.r.t. their inputs and every parameter.

Random projections (<grad, v> against a central difference along v) keep whole models
affordable; each model combines several layer ops so that their backward passes are checked in
composition, not only one by one.
"""
import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen.gradcheck import GradcheckError, gradcheck_module


def conv_net_with_batch_norm():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(6), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 3), nn.BatchNorm1d(3), nn.Tanh(), nn.Linear(3, 2))


def transposed_conv_decoder():
    return nn.Sequential(
        nn.Linear(3, 8 * 2 * 2), nn.ReLU(), nn.Unflatten(1, (8, 2, 2)),
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.BatchNorm2d(4), nn.SiLU(),
        nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1, output_padding=0), nn.Sigmoid())


class GroupNormResidualBlock(nn.Module):
    """The ddpm_unet ResBlock: GroupNorm, SiLU, conv; time embedding added; GroupNorm, SiLU, conv; skip."""

    def __init__(self, cin, cout, time_dim):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(2, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(time_dim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(2, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(sg.silu(self.norm1(x)))
        h = h + self.time(sg.silu(temb)).reshape(h.shape[0], -1, 1, 1)
        h = self.conv2(sg.silu(self.norm2(h)))
        return h + self.skip(x)


def test_conv_net_with_batch_norm_in_training_mode():
    sg.manual_seed(0)
    model = conv_net_with_batch_norm().double()
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8))
    # a bias right before a batch norm that uses batch statistics has no effect: the mean absorbs it
    assert gradcheck_module(model, [x], directions=4, expect_zero=["0.bias", "8.bias"])


def test_conv_net_in_eval_mode_uses_running_statistics():
    sg.manual_seed(0)
    model = conv_net_with_batch_norm().double()
    rng = np.random.default_rng(1)
    model(sg.tensor(rng.standard_normal((4, 1, 8, 8)), dtype=np.float64))  # fill the running statistics
    model.eval()
    assert gradcheck_module(model, [rng.standard_normal((3, 1, 8, 8))], directions=4)


def test_transposed_conv_decoder():
    sg.manual_seed(0)
    model = transposed_conv_decoder().double()
    # the bias of the convolution before BatchNorm2d has no effect in training mode: the batch mean absorbs it
    assert gradcheck_module(model, [np.random.default_rng(2).standard_normal((3, 3))], directions=4,
                            expect_zero=["3.bias"])


def test_group_norm_residual_block_with_time_embedding():
    sg.manual_seed(0)
    block = GroupNormResidualBlock(2, 4, time_dim=5).double()
    rng = np.random.default_rng(3)
    assert gradcheck_module(block, [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 5))], directions=4)


def test_module_check_catches_a_broken_parameter_gradient():
    sg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            out = self.inner(x)
            weight = self.inner[0].weight
            # adds 0 to the output but a wrong gradient to the first weight
            wrong = sg.Tensor.from_op(np.zeros(out.shape), (weight,), lambda g: (np.ones(weight.shape) * g.sum(),),
                                      "wrong")
            return out + wrong

    with pytest.raises(GradcheckError, match=r"wrong: inner\.0\.weight$"):
        gradcheck_module(Broken(), [np.random.default_rng(0).standard_normal((2, 3))])


def test_module_check_requires_float64_parameters():
    with pytest.raises(GradcheckError, match="double"):
        gradcheck_module(nn.Linear(2, 2), [np.ones((1, 2))])
