"""`scratchgen train vae --class-conditional`, `sample --label` and `evaluate --conditional` on tiny runs."""
import json
import os

import numpy as np
import pytest

from helpers import run, trained_run
from scratchgen.cli import scoring
from scratchgen.training import make_config

TINY = ("--limit", "48", "--batch-size", "16", "--epochs", "1", "--eval-images", "20", "--no-progress")


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    return {
        "cvae": trained_run(tmp_path_factory, "vae", "--latent", "4", "--hidden", "16", "--class-conditional",
                            "--data", data_dir, *TINY),
        "ddpm": trained_run(tmp_path_factory, "ddpm", "--net", "mlp", "--widths", "16", "--timesteps", "50",
                            "--class-conditional", "--data", data_dir, *TINY),
        "classifier": trained_run(tmp_path_factory, "classifier", "--width", "4", "--data", data_dir, *TINY),
    }


def test_a_cvae_run_is_conditional_and_samples_a_requested_digit(runs, tmp_path):
    config = json.load(open(os.path.join(runs["cvae"], "config.json")))
    assert config["class_conditional"] is True
    r = run("sample", runs["cvae"], "--n", "4", "--label", "7", "--output", str(tmp_path / "sevens.png"))
    assert r.returncode == 0, r.stderr
    r = run("sample", runs["cvae"], "--n", "4", "--guidance", "1", "--output", str(tmp_path / "guided.png"))
    assert r.returncode == 2 and "vae runs do not use --guidance" in r.stderr
    r = run("reconstruct", runs["cvae"], "--n", "3", "--overwrite")   # given the test labels
    assert r.returncode == 0, r.stderr


def _metrics(run_dir):
    return json.load(open(os.path.join(run_dir, "metrics.json")))


def test_evaluate_conditional_cvae_writes_per_digit_accuracy_quality_and_cas(runs):
    r = run("evaluate", runs["cvae"], "--conditional", "--classifier", runs["classifier"], "--k", "2", "--limit", "40",
            "--n-samples", "20", "--cas-images", "20", "--overwrite")
    assert r.returncode == 0, r.stderr
    report = _metrics(runs["cvae"])["conditional"]
    assert report["classifier"] == runs["classifier"] and report["per_class"] == 2
    [entry] = report["by_guidance"]          # a vae has no guidance: one row, without a weight
    assert "guidance" not in entry and len(entry["per_class_accuracy"]) == 10
    assert sum(map(sum, entry["confusion"])) == 20 and entry["quality"]["n"] == 20
    assert entry["cas"]["images"] == report["cas_real_baseline"]["images"] == 20
    recipe = make_config({"model": "classifier"})   # both CAS classifiers: `scratchgen train classifier` by default
    assert (f"scratchgen train classifier --width {recipe['width']} --lr {recipe['lr']:g} --batch-size "
            f"{recipe['batch_size']} --epochs {recipe['epochs']} --seed 0") in report["cas_training"]
    assert sum(map(sum, report["judge_on_real_test"]["confusion"])) == 40   # the whole test split
    assert "accuracy per requested digit" in r.stdout and "real test" in r.stdout
    assert "samples" not in _metrics(runs["cvae"])   # the plain sample scores are replaced, not repeated


def test_evaluate_conditional_ddpm_scores_each_guidance_weight(runs):
    r = run("evaluate", runs["ddpm"], "--conditional", "--guidance", "0,2", "--steps", "2", "--classifier",
            runs["classifier"], "--limit", "40", "--n-samples", "20", "--overwrite")
    assert r.returncode == 0, r.stderr
    report = _metrics(runs["ddpm"])["conditional"]
    assert [entry["guidance"] for entry in report["by_guidance"]] == [0.0, 2.0]
    assert "cas" not in report["by_guidance"][0] and "cas_real_baseline" not in report


@pytest.mark.parametrize("options, says", [
    (("--n-samples", "25"), "--n-samples 25: --conditional draws as many samples of each digit"),
    (("--n-samples", "10"), "expected at least 20"),
    (("--cas-images", "15"), "--cas-images 15"),
    (("--label", "3"), "leave out --label"),
    (("--parzen",), "leave out --parzen"),
])
def test_evaluate_conditional_refuses_options_that_do_not_fit_in_one_line(runs, options, says):
    before = sorted(os.listdir(runs["ddpm"]))
    r = run("evaluate", runs["ddpm"], "--conditional", "--classifier", runs["classifier"], *options, "--overwrite")
    assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(runs["ddpm"])) == before


class _DigitAsGray:
    """A fake run and its judge: the 'model' draws digit d as a uniform image of gray d/9, and the judge reads
    the digit back from the gray level, so a draw judged right proves the digit was asked for."""

    def __init__(self):
        self.asked = []

    def sample(self, model, config, n, rng, options):
        self.asked.append((options["label"], options.get("guidance"), n))
        return np.full((n, 28, 28), options["label"] / 9, np.float32), "gray digits"

    def features_and_probabilities(self, images):
        levels = np.asarray(images, np.float64).reshape(len(images), -1)
        digits = np.clip(np.round(levels.mean(axis=1) * 9), 0, 9).astype(int)
        features = np.stack([levels.mean(axis=1), levels.std(axis=1)], axis=1)
        features += np.random.default_rng(0).normal(0, 1e-3, features.shape)   # FID needs a covariance
        return features, np.eye(10)[digits]


def test_conditional_metrics_asks_for_each_digit_at_each_weight(data_dir):
    fake = _DigitAsGray()
    report = scoring.conditional_metrics(fake, None, {"data": data_dir}, fake, weights=[0.0, 2.5], per_class=3,
                                         cas_per_class=0, seed=0, sampler_options={"steps": 4})
    assert fake.asked == [(digit, weight, 3) for weight in (0.0, 2.5) for digit in range(10)]
    assert [entry["accuracy"] for entry in report["by_guidance"]] == [1.0, 1.0]
