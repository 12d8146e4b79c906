"""Restoration tables: every task on the first N test images, by every run that can do it, beside the
classical baselines, as markdown (docs/restoration.md).

    python examples/restoration_table.py runs/ae runs/vae runs/gan runs/dcgan runs/ddpm runs/pixelcnn \\
        runs/pixelrnn --n 100 --out runs/restoration

For each run and each task of TASKS that its family can do (a vae by both --method latent and
--method encoder), this is `scratchgen restore RUN --task ... --n N --seed SEED --output
OUT/RUN_TASK.png`: its figure and its scores (the model's, the damaged input's and the baselines')
go into --out, and the run directories are left as they are (except a pixelcnn's or a pixelrnn's
completions.png, which --task complete writes beside its checkpoint). Then one table per task, PSNR
and SSIM (and for a hole, the PSNR on the missing pixels), is printed and written to
OUT/restoration_tables.md, and one figure per task, OUT/figure_TASK.png (figure_inpaint.png, ...,
figure_superres_4x.png), linked under its table: the first --figure-images test images clean, damaged,
restored by the task's best classical baseline and by every model, one row each, from the images
that each restore saved beside its scores (OUT/RUN_TASK.npz).

Runs whose family models binary pixels (a vae, pixelcnn or pixelrnn with their default binarization)
are scored on the test images binarized once with a fixed seed, the others on the gray test images:
the tables say which, and give the damaged input and the baselines on both kinds.
"""
import argparse
import contextlib
import io
import json
import os

import numpy as np

from scratchgen import figures as fig
from scratchgen.cli import commands
from scratchgen.evaluation import restoration
from scratchgen.training import RECIPES
from scratchgen.training.runs import read_config

TASKS = {   # table title -> `scratchgen restore` options
    "inpaint: a centred 14x14 hole": dict(task="inpaint", mask="center"),
    "complete: the bottom half, pixel by pixel": dict(task="complete"),
    "denoise: Gaussian noise, sigma 0.3": dict(task="denoise", noise_std=0.3),
    "superres 2x: from 14x14": dict(task="superres", factor=2),
    "superres 4x: from 7x7": dict(task="superres", factor=4),
}


SHOWN_DAMAGED = {"inpaint": "damaged input, hole gray", "complete": "damaged input, hole gray",
                 "denoise": "damaged input, clipped to [0, 1]", "superres": "damaged input, nearest-neighbour"}


def _file_label(options: dict) -> str:
    return options["task"] + (f"_{options['factor']}x" if "factor" in options else "")


def _row(*cells) -> str:
    return "| " + " | ".join(f"{c:.3f}" if isinstance(c, float) else str(c) for c in cells) + " |"


def _saved_images(figure: str) -> dict:
    """The arrays that `scratchgen restore --output FIGURE` saved beside FIGURE."""
    with np.load(os.path.splitext(figure)[0] + ".npz", allow_pickle=False) as saved:
        return dict(saved)


def _best_baseline(options: dict, scores: dict, saved: dict) -> tuple:
    """(name, restorations, PSNR) of the classical baseline of the task with the best PSNR in restore's
    ``scores``; its restorations are made again from the ``saved`` input, which holds no baseline's."""
    name = max(scores["baselines"], key=lambda baseline: scores["baselines"][baseline]["psnr"])
    restored = restoration.baselines(options["task"], saved["observed"], saved.get("known"),
                                     factor=options.get("factor", restoration.FACTOR),
                                     mean_image=saved.get("mean_image"))
    return name, restored[name], scores["baselines"][name]["psnr"]


def comparison_figure(path: str, title: str, options: dict, kinds: dict, shown: int) -> str:
    """One row of the first ``shown`` images each, per kind of test images: clean, damaged, the best
    baseline and every model, labelled with their PSNR from restore's scores. ``kinds``: kind -> [(label,
    scores, saved images)] of every run, as ``tables`` gathers them; the first run's give the clean and
    damaged images and the baselines."""
    rows, labels = [], []
    for images, models in kinds.items():
        _, scores, reference = models[0]
        clean = reference["clean"]
        name, best, best_psnr = _best_baseline(options, scores, reference)
        rows += [clean, reference["damaged"], best] + [saved["restored"] for _, _, saved in models]
        labels += [f"clean ({images})", f"damaged {scores['psnr_damaged']:.1f} dB",
                   f"baseline: {name} {best_psnr:.1f} dB"]
        labels += [f"{label} {model_scores['psnr']:.1f} dB" for label, model_scores, _ in models]
    n = len(clean)
    shown = min(shown, n)
    return fig.image_grid(path, np.concatenate([row[:shown] for row in rows]), ncols=shown, row_labels=labels,
                          title=f"{title}: the first {shown} of {n} test images, PSNR over all {n}")


