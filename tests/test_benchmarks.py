"""The benchmark workloads run and compute what their PyTorch twins compute (no timing here).

Each scratchgen workload is built at its real shapes (the DDPM ones at a smaller batch, to keep
the suite fast) and runs one step; with PyTorch installed, the twin built from the same weights
and inputs must give the same first loss, as ``benchmarks/run.py --compare torch`` checks.
"""
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchgen import allocator
from scratchgen.autograd import manual_seed
from scratchgen.data import DataLoader
from scratchgen.models.ddpm import Diffusion, NoiseSchedule, to_model_space
from scratchgen.training import RECIPES, load_run, runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import run  # noqa: E402
import workloads  # noqa: E402

SMALLER = {"ddpm_unet": dict(batch=4), "ddpm_sample": dict(batch=4)}


@pytest.mark.parametrize("name", workloads.NAMES)
def test_workload_step_gives_a_finite_loss(name):
    workload = workloads.build(name, **SMALLER.get(name, {}))
    assert math.isfinite(workload.step())


@pytest.mark.parametrize("name", workloads.NAMES)
def test_workload_loss_agrees_with_pytorch(name):
    pytest.importorskip("torch")
    import torch_workloads  # noqa: PLC0415 (loads torch: only after the importorskip)

    workload = workloads.build(name, **SMALLER.get(name, {}))
    torch_step = torch_workloads.twin(workload)
    ours, theirs = workload.step(), torch_step()
    assert run.losses_agree(ours, theirs), (ours, theirs)
    # The second step agrees too, so both optimizers made the same update.
    ours, theirs = workload.step(), torch_step()
    assert run.losses_agree(ours, theirs), (ours, theirs)


def test_percentile_interpolates():
    assert run.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert run.percentile([0.0, 10.0], 10) == pytest.approx(1.0)



def test_keep_freed_memory_turns_glibc_mallopt_on():
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's mallopt only")
    assert allocator.keep_freed_memory() and allocator.keep_freed_memory()   # idempotent
    assert allocator.describe().startswith("freed memory kept")


def test_ddpm_reference_trains_on_exactly_what_scratchgen_trains_on(data_dir, tmp_path):
    """PyTorch's first step sees scratchgen's initial weights, batch, t and noise, so its loss is scratchgen's."""
    pytest.importorskip("torch")
    import ddpm_reference  # noqa: PLC0415 (loads torch: only after the importorskip)

    out = str(tmp_path / "reference")
    args = ["--data", data_dir, "--limit", "32", "--batch-size", "16", "--epochs", "1", "--log-every", "1"]
    assert ddpm_reference.main([*args, "--out", out]) == 0
    first = json.loads(open(os.path.join(out, "log.jsonl")).readline())
    config, _ = load_run(out)   # the EMA checkpoint loads as a scratchgen run, for `scratchgen evaluate`
    assert config["trained_with"].startswith("PyTorch")

    manual_seed(config["seed"])
    model = RECIPES["ddpm"].build(config)
    images, labels = runs.load_split(config, "train")
    x, _ = next(iter(DataLoader((images[:32], labels[:32]), 16, seed=config["seed"])))
    diffusion = Diffusion(model, NoiseSchedule(config["timesteps"], config["schedule"]))
    loss = diffusion.loss(to_model_space(x)[:, None], np.random.default_rng(config["seed"] + 1))
    assert first["loss"] == pytest.approx(loss.item(), rel=1e-4)
