"""`scratchgen train pixelcnn` end to end: train, resume, evaluate, sample, restore --task complete."""
import json
import os

import numpy as np
import pytest

from helpers import assert_evaluate_gives_the_exact_nll, checkpoint_differences, run, trained_run
from scratchgen.evaluation import restoration
from scratchgen.training import RECIPES, load_run
from scratchgen.training.runs import eval_images

TINY = ["--limit", "64", "--channels", "8", "--blocks", "1", "--hidden", "8", "--batch-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def pixelcnn_run(data_dir, tmp_path_factory):
    return trained_run(tmp_path_factory, "pixelcnn", "--data", data_dir, "--epochs", "1", *TINY)


def test_train_writes_samples_and_the_nll_curve_and_binarizes(pixelcnn_run):
    for name in ("checkpoint.npz", "loss_curve.png", "figures/samples_epoch001.png", "figures/nll_curve.png"):
        assert os.path.exists(os.path.join(pixelcnn_run, name)), name
    config = json.load(open(os.path.join(pixelcnn_run, "config.json")))
    assert config["binarize"] == "bernoulli" and config["channels"] == 8 and config["blocks"] == 1
    evals = [json.loads(line) for line in open(os.path.join(pixelcnn_run, "log.jsonl")) if '"eval"' in line]
    assert evals[-1]["bits_per_dim"] == pytest.approx(evals[-1]["nll"] / (784 * np.log(2)))


def test_evaluate_writes_the_exact_nll_of_the_binarized_test_set(pixelcnn_run):
    assert_evaluate_gives_the_exact_nll(pixelcnn_run, "pixelcnn")


def test_sample_writes_a_grid(pixelcnn_run):
    r = run("sample", pixelcnn_run, "--n", "4")
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(pixelcnn_run, "samples.png"))


def test_complete_keeps_the_known_pixels_exactly_and_writes_its_figures(pixelcnn_run):
    r = run("restore", pixelcnn_run, "--task", "complete", "--n", "3")
    assert r.returncode == 0, r.stderr
    for name in ("restore_complete.png", "restore_complete.json", "completions.png"):
        assert os.path.exists(os.path.join(pixelcnn_run, name)), name
    r = run("restore", pixelcnn_run, "--task", "inpaint", "--overwrite")
    assert r.returncode == 2 and "cannot inpaint: it can complete" in r.stderr

    config, model = load_run(pixelcnn_run)
    clean, _ = eval_images(config, 3)
    rng = np.random.default_rng(0)
    damaged, known, _ = restoration.damage("complete", clean, rng)
    restored = RECIPES["pixelcnn"].restore["complete"](model, config, damaged, known, rng,
                                                       dict(run_dir=pixelcnn_run, overwrite=True))
    assert known[:, :14].all() and not known[:, 14:].any()   # the default mask: top half given
    np.testing.assert_array_equal(restored[known], clean[known])
    assert set(np.unique(restored)) <= {0.0, 1.0}


def test_resume_continues_bit_for_bit(data_dir, tmp_path):
    straight, halted = str(tmp_path / "straight"), str(tmp_path / "halted")
    # 784 forward passes per epoch spared; a constant learning rate, since a cosine over --epochs
    # differs between a 2-epoch run and a 1-epoch run resumed to 2 (test_evaluate_cli resumes one)
    quick = [*TINY, "--figure-samples", "0", "--lr-schedule", "constant"]
    assert run("train", "pixelcnn", "--data", data_dir, "--epochs", "2", "--out", straight, *quick).returncode == 0
    assert run("train", "pixelcnn", "--data", data_dir, "--epochs", "1", "--out", halted, *quick).returncode == 0
    assert not os.path.exists(os.path.join(straight, "figures", "samples_epoch001.png"))
    r = run("train", "pixelcnn", "--data", data_dir, "--epochs", "2", "--out", halted, "--resume", *quick)
    assert r.returncode == 0 and "resuming" in r.stdout, r.stderr
    assert checkpoint_differences(straight, halted) == []


def test_gated_variant_trains_and_evaluates(data_dir, tmp_path):
    out = str(tmp_path / "gated")
    r = run("train", "pixelcnn", "--data", data_dir, "--epochs", "1", "--gated", "--out", out, *TINY,
            "--figure-samples", "0")
    assert r.returncode == 0, r.stderr
    config, model = load_run(out)
    assert config["gated"] and type(model).__name__ == "GatedPixelCNN"
    assert run("evaluate", out, "--n-samples", "0").returncode == 0
    assert json.load(open(os.path.join(out, "metrics.json")))["nll_exact"] > 0


@pytest.mark.parametrize("mask", ["center", "random"])
def test_complete_refuses_a_mask_with_known_pixels_after_missing_ones(pixelcnn_run, tmp_path, mask):
    figure = str(tmp_path / "refused.png")
    r = run("restore", pixelcnn_run, "--task", "complete", "--mask", mask, "--n", "2", "--output", figure)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and "known pixels to come first in raster order" in r.stderr, r.stderr
    assert not os.path.exists(figure)