def tables(run_dirs: list, n: int, seed: int, out: str, overwrite: bool = False, figure_images: int = 8) -> str:
    """The markdown tables of every task of TASKS, each with its figure (``comparison_figure`` of the first
    ``figure_images`` images); restores with each run in ``run_dirs`` that can."""
    os.makedirs(out, exist_ok=True)
    parts = [f"Restoration of the first {n} test images (seed {seed}); PSNR in dB.\n"]
    figures = []    # (path, title, options, kinds) of each task's comparison_figure
    for title, options in TASKS.items():
        hole = options["task"] in ("inpaint", "complete")
        hole_cell = (lambda scores: [scores["psnr_hole"]]) if hole else (lambda scores: [])  # noqa: E731
        rows = []
        # kind of test images -> [(label, scores, saved images)] of every run; the first run's scores hold the
        # damaged input's and the baselines'
        kinds = {}
        for run_dir in run_dirs:
            config = read_config(run_dir)
            family, run_name = config["model"], os.path.basename(os.path.normpath(run_dir))
            if options["task"] not in RECIPES[family].restore:
                continue
            images = "binarized" if config.get("binarize") in ("bernoulli", "threshold") else "gray"
            for method in commands.RESTORE_METHODS.get(family, [None]):
                given = dict(options, method=method) if method else options
                figure = os.path.join(out, f"{run_name}{'_' + method if method else ''}_{_file_label(options)}.png")
                with contextlib.redirect_stdout(io.StringIO()):
                    commands.restore(run_dir, **given, n=n, seed=seed, output=figure, overwrite=overwrite)
                with open(os.path.splitext(figure)[0] + ".json") as f:
                    scores = json.load(f)
                label = f"{family} ({method})" if method else family
                rows.append(_row(label, run_name, images, scores["psnr"], scores["ssim"], *hole_cell(scores)))
                saved = _saved_images(figure)
                models = kinds.setdefault(images, [])
                if models and not np.array_equal(saved["clean"], models[0][2]["clean"]):
                    raise ValueError(f"{run_dir} restored other {images} test images than the runs before it: "
                                     f"one figure compares runs of the same dataset")
                models.append((label, scores, saved))
                print(f"{title}: {label}, {run_dir}: PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.3f}")
        if not rows:
            continue
        for images, models in kinds.items():
            _, scores, _ = models[0]
            rows.append(_row(SHOWN_DAMAGED[options["task"]], "", images, scores["psnr_damaged"], scores["ssim_damaged"],
                             *([""] if hole else [])))
            rows += [_row(f"baseline: {name}", "", images, s["psnr"], s["ssim"], *hole_cell(s))
                     for name, s in scores["baselines"].items()]
        header = ["restored by", "run", "test images", "PSNR", "SSIM"] + (["PSNR in the hole"] if hole else [])
        figure_name = f"figure_{_file_label(options)}.png"
        parts.append(f"### {title}\n\n" + "\n".join([_row(*header), "|" + "---|" * len(header), *rows]) + "\n"
                     + f"\n![{title}]({figure_name})\n")
        figures.append((os.path.join(out, figure_name), title, options, kinds))
    for path, title, options, kinds in figures:
        print(f"wrote {comparison_figure(path, title, options, kinds, figure_images)}")
    text = "\n".join(parts)
    with open(os.path.join(out, "restoration_tables.md"), "w") as f:
        f.write(text)
    return text


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by `scratchgen train`")
    p.add_argument("--n", type=int, default=100, help="test images restored per task")
    p.add_argument("--seed", type=int, default=0, help="seed of the damage and of the restorations")
    p.add_argument("--out", default="runs/restoration", help="folder of the figures, scores and tables")
    p.add_argument("--figure-images", type=int, default=8, help="test images (columns) of each task's figure")
    p.add_argument("--overwrite", action="store_true", help="replace the figures and scores of an earlier call")
    args = p.parse_args()
    print(tables(args.run_dirs, args.n, args.seed, args.out, args.overwrite, args.figure_images))


if __name__ == "__main__":
    main()
