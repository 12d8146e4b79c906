"""Reference numbers: what a run of each recipe logs at fixed epochs, and the check of a run against them.

The table, ``reference_bands.json`` beside this module, is measured by ``benchmarks/reference_bands.py``:
per recipe and dataset, a fixed cheap configuration trained with several seeds, and per epoch the
seeds' value of every metric the table bands, with its band. ``check_run`` compares the log of a
run with that table (``scratchgen check RUN``):

    from scratchgen.training.reference import check_run
    result = check_run("runs/vae")
    print(result.report())          # the table of comparisons, then "as expected" or where it departs

A metric is one of the run's per-epoch evaluation ({"event": "eval"} records of log.jsonl), or,
named "train NAME", the mean of the training steps' NAME over the epoch (the {"event": "epoch"}
record). docs/reference.md shows the table and the commands that measured it.
"""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field

from .runs import LOG, RunError, read_config, read_log

BANDS_FILE = os.path.join(os.path.dirname(__file__), "reference_bands.json")
# The band is the seeds' [min, max] widened at both ends by max(MARGIN_SPREADS x (max - min),
# MARGIN_FLOOR x |median|). Three seeds' range alone misses half of the next seeds of a normally
# distributed metric, widened by 1.5 ranges about 8%; the floor covers metrics whose seeds agree to a
# fraction of a percent, where a run of another seed or machine still differs by a little more.
MARGIN_SPREADS = 1.5
MARGIN_FLOOR = 0.02
TRAIN_MEAN = "train "   # prefix of a metric that is an epoch's mean of the training steps' values
# Options that do not change what the band covers: the seed is what the band varies, a time budget
# that ends the run early shows as missing epochs, and figure_samples only draws figures.
NOT_COMPARED = ("seed", "minutes", "figure_samples")
MARGIN_TEXT = (f"the seeds' [min, max] widened at both ends by max({MARGIN_SPREADS:g} x (max - min), "
               f"{MARGIN_FLOOR:.0%} of |median|)")


def band(values) -> list[float]:
    """[low, high]: the seeds' ``values`` widened by the margin (MARGIN_SPREADS, MARGIN_FLOOR)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("a band needs the values of one or more seeds")
    low, high = min(values), max(values)
    margin = max(MARGIN_SPREADS * (high - low), MARGIN_FLOOR * abs(statistics.median(values)))
    return [low - margin, high + margin]


def load_table(path: str | None = None) -> dict:
    """The reference table (by default the one installed with scratchgen)."""
    path = path or BANDS_FILE
    try:
        with open(path) as f:
            table = json.load(f)
    except FileNotFoundError:
        raise RunError(f"no reference table at {path}: measure one with benchmarks/reference_bands.py") from None
    except ValueError as e:
        raise RunError(f"{path} is not valid JSON ({e}): measure it again with benchmarks/reference_bands.py") from None
    if not isinstance(table, dict) or not isinstance(table.get("recipes"), dict):
        raise RunError(f"{path} holds no 'recipes' table: measure it again with benchmarks/reference_bands.py")
    return table


def _banded_pairs(table: dict) -> list[str]:
    return [f"{model} on {data}" for model, by_data in table["recipes"].items() for data in by_data]


def reference_for(table: dict, model: str, data: str) -> dict:
    """The table's entry of ``model`` trained on ``data``; a RunError naming the entries it has otherwise."""
    entry = table["recipes"].get(model, {}).get(data)
    if entry is None:
        have = _banded_pairs(table)
        raise RunError(f"no reference band for {model} on {data}: the table has "
                       + (", ".join(have) if have else "none") + " (benchmarks/reference_bands.py measures more)")
    return entry


def _metrics(record: dict) -> dict[str, float]:
    """The numbers of a log record other than its place (event, epoch, step, minutes)."""
    return {k: v for k, v in record.items() if k not in ("event", "epoch", "step", "minutes")
            and isinstance(v, (int, float)) and not isinstance(v, bool)}


def logged_values(records: list[dict]) -> dict[int, dict[str, float]]:
    """{epoch: {metric: value}} of every completed epoch of a log: its end-of-epoch evaluation, and its
    training means as "train NAME". An evaluation at a time-budget stop (not at an epoch's end) is left out."""
    ends = {r["epoch"]: r for r in records if r.get("event") == "epoch"}
    values = {epoch: {TRAIN_MEAN + k: v for k, v in _metrics(record).items()} for epoch, record in ends.items()}
    for record in records:
        end = ends.get(record.get("epoch"))
        if record.get("event") == "eval" and end is not None and record.get("step") == end.get("step"):
            values[record["epoch"]].update(_metrics(record))
    return values


def config_differences(config: dict, reference: dict) -> list[str]:
    """The options of ``config`` that differ from the reference configuration, as "lr 0.5 (reference 0.001)"."""
    keys = [k for k in dict.fromkeys([*reference, *config]) if k not in NOT_COMPARED and k != "model"]
    missing = "absent"
    return [f"{k} {config.get(k, missing)} (reference {reference.get(k, missing)})" for k in keys
            if config.get(k, missing) != reference.get(k, missing)]


def _number(value: float) -> str:
    return f"{value:.4g}"


