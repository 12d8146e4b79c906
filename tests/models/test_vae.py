"""VAE: the reparameterization gradient, the closed-form KL, ELBO <= IWAE_k, a whole-model gradient check.

The statistical tests use a fixed seed, so they are deterministic; their tolerance is 5 standard
errors of the Monte-Carlo estimate, computed from the same samples. A correct implementation
lands outside it with probability ~6e-7 per coordinate over seeds, while the classic bug
(std = exp(logvar) instead of exp(0.5 logvar)) shifts the estimates by many standard errors.
"""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn
from scratchgen.autograd import losses
from scratchgen.data.glyphs import generate
from scratchgen.gradcheck import gradcheck_module
from scratchgen.models import VAE, check_images

N_MC = 200_000


def _tiny_vae(seed=0, latent_dim=3, likelihood="bernoulli"):
    sg.manual_seed(seed)
    return VAE("mlp", latent_dim=latent_dim, hidden=16, likelihood=likelihood, seed=seed)


def _glyphs(n, binary=True, seed=5):
    images, labels = generate(n, seed)
    x = images.astype(np.float32) / 255
    if binary:
        x = (np.random.default_rng(seed).random(x.shape) < x).astype(np.float32)
    return x, labels


def test_reparameterized_gradient_matches_analytic_in_expectation():
    # f(z) = sum_j z_j^2 + exp(z_j / 2) with z ~ N(mu, sigma^2):
    # E f = mu^2 + sigma^2 + exp(mu/2 + sigma^2/8);  sigma^2 = exp(logvar)
    mu0 = np.array([0.3, -1.0, 0.5])
    logvar0 = np.array([-0.5, 0.4, -1.2])
    s2 = np.exp(logvar0)
    e = np.exp(mu0 / 2 + s2 / 8)
    grad_mu_true = 2 * mu0 + 0.5 * e
    grad_logvar_true = s2 + s2 / 8 * e                     # d sigma^2 / d logvar = sigma^2

    model = _tiny_vae()
    eps = np.random.default_rng(0).standard_normal((N_MC, 3))
    mu = sg.tensor(mu0, requires_grad=True, dtype=np.float64)
    logvar = sg.tensor(logvar0, requires_grad=True, dtype=np.float64)
    z = model.reparameterize(mu, logvar, eps)
    f = sg.sum(z * z + sg.exp(z / 2)) / N_MC
    f.backward()

    # per-sample gradients, for the standard error of the Monte-Carlo mean
    zn = mu0 + np.sqrt(s2) * eps
    df = 2 * zn + 0.5 * np.exp(zn / 2)
    per_mu, per_lv = df, df * 0.5 * np.sqrt(s2) * eps
    np.testing.assert_allclose(mu.grad, per_mu.mean(0), rtol=1e-10)
    np.testing.assert_allclose(logvar.grad, per_lv.mean(0), rtol=1e-10)
    se_mu = per_mu.std(0) / np.sqrt(N_MC)
    se_lv = per_lv.std(0) / np.sqrt(N_MC)
    assert np.all(np.abs(mu.grad - grad_mu_true) < 5 * se_mu)
    assert np.all(np.abs(logvar.grad - grad_logvar_true) < 5 * se_lv)
    # the exp(logvar) bug would be caught: its logvar gradient is off by far more than 5 SE
    wrong = mu0 + s2 * eps
    wrong_lv = ((2 * wrong + 0.5 * np.exp(wrong / 2)) * s2 * eps).mean(0)
    assert np.any(np.abs(wrong_lv - grad_logvar_true) > 20 * se_lv)


def test_closed_form_kl_matches_monte_carlo():
    mu = np.array([[0.5, -1.5, 0.0, 2.0]])
    logvar = np.array([[-1.0, 0.5, 0.0, -2.0]])
    closed = losses.kl_normal_standard(mu, logvar, reduction="none").data[0]
    eps = np.random.default_rng(1).standard_normal((N_MC, 4))
    z = mu + np.exp(0.5 * logvar) * eps
    log_q = -0.5 * np.sum(np.log(2 * np.pi) + logvar + eps ** 2, axis=1)
    log_p = -0.5 * np.sum(np.log(2 * np.pi) + z ** 2, axis=1)
    terms = log_q - log_p
    se = terms.std() / np.sqrt(N_MC)
    assert abs(terms.mean() - closed) < 5 * se, (terms.mean(), closed, se)
    assert abs(closed - 4.02) < 0.1   # = 0.5 * sum(mu^2 + s^2 - 1 - logvar), by hand: 4.0183


