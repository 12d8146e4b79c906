"""Starting and resuming a run: a failed start leaves the run directory as it was, --resume keeps the
stored run's options and changes only --epochs, --minutes and --lr (recorded), and every bad number
or unused option is refused in one line before anything runs."""
import json
import math
import os
import shutil

import pytest

from helpers import files_below, run
from scratchgen.nn import load_checkpoint
from scratchgen.training import RunError, make_config, read_config, read_log, train_run

TINY_VAE = ["--limit", "48", "--batch-size", "16", "--eval-images", "20", "--latent", "4", "--hidden", "16",
            "--no-progress"]


def train(data_dir, out, *args, model="vae", options=TINY_VAE):
    return run("train", model, "--data", data_dir, "--out", str(out), *options, *args)



def assert_one_line_error(result, *needles):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()   # argparse's usage lines included: there must be none
    assert len(lines) == 1 and "error: " in lines[0], result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def broken_data(data_dir, tmp_path):
    """An IDX folder whose training split loads and whose test images are cut short."""
    broken = tmp_path / "broken"
    shutil.copytree(data_dir, broken)
    path = broken / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    return str(broken)


@pytest.fixture(scope="module")
def vae_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae"
    r = train(data_dir, out, "--epochs", "1")
    assert r.returncode == 0, r.stderr
    return str(out)


