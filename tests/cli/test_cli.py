"""The `scratchgen` command end to end on a tiny folder of glyph digits in IDX format."""
import json
import os

import matplotlib.image
import pytest

from helpers import run, run_subprocess
from scratchgen.cli import build_parser
from scratchgen.training import RECIPES, make_config


@pytest.fixture(scope="module")
def vae_run(data_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "vae")
    r = run_subprocess("train", "vae", "--data", data_dir, "--epochs", "1", "--limit", "64", "--latent", "2",
            "--hidden", "32", "--batch-size", "32", "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    return out


def test_train_writes_the_run_directory(vae_run):
    for name in ("config.json", "log.jsonl", "checkpoint.npz", "loss_curve.png",
                 "figures/samples_epoch001.png", "figures/reconstructions_epoch001.png"):
        assert os.path.exists(os.path.join(vae_run, name)), name
    config = json.load(open(os.path.join(vae_run, "config.json")))
    assert config["model"] == "vae" and config["limit"] == 64 and config["binarize"] == "bernoulli"


def test_sample_reconstruct_evaluate(vae_run):
    r = run("sample", vae_run, "--n", "16")
    assert r.returncode == 0, r.stderr
    r = run("reconstruct", vae_run)
    assert r.returncode == 0, r.stderr
    r = run("evaluate", vae_run, "--k", "20", "--n-samples", "0")
    assert r.returncode == 0, r.stderr
    metrics = json.load(open(os.path.join(vae_run, "metrics.json")))
    assert metrics["test_images"] == 40 and metrics["iwae_20"] >= metrics["elbo"] - 5
    for name in ("samples.png", "reconstructions.png", "interpolation.png", "figures/manifold.png",
                 "figures/latent_means.png"):
        assert os.path.exists(os.path.join(vae_run, name)), name
    # outputs are not overwritten without --overwrite
    r = run("sample", vae_run)
    assert r.returncode == 2 and "samples.png already exists: pass --overwrite" in r.stderr
    assert run("sample", vae_run, "--overwrite").returncode == 0


def test_errors_are_one_line(vae_run, data_dir, tmp_path):
    r = run("train", "nosuch", "--data", data_dir)
    assert r.returncode == 2 and "invalid choice: 'nosuch'" in r.stderr
    r = run("train", "vae", "--data", "cifar10")
    assert "unknown dataset 'cifar10'" in r.stderr
    r = run("train", "vae", "--data", data_dir, "--out", vae_run)
    assert r.returncode == 2 and "already holds a run" in r.stderr and "--overwrite" in r.stderr
    os.makedirs(tmp_path / "empty")
    json.dump({"model": "vae"}, open(tmp_path / "empty" / "config.json", "w"))
    r = run("evaluate", str(tmp_path / "empty"))
    assert r.returncode == 2 and "no checkpoint in" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("sample", str(tmp_path / "nowhere"))
    assert "is not a directory" in r.stderr
    # a checkpoint from a different architecture
    other = tmp_path / "other"
    os.makedirs(other)
    config = json.load(open(os.path.join(vae_run, "config.json")))
    config["hidden"] = 64
    json.dump(config, open(other / "config.json", "w"))
    os.link(os.path.join(vae_run, "checkpoint.npz"), other / "checkpoint.npz")
    r = run("sample", str(other))
    assert r.returncode == 2 and "does not match the architecture" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_resume_and_denoising_ae(data_dir, tmp_path):
    out = str(tmp_path / "ae")
    args = ["train", "ae", "--data", data_dir, "--limit", "64", "--latent", "4", "--hidden", "16",
            "--batch-size", "32", "--corrupt", "gaussian", "--out", out, "--no-progress"]
    assert run(*args, "--epochs", "1").returncode == 0
    r = run(*args, "--epochs", "2", "--resume")
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout and "epoch 2" in r.stdout
    r = run("evaluate", out, "--n-samples", "0")
    assert r.returncode == 0 and "psnr_input" in r.stdout


def test_help_explains_every_option():
    r = run("train", "--help")
    assert r.returncode == 0 and all(name in r.stdout for name in RECIPES)
    r = run("train", "vae", "--help")
    assert r.returncode == 0
    for option in ("--data", "--epochs", "--minutes", "--out", "--resume", "--overwrite", "--limit", "--kl-warmup"):
        assert option in r.stdout
    assert "--corrupt" not in r.stdout and "--corrupt" in run("train", "ae", "--help").stdout


def test_restore_with_a_denoising_autoencoder(data_dir, tmp_path):
    out = str(tmp_path / "dae")
    assert run("train", "ae", "--data", data_dir, "--limit", "64", "--latent", "8", "--hidden", "32", "--epochs", "2",
               "--corrupt", "mask", "--out", out, "--no-progress").returncode == 0
    r = run("restore", out, "--task", "inpaint", "--n", "8")
    assert r.returncode == 0, r.stderr
    scores = json.load(open(os.path.join(out, "restore_inpaint.json")))
    assert scores["images"] == 8
    assert {"psnr", "ssim", "psnr_damaged", "psnr_hole", "psnr_hole_mean_image"} <= set(scores)
    assert os.path.exists(os.path.join(out, "restore_inpaint.png"))
    r = run("restore", out, "--task", "inpaint")
    assert r.returncode == 2 and "already exists" in r.stderr
    r = run("restore", out, "--task", "superres")
    assert r.returncode == 2 and "cannot superres" in r.stderr
    r = run("restore", out, "--task", "inpaint", "--mask", "nosuch", "--overwrite")
    assert r.returncode == 2 and "unknown mask 'nosuch'" in r.stderr
    r = run("restore", out, "--task", "inpaint", "--resample", "3", "--overwrite")
    assert r.returncode == 2 and "not to ae runs with --task inpaint" in r.stderr
    # a deterministic model gives the same restoration every draw: the mean is the one draw
    r = run("restore", out, "--task", "inpaint", "--n", "8", "--samples", "3", "--overwrite")
    assert r.returncode == 0, r.stderr
    averaged = json.load(open(os.path.join(out, "restore_inpaint.json")))
    assert averaged["samples"] == 3 and averaged["psnr_hole"] == pytest.approx(scores["psnr_hole"])
    assert averaged["one_draw_psnr_hole"] == pytest.approx(scores["psnr_hole"])


def test_each_model_keeps_its_own_defaults_and_its_help_shows_them():
    for name, family in RECIPES.items():
        config = make_config({"model": name})
        for option, value in family.defaults.items():
            assert config[option] == value, (name, option)
    # the parser leaves an option out unless given (train_run fills it in), yet --help names the model's default
    assert "model" in vars(build_parser().parse_args(["train", "ddpm"]))
    assert "lr" not in vars(build_parser().parse_args(["train", "ddpm"]))
    ddpm_help, vae_help = (" ".join(run("train", name, "--help").stdout.split()) for name in ("ddpm", "vae"))
    assert "learning rate (default: 0.0002)" in ddpm_help and "images per step (default: 64)" in ddpm_help
    assert "learning rate (default: 0.001)" in vae_help and "size of the code (default: 20)" in vae_help


def test_data_summary_and_figure(data_dir, tmp_path):
    r = run("data", "summary", "--data", data_dir)
    assert r.returncode == 0, r.stderr
    assert "train: images (" in r.stdout and "test: images (" in r.stdout and "label counts" in r.stdout
    path = str(tmp_path / "grid.png")
    assert run("data", "figure", path, "--data", data_dir).returncode == 0
    assert matplotlib.image.imread(path).shape[:2] == (900, 900)
    r = run("data", "summary", "--data", "cifar10")
    assert r.returncode == 2 and "unknown dataset 'cifar10'" in r.stderr and "glyph-digits" in r.stderr
