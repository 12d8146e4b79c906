"""`scratchgen train ddpm`, `sample` with both samplers, `restore` with every task, exact resumption."""
import json
import os

import numpy as np
import pytest

from helpers import run, trained_run
from scratchgen.models.unet import UNet
from scratchgen.nn import load_checkpoint
from scratchgen.training import RECIPES

TINY = ["--net", "mlp", "--widths", "16", "--timesteps", "25", "--limit", "64", "--batch-size", "32",
        "--no-progress"]


@pytest.fixture(scope="module")
def ddpm_run(data_dir, tmp_path_factory):
    return trained_run(tmp_path_factory, "ddpm", "--data", data_dir, "--epochs", "2", *TINY)


def test_train_writes_the_figures_and_a_comparable_loss(ddpm_run):
    for name in ("figures/forward_process.png", "figures/samples_epoch002.png", "figures/trajectory_epoch002.png",
                 "loss_curve.png"):
        assert os.path.exists(os.path.join(ddpm_run, name)), name
    config = json.load(open(os.path.join(ddpm_run, "config.json")))
    assert config["lr"] == 2e-4 and config["ema_decay"] == 0.999 and config["widths"] == [16]
    records = [json.loads(line) for line in open(os.path.join(ddpm_run, "log.jsonl"))]
    evals = [r for r in records if r["event"] == "eval"]
    assert len(evals) == 2 and all(0 < r["loss"] < 3 for r in evals)
    assert all(r["grad_norm"] > 0 for r in records if r["event"] == "epoch")
    assert config["lr_schedule"] == "constant" and all(r["lr"] == 2e-4 for r in records if r["event"] == "epoch")
    parts = load_checkpoint(os.path.join(ddpm_run, "checkpoint.npz"))
    assert int(parts["ema"]["num_updates"]) == 4    # one EMA update after every optimizer step
    assert {f"shadow.{name}" for name in parts["model"]} == set(parts["ema"]) - {"decay", "num_updates"}


