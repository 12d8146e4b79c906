"""``scratchgen demo``: every model family trained, evaluated and shown on one page.

The demo is a script of the steps a user would take — each printed as the ``scratchgen`` command
that does the same — run one after the other within a time budget: train the judging classifier,
then the autoencoder, VAE, GAN, DDPM, PixelCNN and PixelRNN; evaluate each with the same harness; sample,
reconstruct and restore; and finally write ``index.html`` (a self-contained page: every image is
embedded) and ``summary.md`` with the same numbers. It trains through ``training.train_run`` and
calls the commands' own functions (commands.py), so no option travels through text.
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from dataclasses import dataclass, field

from .. import figures as fig
from ..training import RECIPES, train_run
from ..training.reference import demo_bands
from ..training.runs import (
    INTERPOLATION,
    LOSS_CURVE,
    METRICS,
    RECONSTRUCTIONS,
    SAMPLES,
    read_metrics,
    restoration_files,
)
from . import commands

TRAINING_SHARE = 0.6      # of the budget; the rest is evaluation, sampling and restoration


@dataclass
class Stage:
    model: str
    share: float                       # of the training time
    title: str
    train_options: dict = field(default_factory=dict)
    evaluate_options: dict = field(default_factory=dict)
    max_samples: int | None = None    # the most samples worth scoring in the time (PixelCNN: 784 passes each)
    commands: list = field(default_factory=list)      # (command, options) run on the trained run
    images: list = field(default_factory=list)        # (caption, file in the run directory)
    in_overview: bool = True                          # its first image is a panel of overview.png


def autoregressive_stage(model: str, share: float, title: str, train_options: dict) -> Stage:
    """PixelCNN and PixelRNN: the exact NLL of 2000 test images, 100 samples scored (784 passes each),
    16 samples drawn and 5 completions."""
    return Stage(model, share, title, train_options, dict(limit=2000), max_samples=100,
                 commands=[("sample", dict(n=16)), ("restore", dict(task="complete", n=5))],
                 images=[("samples, pixel by pixel", SAMPLES),
                         ("restore --task complete", restoration_files("complete")[0]), ("loss (NLL)", LOSS_CURVE)])


STAGES = [
    Stage("classifier", 0.07, "Digit classifier (the judge of the sample metrics)",
          images=[("test accuracy during training", LOSS_CURVE)], in_overview=False),
    Stage("ae", 0.08, "Denoising autoencoder", dict(arch="conv", latent=16, corrupt="gaussian", noise_level=0.3),
          dict(n_samples=0),   # not a generative model: its decodings of N(0, I) are not worth scoring
          commands=[("reconstruct", {}), ("restore", dict(task="denoise", noise_std=0.3))],
          images=[("reconstructions of noisy test digits", RECONSTRUCTIONS),
                  ("restore --task denoise", restoration_files("denoise")[0]), ("loss", LOSS_CURVE)]),
    Stage("vae", 0.12, "Variational autoencoder", {}, dict(k=100),
          commands=[("sample", {}), ("reconstruct", {})],
          images=[("samples from the prior", SAMPLES), ("latent interpolation", INTERPOLATION),
                  ("loss (negative ELBO)", LOSS_CURVE)]),
    # A minute of the gan recipe's lr 2e-4, batch 128 is ~1,300 steps on an idle core but ~150 on a busy
    # machine, too few for G to leave its start, where every z gives the same image; lr 1e-3 on batches of
    # 64 leaves it within ~150 steps (measured in docs/gan.md, "The demo's GAN").
    Stage("gan", 0.17, "Generative adversarial network", dict(lr=1e-3, batch_size=64),
          commands=[("sample", {})],
          images=[("samples", SAMPLES), ("losses", LOSS_CURVE)]),
    Stage("ddpm", 0.32, "Denoising diffusion (DDPM, DDIM sampling)", dict(net="mlp"),
          commands=[("sample", {}), ("restore", dict(task="inpaint"))],
          images=[("DDIM samples", SAMPLES), ("restore --task inpaint", restoration_files("inpaint")[0]),
                  ("loss", LOSS_CURVE)]),
    autoregressive_stage("pixelcnn", 0.12, "PixelCNN (exact likelihood)", dict(channels=32, blocks=3, hidden=32)),
    autoregressive_stage("pixelrnn", 0.12, "PixelRNN, Row LSTM (exact likelihood)",
                         dict(layer="row", hidden=16, layers=2, output_hidden=32)),
]
DEMO_FILES = {stage.model for stage in STAGES} | {"index.html", "summary.md", "overview.png"}
COMMANDS = {"sample": commands.sample, "reconstruct": commands.reconstruct, "restore": commands.restore,
            "evaluate": commands.evaluate}


class DemoError(RuntimeError):
    """The demo cannot run; the message says why."""


def _announce(*words, options: dict) -> None:
    """The ``scratchgen`` command line that does what the demo does next."""
    flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in options.items()
             if v is not None and v is not False]
    print("$ scratchgen " + " ".join([*map(str, words), *flags]), flush=True)


def run_demo(data: str, minutes: float, out: str, n_samples: int, seed: int = 0, progress: bool = True) -> dict:
    """Train, evaluate and draw every stage into ``out``; returns {model: metrics}. Writes the gallery."""
    started = time.perf_counter()
    training_minutes = TRAINING_SHARE * minutes
    results = {}
    classifier_dir = os.path.join(out, "classifier")
    for index, stage in enumerate(STAGES, 1):
        elapsed = (time.perf_counter() - started) / 60
        print(f"\n[{index}/{len(STAGES)}] {stage.title}: {stage.share * training_minutes:.1f} min of training "
              f"({elapsed:.1f} of about {minutes:.0f} min used)", flush=True)
        run_dir = os.path.join(out, stage.model)
        config = dict(data=data, minutes=round(stage.share * training_minutes, 3), epochs=1000, seed=seed,
                      **stage.train_options)
        _announce("train", stage.model, options=dict(config, out=run_dir, overwrite=True))
        trained = train_run({"model": stage.model, **config}, run_dir, overwrite=True,
                            progress=None if progress else False)
        if trained.status == "interrupted":
            raise DemoError(f"interrupted while training {run_dir}: its checkpoint is {trained.checkpoint}")
        sample_scoring = (dict(n_samples=min(n_samples, stage.max_samples or n_samples), classifier=classifier_dir)
                          if RECIPES[stage.model].sample else {})
        evaluate = dict(sample_scoring, **stage.evaluate_options)
        for command, options in [("evaluate", evaluate), *stage.commands]:
            _announce(command, run_dir, options=dict(options, overwrite=True))
            outcome = COMMANDS[command](run_dir, overwrite=True, **options)
            if command == "evaluate":
                results[stage.model] = outcome
            elif command == "restore":
                with open(os.path.join(run_dir, restoration_files(options["task"])[1])) as f:
                    results[stage.model][f"restore_{options['task']}"] = json.load(f)
    seconds = time.perf_counter() - started
    write_gallery(out, results, data, seconds, demo_bands(data, minutes))
    return results


def stage_results(out: str) -> dict:
    """{model: metrics} of a finished demo in ``out``, as ``run_demo`` returned them: each stage's
    metrics.json with its restorations' scores as "restore_TASK"."""
    results = {}
    for stage in STAGES:
        run_dir = os.path.join(out, stage.model)
        if not os.path.exists(os.path.join(run_dir, METRICS)):
            continue
        results[stage.model] = read_metrics(run_dir)
        for command, options in stage.commands:
            if command == "restore":
                with open(os.path.join(run_dir, restoration_files(options["task"])[1])) as f:
                    results[stage.model][f"restore_{options['task']}"] = json.load(f)
    return results


