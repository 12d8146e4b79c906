"""The benchmark workloads run and compute what their PyTorch twins compute (no timing here).

Each scratchgen workload is built at its real shapes (the DDPM and PixelRNN ones at a smaller
batch, to keep the suite fast) and runs one step; with PyTorch installed, the twin built from the
same weights and inputs must give the same first loss, as ``benchmarks/run.py --compare torch``
checks. For PixelRNN, whose LSTM has its own backpropagation through time (kernels/lstm.py), the
gradients must agree too.
"""
import argparse
import json
import math
import os
import sys
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd import manual_seed
from scratchgen.crosscheck import compare
from scratchgen.data import DataLoader
from scratchgen.models.ddpm import Diffusion, NoiseSchedule, to_model_space
from scratchgen.training import RECIPES, load_run, runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import run  # noqa: E402
import workloads  # noqa: E402

SMALLER = {name: dict(batch=4) for name in ("ddpm_unet", "ddpm_sample", "pixelrnn_row", "pixelrnn_diagonal")}


@pytest.fixture
def torch_workloads():
    """The twins, with PyTorch on one thread for the test, then back to its thread count.

    A PixelRNN twin's step is thousands of small ops (its LSTM loops), and on a busy machine each
    waits for a descheduled worker of PyTorch's thread pool: on 2 loaded cores a step of
    ``pixelrnn_row`` at batch 4 took 8 s with 2 threads, 0.1 s with one.
    """
    torch = pytest.importorskip("torch")
    import torch_workloads  # noqa: PLC0415 (loads torch: only after the importorskip)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch_workloads
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", workloads.NAMES)
def test_workload_step_gives_a_finite_loss(name):
    workload = workloads.build(name, **SMALLER.get(name, {}))
    assert math.isfinite(workload.step())


@pytest.mark.parametrize("name", workloads.NAMES)
def test_workload_loss_agrees_with_pytorch(name, torch_workloads):
    workload = workloads.build(name, **SMALLER.get(name, {}))
    torch_step = torch_workloads.twin(workload)
    ours, theirs = workload.step(), torch_step()
    assert run.losses_agree(ours, theirs), (ours, theirs)
    # The second step agrees too, so both optimizers made the same update.
    ours, theirs = workload.step(), torch_step()
    assert run.losses_agree(ours, theirs), (ours, theirs)


@pytest.mark.parametrize("name", ["pixelrnn_row", "pixelrnn_diagonal"])
def test_pixelrnn_gradients_agree_with_pytorch(name, torch_workloads):
    """Every parameter's gradient is what PyTorch's autograd finds through the twin's LSTM loops.

    The second step above hardly sees the gradients' sizes: Adam's first update is
    lr g / (|g| + eps), the sign of g. Here scratchgen's own backpropagation through time
    (kernels/lstm.py) meets autograd's, parameter by parameter, in float64. The twin keeps the
    masks it builds itself (buffers=False): a mask of scratchgen's that differs shows.
    """
    import torch.nn.functional as F  # noqa: PLC0415 (present: the fixture skips without it)

    workload = workloads.build(name, batch=2)
    model = workload.modules["model"]
    report = compare(model, torch_workloads.pixelrnn_twin(model), (workload.inputs["x"],), buffers=False,
                     loss=lambda logits, x: sg.binary_cross_entropy_with_logits(logits, x, reduction="sum"),
                     torch_loss=lambda logits, x: F.binary_cross_entropy_with_logits(logits, x, reduction="sum"))
    assert report.ok, str(report)


def test_percentile_interpolates():
    assert run.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert run.percentile([0.0, 10.0], 10) == pytest.approx(1.0)



def test_the_environment_names_the_openblas_kernel_and_the_numba_target(monkeypatch):
    monkeypatch.delenv("NUMBA_CPU_NAME", raising=False)
    assert run.numba_target() == llvm.get_host_cpu_name()
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    environment = run.describe_environment(argparse.Namespace(threads=1))
    assert environment["numba_target"] == "generic"
    if environment["openblas_core"] is None:
        pytest.skip("NumPy here is not linked to OpenBLAS")
    assert environment["openblas_core"] == run.openblas_core_unpinned() or os.environ.get("OPENBLAS_CORETYPE")


def test_a_pinned_openblas_kernel_is_warned_about_only_when_it_differs():
    chosen = run.openblas_core_unpinned()
    if chosen is None:
        pytest.skip("NumPy here is not linked to OpenBLAS")
    assert run.pinned_kernel_warning({"openblas_coretype_variable": None, "openblas_core": "Prescott"}) is None
    assert run.pinned_kernel_warning({"openblas_coretype_variable": chosen, "openblas_core": chosen}) is None
    warning = run.pinned_kernel_warning({"openblas_coretype_variable": "Prescott", "openblas_core": "Prescott"})
    assert f"would pick {chosen}" in warning and "env -u OPENBLAS_CORETYPE" in warning


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


def test_profile_shares_group_own_time_and_sum_to_100():
    stats = {("/x/scratchgen/kernels/winograd.py", 1, "_input_tiles"): (1, 1, 3.0, 3.0, {}),
             ("/x/scratchgen/kernels/winograd.py", 2, "conv"): (1, 1, 5.0, 9.0, {}),
             ("~", 0, "<built-in method numpy.zeros>"): (1, 1, 1.0, 1.0, {}),
             ("/x/benchmarks/workloads.py", 3, "step"): (1, 1, 1.0, 10.0, {})}
    shares = run.profile_shares(stats)
    assert shares["Winograd transforms"] == 30 and shares["BLAS GEMMs"] == 50
    assert shares["allocation, copies"] == 10 and shares["Python and the rest"] == 10
    assert sum(shares.values()) == 100
