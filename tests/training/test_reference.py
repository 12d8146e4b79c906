"""The reference bands (training/reference.py): the margin, the comparison of a log with a band, and
the checked-in table that `scratchgen check` reads, with the script that measures it."""
import json
import os
import sys
from pathlib import Path

import pytest

from scratchgen.data import DATASETS
from scratchgen.training import RECIPES, RunError, make_config
from scratchgen.training.reference import (
    MARGIN_FLOOR,
    MARGIN_SPREADS,
    CheckResult,
    band,
    check_run,
    compare,
    config_differences,
    load_table,
    logged_values,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import reference_bands  # noqa: E402


def test_a_band_holds_the_seeds_and_widens_both_ends_by_the_spread():
    low, high = band([10.0, 12.0, 11.0])
    margin = MARGIN_SPREADS * 2.0
    assert (low, high) == pytest.approx((10.0 - margin, 12.0 + margin))


def test_seeds_that_agree_get_the_relative_floor_on_both_sides_whatever_the_sign():
    assert band([100.0, 100.0]) == pytest.approx([100 - 100 * MARGIN_FLOOR, 100 + 100 * MARGIN_FLOOR])
    assert band([-100.0, -100.0]) == pytest.approx([-100 - 100 * MARGIN_FLOOR, -100 + 100 * MARGIN_FLOOR])


def _entry(bands: dict, config: dict | None = None) -> dict:
    """A table entry banding {epoch: {metric: [low, high]}}."""
    return {"config": config or {"model": "vae", "data": "glyph-digits", "lr": 0.001}, "seeds": [0, 1, 2],
            "epochs": {str(e): {m: {"values": [], "band": b} for m, b in metrics.items()}
                       for e, metrics in bands.items()}}


def test_a_value_above_or_below_its_band_departs_whichever_way_is_better():
    entry = _entry({1: {"loss": [100.0, 120.0], "accuracy": [0.9, 0.95]},
                    2: {"loss": [90.0, 100.0], "accuracy": [0.95, 0.99]}})
    values = {1: {"loss": 110.0, "accuracy": 0.97}, 2: {"loss": 150.0, "accuracy": 0.5}}
    comparisons, not_logged = compare(values, entry)
    verdicts = {(c.epoch, c.metric): c.verdict for c in comparisons}
    assert verdicts == {(1, "loss"): "inside", (1, "accuracy"): "above", (2, "loss"): "above",
                        (2, "accuracy"): "below"}
    assert not_logged == []
    result = CheckResult("run", "vae", "glyph-digits", [0, 1, 2], comparisons)
    assert not result.as_expected
    assert result.verdict() == ("departs: epoch 2: loss 150 is 50% above the band 90 to 100; epoch 2: accuracy 0.5 "
                                "is 47% below the band 0.95 to 0.99; epoch 1: accuracy 0.97 is 2% above the band "
                                "0.9 to 0.95")   # the farthest first


def test_values_inside_every_band_are_as_expected_and_the_table_shows_each():
    entry = _entry({1: {"loss": [100.0, 120.0]}, 2: {"loss": [90.0, 100.0]}})
    comparisons, _ = compare({1: {"loss": 100.0}, 2: {"loss": 95.0}}, entry)
    result = CheckResult("run", "vae", "glyph-digits", [0, 1, 2], comparisons)
    lines = result.report().splitlines()
    assert lines[-1] == "as expected"
    assert lines[2].split() == ["1", "loss", "100", "100", "to", "120", "inside"]   # the edge is inside


def test_epochs_and_metrics_not_in_the_log_are_noted_not_failed():
    entry = _entry({1: {"loss": [100.0, 120.0], "kl": [1.0, 2.0]}, 2: {"loss": [90.0, 100.0]}})
    comparisons, not_logged = compare({1: {"loss": 110.0}}, entry)
    assert [(c.epoch, c.metric) for c in comparisons] == [(1, "loss")]
    assert not_logged == ["epoch 1: kl", "epoch 2"]


def test_a_metric_without_a_band_is_not_compared():
    entry = _entry({1: {"loss": [100.0, 120.0]}})
    entry["epochs"]["1"]["d_real"] = {"values": [0.1, 0.9], "band": None, "why": "swings"}
    comparisons, not_logged = compare({1: {"loss": 110.0, "d_real": 5.0}}, entry)
    assert [c.metric for c in comparisons] == ["loss"] and not_logged == []


def test_the_logged_values_are_each_epochs_end_not_an_evaluation_at_a_time_budget_stop():
    records = [{"event": "train", "epoch": 0, "step": 5, "loss": 9.0},
               {"event": "epoch", "epoch": 1, "step": 10, "loss": 3.0, "d_loss": 0.5},
               {"event": "eval", "epoch": 1, "step": 10, "loss": 2.0},
               {"event": "eval", "epoch": 1, "step": 14, "loss": 7.0}]   # stopped by --minutes in epoch 2
    assert logged_values(records) == {1: {"train loss": 3.0, "train d_loss": 0.5, "loss": 2.0}}


def test_a_different_configuration_names_each_option_with_the_reference_value_but_not_the_seed():
    reference = {"model": "vae", "data": "glyph-digits", "lr": 0.001, "epochs": 2, "latent": 20}
    run = dict(reference, lr=0.5, seed=7, minutes=3.0, latent=20, beta=2.0)
    assert config_differences(run, reference) == ["lr 0.5 (reference 0.001)", "beta 2.0 (reference absent)"]


def _run_dir(tmp_path, name, config, records):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config))
    (d / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(d)


def _vae_log(losses):
    return [record for epoch, loss in enumerate(losses, 1) for record in (
        {"event": "epoch", "epoch": epoch, "step": 10 * epoch, "loss": loss + 5, "kl": 1.0},
        {"event": "eval", "epoch": epoch, "step": 10 * epoch, "loss": loss, "kl": 2.0})]


def test_check_run_names_the_bands_there_are_and_refuses_an_empty_log(tmp_path):
    config = make_config({"model": "vae", "epochs": 2})
    table = {"recipes": {"vae": {"glyph-digits": _entry({1: {"loss": [100.0, 120.0]}}, config)}}}
    empty = _run_dir(tmp_path, "empty", config, [])
    with pytest.raises(RunError, match="no completed epoch.*the log is empty"):
        check_run(empty, table)
    other = _run_dir(tmp_path, "ae", make_config({"model": "ae"}), _vae_log([110.0]))
    with pytest.raises(RunError, match="no reference band for ae on glyph-digits: the table has vae on glyph-digits"):
        check_run(other, table)
    fine = check_run(_run_dir(tmp_path, "fine", dict(config, seed=4), _vae_log([110.0])), table)
    assert fine.as_expected and fine.differences == []


def test_the_script_bands_every_shared_metric_of_runs_that_differ_only_in_their_seed(tmp_path):
    config = make_config({"model": "vae", "epochs": 2})
    runs = [_run_dir(tmp_path, f"s{seed}", dict(config, seed=seed), _vae_log([130.0 + seed, 119.0 - seed]))
            for seed in range(3)]
    model, data, entry = reference_bands.entry_from_runs(runs)
    assert (model, data, entry["seeds"]) == ("vae", "glyph-digits", [0, 1, 2])
    assert entry["epochs"]["2"]["loss"] == {"values": [119.0, 118.0, 117.0], "band": band([119.0, 118.0, 117.0])}
    assert "train loss" not in entry["epochs"]["1"]      # a vae's training means are not banded
    other = _run_dir(tmp_path, "lr", dict(config, seed=3, lr=0.5), _vae_log([1.0]))
    with pytest.raises(SystemExit, match="lr 0.5"):
        reference_bands.entry_from_runs(runs + [other])


def test_the_script_leaves_the_gan_discriminators_swings_without_a_band(tmp_path):
    config = make_config({"model": "gan", "epochs": 1})
    runs = [_run_dir(tmp_path, f"s{seed}", dict(config, seed=seed), [
        {"event": "epoch", "epoch": 1, "step": 10, "loss": 3.0, "d_loss": 0.8 + seed / 100, "g_loss": 2.2},
        {"event": "eval", "epoch": 1, "step": 10, "d_real": 0.5 + seed / 10, "d_fake": 0.1, "d_loss": 1.0,
         "spread_ratio": 0.6}]) for seed in range(3)]
    _, _, entry = reference_bands.entry_from_runs(runs)
    metrics = entry["epochs"]["1"]
    assert {m for m, measured in metrics.items() if measured["band"]} == {"train d_loss", "train g_loss",
                                                                          "spread_ratio"}
    assert metrics["d_real"]["values"] == pytest.approx([0.5, 0.6, 0.7]) and metrics["d_real"]["why"]


# ---- the checked-in table ------------------------------------------------------------------------------
TABLE = load_table()
ENTRIES = [(model, data, entry) for model, by_data in TABLE["recipes"].items() for data, entry in by_data.items()]


def test_the_table_is_installed_with_scratchgen():
    assert ENTRIES and os.path.basename(reference_bands.BANDS_FILE) == "reference_bands.json"


@pytest.mark.parametrize("model, data, entry", ENTRIES, ids=[f"{m}-{d}" for m, d, _ in ENTRIES])
def test_every_band_is_the_margin_around_its_own_seeds(model, data, entry):
    assert model in RECIPES and data in DATASETS and entry["config"]["model"] == model
    # the configuration the script trains today: the table was measured with the code as it is
    options = {"model": model, "data": data, **reference_bands.REFERENCE[model]}
    assert entry["config"] == reference_bands._compared_config(make_config(options))
    assert entry["epochs"] and len(entry["seeds"]) == len(set(entry["seeds"])) >= 2
    for metrics in entry["epochs"].values():
        for measured in metrics.values():
            assert len(measured["values"]) == len(entry["seeds"])
            if measured["band"] is None:
                assert measured["why"]
            else:
                assert measured["band"] == pytest.approx(band(measured["values"]))   # made by the script, not edited


def test_every_demo_band_is_the_margin_around_its_own_demos():
    for entry in TABLE.get("demo", {}).values():
        for values in entry["stages"].values():
            for measured in values.values():
                assert measured["band"] == pytest.approx(band(measured["values"]))


def test_the_markdown_shows_every_banded_value():
    text = reference_bands.markdown(TABLE)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| recipe")
            and not line.startswith("| stage")]
    expected = sum(len(metrics) for _, _, entry in ENTRIES for metrics in entry["epochs"].values())
    expected += sum(len(values) for entry in TABLE.get("demo", {}).values() for values in entry["stages"].values())
    assert len(rows) == expected


def test_every_recipe_has_a_measured_band_on_both_datasets_checked_by_a_seed_outside_it():
    for model in RECIPES:
        for data in ("glyph-digits", "mnist"):
            entry = TABLE["recipes"][model][data]
            assert not entry.get("provisional") and len(entry["seeds"]) >= 5, (model, data)
            held_out = entry["holdout"]
            assert held_out and not set(map(int, held_out)) & set(entry["seeds"]), (model, data)
    assert "glyph-digits" in TABLE["demo"]
