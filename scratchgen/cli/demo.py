"""``scratchgen demo``: every model family trained, evaluated and shown on one page.

The demo is a script of ordinary ``scratchgen`` commands — the ones a user would type — run
one after the other within a time budget: train the judging classifier, then the autoencoder,
VAE, GAN, DDPM and PixelCNN; evaluate each with the same harness; sample, reconstruct and
restore; and finally write ``index.html`` (a self-contained page: every image is embedded) and
``summary.md`` with the same numbers.
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from dataclasses import dataclass, field

from .training import figures as fig

TRAINING_SHARE = 0.6      # of the budget; the rest is evaluation, sampling and restoration


@dataclass
class Stage:
    model: str
    share: float                       # of the training time
    title: str
    train_options: list = field(default_factory=list)
    evaluate_options: list = field(default_factory=list)
    max_samples: int | None = None    # the most samples worth scoring in the time (PixelCNN: 784 passes each)
    commands: list = field(default_factory=list)      # (command, options) run on the trained run
    images: list = field(default_factory=list)        # (caption, file in the run directory)
    in_overview: bool = True                          # its first image is a panel of overview.png


STAGES = [
    Stage("classifier", 0.07, "Digit classifier (the judge of the sample metrics)",
          images=[("test accuracy during training", "loss_curve.png")], in_overview=False),
    Stage("ae", 0.08, "Denoising autoencoder", ["--arch", "conv", "--latent", "16", "--corrupt", "gaussian",
                                                "--noise-level", "0.3"],
          ["--n-samples", "0"],   # not a generative model: its decodings of N(0, I) are not worth scoring
          commands=[("reconstruct", []), ("restore", ["--task", "denoise", "--noise-std", "0.3"])],
          images=[("reconstructions of noisy test digits", "reconstructions.png"),
                  ("restore --task denoise", "restore_denoise.png"), ("loss", "loss_curve.png")]),
    Stage("vae", 0.12, "Variational autoencoder", [], ["--k", "100"],
          commands=[("sample", []), ("reconstruct", [])],
          images=[("samples from the prior", "samples.png"), ("latent interpolation", "interpolation.png"),
                  ("loss (negative ELBO)", "loss_curve.png")]),
    Stage("gan", 0.18, "Generative adversarial network", [],
          commands=[("sample", [])],
          images=[("samples", "samples.png"), ("losses", "loss_curve.png")]),
    Stage("ddpm", 0.35, "Denoising diffusion (DDPM, DDIM sampling)", ["--net", "mlp"],
          commands=[("sample", []), ("restore", ["--task", "inpaint"])],
          images=[("DDIM samples", "samples.png"), ("restore --task inpaint", "restore_inpaint.png"),
                  ("loss", "loss_curve.png")]),
    Stage("pixelcnn", 0.20, "PixelCNN (exact likelihood)", ["--channels", "32", "--blocks", "3", "--hidden", "32"],
          ["--limit", "2000"], max_samples=100,
          commands=[("sample", ["--n", "16"]), ("restore", ["--task", "complete", "--n", "5"])],
          images=[("samples, pixel by pixel", "samples.png"), ("restore --task complete", "restore_complete.png"),
                  ("loss (NLL)", "loss_curve.png")]),
]


class DemoError(RuntimeError):
    """A command of the demo failed; the message names it."""


def _run(argv: list[str]) -> None:
    from .cli import main
    print("$ scratchgen " + " ".join(argv), flush=True)
    code = main(argv)
    if code != 0:
        raise DemoError(f"`scratchgen {' '.join(argv)}` failed with exit code {code}")


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
        quiet = [] if progress else ["--no-progress"]
        _run(["train", stage.model, "--data", data, "--minutes", f"{stage.share * training_minutes:.3f}",
              "--epochs", "1000", "--seed", str(seed), "--out", run_dir, "--overwrite", *quiet, *stage.train_options])
        scored = min(n_samples, stage.max_samples or n_samples)
        _run(["evaluate", run_dir, "--overwrite", "--n-samples", str(scored), "--classifier", classifier_dir,
              *stage.evaluate_options])
        for command, options in stage.commands:
            _run([command, run_dir, "--overwrite", *options])
        with open(os.path.join(run_dir, "metrics.json")) as f:
            results[stage.model] = json.load(f)
        for command, options in stage.commands:
            if command == "restore":
                task = options[options.index("--task") + 1]
                with open(os.path.join(run_dir, f"restore_{task}.json")) as f:
                    results[stage.model][f"restore_{task}"] = json.load(f)
    seconds = time.perf_counter() - started
    write_gallery(out, results, data, seconds)
    return results


# ---- the gallery ---------------------------------------------------------------------------------
SAMPLE_SCORES = (("classifier FID", "fid"), ("KID", "kid"), ("classifier score", "classifier_score"),
                 ("class entropy (max 2.303)", "class_entropy"), ("memorization", "memorization"))


def metric_tables(metrics: dict) -> list[tuple[str, list[str], list[list]]]:
    """(caption, header, rows) of one run's metrics: its own numbers, its samples beside the real
    baseline, and each restoration beside the damaged input."""
    own = [[k, v] for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
           and k != "seconds"]
    tables = [("test metrics", ["metric", "value"], own)]
    if "samples" in metrics:
        report = metrics["samples"]
        rows = [[name, report["samples"][key], report["real_baseline"][key]] for name, key in SAMPLE_SCORES]
        tables.append((f"{report['n']} samples against {report['n']} test images; the baseline is {report['n']} "
                       f"real training images", ["score", "samples", "real baseline"], rows))
    for key, scores in metrics.items():
        if key.startswith("restore_"):
            rows = [["PSNR (dB)", scores["psnr"], scores["psnr_damaged"]], ["SSIM", scores["ssim"], scores["ssim_damaged"]]]
            if "psnr_hole" in scores:
                rows.append(["PSNR on the missing pixels (dB)", scores["psnr_hole"], None])
            if "psnr_hole_mean_image" in scores:
                rows.append(["... filled with the mean training image", scores["psnr_hole_mean_image"], None])
            tables.append((f"restore --task {scores['task']} ({scores['images']} test images)",
                           ["", "restored", "damaged input"], rows))
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


def write_gallery(out: str, results: dict, data: str, seconds: float) -> tuple[str, str]:
    """Write ``out/index.html`` (every image embedded) and ``out/summary.md`` from the runs in ``out``."""
    title = f"scratchgen demo on {data}"
    intro = f"{time.strftime('%Y-%m-%d %H:%M')}; {seconds / 60:.1f} minutes in all."
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
        for caption, header, rows in metric_tables(results[stage.model]):
            page.append(f"<table><caption>{html.escape(caption)}</caption><tr>"
                        + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{html.escape(_format(c) if not isinstance(c, str) else c)}</td>"
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
