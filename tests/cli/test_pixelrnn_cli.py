"""`scratchgen train pixelrnn` end to end, with each layer type: train, evaluate, sample, restore
--task complete, and a resume that ends bit for bit like a run never stopped.

A Diagonal BiLSTM recomputes the rows above each pixel it draws, 784 passes per sampled image: its
tests draw only the last rows, and the full samples are the Row LSTM's."""
import json
import os

import numpy as np
import pytest

from helpers import assert_evaluate_gives_the_exact_nll, checkpoint_differences, run, trained_run
from scratchgen.evaluation import restoration
from scratchgen.figures import save_gray
from scratchgen.training import RECIPES, load_run
from scratchgen.training.runs import eval_images

TINY = ["--limit", "48", "--batch-size", "16", "--hidden", "2", "--layers", "1", "--output-hidden", "4",
        "--eval-images", "20", "--no-progress"]
FIGURE_SAMPLES = {"row": "2", "diagonal": "0"}
MISSING_ROWS = 2    # the last rows of each image, drawn by restore --task complete


def _train(layer, data_dir, tmp_path_factory):
    return trained_run(tmp_path_factory, "pixelrnn", "--data", data_dir, "--epochs", "1", "--layer", layer,
                       "--figure-samples", FIGURE_SAMPLES[layer], *TINY)


@pytest.fixture(scope="module")
def row_run(data_dir, tmp_path_factory):
    return _train("row", data_dir, tmp_path_factory)


@pytest.fixture(scope="module")
def diagonal_run(data_dir, tmp_path_factory):
    return _train("diagonal", data_dir, tmp_path_factory)


@pytest.fixture(params=["row", "diagonal"])
def pixelrnn_run(request):
    return request.getfixturevalue(f"{request.param}_run")


def test_train_writes_its_figures_and_config_and_binarizes(pixelrnn_run):
    config, model = load_run(pixelrnn_run)
    figures = ["checkpoint.npz", "loss_curve.png", "figures/nll_curve.png"]
    for name in figures + ["figures/samples_epoch001.png"] * (config["figure_samples"] > 0):
        assert os.path.exists(os.path.join(pixelrnn_run, name)), name
    assert config["binarize"] == "bernoulli" and (config["hidden"], config["layers"]) == (2, 1)
    assert type(model).__name__ == "PixelRNN" and model.config() == {k: config[k] for k in model.config()}
    evals = [json.loads(line) for line in open(os.path.join(pixelrnn_run, "log.jsonl")) if '"eval"' in line]
    assert evals[-1]["bits_per_dim"] == pytest.approx(evals[-1]["nll"] / (784 * np.log(2)))


def test_evaluate_writes_the_exact_nll_of_the_binarized_test_set(pixelrnn_run):
    assert_evaluate_gives_the_exact_nll(pixelrnn_run, "pixelrnn")


def test_complete_keeps_the_known_pixels_exactly_and_refuses_inpainting(pixelrnn_run, tmp_path):
    mask = str(tmp_path / "last_rows_missing.png")
    save_gray(mask, np.where(np.arange(28)[:, None] < 28 - MISSING_ROWS, 255, 0).repeat(28, axis=1).astype(np.uint8))
    r = run("restore", pixelrnn_run, "--task", "complete", "--n", "2", "--mask", mask)
    assert r.returncode == 0, r.stderr
    for name in ("restore_complete.png", "restore_complete.json", "completions.png"):
        assert os.path.exists(os.path.join(pixelrnn_run, name)), name
    r = run("restore", pixelrnn_run, "--task", "inpaint", "--overwrite")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot inpaint: it can complete" in r.stderr

    config, model = load_run(pixelrnn_run)
    clean, _ = eval_images(config, 2)
    rng = np.random.default_rng(0)
    damaged, known, _ = restoration.damage("complete", clean, rng, mask=mask)
    restored = RECIPES["pixelrnn"].restore["complete"](model, config, damaged, known, rng,
                                                       dict(run_dir=pixelrnn_run, overwrite=True))
    assert known[:, :-MISSING_ROWS].all() and not known[:, -MISSING_ROWS:].any()
    np.testing.assert_array_equal(restored[known], clean[known])
    assert set(np.unique(restored)) <= {0.0, 1.0}


def test_sample_writes_a_grid_titled_by_the_family(row_run, tmp_path):
    output = str(tmp_path / "drawn.png")
    r = run("sample", row_run, "--n", "2", "--output", output)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(output) > 0
    config, model = load_run(row_run)
    images, title = RECIPES["pixelrnn"].sample(model, config, 1, np.random.default_rng(0), {})
    assert images.shape == (1, 28, 28) and set(np.unique(images)) <= {0.0, 1.0}
    assert title.startswith("PixelRNN samples")


def test_a_run_stopped_mid_epoch_and_resumed_ends_bit_for_bit_like_one_never_stopped(data_dir, tmp_path):
    """The halted run stops after its first step (a time budget of ~0); resumed without the budget it
    must reach the same weights, Adam moments and schedule as the straight run, cosine and all.
    (tests/training/test_recipes.py resumes a Diagonal BiLSTM the same way, through train_run.)"""
    straight, halted = str(tmp_path / "straight"), str(tmp_path / "halted")
    options = ["--data", data_dir, "--epochs", "2", "--layer", "row", "--figure-samples", "0", *TINY]
    assert run("train", "pixelrnn", "--out", straight, *options).returncode == 0
    r = run("train", "pixelrnn", "--out", halted, *options, "--minutes", "1e-9")
    assert r.returncode == 0 and "epoch 0, step 1," in r.stdout, r.stdout + r.stderr
    r = run("train", "pixelrnn", "--out", halted, "--resume", "--minutes", "60", "--no-progress")
    assert r.returncode == 0 and "resuming" in r.stdout, r.stderr
    assert "epoch 2, step 6," in r.stdout, r.stdout
    assert checkpoint_differences(straight, halted) == []