def demo(data: str, minutes: float, out: str, n_samples: int, seed: int = 0, overwrite: bool = False,
         progress: bool = True) -> dict:
    """``scratchgen demo``: ``out`` must be new, empty or hold only what a demo writes (an earlier one,
    maybe interrupted, replaced only with ``overwrite``): its stages overwrite their runs, so any other
    folder, e.g. a run of the user's own, is refused whole."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise DemoError(f"--out {out} is a file: choose a new folder for the demo")
    entries = set(os.listdir(out)) if os.path.isdir(out) else set()
    foreign = sorted(entries - DEMO_FILES)
    if foreign:
        raise DemoError(f"--out {out} holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, which the "
                        f"demo does not write: choose a new or empty folder, so that nothing of yours is replaced")
    if entries and not overwrite:
        raise DemoError(f"{out} already holds a demo: pass --overwrite to replace it, or choose another --out")
    return run_demo(data, minutes, out, n_samples, seed, progress)


# ---- the gallery ---------------------------------------------------------------------------------
SAMPLE_SCORES = (("classifier FID", "fid"), ("KID", "kid"), ("classifier score", "classifier_score"),
                 ("class entropy (max 2.303)", "class_entropy"), ("memorization", "memorization"))


def _keyed_tables(metrics: dict) -> list[tuple[str, list[str], list[tuple[str | None, list]]]]:
    """(caption, header, rows) of ``metric_tables``, each row with the key of its first value (see
    ``shown_values``), or None for a count that no band is measured for."""
    own = [(None if isinstance(v, int) else k, [k, v]) for k, v in metrics.items()
           if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seconds"]
    tables = [("test metrics", ["metric", "value"], own)]
    if "samples" in metrics:
        report = metrics["samples"]
        rows = [(f"samples.{key}", [name, report["samples"][key], report["real_baseline"][key]])
                for name, key in SAMPLE_SCORES]
        tables.append((f"{report['n']} samples against {report['n']} test images; the baseline is {report['n']} "
                       f"real training images", ["score", "samples", "real baseline"], rows))
    for key, scores in metrics.items():
        if key.startswith("restore_"):
            rows = [(f"{key}.psnr", ["PSNR (dB)", scores["psnr"], scores["psnr_damaged"]]),
                    (f"{key}.ssim", ["SSIM", scores["ssim"], scores["ssim_damaged"]])]
            if "psnr_hole" in scores:
                rows.append((f"{key}.psnr_hole", ["PSNR on the missing pixels (dB)", scores["psnr_hole"], None]))
            if "psnr_hole_mean_image" in scores:
                rows.append((f"{key}.psnr_hole_mean_image",
                             ["... filled with the mean training image", scores["psnr_hole_mean_image"], None]))
            tables.append((f"restore --task {scores['task']} ({scores['images']} test images)",
                           ["", "restored", "damaged input"], rows))
    return tables


def shown_values(metrics: dict) -> dict[str, float]:
    """The measured numbers the page shows of one stage, by key: a test metric by its name, a sample score
    as "samples.fid", a restoration's as "restore_TASK.psnr" (what a demo band is measured for)."""
    return {key: row[1] for _, _, rows in _keyed_tables(metrics) for key, row in rows if key is not None}


