"""GAN losses against hand-computed values, their stable forms, detaching, and gradient checks."""
import math

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen.gradcheck import gradcheck_module
from scratchgen.models.gan import (
    GAN,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    discriminator_loss,
    generator_loss,
    interpolate_latents,
)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_losses_match_hand_computed_values():
    real, fake = np.array([2.0, -1.0]), np.array([0.5, -3.0])
    expected_d = (-(math.log(sigmoid(2.0)) + math.log(sigmoid(-1.0))) / 2
                  - (math.log(1 - sigmoid(0.5)) + math.log(1 - sigmoid(-3.0))) / 2)
    assert discriminator_loss(sg.tensor(real, dtype=np.float64), sg.tensor(fake, dtype=np.float64)).item() \
        == pytest.approx(expected_d, rel=1e-12)
    fake64 = sg.tensor(fake, dtype=np.float64)
    assert generator_loss(fake64, "minimax").item() == pytest.approx(
        (math.log(1 - sigmoid(0.5)) + math.log(1 - sigmoid(-3.0))) / 2, rel=1e-12)
    assert generator_loss(fake64, "non_saturating").item() == pytest.approx(
        -(math.log(sigmoid(0.5)) + math.log(sigmoid(-3.0))) / 2, rel=1e-12)


def test_label_smoothing_targets_the_smoothed_label_for_real_images_only():
    real, fake = sg.tensor([1.0], dtype=np.float64), sg.tensor([-1.0], dtype=np.float64)
    smoothed = discriminator_loss(real, fake, real_label=0.9).item()
    expected = -(0.9 * math.log(sigmoid(1.0)) + 0.1 * math.log(1 - sigmoid(1.0))) - math.log(1 - sigmoid(-1.0))
    assert smoothed == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kind", ["minimax", "non_saturating"])
def test_losses_are_finite_at_extreme_logits(kind):
    logits = sg.tensor([-100.0, 100.0], requires_grad=True)
    for loss in (generator_loss(logits, kind), discriminator_loss(logits, logits)):
        logits.zero_grad()
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad))


def test_minimax_loss_saturates_where_the_non_saturating_loss_does_not():
    # D confidently rejects the fakes (logit -10): the minimax gradient vanishes, the other does not.
    grads = {}
    for kind in ("minimax", "non_saturating"):
        logits = sg.tensor([-10.0], requires_grad=True, dtype=np.float64)
        generator_loss(logits, kind).backward()
        grads[kind] = logits.grad[0]
    assert grads["minimax"] == pytest.approx(-sigmoid(-10.0))      # -D(G(z)) ~ -4.5e-5
    assert grads["non_saturating"] == pytest.approx(-(1 - sigmoid(-10.0)))  # ~ -1


def test_unknown_generator_loss_is_rejected():
    with pytest.raises(ValueError, match="non_saturating"):
        generator_loss(sg.tensor([0.0]), "wasserstein")


def test_discriminator_step_on_a_detached_fake_batch_leaves_the_generator_without_gradient():
    sg.manual_seed(0)
    g = MLPGenerator(latent_dim=4, hidden=(8,), image_shape=(1, 4, 4))
    d = MLPDiscriminator(hidden=(8,), image_shape=(1, 4, 4))
    z = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    real = np.random.default_rng(1).uniform(size=(6, 1, 4, 4)).astype(np.float32)
    discriminator_loss(d(real), d(g(z).detach())).backward()
    assert all(p.grad is None for p in g.parameters())
    assert all(p.grad is not None for p in d.parameters())