def test_elbo_below_iwae_and_iwae_non_decreasing_in_k():
    model = _tiny_vae(latent_dim=2)
    x, _ = _glyphs(32)
    opt = __import__("scratchgen.optim", fromlist=["Adam"]).Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        model(x).backward()
        opt.step()
    # For the same draws, log mean w >= mean log w (Jensen): L_k >= ELBO estimate, exactly.
    logw = model.log_importance_weights(x, 50, np.random.default_rng(0))
    top = logw.max(1)
    iwae = top + np.log(np.mean(np.exp(logw - top[:, None]), axis=1))
    assert np.all(iwae >= logw.mean(1) - 1e-9)
    # The expected bound rises with k: average over 32 images and 6 repetitions.
    means = []
    for k in (1, 5, 50, 200):
        reps = [model.iwae_bound(x, k, np.random.default_rng(100 + r)).mean() for r in range(6)]
        means.append(np.mean(reps))
    elbo = model.evaluate(x)["elbo"]
    assert abs(means[0] - elbo) < 3, (means[0], elbo)          # L_1 is the ELBO
    assert means[0] < means[1] < means[2] < means[3], means


def test_mean_log_weight_is_the_elbo():
    # E_q[log w] = E_q[log p(x|z)] - KL(q || p): the IWAE weights' mean matches the ELBO that
    # uses the closed-form KL, averaged over 8 images and many draws, within 5 standard errors.
    model = _tiny_vae()
    x, _ = _glyphs(8)
    logw = model.log_importance_weights(x, 4000, np.random.default_rng(3))
    per_draw = logw.mean(0)                      # average over the images, one value per draw
    elbos = [model.elbo(x, eps=np.random.default_rng(r).standard_normal((8, 3)).astype(np.float32))[0].data.mean()
             for r in range(400)]
    se = np.hypot(per_draw.std() / np.sqrt(4000), np.std(elbos) / np.sqrt(400))
    assert abs(per_draw.mean() - np.mean(elbos)) < 5 * se, (per_draw.mean(), np.mean(elbos), se)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_whole_model_elbo_gradient_with_fixed_noise(likelihood):
    model = _tiny_vae(likelihood=likelihood).double()
    x, _ = _glyphs(4, binary=likelihood == "bernoulli")
    eps = np.random.default_rng(2).standard_normal((4, 3))

    class NegativeElbo(nn.Module):
        def __init__(self):
            super().__init__()
            self.vae = model

        def forward(self, x):
            return self.vae.loss(x, eps=eps)[0]

    assert gradcheck_module(NegativeElbo(), [x.astype(np.float64)], directions=4)


def test_std_is_exp_half_logvar():
    model = _tiny_vae()
    z = model.reparameterize(sg.tensor([[0.0]]), sg.tensor([[np.log(4.0)]]), np.array([[1.0]]))
    assert z.item() == pytest.approx(2.0)     # sigma = sqrt(4), not 4


def test_conv_vae_shapes_sampling_and_grid():
    sg.manual_seed(0)
    model = VAE("conv", latent_dim=2)
    x, _ = _glyphs(4)
    loss = model(x)
    loss.backward()
    assert np.isfinite(loss.item())
    assert model.sample(3).shape == (3, 28, 28)
    assert model.manifold(4).shape == (4, 4, 28, 28)
    assert model.interpolate(x[0], x[1], 5).shape == (5, 28, 28)
    assert model.reconstruct(x).shape == (4, 28, 28)


def test_wrong_image_shape_is_one_line_error():
    model = _tiny_vae()
    with pytest.raises(ValueError,
                       match=r"^VAE expected an image batch of shape \(N, 28, 28\).*got shape \(2, 32, 32\)$"):
        model(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ValueError, match="unknown VAE architecture 'resnet'"):
        VAE("resnet")


