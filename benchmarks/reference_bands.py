"""Measure the reference bands of scratchgen/training/reference_bands.json (docs/reference.md).

    python benchmarks/reference_bands.py --holdout 5                      # every recipe on glyph-digits
    SCRATCHGEN_DATA=/path/to/mnist python benchmarks/reference_bands.py --data mnist --holdout 5
    python benchmarks/reference_bands.py --recipes vae ae --seeds 0 1 2 --holdout 3
    python benchmarks/reference_bands.py --from-runs runs/a runs/b runs/c  # bands of runs already trained
    python benchmarks/reference_bands.py --from-demos runs/demo-s0 runs/demo-s1 runs/demo-s2
    python benchmarks/reference_bands.py --markdown                       # the table as docs/reference.md shows it

Each recipe trains its reference configuration (its defaults with the few options of REFERENCE: a
fixed --epochs and, for the slower families, --limit: about a minute per run on 2 cores) once per
seed, in-process through ``train_run``, into --work/DATA/RECIPE/seed-S (a finished run there with the
same configuration is reused, so an interrupted measurement goes on where it stopped). The band of
every metric at every epoch is ``reference.band`` of the seeds' values. ``--holdout`` seeds are
trained after the band is made and checked against it, as ``scratchgen check`` would; the outcome is
recorded beside the band. The table is updated in place: entries not measured now are kept.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # the scratchgen next to benchmarks/
from scratchgen.cli.demo import STAGES, TRAINING_SHARE, shown_values, stage_results  # noqa: E402
from scratchgen.data import DATASETS, ENV_VAR  # noqa: E402
from scratchgen.training import RECIPES, make_config, read_config, read_log, train_run  # noqa: E402
from scratchgen.training.reference import (  # noqa: E402
    BANDS_FILE,
    MARGIN_TEXT,
    TRAIN_MEAN,
    CheckResult,
    band,
    compare,
    config_differences,
    logged_values,
)

# Recipe -> the options its reference run sets beyond the recipe's defaults: a few minutes in all.
REFERENCE = {
    "classifier": dict(epochs=2, limit=10000),
    "ae": dict(epochs=2),
    "vae": dict(epochs=2),
    "gan": dict(epochs=2),
    "dcgan": dict(epochs=2, limit=20000),
    "ddpm": dict(epochs=2, limit=1024, eval_images=500),
    # figure_samples 0: the per-epoch sample grid is 784 forward passes, longer than the training here
    "pixelcnn": dict(epochs=2, limit=1920, figure_samples=0),
    "pixelrnn": dict(epochs=2, limit=2560, figure_samples=0),
}
# The training means worth a band, besides the evaluation: the GAN families' evaluation of D swings
# between seeds, while the epoch's mean losses of both players agree more closely.
TRAIN_MEANS = {"gan": ("d_loss", "g_loss"), "dcgan": ("d_loss", "g_loss")}
UNBANDED = {   # recipe -> {evaluation metric: why it gets no band (its values are still recorded)}
    family: {name: "D's view of one fixed batch swings between seeds as the players alternate"
             for name in ("d_real", "d_fake", "d_loss")} for family in ("gan", "dcgan")}


def fail(message: str):
    raise SystemExit(f"reference_bands.py: error: {message}")


def _compared_config(config: dict) -> dict:
    """A run's config as the table stores it: without the seed and the time budget."""
    return {k: v for k, v in config.items() if k not in ("seed", "minutes")}


def _train_minutes(records: list[dict]) -> float:
    return round(max((r.get("minutes", 0.0) for r in records), default=0.0), 3)


def entry_from_runs(run_dirs: list[str], provisional: bool = False) -> tuple[str, str, dict]:
    """(model, data, table entry) of run directories of one model and data that differ only in their seed."""
    configs = [read_config(d) for d in run_dirs]
    first = _compared_config(configs[0])
    for run_dir, config in zip(run_dirs[1:], configs[1:]):
        differences = config_differences(config, first)
        if differences:
            fail(f"{run_dir} differs from {run_dirs[0]} in more than its seed: {', '.join(differences)}")
    model, data = first["model"], first["data"]
    seeds = [config["seed"] for config in configs]
    if len(set(seeds)) != len(seeds):
        fail(f"the runs of {model} on {data} repeat a seed ({seeds}): a band needs different seeds")
    logs = [read_log(d) for d in run_dirs]
    per_seed = [logged_values(records) for records in logs]
    epochs = sorted(set.intersection(*(set(values) for values in per_seed)))
    if not epochs:
        fail(f"the runs of {model} on {data} share no completed epoch")
    unbanded = UNBANDED.get(model, {})
    banded_means = {TRAIN_MEAN + name for name in TRAIN_MEANS.get(model, ())}
    table_epochs = {}
    for epoch in epochs:
        shared = [m for m in per_seed[0][epoch] if all(m in values[epoch] for values in per_seed)]
        metrics = {}
        for metric in shared:
            if metric.startswith(TRAIN_MEAN) and metric not in banded_means:
                continue
            values = [values[epoch][metric] for values in per_seed]
            metrics[metric] = ({"values": values, "band": None, "why": unbanded[metric]} if metric in unbanded
                               else {"values": values, "band": band(values)})
        table_epochs[str(epoch)] = metrics
    entry = dict(config=first, seeds=seeds, train_minutes=[_train_minutes(records) for records in logs],
                 epochs=table_epochs, measured=time.strftime("%Y-%m-%d"), provisional=provisional)
    return model, data, entry