@pytest.mark.parametrize("kind", ["minimax", "non_saturating"])
def test_both_players_losses_pass_a_gradient_check(kind):
    sg.manual_seed(0)
    g = MLPGenerator(latent_dim=3, hidden=(5,), image_shape=(1, 3, 3)).double()
    d = MLPDiscriminator(hidden=(4,), image_shape=(1, 3, 3)).double()
    rng = np.random.default_rng(2)
    z, real = rng.standard_normal((5, 3)), rng.uniform(size=(5, 1, 3, 3))

    class DiscriminatorGame(nn.Module):
        """D's loss as a function of the real batch and D's parameters (the fake batch is a constant)."""

        def __init__(self):
            super().__init__()
            self.d = d

        def forward(self, real):
            return discriminator_loss(d(real), d(g(z).detach()))

    class GeneratorGame(nn.Module):
        """G's loss as a function of z and G's parameters, differentiated through D."""

        def __init__(self):
            super().__init__()
            self.g = g

        def forward(self, z):
            return generator_loss(d(g(z)), kind)

    assert gradcheck_module(DiscriminatorGame(), [real], directions=4)
    # G's first bias feeds a batch norm in training mode, whose batch mean absorbs it
    assert gradcheck_module(GeneratorGame(), [z], directions=4, expect_zero=["g.net.0.bias"])


def test_players_output_shapes():
    sg.manual_seed(0)
    z = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    for generator, discriminator in ((MLPGenerator(), MLPDiscriminator()),
                                     (DCGANGenerator(width=8), DCGANDiscriminator(width=8))):
        images = generator(z)
        assert images.shape == (3, 1, 28, 28) and images.data.min() >= 0 and images.data.max() <= 1
        assert discriminator(images).shape == (3,)


def test_interpolation_endpoints_and_norms():
    rng = np.random.default_rng(3)
    z0, z1 = rng.standard_normal(16), rng.standard_normal(16)
    for spherical in (False, True):
        path = interpolate_latents(z0, z1, 7, spherical=spherical)
        assert path.shape == (7, 16)
        np.testing.assert_allclose(path[0], z0, rtol=1e-6)
        np.testing.assert_allclose(path[-1], z1, rtol=1e-6)
    # slerp between vectors of equal norm stays on the sphere; lerp cuts inside it
    z1 = z1 / np.linalg.norm(z1) * np.linalg.norm(z0)
    radii = np.linalg.norm(interpolate_latents(z0, z1, 5, spherical=True), axis=1)
    np.testing.assert_allclose(radii, np.linalg.norm(z0), rtol=1e-5)
    assert np.linalg.norm(interpolate_latents(z0, z1, 5)[2]) < np.linalg.norm(z0)


def test_eval_mode_samples_depend_on_their_own_latent_only():
    # Batch norm with running statistics: G(z)[:3] is the same whether or not other latents share the batch.
    sg.manual_seed(0)
    model = GAN(MLPGenerator(latent_dim=4, hidden=(8,)), MLPDiscriminator(hidden=(8,)))
    z = model.noise(8, np.random.default_rng(0))
    model.train()
    model(z)                      # one training batch moves the running statistics off their start
    assert not np.allclose(model.generate(z)[:3], model.generate(z[:3]))   # train mode: batch statistics
    model.eval()
    # Batches of 8 and 3 go through different BLAS kernels, which may sum the 4- and 8-term dot products in
    # another order: float32 rounding moves a pixel by ~1e-7; batch statistics would move it by ~3e-2.
    np.testing.assert_allclose(model.generate(z)[:3], model.generate(z[:3]), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(model.generate(z), model.generate(z))   # the same batch: the same bits
    assert model.sample(5, np.random.default_rng(1)).shape == (5, 28, 28)
    assert model.discriminate(model.generate(z)).shape == (8,)


def test_discriminate_checks_the_images_against_the_generators_shape():
    model = GAN(MLPGenerator(latent_dim=4, hidden=(8,), image_shape=(1, 5, 7)),
                MLPDiscriminator(hidden=(8,), image_shape=(1, 5, 7)))
    assert model.image_shape == (1, 5, 7)
    images = model.sample(3, np.random.default_rng(0))
    assert images.shape == (3, 5, 7) and model.discriminate(images).shape == (3,)
    with pytest.raises(ValueError, match=r"^GAN discriminator expected an image batch of shape \(N, 5, 7\)"):
        model.discriminate(np.zeros((3, 28, 28), np.float32))