def test_sample_with_ddim_and_ancestral_sampling(ddpm_run, tmp_path):
    paths = {}
    for sampler in ("ddim", "ddpm"):
        paths[sampler] = str(tmp_path / f"{sampler}.png")
        r = run("sample", ddpm_run, "--n", "9", "--sampler", sampler, "--steps", "5", "--output", paths[sampler])
        assert r.returncode == 0, r.stderr
        assert os.path.exists(paths[sampler])
    r = run("sample", ddpm_run, "--steps", "26", "--output", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "DDIM steps must be between 1 and 25" in r.stderr
    r = run("sample", ddpm_run, "--eta", "-1", "--output", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "argument --eta: expected a number in [0, 1], got -1" in r.stderr
    r = run("sample", ddpm_run, "--label", "3", "--output", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "need a run trained with --class-conditional" in r.stderr


def test_restore_runs_every_task(ddpm_run):
    for task in ("inpaint", "denoise", "superres"):
        r = run("restore", ddpm_run, "--task", task, "--n", "3", *(["--resample", "2"] if task == "inpaint" else []))
        assert r.returncode == 0, r.stderr
        scores = json.load(open(os.path.join(ddpm_run, f"restore_{task}.json")))
        assert scores["images"] == 3 and np.isfinite(scores["psnr"])
        assert os.path.exists(os.path.join(ddpm_run, f"restore_{task}.png"))
    assert "psnr_hole" in json.load(open(os.path.join(ddpm_run, "restore_inpaint.json")))


def test_restore_averages_several_draws_over_respaced_steps(ddpm_run):
    r = run("restore", ddpm_run, "--task", "inpaint", "--n", "3", "--steps", "5", "--samples", "4",
            "--overwrite")
    assert r.returncode == 0, r.stderr
    scores = json.load(open(os.path.join(ddpm_run, "restore_inpaint.json")))
    assert scores["samples"] == 4 and scores["images"] == 3
    # the mean of 4 different draws is closer to the truth than a single draw (Jensen, per pixel)
    assert scores["psnr_hole"] > scores["one_draw_psnr_hole"]
    r = run("restore", ddpm_run, "--task", "inpaint", "--n", "3", "--steps", "5", "--resample", "2",
            "--reconstruction-guidance", "10", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert np.isfinite(json.load(open(os.path.join(ddpm_run, "restore_inpaint.json")))["psnr_hole"])
    for option in (["--steps", "5"], ["--reconstruction-guidance", "1"]):
        r = run("restore", ddpm_run, "--task", "denoise", *option, "--overwrite")
        assert r.returncode == 2 and "apply to ddpm runs with --task inpaint, not to ddpm runs with --task denoise" \
            in r.stderr
    r = run("restore", ddpm_run, "--task", "inpaint", "--reconstruction-guidance", "-1", "--overwrite")
    assert r.returncode == 2 and "argument --reconstruction-guidance: expected a finite number >= 0" in r.stderr


def test_class_conditional_run_with_a_cosine_learning_rate_samples_with_guidance(data_dir, tmp_path):
    out = str(tmp_path / "cfg")
    r = run("train", "ddpm", "--data", data_dir, "--epochs", "1", "--out", out, *TINY, "--schedule", "cosine",
            "--class-conditional", "--eval-images", "8", "--lr-schedule", "cosine")
    assert r.returncode == 0, r.stderr
    # Two steps of a cosine over one epoch: the rate after them is lr/2, then 0; the epoch logs their mean.
    epochs = [r for r in map(json.loads, open(os.path.join(out, "log.jsonl"))) if r["event"] == "epoch"]
    assert epochs[-1]["lr"] == pytest.approx(2e-4 / 4)
    r = run("sample", out, "--n", "4", "--steps", "3", "--label", "7", "--guidance", "2")
    assert r.returncode == 0, r.stderr
    r = run("sample", out, "--n", "4", "--label", "10", "--overwrite")
    assert r.returncode == 2 and "argument --label: expected a digit 0-9, got 10" in r.stderr


def test_the_unet_is_built_from_the_config():
    net = RECIPES["ddpm"].build(dict(net="unet", widths=[8, 16], class_conditional=True))
    assert isinstance(net, UNet) and net.stem.weight.shape[0] == 8 and net.down2.conv1.weight.shape[0] == 16
    assert net.time_embedding.labels.weight.shape[0] == 11   # ten digits and "no label"


def test_bad_options_are_refused_before_anything_is_written(data_dir, tmp_path):
    out = str(tmp_path / "bad")
    for options, message in ((["--widths", "12,16"], "two multiples of 8"),
                             (["--net", "mlp", "--widths", "8,8"], "one hidden width"),
                             (["--timesteps", "10"], "at least 21 timesteps"),
                             (["--ema-decay", "1"], "argument --ema-decay: expected a number in [0, 1), got 1")):
        r = run("train", "ddpm", "--data", data_dir, "--out", out, *options)
        assert r.returncode == 2 and message in r.stderr, (options, r.stderr)
        assert not os.path.exists(out)


def test_resume_is_bit_exact_including_the_ema(data_dir, tmp_path):
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    assert run("train", "ddpm", "--data", data_dir, "--epochs", "2", "--out", straight, *TINY).returncode == 0
    assert run("train", "ddpm", "--data", data_dir, "--epochs", "1", "--out", resumed, *TINY).returncode == 0
    r = run("train", "ddpm", "--data", data_dir, "--epochs", "2", "--out", resumed, "--resume", *TINY)
    assert r.returncode == 0 and "resuming" in r.stdout, r.stderr
    a, b = (load_checkpoint(os.path.join(d, "checkpoint.npz")) for d in (straight, resumed))
    for part in ("model", "ema", "optimizer"):
        assert a[part].keys() == b[part].keys()
        for name in a[part]:
            np.testing.assert_array_equal(a[part][name], b[part][name], err_msg=f"{part}.{name}")


def test_evaluate_scores_the_sampler_it_is_given(ddpm_run, data_dir, tmp_path_factory):
    classifier = trained_run(tmp_path_factory, "classifier", "--data", data_dir, "--width", "4", "--epochs", "1",
                             "--no-progress")
    for options, what in ((["--sampler", "ddpm"], "Ancestral DDPM samples (25 steps"),
                          (["--steps", "5"], "DDIM-5 samples")):
        r = run("evaluate", ddpm_run, "--n-samples", "20", "--classifier", classifier, "--overwrite", *options)
        assert r.returncode == 0, r.stderr
        assert json.load(open(os.path.join(ddpm_run, "metrics.json")))["samples"]["what"].startswith(what)
