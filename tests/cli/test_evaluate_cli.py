"""`scratchgen train classifier` and `scratchgen evaluate` with sample metrics, on a tiny IDX folder."""
import json
import math
import os
import shutil

import numpy as np
import pytest

from helpers import run
from scratchgen.evaluation.metrics import nats_to_bits_per_dim
from scratchgen.training import load_run
from scratchgen.training.runs import eval_images, validation_images


def _train(tmp_path_factory, model, *options):
    out = str(tmp_path_factory.mktemp("runs") / model)
    r = run("train", model, *options, "--epochs", "1", "--batch-size", "32", "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def classifier_run(data_dir, tmp_path_factory):
    return _train(tmp_path_factory, "classifier", "--data", data_dir, "--width", "4", "--log-every", "1")


@pytest.fixture(scope="module")
def vae_run(data_dir, tmp_path_factory):
    return _train(tmp_path_factory, "vae", "--data", data_dir, "--latent", "4", "--hidden", "32")


def _lrs(run_dir):
    records = [json.loads(line) for line in open(os.path.join(run_dir, "log.jsonl"))]
    return {r["step"]: r["lr"] for r in records if r["event"] == "train"}


def test_classifier_trains_with_a_cosine_schedule_that_resumes(classifier_run, data_dir, tmp_path):
    config = json.load(open(os.path.join(classifier_run, "config.json")))
    assert config["model"] == "classifier" and config["data"] == data_dir and config["width"] == 4
    assert os.path.exists(os.path.join(classifier_run, "figures", "confusion_epoch001.png"))
    evals = [json.loads(line) for line in open(os.path.join(classifier_run, "log.jsonl")) if '"eval"' in line]
    assert 0 <= evals[-1]["accuracy"] <= 1 and evals[-1]["loss"] > 0
    assert _lrs(classifier_run)[4] == pytest.approx(0.0, abs=1e-12)   # 120 images / 32: the cosine ends at step 4

    out = str(tmp_path / "resumed")
    shutil.copytree(classifier_run, out)
    r = run("train", "classifier", "--out", out, "--epochs", "2", "--resume", "--log-every", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    lrs = _lrs(out)   # T_max is now 8 steps: step 4 is half way down, the last step reaches 0
    assert lrs[4] == pytest.approx(0.0, abs=1e-12) and lrs[5] == pytest.approx(5e-4 * (1 + math.cos(math.pi * 5 / 8)))
    assert lrs[8] == pytest.approx(0.0, abs=1e-12)

    r = run("evaluate", classifier_run, "--overwrite")
    assert r.returncode == 0, r.stderr
    metrics = json.load(open(os.path.join(classifier_run, "metrics.json")))
    assert metrics["test_images"] == 40 and "samples" not in metrics
    config, model = load_run(classifier_run)   # evaluate scores all 40 test images, the log all 10 validation images
    for images_of, accuracy in ((eval_images, metrics["accuracy"]), (validation_images, evals[-1]["accuracy"])):
        x, labels = images_of(config)
        assert accuracy == pytest.approx(np.mean(model.features_and_probabilities(x)[1].argmax(axis=1) == labels))


def test_evaluate_scores_samples_beside_real_baselines(vae_run, classifier_run):
    r = run("evaluate", vae_run, "--k", "5", "--n-samples", "40", "--classifier", classifier_run, "--parzen")
    assert r.returncode == 0, r.stderr
    metrics = json.load(open(os.path.join(vae_run, "metrics.json")))
    assert metrics["bits_per_dim_iwae_5"] == pytest.approx(nats_to_bits_per_dim(metrics["nll_iwae_5"], 784))
    config, model = load_run(vae_run)     # the same draws (--seed 0) give the same bound per image
    x, _ = eval_images(config)
    bound = model.iwae_bound(x, k=5, rng=np.random.default_rng(0))
    assert metrics["nll_iwae_5"] == pytest.approx(-bound.mean(), rel=1e-6)
    assert metrics["nll_iwae_5_standard_error"] == pytest.approx(bound.std(ddof=1) / math.sqrt(len(x)), rel=1e-6)
    assert "bernoulli" in metrics["likelihood_binarization"]
    report = metrics["samples"]
    assert report["n"] == 40 and report["classifier"] == classifier_run
    for part in ("samples", "real_baseline"):
        scores = report[part]
        for key in ("fid", "kid", "classifier_score", "class_entropy", "memorization"):
            assert math.isfinite(scores[key]), (part, key)
        assert sum(scores["class_counts"]) == 40
        assert math.isfinite(metrics["parzen"][part]["mean"])
    assert "real baseline" in r.stdout and "classifier FID" in r.stdout and "Parzen" in r.stdout


def test_evaluate_refuses_a_missing_or_mismatched_classifier(vae_run, classifier_run, data_dir, tmp_path,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = os.path.basename(data_dir)
    r = run("evaluate", vae_run, "--k", "0", "--n-samples", "40", "--overwrite")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert (f"no classifier for {data_dir}: train one with scratchgen train classifier --data {data_dir} "
            f"--out runs/classifier-{name}") in r.stderr

    other = tmp_path / "runs" / f"classifier-{name}"       # the default location, trained on another dataset
    shutil.copytree(classifier_run, other)
    config = json.load(open(other / "config.json"))
    json.dump({**config, "data": "fashion-mnist"}, open(other / "config.json", "w"))
    r = run("evaluate", vae_run, "--k", "0", "--n-samples", "40", "--overwrite")
    assert r.returncode == 2 and "trained on 'fashion-mnist'" in r.stderr

    r = run("evaluate", vae_run, "--k", "0", "--n-samples", "40", "--overwrite", "--classifier", vae_run)
    assert r.returncode == 2 and "not a classifier run" in r.stderr
    r = run("evaluate", vae_run, "--k", "0", "--n-samples", "3", "--overwrite", "--classifier", classifier_run)
    assert r.returncode == 2 and "at least 10" in r.stderr