def test_image_shape_is_channels_height_width_in_every_method():
    # A 5x7 VAE checks its own shape everywhere, interpolate included (it once assumed 28x28).
    model = VAE("mlp", latent_dim=2, hidden=8, likelihood="gaussian", image_shape=(1, 5, 7))
    x = np.random.default_rng(0).random((3, 5, 7)).astype(np.float32)
    assert model.image_shape == (1, 5, 7) and model.decoder_logvar.shape == (1, 1, 5, 7)
    assert model.interpolate(x[0], x[1], 4).shape == (4, 5, 7)
    assert model.manifold(3).shape == (3, 3, 5, 7)
    assert model.sample(2).shape == (2, 5, 7)
    with pytest.raises(ValueError, match=r"^VAE expects image_shape \(1, H, W\) .* got \(28, 28\)$"):
        VAE(image_shape=(28, 28))


def test_check_images_accepts_the_layouts_of_the_given_channels_height_width():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32)
    for layout in ((2, 60), (2, 3, 4, 5)):
        np.testing.assert_array_equal(check_images(x.reshape(layout), (3, 4, 5)), x.reshape(2, 3, 4, 5))
    assert check_images(x[:40].reshape(2, 4, 5), (1, 4, 5)).shape == (2, 1, 4, 5)   # one channel may be left out
    with pytest.raises(ValueError, match=r"^net expected an image batch of shape \(N, 3, 4, 5\) or \(N, 60\), got"):
        check_images(x[:40].reshape(2, 4, 5), (3, 4, 5), "net")   # three channels may not


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_log_likelihood_of_the_known_pixels_is_the_sum_over_them(likelihood):
    # pixels are independent given z: log p(x_known | z) + log p(x_unknown | z) = log p(x | z)
    model = VAE(latent_dim=3, hidden=8, likelihood=likelihood, seed=1)
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(2, 1, 28, 28)).astype(np.float32)
    out = model.decode(rng.standard_normal((2, 3)).astype(np.float32))
    known = rng.random((2, 1, 28, 28)) < 0.6
    full = model.log_likelihood(x, out).data
    np.testing.assert_allclose(model.log_likelihood(x, out, known).data + model.log_likelihood(x, out, ~known).data,
                               full, rtol=1e-5)
    np.testing.assert_allclose(model.log_likelihood(x, out, np.ones_like(known)).data, full, rtol=1e-6)
    one_pixel = np.zeros_like(known)
    one_pixel[:, 0, 5, 9] = True
    f, v = out.data[:, 0, 5, 9].astype(np.float64), x[:, 0, 5, 9]
    if likelihood == "bernoulli":
        expected = v * np.log(1 / (1 + np.exp(-f))) + (1 - v) * np.log(1 - 1 / (1 + np.exp(-f)))
    else:
        s = float(model.decoder_logvar.data[0, 0, 5, 9])
        expected = -0.5 * (np.log(2 * np.pi) + s + (v - f) ** 2 / np.exp(s))
    np.testing.assert_allclose(model.log_likelihood(x, out, one_pixel).data, expected, rtol=1e-5)


# ---- the class-conditional VAE (CVAE, Sohn et al. 2015) -----------------------------------------------
def _tiny_cvae(seed=0, latent_dim=3, likelihood="bernoulli", num_classes=4):
    sg.manual_seed(seed)
    return VAE("mlp", latent_dim=latent_dim, hidden=16, likelihood=likelihood, seed=seed, num_classes=num_classes)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_cvae_elbo_gradient_with_fixed_noise_reaches_the_label_columns(likelihood):
    model = _tiny_cvae(likelihood=likelihood).double()
    x, _ = _glyphs(4, binary=likelihood == "bernoulli")
    labels = np.array([0, 3, 1, 3])
    eps = np.random.default_rng(2).standard_normal((4, 3))

    class NegativeConditionalElbo(nn.Module):
        def __init__(self):
            super().__init__()
            self.vae = model

        def forward(self, x):
            return self.vae.loss(x, eps=eps, labels=labels)[0]

    assert gradcheck_module(NegativeConditionalElbo(), [x.astype(np.float64)], directions=4)
    model.zero_grad()
    model.loss(x.astype(np.float64), eps=eps, labels=labels)[0].backward()
    for first_layer, inputs in ((model.encoder[1], 784), (model.decoder[0], 3)):
        label_columns = first_layer.weight.grad[:, inputs:]
        # a one-hot input: only the columns of the labels present get a gradient
        assert np.any(label_columns[:, [0, 1, 3]] != 0, axis=0).all() and np.all(label_columns[:, 2] == 0)


