"""Running the `scratchgen` command from tests: in process (fast) or as a real subprocess; and test doubles
shared by several test files."""
import contextlib
import io
import json
import os
import subprocess
import sys
import urllib.error

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen.autograd import no_grad
from scratchgen.cli import main
from scratchgen.nn import load_checkpoint
from scratchgen.training import load_run
from scratchgen.training.runs import eval_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args):
    """In-process `scratchgen ARGS` (fast); `run_subprocess` checks the real `python -m scratchgen`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:
            code = e.code
    return Result(code, out.getvalue(), err.getvalue())


def run_subprocess(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("SCRATCHGEN_DATA", None)
    return subprocess.run([sys.executable, "-m", "scratchgen", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def trained_run(tmp_path_factory, model, *args):
    """The run directory of `scratchgen train MODEL ARGS --out <fresh temporary directory>`."""
    out = str(tmp_path_factory.mktemp("runs") / model)
    r = run("train", model, "--out", out, *args)
    assert r.returncode == 0, r.stderr
    return out


def offline_fetch(url):
    """A stand-in for the data layer's download: tests never reach the network."""
    raise urllib.error.URLError("no network in tests")


def files_below(folder) -> dict:
    """Every file below ``folder`` by relative path, with its bytes: compare two of these to show
    that nothing was lost or changed."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def checkpoint_differences(run_a, run_b) -> list:
    """Names of the checkpoint arrays that differ between two run directories (training time aside:
    it is measured, not computed): [] when a resumed run ended bit for bit like one never stopped."""
    first, second = (load_checkpoint(os.path.join(d, "checkpoint.npz")) for d in (run_a, run_b))
    assert first.keys() == second.keys()
    return [f"{part}.{name}" for part in first for name in first[part]
            if name != "train_seconds" and not np.array_equal(first[part][name], second[part][name])]


def assert_evaluate_gives_the_exact_nll(run_dir: str, model_name: str) -> dict:
    """`scratchgen evaluate RUN` of an autoregressive run: metrics.json's NLL is the sum of the model's
    Bernoulli log-probabilities of the test bits (binarized once, with a seed), and its bits/dim follow."""
    r = run("evaluate", run_dir, "--n-samples", "0")
    assert r.returncode == 0, r.stderr
    metrics = json.load(open(os.path.join(run_dir, "metrics.json")))
    assert metrics["model"] == model_name and metrics["test_images"] == 40
    assert "seed" in metrics["likelihood_binarization"]
    assert metrics["bits_per_dim_exact"] == pytest.approx(metrics["nll_exact"] / (784 * np.log(2)))
    config, model = load_run(run_dir)
    bits, _ = eval_images(config)
    assert set(np.unique(bits)) == {0.0, 1.0}
    with no_grad():
        logits = model(bits[:, None]).data[:, 0]
    log_p = np.where(bits == 1, -np.logaddexp(0, -logits), -np.logaddexp(0, logits)).sum(axis=(1, 2))
    assert metrics["nll_exact"] == pytest.approx(-log_p.mean(), rel=1e-5)
    assert metrics["nll_exact_standard_error"] == pytest.approx(log_p.std(ddof=1) / np.sqrt(len(log_p)), rel=1e-4)
    return metrics


class OracleNoise(nn.Module):
    """Returns the exact noise that turns the known x_0 into x_t: a perfectly trained DDPM network."""

    def __init__(self, x0, schedule):
        super().__init__()
        self.x0, self.schedule = x0, schedule

    def forward(self, x_t, t, labels=None):
        # built from tensor ops, so that gradients with respect to x_t flow through it
        abar = self.schedule.alpha_bars[np.asarray(t)].reshape(-1, 1, 1, 1)
        return (sg.as_tensor(x_t) - np.sqrt(abar) * self.x0) * (1 / np.sqrt(1 - abar))