@dataclass
class Comparison:
    """One logged value against its band."""
    epoch: int
    metric: str
    value: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        """"inside", "above" or "below" the band."""
        return "above" if self.value > self.high else "below" if self.value < self.low else "inside"

    @property
    def departure(self) -> float:
        """How far outside the band, relative to the edge it passed (0 inside; the distance itself when
        that edge is 0)."""
        edge = {"above": self.high, "below": self.low}.get(self.verdict)
        if edge is None:
            return 0.0
        return abs(self.value - edge) / abs(edge) if edge else abs(self.value - edge)

    def describe(self) -> str:
        """e.g. "epoch 2: loss 180.3 is 49% above the band 115.8 to 121.6"."""
        edge = self.high if self.verdict == "above" else self.low
        by = f"{self.departure:.0%}" if edge else f"{_number(self.departure)}"
        return (f"epoch {self.epoch}: {self.metric} {_number(self.value)} is {by} {self.verdict} the band "
                f"{_number(self.low)} to {_number(self.high)}")


@dataclass
class CheckResult:
    """The comparisons of one run with its reference, and what could not be compared."""
    run_dir: str
    model: str
    data: str
    seeds: list
    comparisons: list = field(default_factory=list)
    differences: list = field(default_factory=list)    # options that differ from the reference, as text
    not_logged: list = field(default_factory=list)     # "epoch 2" or "epoch 2: kl": banded but not in the log
    provisional: bool = False

    @property
    def departures(self) -> list[Comparison]:
        """The comparisons outside their band, the farthest first."""
        return sorted((c for c in self.comparisons if c.verdict != "inside"), key=lambda c: -c.departure)

    @property
    def as_expected(self) -> bool:
        return not self.departures

    def verdict(self) -> str:
        """The final line: "as expected", or the departures, the farthest first."""
        if self.as_expected:
            return "as expected"
        shown = [c.describe() for c in self.departures[:3]]
        more = len(self.departures) - len(shown)
        return "departs: " + "; ".join(shown) + (f"; and {more} more (see the table)" if more else "")

    def report(self) -> str:
        """The table (epoch, metric, value, band, verdict), the notes, and the verdict line."""
        lines = [f"{self.run_dir}: {self.model} on {self.data}, against the reference band of seeds "
                 f"{', '.join(map(str, self.seeds))}" + (" (provisional)" if self.provisional else "")]
        rows = [("epoch", "metric", "value", "band", "verdict")] + [
            (str(c.epoch), c.metric, _number(c.value), f"{_number(c.low)} to {_number(c.high)}", c.verdict)
            for c in self.comparisons]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines += ["  ".join(cell.rjust(w) if i in (0, 2) else cell.ljust(w) for i, (cell, w) in
                            enumerate(zip(row, widths))).rstrip() for row in rows]
        if self.not_logged:
            lines.append("note: not in the log, so not compared: " + ", ".join(self.not_logged))
        if self.differences:
            lines.append("note: trained with another configuration than the reference: " + ", ".join(self.differences))
        lines.append(self.verdict())
        return "\n".join(lines)


def compare(values: dict[int, dict[str, float]], entry: dict) -> tuple[list[Comparison], list[str]]:
    """Every value of ``values`` ({epoch: {metric: value}}, as ``logged_values`` reads them) that the
    reference ``entry`` bands, against its band; and what it bands that ``values`` lacks."""
    comparisons, not_logged = [], []
    for epoch_text, metrics in sorted(entry["epochs"].items(), key=lambda item: int(item[0])):
        epoch = int(epoch_text)
        if epoch not in values:
            not_logged.append(f"epoch {epoch}")
            continue
        for metric, measured in metrics.items():
            if measured.get("band") is None:
                continue
            if metric not in values[epoch]:
                not_logged.append(f"epoch {epoch}: {metric}")
                continue
            low, high = measured["band"]
            comparisons.append(Comparison(epoch, metric, float(values[epoch][metric]), low, high))
    return comparisons, not_logged


def check_run(run_dir: str, table: dict | None = None) -> CheckResult:
    """Compare the log of the run in ``run_dir`` with its reference in ``table`` (default: the installed
    one). RunError when there is nothing to compare: no run, no band for its model and data, or no
    logged epoch that the band covers."""
    config = read_config(run_dir)
    table = load_table() if table is None else table
    model, data = config["model"], config["data"]
    entry = reference_for(table, model, data)
    records = read_log(run_dir)
    values = logged_values(records)
    if not values:
        raise RunError(f"{os.path.join(run_dir, LOG)} has no completed epoch to compare"
                       + ("" if records else " (the log is empty or missing)")
                       + ": train the run for at least one epoch (the band covers epochs "
                       + ", ".join(sorted(entry["epochs"], key=int)) + ")")
    comparisons, not_logged = compare(values, entry)
    if not comparisons:
        raise RunError(f"{run_dir} logged epochs {', '.join(map(str, sorted(values)))}, the band of {model} on "
                       f"{data} covers epochs {', '.join(sorted(entry['epochs'], key=int))}: nothing to compare")
    differences = config_differences(config, entry["config"])
    return CheckResult(run_dir, model, data, entry.get("seeds", []), comparisons, differences, not_logged,
                       bool(entry.get("provisional")))


def demo_bands(data: str, minutes: float, table: dict | None = None) -> dict:
    """{stage: {value key: [low, high]}} measured from demos of ``data`` with the budget ``minutes``;
    {} when the table has none (the demo's page then shows no band)."""
    try:
        table = load_table() if table is None else table
    except RunError:
        return {}
    entry = table.get("demo", {}).get(data)
    if not entry or float(entry.get("minutes", -1)) != float(minutes):
        return {}
    return {stage: {key: measured["band"] for key, measured in values.items() if measured.get("band")}
            for stage, values in entry["stages"].items()}