# ---- starting a run ----------------------------------------------------------------------------
def test_overwrite_with_broken_data_keeps_the_old_run_byte_for_byte(vae_run, broken_data, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(vae_run, out)
    before = files_below(out)
    assert_one_line_error(train(broken_data, out, "--overwrite", "--epochs", "1"))
    with pytest.raises(ValueError):
        train_run(dict(model="vae", data=broken_data, limit=48, latent=4, hidden=16), str(out), overwrite=True,
                  progress=False)
    assert files_below(out) == before


def test_a_failed_start_writes_nothing_and_the_corrected_retry_runs(data_dir, broken_data, tmp_path):
    out = tmp_path / "new"
    assert_one_line_error(train(broken_data, out, "--epochs", "1"))
    assert not os.path.exists(out)
    os.makedirs(out)
    assert_one_line_error(train(broken_data, out, "--epochs", "1"))
    assert os.listdir(out) == []
    r = train(data_dir, out, "--epochs", "1")
    assert r.returncode == 0, r.stderr


def test_an_out_that_is_a_file_is_refused_and_left_alone(data_dir, tmp_path):
    out = tmp_path / "a_file"
    out.write_text("notes")
    assert_one_line_error(train(data_dir, out, "--epochs", "1"), "is a file, not a directory")
    assert_one_line_error(train(data_dir, out / "run", "--epochs", "1"), "is a file, not a directory")
    assert out.read_text() == "notes"


# ---- resuming a run ----------------------------------------------------------------------------
def resume_records(out):
    return [r for r in read_log(out) if r["event"] == "resume"]


def test_resume_keeps_the_stored_time_budget_and_epoch_total(data_dir, tmp_path):
    out = tmp_path / "vae"
    r = train(data_dir, out, "--epochs", "3", "--minutes", "1e-9")
    assert r.returncode == 0 and "time budget: epoch 0, step 1" in r.stdout, r.stderr
    stored, before = read_config(out), files_below(out)
    assert_one_line_error(train(data_dir, out, "--resume"),   # the options given again, the same: accepted
                          "its time budget of 1e-09 minutes is spent", "pass --minutes")
    assert files_below(out) == before
    r = train(data_dir, out, "--resume", "--minutes", "10")
    assert r.returncode == 0 and "done: epoch 3, step 9" in r.stdout, r.stderr   # the stored 3 epochs, not 10
    assert read_config(out) == dict(stored, minutes=10)
    assert resume_records(out)[-1]["changed"] == {"minutes": {"from": 1e-9, "to": 10}}


def test_resume_with_lr_applies_it_and_records_it(data_dir, tmp_path):
    out = tmp_path / "vae"
    assert train(data_dir, out, "--epochs", "1").returncode == 0
    r = train(data_dir, out, "--resume", "--epochs", "2", "--lr", "0.0005")
    assert r.returncode == 0 and "lr 0.001 -> 0.0005" in r.stdout, r.stderr
    assert read_config(out)["lr"] == 0.0005 and read_config(out)["epochs"] == 2
    record = resume_records(out)[-1]
    assert record["step"] == 3 and record["changed"] == {"epochs": {"from": 1, "to": 2},
                                                         "lr": {"from": 0.001, "to": 0.0005}}
    assert float(load_checkpoint(os.path.join(out, "checkpoint.npz"))["optimizer"]["param_groups.0.lr"]) == 0.0005


def test_resume_with_lr_under_a_cosine_schedule_makes_it_the_new_peak(data_dir, tmp_path):
    out = tmp_path / "classifier"
    options = ["--limit", "48", "--batch-size", "16", "--eval-images", "20", "--width", "4", "--no-progress"]
    assert train(data_dir, out, "--epochs", "1", model="classifier", options=options).returncode == 0
    r = train(data_dir, out, "--resume", "--epochs", "3", "--lr", "0.004", "--log-every", "1", model="classifier",
              options=options)
    assert r.returncode == 0, r.stderr
    # the cosine goes on from step 3, now from the new peak and over the new total of 3 epochs of 3 steps
    lrs = {r["step"]: r["lr"] for r in read_log(out) if r["event"] == "train" and r["step"] > 3}
    assert lrs == pytest.approx({step: 0.004 * (1 + math.cos(math.pi * step / 9)) / 2 for step in range(4, 10)})
    parts = load_checkpoint(os.path.join(out, "checkpoint.npz"))
    assert parts["schedule"]["base_lrs"].tolist() == [0.004] and int(parts["schedule"]["last_step"]) == 9
    assert float(parts["optimizer"]["param_groups.0.initial_lr"]) == 0.004


def test_resume_refuses_an_option_that_would_change_the_run(data_dir, tmp_path):
    out = tmp_path / "vae"
    assert train(data_dir, out, "--epochs", "1").returncode == 0
    before = files_below(out)
    for args, named in ((["--batch-size", "32"], "--batch-size 32 (the run has 16)"),
                        (["--latent", "8"], "--latent 8 (the run has 4)"),
                        (["--seed", "1"], "--seed 1"), (["--limit", "40"], "--limit 40")):
        assert_one_line_error(train(data_dir, out, "--resume", "--epochs", "2", *args), named,
                              "--resume changes only --epochs, --minutes, --lr")
    with pytest.raises(RunError, match="--beta 2"):
        train_run({"model": "vae", "beta": 2.0}, str(out), resume=True, progress=False)
    assert files_below(out) == before


# ---- numbers and unused options -----------------------------------------------------------------
BAD_NUMBERS = [
    ("train", "vae", "--minutes", "0"), ("train", "vae", "--minutes", "-1"), ("train", "vae", "--minutes", "nan"),
    ("train", "vae", "--minutes", "inf"), ("train", "vae", "--lr", "nan"), ("train", "vae", "--lr", "-0.001"),
    ("train", "vae", "--lr", "0"), ("train", "vae", "--seed", "-1"), ("train", "vae", "--epochs", "0"),
    ("train", "vae", "--batch-size", "1.5"), ("train", "vae", "--beta", "-1"), ("train", "vae", "--beta", "nan"),
    ("train", "vae", "--kl-warmup", "-1"), ("train", "vae", "--latent", "0"), ("train", "vae", "--classes", "10"),
    ("train", "ae", "--noise-level", "-0.1"), ("train", "ddpm", "--label-dropout", "1"),
    ("train", "ddpm", "--clip-grad", "nan"), ("train", "ddpm", "--clip-grad", "-1"),
    ("train", "ddpm", "--timesteps", "0"), ("train", "gan", "--label-smoothing", "nan"),
    ("train", "gan", "--betas", "0.5,1"), ("train", "gan", "--d-steps", "0"),
    ("train", "pixelcnn", "--figure-samples", "-1"), ("demo", "--minutes", "0"), ("demo", "--minutes", "-1"),
    ("sample", "R", "--eta", "1.5"), ("sample", "R", "--eta", "nan"), ("sample", "R", "--guidance", "-1"),
    ("sample", "R", "--guidance", "inf"), ("sample", "R", "--label", "-1"), ("sample", "R", "--seed", "-1"),
    ("restore", "R", "--task", "inpaint", "--fraction", "0"), ("restore", "R", "--task", "inpaint", "--fraction", "1"),
    ("restore", "R", "--task", "denoise", "--noise-std", "-0.1"), ("evaluate", "R", "--k", "-1"),
    ("evaluate", "R", "--n-samples", "-1"),
]


@pytest.mark.parametrize("args", BAD_NUMBERS, ids=" ".join)
def test_every_bad_number_is_a_one_line_usage_error(args, data_dir, tmp_path):
    *command, option, value = args
    out = tmp_path / "out"
    where = ["--data", data_dir, "--out", str(out)] if command[0] in ("train", "demo") else []
    assert_one_line_error(run(*command, *where, option, value), f"argument {option}: expected", value)
    assert not out.exists()


@pytest.mark.parametrize("config", [dict(lr=float("nan")), dict(lr=-1e-3), dict(minutes=0), dict(seed=-1),
                                    dict(epochs=2.5), dict(beta=-1.0), dict(kl_warmup=-1), dict(noise_level=-1.0)],
                         ids=str)
def test_make_config_checks_the_numbers_too(config):
    model = "ae" if "noise_level" in config else "vae"
    with pytest.raises(ValueError, match=next(iter(config))):
        make_config({"model": model, **config})


def test_options_the_run_does_not_use_are_refused(vae_run):
    for args in (["--eta", "0.5"], ["--steps", "10"], ["--sampler", "ddpm"], ["--variance", "beta_tilde"],
                 ["--guidance", "1"]):
        assert_one_line_error(run("sample", vae_run, "--overwrite", *args),
                              f"vae runs do not use {args[0]}: only ddpm runs do")
    assert_one_line_error(run("sample", vae_run, "--overwrite", "--label", "3"),
                          "--label needs a run trained with --class-conditional")
    assert_one_line_error(run("evaluate", vae_run, "--n-samples", "0", "--eta", "0.5"), "do not use --eta")
    assert not os.path.exists(os.path.join(vae_run, "metrics.json"))
    r = run("sample", vae_run, "--n", "4", "--overwrite")
    assert r.returncode == 0, r.stderr


def test_k_is_refused_for_a_run_without_an_iwae_bound(data_dir, tmp_path):
    out = tmp_path / "ae"
    options = ["--limit", "48", "--batch-size", "16", "--eval-images", "20", "--latent", "4", "--hidden", "16",
               "--no-progress"]
    assert train(data_dir, out, "--epochs", "1", model="ae", options=options).returncode == 0
    assert_one_line_error(run("evaluate", str(out), "--n-samples", "0", "--k", "5"),
                          "ae runs do not use --k: only vae runs do")
    r = run("evaluate", str(out), "--n-samples", "0")
    assert r.returncode == 0, r.stderr
    assert json.load(open(os.path.join(out, "metrics.json")))["model"] == "ae"