def test_the_plain_vae_keeps_its_parameters_and_the_cvae_adds_label_inputs_only():
    plain, conditional = _tiny_vae(), _tiny_cvae(num_classes=10)
    shapes = {name: p.shape for name, p in plain.named_parameters()}
    assert shapes == {"encoder.1.weight": (16, 784), "encoder.1.bias": (16,), "encoder.3.weight": (6, 16),
                      "encoder.3.bias": (6,), "decoder.0.weight": (16, 3), "decoder.0.bias": (16,),
                      "decoder.2.weight": (784, 16), "decoder.2.bias": (784,)}
    assert "num_classes" not in plain.config() and conditional.config()["num_classes"] == 10
    widened = {"encoder.1.weight": (16, 794), "decoder.0.weight": (16, 13)}
    assert {name: p.shape for name, p in conditional.named_parameters()} == {**shapes, **widened}


def test_cvae_samples_follow_the_requested_class():
    # two classes that differ everywhere: class 0 is blank, class 1 is fully inked
    model = _tiny_cvae(seed=1, num_classes=2)
    x = np.concatenate([np.zeros((16, 28, 28)), np.ones((16, 28, 28))]).astype(np.float32)
    labels = np.repeat([0, 1], 16)
    optimizer = sg.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(x, labels=labels)[0].backward()
        optimizer.step()
    rng = np.random.default_rng(0)
    blank, inked = model.sample(50, rng, np.zeros(50, int)), model.sample(50, rng, np.ones(50, int))
    # a decoder that ignored the label could only draw the average of the two, ~0.5
    assert blank.mean(axis=(1, 2)).max() < 0.25 and inked.mean(axis=(1, 2)).min() > 0.75


def test_cvae_refuses_missing_extra_and_bad_labels_in_one_line():
    cvae, plain, x = _tiny_cvae(), _tiny_vae(), np.zeros((2, 28, 28), np.float32)
    for model, labels, message in ((cvae, None, "class-conditional: give the labels"),
                                   (plain, [0, 1], "not class-conditional"),
                                   (cvae, [0, 4], r"expected 2 integers in 0\.\.3"),
                                   (cvae, [0], r"expected 2 integers in 0\.\.3"),
                                   (cvae, [0.0, 1.0], r"expected 2 integers in 0\.\.3")):
        with pytest.raises(ValueError, match=message):
            model.reconstruct(x, labels)
    with pytest.raises(ValueError, match="the class-conditional VAE is the mlp one"):
        VAE("conv", latent_dim=2, num_classes=10)


def test_cvae_iwae_bound_conditions_every_weight_on_the_labels():
    # log w = log p(x | z, y) + log p(z) - log q(z | x, y) for the draw z, Burda et al. eq. 7 given y
    model = _tiny_cvae(seed=3).double()
    x, _ = _glyphs(3)
    labels = np.array([2, 0, 1])
    x = x.astype(np.float64)
    draws = np.random.default_rng(4).standard_normal((2, 3, 3))   # the draws log_importance_weights makes
    logw = model.log_importance_weights(x, 2, rng=np.random.default_rng(4), labels=labels)
    mean, logvar = (t.data for t in model.encode(x, labels))
    for i, eps in enumerate(draws):
        z = mean + np.exp(0.5 * logvar) * eps
        log_q = -0.5 * np.sum(np.log(2 * np.pi) + logvar + eps ** 2, axis=1)
        log_prior = -0.5 * np.sum(np.log(2 * np.pi) + z ** 2, axis=1)        # N(0, I), whatever the label
        expected = model.log_likelihood(x[:, None], model.decode(z, labels)).data + log_prior - log_q
        np.testing.assert_allclose(logw[:, i], expected, rtol=1e-9)