def _finished(run_dir: str, config: dict) -> bool:
    """Whether ``run_dir`` holds a run of exactly ``config`` trained to its last epoch."""
    try:
        stored = read_config(run_dir)
    except Exception:   # nothing there yet, or a damaged run: train it again
        return False
    done = any(r.get("event") == "epoch" and r.get("epoch") == config["epochs"] for r in read_log(run_dir))
    return dict(stored) == config and done


def train_reference(model: str, data: str, seed: int, work: str) -> str:
    """The run directory of ``model``'s reference configuration on ``data`` with ``seed``, trained unless done."""
    options = {"model": model, "data": data, "seed": seed, **REFERENCE[model]}
    config = make_config(options)
    run_dir = os.path.join(work, data, model, f"seed-{seed}")
    if _finished(run_dir, config):
        print(f"{model} on {data}, seed {seed}: reusing {run_dir}", flush=True)
        return run_dir
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        train_run(options, run_dir, overwrite=True, progress=False)   # the options as given, like the CLI
    print(f"{model} on {data}, seed {seed}: {(time.perf_counter() - started) / 60:.2f} min -> {run_dir}", flush=True)
    return run_dir


def holdout_verdicts(model: str, entry: dict, run_dirs: list[str]) -> dict:
    """{seed: the verdict line of `scratchgen check`} of runs not in the band."""
    verdicts = {}
    for run_dir in run_dirs:
        config = read_config(run_dir)
        comparisons, not_logged = compare(logged_values(read_log(run_dir)), entry)
        result = CheckResult(run_dir, model, config["data"], entry["seeds"], comparisons, [], not_logged)
        verdicts[str(config["seed"])] = result.verdict()
        print(f"  held-out seed {config['seed']}: {result.verdict()}", flush=True)
    return verdicts


def demo_entry(demo_dirs: list[str]) -> tuple[str, dict]:
    """(data, table entry) of finished demos of one dataset and budget, one seed each."""
    runs = []
    for out in demo_dirs:
        results = stage_results(out)
        if not results:
            fail(f"{out} holds no finished demo stage (expected MODEL/metrics.json for a stage of the demo)")
        stage = next(s for s in STAGES if s.model in results)
        config = read_config(os.path.join(out, stage.model))
        minutes = round(config["minutes"] / (stage.share * TRAINING_SHARE), 1)
        runs.append((config["data"], minutes, config["seed"], results))
    if len({(data, minutes) for data, minutes, _, _ in runs}) != 1:
        fail("the demos differ in --data or --minutes: " + ", ".join(
            f"{out} ({data}, {minutes:g} min)" for out, (data, minutes, _, _) in zip(demo_dirs, runs)))
    data, minutes = runs[0][:2]
    stages = {}
    for stage in STAGES:
        if not all(stage.model in results for *_, results in runs):
            continue
        shown = [shown_values(results[stage.model]) for *_, results in runs]
        stages[stage.model] = {key: {"values": [values[key] for values in shown],
                                     "band": band([values[key] for values in shown])}
                               for key in shown[0] if all(key in values for values in shown)}
    return data, dict(minutes=minutes, seeds=[seed for _, _, seed, _ in runs], stages=stages,
                      measured=time.strftime("%Y-%m-%d"))


# ---- the table --------------------------------------------------------------------------------------
def refuse_folder(data: str, where: str) -> None:
    """A band is kept under a dataset name: ``scratchgen check`` finds it by the run's --data."""
    if data not in DATASETS:
        fail(f"{where} used the folder {data}: a band is kept under a dataset name ({', '.join(DATASETS)}); "
             f"point {ENV_VAR} at the folder and train with --data NAME")


def load_or_new(path: str) -> dict:
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"recipes": {}, "demo": {}}


def save(table: dict, path: str) -> None:
    ordered = {"about": "reference bands of scratchgen's recipes: docs/reference.md; measured by "
                        "benchmarks/reference_bands.py", "margin": MARGIN_TEXT,
               "recipes": {model: table["recipes"][model] for model in RECIPES if model in table["recipes"]},
               "demo": table.get("demo", {})}
    with open(path, "w") as f:
        json.dump(ordered, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


def _options_beyond_defaults(config: dict) -> str:
    defaults = make_config({"model": config["model"], "data": config["data"]})
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in config.items()
                    if k not in ("model", "data") and defaults.get(k) != v) or "(defaults)"


def _number(value) -> str:
    return f"{value:.4g}"


