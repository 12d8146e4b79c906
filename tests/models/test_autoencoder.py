"""Autoencoders, corruptions, PCA, and the metrics PSNR and AUROC."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import DataLoader
from scratchgen.data.glyphs import generate
from scratchgen.evaluation.metrics import auroc, psnr
from scratchgen.models import Autoencoder, corrupt, pca_reconstruct
from scratchgen.optim import Adam
from scratchgen.training import RECIPES, Trainer


def test_auroc_hand_computed():
    # positives 0.35 and 0.8; negatives 0.1 and 0.4. Pairs (pos > neg): 0.35>0.1 yes, 0.35>0.4 no,
    # 0.8>0.1 yes, 0.8>0.4 yes -> 3 of 4 pairs -> AUROC = 0.75.
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    # a tie between a positive and a negative counts one half: pairs (0.5 vs 0.5) = 1/2, (0.5 vs 0.2) = 1
    assert auroc([0.5, 0.5, 0.2], [1, 0, 0]) == 0.75
    assert auroc([1, 2, 3], [0, 0, 1]) == 1.0 and auroc([3, 2, 1], [0, 0, 1]) == 0.0


def test_auroc_matches_pair_counting():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, 300).astype(float)            # many ties
    labels = rng.random(300) < 0.3
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert auroc(scores, labels) == pytest.approx(pairs, abs=1e-12)
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        auroc([1, 2], [0, 0])


def test_psnr():
    target = np.zeros((2, 4, 4))
    assert psnr(target + 0.1, target) == pytest.approx(20.0)   # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB


def test_corruptions():
    rng = np.random.default_rng(0)
    x = np.full((50, 28, 28), 0.5, np.float32)
    g = corrupt(x, "gaussian", 0.5, rng)
    assert g.min() >= 0 and g.max() <= 1 and abs(g.std() - 0.5 * 0.78) < 0.1    # clipped noise
    m = corrupt(x, "mask", 0.3, rng)
    assert abs((m == 0).mean() - 0.3) < 0.01
    sp = corrupt(x, "salt-pepper", 0.2, rng)
    assert abs((sp == 0).mean() - 0.1) < 0.01 and abs((sp == 1).mean() - 0.1) < 0.01
    h = corrupt(x, "hole", 0.5, rng)
    holes = h == 0
    assert np.all(holes.sum(axis=(1, 2)) == 14 * 14)
    rows, cols = holes.any(axis=2), holes.any(axis=1)
    assert np.all(rows.sum(axis=1) == 14) and np.all(cols.sum(axis=1) == 14)     # one square per image
    assert len({tuple(np.flatnonzero(r)[:1]) + tuple(np.flatnonzero(c)[:1]) for r, c in zip(rows, cols)}) > 10
    with pytest.raises(ValueError, match="hole"):
        corrupt(x, "hole", 1.5, rng)
    with pytest.raises(ValueError, match="unknown corruption 'blur'"):
        corrupt(x, "blur", 0.1, rng)


def test_pca_full_rank_is_exact_and_truncation_loses():
    x = np.random.default_rng(0).random((30, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(pca_reconstruct(x, x, 16), x, atol=1e-5)
    assert np.mean((pca_reconstruct(x, x, 2) - x) ** 2) > 1e-3


@pytest.mark.parametrize("loss", ["bce", "mse"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_autoencoder_trains(arch, loss):
    sg.manual_seed(0)
    images, _ = generate(32, 3)
    x = images.astype(np.float32) / 255
    model = Autoencoder(arch, latent_dim=8, hidden=32, loss=loss)
    opt = Adam(model.parameters(), lr=3e-3)
    first = model.reconstruction_loss(x).item()
    for _ in range(15 if arch == "mlp" else 4):
        opt.zero_grad()
        last = model.reconstruction_loss(x)
        last.backward()
        opt.step()
    assert last.item() < first
    assert model.reconstruct(x).shape == (32, 28, 28)
    assert model.encode(x).shape == (32, 8)


def test_autoencoder_bad_input():
    with pytest.raises(ValueError, match=r"Autoencoder expected an image batch .* got shape \(3, 27\)"):
        Autoencoder().reconstruct(np.zeros((3, 27)))
    with pytest.raises(ValueError, match="unknown reconstruction loss 'l1'"):
        Autoencoder(loss="l1")


def test_autoencoder_uses_its_own_channels_height_width_shape():
    model = Autoencoder(latent_dim=2, hidden=8, image_shape=(1, 5, 7))
    x = np.random.default_rng(0).random((3, 35)).astype(np.float32)
    assert model.reconstruct(x).shape == (3, 5, 7) and model.sample(2).shape == (2, 5, 7)
    with pytest.raises(ValueError, match=r"^Autoencoder expects image_shape \(1, H, W\) .* got \(3, 5, 7\)$"):
        Autoencoder(image_shape=(3, 5, 7))


def test_denoising_autoencoder_training_resumes_bit_for_bit(tmp_path):
    """`scratchgen train ae --corrupt` stopped after an epoch and resumed ends with the weights of a
    run never stopped: the family's step names its corruption noise for the trainer to checkpoint."""
    family = RECIPES["ae"]
    config = dict(arch="mlp", latent=4, hidden=16, loss="bce", corrupt="gaussian", noise_level=0.5, seed=0, lr=1e-2)

    def trainer(run_dir, epochs):
        sg.manual_seed(0)
        model = family.build(config)
        optimizer = family.optimizer(model, config)
        step = family.step(model, optimizer, config)
        return Trainer(str(run_dir), model=model, optimizer=optimizer, loader=DataLoader(generate(32, 3), 16, seed=0),
                       step=step, generators=step.streams, epochs=epochs, progress=False), model

    straight, model_a = trainer(tmp_path / "a", epochs=2)
    straight.fit()
    trainer(tmp_path / "b", epochs=1)[0].fit()
    resumed, model_b = trainer(tmp_path / "b", epochs=2)
    resumed.resume()
    resumed.fit()
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert np.array_equal(a, b), name