def _band_cell(value, band) -> str:
    low, high = band
    where = "" if low <= value <= high else (": above" if value > high else ": below")
    return f"{_format(low)} to {_format(high)}{where}"


def metric_tables(metrics: dict, bands: dict | None = None) -> list[tuple[str, list[str], list[list]]]:
    """(caption, header, rows) of one run's metrics: its own numbers, its samples beside the real
    baseline, and each restoration beside the damaged input; with a "band" column (the band of the first
    value, and whether the value is above or below it) in the tables where ``bands`` ({key: [low, high]},
    keys as ``shown_values``) has one."""
    bands = bands or {}
    tables = []
    for caption, header, rows in _keyed_tables(metrics):
        if any(key in bands for key, _ in rows):
            header = header + ["band"]
            rows = [(key, row + [_band_cell(row[1], bands[key]) if key in bands else ""]) for key, row in rows]
        tables.append((caption, header, [row for _, row in rows]))
    return tables


def headline(metrics: dict) -> str:
    """The one number that says most about a run: exact NLL, else sample FID and entropy, else PSNR."""
    if "nll_exact" in metrics:
        return f"test NLL {metrics['nll_exact']:.1f} nats"
    if "samples" in metrics:
        scores = metrics["samples"]["samples"]
        return f"FID {scores['fid']:.0f}, class entropy {scores['class_entropy']:.2f}"
    restored = [v for k, v in metrics.items() if k.startswith("restore_")]
    if restored:
        return f"{restored[0]['task']}: PSNR {restored[0]['psnr']:.1f} dB (input {restored[0]['psnr_damaged']:.1f})"
    return ""


