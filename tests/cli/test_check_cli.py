"""`scratchgen check RUN` on tiny real runs: a run of the band's configuration is as expected, the same run
with a broken learning rate departs and names the metric and the option."""
import json
import sys
from pathlib import Path

import pytest

from helpers import run, trained_run
from scratchgen.training import check_run
from scratchgen.training.reference import load_table

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import reference_bands  # noqa: E402

# A VAE that learns visibly within 30 steps (lr 1e-2), so that 1e-7 is far outside the band.
TINY_VAE = ("--latent", "4", "--hidden", "32", "--limit", "120", "--batch-size", "8", "--epochs", "2",
            "--eval-images", "20", "--lr", "0.01", "--no-progress")


@pytest.fixture(scope="module")
def runs_and_table(data_dir, tmp_path_factory):
    """Seeds 0 and 1 of the tiny VAE, the same with lr 1e-7, and a table banding the first two."""
    good = [trained_run(tmp_path_factory, "vae", "--data", data_dir, *TINY_VAE, "--seed", str(seed))
            for seed in (0, 1)]
    broken = trained_run(tmp_path_factory, "vae", "--data", data_dir, *TINY_VAE, "--lr", "1e-7")
    model, data, entry = reference_bands.entry_from_runs(good)
    table = tmp_path_factory.mktemp("table") / "bands.json"
    table.write_text(json.dumps({"recipes": {model: {data: entry}}}))
    return good, broken, str(table)


def test_a_run_of_the_reference_configuration_is_as_expected(runs_and_table):
    good, _, table = runs_and_table
    r = run("check", good[0], "--table", table)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "as expected" and "note:" not in r.stdout
    assert lines[1].split() == ["epoch", "metric", "value", "band", "verdict"]
    assert len([line for line in lines if line.endswith("inside")]) == 8   # loss, elbo, recon, kl at 2 epochs


def test_a_run_with_a_broken_learning_rate_departs_and_says_where_and_why(runs_and_table):
    _, broken, table = runs_and_table
    r = run("check", broken, "--table", table)
    assert r.returncode == 1, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("departs: epoch ") and " loss " in last and "above the band" in last
    assert "note: trained with another configuration than the reference: lr 1e-07 (reference 0.01)" in r.stdout


def test_the_python_api_gives_the_same_verdict(runs_and_table):
    good, broken, table = runs_and_table
    assert check_run(good[1], load_table(table)).as_expected
    result = check_run(broken, load_table(table))
    assert not result.as_expected and {c.metric for c in result.departures} >= {"loss", "recon"}


def test_a_run_without_a_band_names_the_bands_there_are(runs_and_table):
    good, _, _ = runs_and_table
    r = run("check", good[0])   # the installed table has no band for a folder of test images
    assert r.returncode == 2 and r.stderr.startswith("scratchgen: error: no reference band for vae on ")
    assert "the table has " in r.stderr and len(r.stderr.strip().splitlines()) == 1
