"""`scratchgen train gan|dcgan` end to end on tiny players: run files, bit-exact resume, sampling, the step."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import scratchgen as sg
from helpers import run
from scratchgen.models.gan import MLPDiscriminator
from scratchgen.nn import load_checkpoint
from scratchgen.training import RECIPES, load_run, read_log

TINY = {"gan": ["--latent", "8", "--g-widths", "16,32", "--d-widths", "32,16"],
        "dcgan": ["--latent", "8", "--width", "4"]}


def train(model, data_dir, out, *extra):
    r = run("train", model, "--data", data_dir, "--limit", "64", "--batch-size", "32", "--log-every", "1",
            "--eval-images", "40", "--out", str(out), "--no-progress", *TINY[model], *extra)
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_train_writes_figures_and_both_players_and_optimizers(model, data_dir, tmp_path):
    out = tmp_path / model
    train(model, data_dir, out, "--epochs", "1")
    for name in ("figures/samples_epoch001.png", "figures/progress.gif", "figures/interpolation.png",
                 "figures/discriminator.png", "loss_curve.png"):
        assert os.path.exists(out / name), name
    parts = load_checkpoint(out / "checkpoint.npz")
    assert {"optimizer_generator", "optimizer_discriminator"} <= set(parts)
    players = {key.split(".")[0] for key in parts["model"]}
    assert players == {"generator", "discriminator"}
    records = [r for r in read_log(out) if r["event"] == "train"]
    assert len(records) == 2
    for r in records:
        assert 0 < r["d_real"] < 1 and 0 < r["d_fake"] < 1 and r["g_grad_norm"] > 0
        assert r["loss"] == pytest.approx(r["d_loss"] + r["g_loss"])
    evaluation = [r for r in read_log(out) if r["event"] == "eval"][-1]
    assert 0 < evaluation["d_real"] < 1 and evaluation["spread_ratio"] > 0

    r = run("sample", str(out), "--n", "9")
    assert r.returncode == 0, r.stderr
    assert os.path.exists(out / "samples.png")
    r = run("evaluate", str(out), "--n-samples", "0")
    assert r.returncode == 0, r.stderr
    assert json.load(open(out / "metrics.json"))["test_images"] == 40


def test_resume_restores_both_optimizers_bit_for_bit(data_dir, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train("gan", data_dir, straight, "--epochs", "2", "--d-steps", "2", "--label-smoothing", "0.1")
    train("gan", data_dir, resumed, "--epochs", "1", "--d-steps", "2", "--label-smoothing", "0.1")
    assert "resuming" in train("gan", data_dir, resumed, "--epochs", "2", "--resume").stdout

    a, b = load_checkpoint(straight / "checkpoint.npz"), load_checkpoint(resumed / "checkpoint.npz")
    for part in ("model", "optimizer_generator", "optimizer_discriminator", "rng"):
        for key in a[part]:
            assert np.array_equal(a[part][key], b[part][key]), (part, key)

    def records(run_dir):
        # the resume's own record (its --epochs 2 changes the stored total) is the only one the straight run lacks
        return [{k: v for k, v in r.items() if k != "minutes"} for r in read_log(run_dir) if r["event"] != "resume"]
    assert records(straight) == records(resumed)
    assert Image.open(resumed / "figures" / "progress.gif").n_frames == 2


def test_one_step_updates_the_discriminator_k_times_and_the_generator_once():
    config = dict(model="gan", seed=0, lr=2e-4, betas=[0.5, 0.999], latent=4, g_widths=[8], d_widths=[8],
                  loss="minimax", d_steps=3, label_smoothing=0.0)
    family = RECIPES["gan"]
    sg.manual_seed(0)
    model = family.build(config)
    optimizers = family.optimizer(model, config)
    step = family.step(model, optimizers, config)
    x = np.random.default_rng(0).uniform(size=(6, 28, 28)).astype(np.float32)
    step(x, None, None)
    assert {s["step"] for s in optimizers["discriminator"].state.values()} == {3}
    assert {s["step"] for s in optimizers["generator"].state.values()} == {1}


def test_bad_options_are_one_line_errors(data_dir, tmp_path):
    r = run("train", "gan", "--data", data_dir, "--g-widths", "16,x", "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and "expected positive layer widths" in r.stderr
    r = run("train", "gan", "--data", data_dir, "--label-smoothing", "0.9", "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and "argument --label-smoothing: expected a number in [0, 0.5)" in r.stderr
    r = run("train", "dcgan", "--data", data_dir, "--betas", "0.5", "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and "two Adam betas" in r.stderr


def test_ema_of_the_weights_is_checkpointed_and_is_what_a_loaded_run_samples(data_dir, tmp_path):
    out = tmp_path / "ema"
    train("gan", data_dir, out, "--epochs", "1", "--ema-decay", "0.5")
    parts = load_checkpoint(out / "checkpoint.npz")
    ema = parts["ema"]
    assert int(ema["num_updates"]) == 2 and float(ema["decay"]) == 0.5      # 64 images, batches of 32
    _, model = load_run(str(out))
    name = next(k for k in parts["model"] if k.startswith("generator.") and k.endswith("weight"))
    loaded = dict(model.named_parameters())[name].data
    np.testing.assert_array_equal(loaded, ema[f"shadow.{name}"])
    assert not np.allclose(loaded, parts["model"][name])   # the average of 3 weights is not the last one
    r = run("train", "gan", "--data", data_dir, "--ema-decay", "1.5", "--out", str(tmp_path / "bad"))
    assert r.returncode == 2 and "argument --ema-decay: expected a number in [0, 1)" in r.stderr


def _discriminator_activations(model):
    return {type(m).__name__ for m in model.discriminator.net if type(m).__name__.endswith("ReLU")}


def test_train_gan_defaults_to_the_source_materials_relu_discriminator(data_dir, tmp_path):
    train("gan", data_dir, tmp_path / "relu", "--epochs", "1")
    train("gan", data_dir, tmp_path / "leaky", "--epochs", "1", "--d-activation", "leaky-relu")
    for name, activation, layer in (("relu", "relu", "ReLU"), ("leaky", "leaky_relu", "LeakyReLU")):
        config, model = load_run(str(tmp_path / name))
        assert config["d_activation"] == activation
        assert _discriminator_activations(model) == {layer}
    # A run made before the option existed has no d_activation: it was trained with LeakyReLU(0.2).
    config = json.load(open(tmp_path / "relu" / "config.json"))
    del config["d_activation"]
    model = RECIPES["gan"].build(config)
    assert _discriminator_activations(model) == {"LeakyReLU"}
    assert model.discriminator.net[2].negative_slope == 0.2
    r = run("train", "gan", "--data", data_dir, "--d-activation", "tanh", "--out", str(tmp_path / "bad"))
    assert r.returncode == 2 and "invalid choice: 'tanh'" in r.stderr


def test_the_activation_option_changes_the_discriminator_where_inputs_are_negative():
    sg.manual_seed(0)
    relu = MLPDiscriminator(hidden=(8,), image_shape=(1, 3, 3))
    leaky = MLPDiscriminator(hidden=(8,), image_shape=(1, 3, 3), activation="leaky_relu")
    leaky.load_state_dict(relu.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 1, 3, 3)).astype(np.float32)
    hidden = relu.net[1](relu.net[0](sg.tensor(x))).data       # the pre-activations of the block
    w, b = relu.net[3].weight.data, relu.net[3].bias.data
    np.testing.assert_allclose(relu(x).data, np.maximum(hidden, 0) @ w.T[:, 0] + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(leaky(x).data, np.where(hidden > 0, hidden, 0.2 * hidden) @ w.T[:, 0] + b,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="activation must be one of"):
        MLPDiscriminator(activation="tanh")