def write_overview(out: str, results: dict, title: str) -> str | None:
    """``out/overview.png``: each family's first image, captioned with its headline number."""
    panels = []
    for stage in STAGES:
        path = os.path.join(out, stage.model, stage.images[0][1])
        if stage.in_overview and stage.model in results and os.path.exists(path):
            panels.append((f"{stage.model}: {headline(results[stage.model])}", path))
    return fig.image_panels(os.path.join(out, "overview.png"), panels, title) if panels else None


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _image_data(path: str) -> str:
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode()


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}"
         "figure img{max-height:320px;border:1px solid #ddd}"
         "table{border-collapse:collapse;margin:0 2em 1em 0;display:inline-table;vertical-align:top}"
         "caption{text-align:left;font-size:90%;color:#555}"
         "td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:right}"
         "td:first-child,th:first-child{text-align:left}")


def write_gallery(out: str, results: dict, data: str, seconds: float, bands: dict | None = None) -> tuple[str, str]:
    """Write ``out/index.html`` (every image embedded) and ``out/summary.md`` from the runs in ``out``;
    ``bands`` ({model: {key: [low, high]}}, ``reference.demo_bands``) adds each stage's bands."""
    title = f"scratchgen demo on {data}"
    intro = f"{time.strftime('%Y-%m-%d %H:%M')}; {seconds / 60:.1f} minutes in all." + (
        " A band is the range of demos of other seeds with the same budget (docs/reference.md)." if bands else "")
    md = [f"# {title}", "", intro, ""]
    page = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{intro} Sample scores stand beside "
            f"the same scores of real images, restorations beside the damaged input.</p>"]
    overview = write_overview(out, results, f"{title}, {seconds / 60:.0f} minutes in all")
    if overview:
        page.append(f"<figure><img src='{_image_data(overview)}' alt='overview'></figure>")
        md += ["![every family at a glance](overview.png)", ""]
    for stage in STAGES:
        if stage.model not in results:
            continue
        page.append(f"<h2>{html.escape(stage.title)} <small>(<code>{stage.model}</code>)</small></h2>")
        md += [f"## {stage.title} (`{stage.model}`)", ""]
        for caption, name in stage.images:
            path = os.path.join(out, stage.model, name)
            if os.path.exists(path):
                page.append(f"<figure><img src='{_image_data(path)}' alt='{html.escape(caption)}'>"
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
                md.append(f"![{caption}]({stage.model}/{name})")
        page.append("<div>")
        for caption, header, rows in metric_tables(results[stage.model], (bands or {}).get(stage.model)):
            page.append(f"<table><caption>{html.escape(caption)}</caption><tr>"
                        + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
                        + "".join("<tr>"
                                  + "".join(f"<td>{html.escape(_format(c) if not isinstance(c, str) else c)}</td>"
                                            for c in row) + "</tr>" for row in rows) + "</table>")
            md += ["", f"{caption}:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            md += ["| " + " | ".join(c if isinstance(c, str) else _format(c) for c in row) + " |" for row in rows]
        page.append("</div>")
        md.append("")
    page.append("</body></html>")
    index, summary = os.path.join(out, "index.html"), os.path.join(out, "summary.md")
    with open(index, "w") as f:
        f.write("\n".join(page))
    with open(summary, "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"\nwrote {index} and {summary}")
    return index, summary