def markdown(table: dict) -> str:
    """The table as docs/reference.md shows it: per dataset, a row per recipe, epoch and metric."""
    lines = []
    datasets = sorted({data for by_data in table["recipes"].values() for data in by_data})
    for data in datasets:
        lines += [f"### {data}", "", "| recipe | reference options | epoch | metric | seeds' values | band |",
                  "|---|---|---|---|---|---|"]
        unbanded = {}   # why -> "model metric" without a band
        for model, by_data in table["recipes"].items():
            entry = by_data.get(data)
            if entry is None:
                continue
            options = _options_beyond_defaults(entry["config"])
            for epoch, metrics in entry["epochs"].items():
                for metric, measured in metrics.items():
                    banded = measured["band"]
                    if not banded:
                        unbanded.setdefault(measured["why"], set()).add(f"{model} {metric}")
                    lines.append(f"| {model} | {options} | {epoch} | {metric} | "
                                 + ", ".join(map(_number, measured["values"])) + " | "
                                 + (f"{_number(banded[0])} to {_number(banded[1])}" if banded else "none") + " |")
                    options = ""   # once per recipe
        lines += ["", *(f"No band for {', '.join(sorted(names))}: {why}." for why, names in unbanded.items())]
        provisional = [m for m, by_data in table["recipes"].items() if by_data.get(data, {}).get("provisional")]
        seeds = {tuple(by_data[data]["seeds"]) for by_data in table["recipes"].values() if data in by_data}
        lines += [f"Seeds {'; '.join(', '.join(map(str, s)) for s in sorted(seeds))}."
                  + (f" Provisional (read from earlier runs, to be measured again): {', '.join(provisional)}."
                     if provisional else "")]
        held_out = [f"{model} seed {seed}: {verdict}" for model, by_data in table["recipes"].items()
                    for seed, verdict in by_data.get(data, {}).get("holdout", {}).items()]
        lines += [f"Held out (`scratchgen check` of a seed outside the band): {'; '.join(held_out)}."
                  if held_out else "", ""]
    for data, entry in table.get("demo", {}).items():
        lines += [f"### The demo on {data}, --minutes {entry['minutes']:g}", "",
                  f"Seeds {', '.join(map(str, entry['seeds']))}.", "", "| stage | value | demos' values | band |",
                  "|---|---|---|---|"]
        for stage, values in entry["stages"].items():
            for key, measured in values.items():
                lines.append(f"| {stage} | {key} | " + ", ".join(map(_number, measured["values"]))
                             + f" | {_number(measured['band'][0])} to {_number(measured['band'][1])} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--data", nargs="+", default=["glyph-digits"], choices=DATASETS, help="datasets to measure")
    p.add_argument("--data-dir", help=f"folder of the MNIST files (sets {ENV_VAR}, as `scratchgen` reads it)")
    p.add_argument("--recipes", nargs="+", default=list(REFERENCE), choices=list(REFERENCE))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                   help="the seeds the band is made of (default 0 to 4)")
    p.add_argument("--holdout", nargs="*", type=int, default=[],
                   help="seeds trained after the band is made and checked against it")
    p.add_argument("--work", default=os.path.join("runs", "reference"), help="where the runs are trained")
    p.add_argument("--table", default=BANDS_FILE, help="the JSON table to update")
    p.add_argument("--from-runs", nargs="+", metavar="RUN_DIR",
                   help="make the bands of these finished runs instead of training (grouped by model and data)")
    p.add_argument("--from-demos", nargs="+", metavar="DEMO_DIR",
                   help="make the demo's bands of these finished demos (`scratchgen demo --seed S --out DIR`)")
    p.add_argument("--provisional", action="store_true", help="mark the entries made now as provisional")
    p.add_argument("--markdown", action="store_true", help="only print the table as markdown")
    args = p.parse_args(argv)
    table = load_or_new(args.table)
    if args.markdown:
        print(markdown(table))
        return 0
    if args.data_dir:
        os.environ[ENV_VAR] = os.path.abspath(args.data_dir)
    if set(args.seeds) & set(args.holdout):
        fail(f"--holdout {args.holdout} repeats seeds of --seeds {args.seeds}")
    if args.from_demos:
        data, entry = demo_entry(args.from_demos)
        refuse_folder(data, args.from_demos[0])
        table.setdefault("demo", {})[data] = entry
    elif args.from_runs:
        groups: dict[tuple, list] = {}
        for run_dir in args.from_runs:
            config = read_config(run_dir)
            groups.setdefault((config["model"], config["data"]), []).append(run_dir)
        for run_dirs in groups.values():
            model, data, entry = entry_from_runs(run_dirs, args.provisional)
            refuse_folder(data, run_dirs[0])
            table["recipes"].setdefault(model, {})[data] = entry
    else:
        for data in args.data:
            for model in args.recipes:
                run_dirs = [train_reference(model, data, seed, args.work) for seed in args.seeds]
                model, data, entry = entry_from_runs(run_dirs, args.provisional)
                if args.holdout:
                    held = [train_reference(model, data, seed, args.work) for seed in args.holdout]
                    entry["holdout"] = holdout_verdicts(model, entry, held)
                table["recipes"].setdefault(model, {})[data] = entry
                save(table, args.table)   # after every recipe: an interrupted measurement keeps what it made
    save(table, args.table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
