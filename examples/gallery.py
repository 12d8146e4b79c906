"""Gallery: every model family on each dataset it was trained on (MNIST beside Fashion-MNIST), as one
markdown table of headline test figures and a page of one image per run (docs/gallery.md).

    python examples/gallery.py runs/mnist/* runs/fashion-mnist/* --out docs/gallery.md

Each RUN_DIR was written by `scratchgen train` and then `scratchgen evaluate`: its config.json says the
family and the dataset ("model", "data"), its metrics.json gives the figures, its log.jsonl the epochs
completed and the minutes of training. One row per family, one column per dataset:

    ae                  reconstruction loss (per image, the run's --loss) and PSNR on the test images
    vae                 ELBO and IWAE-k on the test images, nats per image
    gan, dcgan          classifier FID and class entropy of the samples, each beside the same score
                        of as many real training images
    ddpm                the same sample scores, and the variational bound on the test images (nats per
                        image and bits per dimension) when evaluate measured it
    pixelcnn, pixelrnn  the exact test NLL, nats per image and bits per dimension

The table is printed. With --out PAGE.md the page is written with it: per family, the image of each
dataset's run side by side, copied to --figures (default: figures/gallery beside the page) as
FAMILY_DATA.png. A run's image is its samples.png (`scratchgen sample RUN_DIR`), for an ae its
reconstructions.png (`scratchgen reconstruct RUN_DIR`), or else the last one of that kind training drew
in its figures/ folder.
"""
import argparse
import glob
import os
import shutil
import sys

from scratchgen.training import RunError, read_config, read_log, read_metrics
from scratchgen.training.runs import FIGURES, METRICS, RECONSTRUCTIONS, SAMPLES, refuse_overwrite

PROG = "gallery.py"
DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "glyph-digits": "glyph-digits"}


def _samples_scores(metrics: dict) -> str:
    if "samples" not in metrics:
        return "samples not scored (evaluated with --n-samples 0)"
    report = metrics["samples"]
    s, r = report["samples"], report["real_baseline"]
    return (f"FID {s['fid']:.2f} (real {r['fid']:.2f}), class entropy {s['class_entropy'] + 0.0:.3f} "
            f"(real {r['class_entropy'] + 0.0:.3f}), {report['n']} samples")   # + 0.0: no -0.000


def _ae(config: dict, metrics: dict) -> str:
    return (f"{config['loss'].upper()} loss {metrics['loss']:.2f}, PSNR {metrics['psnr']:.2f} dB "
            f"on {metrics['test_images']} test images")


def _vae(config: dict, metrics: dict) -> str:
    iwae = [key for key in metrics if key.startswith("iwae_")]
    bound = ", ".join(f"IWAE-{key[len('iwae_'):]} {metrics[key]:.2f}" for key in iwae) or "no IWAE (--k 0)"
    return f"ELBO {metrics['elbo']:.2f}, {bound} nats on {metrics['test_images']} test images"


def _gan(config: dict, metrics: dict) -> str:
    return _samples_scores(metrics)


def _ddpm(config: dict, metrics: dict) -> str:
    bound = (f"NLL bound {metrics['nll_elbo']:.2f} nats, {metrics['bits_per_dim_elbo']:.4f} bits/dim on "
             f"{metrics['bound_images']} test images" if "nll_elbo" in metrics else "no bound (--bound-images 0)")
    return f"{_samples_scores(metrics)}; {bound}"


def _autoregressive(config: dict, metrics: dict) -> str:
    return (f"NLL {metrics['nll_exact']:.2f} nats, {metrics['bits_per_dim_exact']:.4f} bits/dim "
            f"on {metrics['test_images']} test images")


# family -> (its headline figures from config.json and metrics.json, the image it is shown by); rows in this order
FAMILIES = {"ae": (_ae, "reconstructions"), "vae": (_vae, "samples"), "gan": (_gan, "samples"),
            "dcgan": (_gan, "samples"), "ddpm": (_ddpm, "samples"), "pixelcnn": (_autoregressive, "samples"),
            "pixelrnn": (_autoregressive, "samples")}
IMAGE_KINDS = {"samples": (SAMPLES, "sample"), "reconstructions": (RECONSTRUCTIONS, "reconstruct")}   # file, command


def training_done(run_dir: str) -> str:
    """"E epochs, M min": the epochs completed and the minutes of training steps, from the last record of log.jsonl."""
    records = read_log(run_dir)
    if not records:
        return "no training log"
    last = records[-1]
    return f"{last['epoch']} epoch{'' if last['epoch'] == 1 else 's'}, {last['minutes']:.1f} min"


def run_image(run_dir: str, kind: str) -> str | None:
    """The run's final samples.png or reconstructions.png, else the last figures/KIND_*.png training drew; None."""
    final = os.path.join(run_dir, IMAGE_KINDS[kind][0])
    if os.path.exists(final):
        return final
    drawn = glob.glob(os.path.join(run_dir, FIGURES, f"{kind}_*.png"))
    return max(drawn, key=lambda path: (os.path.getmtime(path), path)) if drawn else None


def dataset_title(data: str) -> str:
    return DATASET_TITLES.get(data, os.path.basename(data))


class Run:
    """One run directory: where it goes in the gallery, its cell of the table, its image."""

    def __init__(self, run_dir: str):
        config = read_config(run_dir)
        self.family, self.data = config["model"], config["data"]
        if self.family not in FAMILIES:
            raise RunError(f"{run_dir} holds a {self.family} run: the gallery shows runs of {', '.join(FAMILIES)}")
        metrics = read_metrics(run_dir)
        if (metrics.get("model"), metrics.get("data")) != (self.family, self.data):
            raise RunError(f"{os.path.join(run_dir, METRICS)} is of a {metrics.get('model')} run on "
                           f"{metrics.get('data')}, not of this {self.family} run on {self.data}: evaluate again "
                           f"with `scratchgen evaluate {run_dir} --overwrite`")
        headline, kind = FAMILIES[self.family]
        try:
            self.cell = f"{headline(config, metrics)}; {training_done(run_dir)}"
        except KeyError as e:
            raise RunError(f"{os.path.join(run_dir, METRICS)} has no entry {e}: evaluate again with "
                           f"`scratchgen evaluate {run_dir} --overwrite`") from None
        self.image = run_image(run_dir, kind)
        self.run_dir = run_dir
        self.no_image = f"{run_dir} has no {kind} image: run `scratchgen {IMAGE_KINDS[kind][1]} {run_dir}`"


def gather(run_dirs: list) -> tuple[dict, list]:
    """({(family, data): Run}, the datasets in column order: MNIST, Fashion-MNIST, then any other as met)."""
    runs = {}
    for run_dir in run_dirs:
        run = Run(run_dir)
        earlier = runs.get((run.family, run.data))
        if earlier is not None:
            raise RunError(f"{earlier.run_dir} and {run_dir} are both {run.family} runs on {run.data}: "
                           f"give one run per family and dataset")
        runs[run.family, run.data] = run
    met = list(dict.fromkeys(data for _, data in runs))
    datasets = [d for d in DATASET_TITLES if d in met] + [d for d in met if d not in DATASET_TITLES]
    titles = [dataset_title(d) for d in datasets]
    for title in titles:
        if titles.count(title) > 1:
            raise RunError(f"the runs are of several datasets named {title}: "
                           + ", ".join(d for d in datasets if dataset_title(d) == title))
    return runs, datasets


def _row(*cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(first: str, datasets: list) -> list:
    return [_row(first, *map(dataset_title, datasets)), "|" + "---|" * (len(datasets) + 1)]


def table(runs: dict, datasets: list) -> str:
    """The markdown table: a row per family, a column per dataset, "-" where there is no run."""
    rows = [_row(family, *(runs[family, data].cell if (family, data) in runs else "-" for data in datasets))
            for family in FAMILIES if any((family, data) in runs for data in datasets)]
    return "\n".join(_header("family", datasets) + rows)


def figure_files(runs: dict, figures: str) -> dict:
    """{(family, data): the path its image is copied to}, for every run that has an image."""
    return {key: os.path.join(figures, f"{key[0]}_{dataset_title(key[1])}.png")
            for key, run in runs.items() if run.image is not None}


def page(runs: dict, datasets: list, copies: dict, page_dir: str) -> str:
    """The gallery page: the table, then per family its runs' images side by side, linked relative to the page."""
    parts = ["# Gallery: every family on every dataset\n",
             "Made by `python examples/gallery.py RUN_DIR ... --out PAGE.md` from runs written by `scratchgen "
             "train` and `scratchgen evaluate`. Nats are per image; FID is the classifier FID of "
             "docs/evaluation.md, whose real baseline scores as many real training images against the same "
             "test images; entropy is at most 2.303 (ten even classes); a likelihood is of the test pixels "
             "that metrics.json's likelihood_binarization states; epochs are those completed, minutes those "
             "of the training steps (log.jsonl).\n",
             table(runs, datasets) + "\n"]
    for family, (_, kind) in FAMILIES.items():
        shown = [data for data in datasets if (family, data) in runs]
        if not shown:
            continue
        images, captions = [], []
        for data in shown:
            run = runs[family, data]
            if (family, data) in copies:
                link = os.path.relpath(copies[family, data], page_dir).replace(os.sep, "/")
                images.append(f"![{family} on {dataset_title(data)}]({link})")
                captions.append(f"`{os.path.relpath(run.image, run.run_dir).replace(os.sep, '/')}`")
            else:
                images.append(f"no {kind} image")
                captions.append("")
        lines = _header("", shown) + [_row(kind, *images), _row("file", *captions)]
        parts.append(f"## {family}\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def gallery(run_dirs: list, out: str | None = None, figures: str | None = None, overwrite: bool = False) -> str:
    """The table of ``run_dirs``; with ``out``, also the page written there and the images copied to ``figures``
    (default: figures/gallery beside the page). Nothing is written when a file exists without ``overwrite``."""
    runs, datasets = gather(run_dirs)
    text = table(runs, datasets)
    if out is None:
        return text
    page_dir = os.path.dirname(os.path.abspath(out))
    copies = figure_files(runs, figures or os.path.join(page_dir, "figures", "gallery"))
    for path in [out, *copies.values()]:
        refuse_overwrite(path, overwrite)
    for key, path in copies.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(runs[key].image, path)
    with open(out, "w") as f:
        f.write(page(runs, datasets, copies, page_dir))
    for key, run in runs.items():
        if key not in copies:
            print(f"{PROG}: warning: {run.no_image}", file=sys.stderr)
    return text


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories written by `scratchgen train` and `scratchgen evaluate`")
    p.add_argument("--out", metavar="PAGE.md", help="write the gallery page here (default: only print the table)")
    p.add_argument("--figures", metavar="DIR", help="folder of the page's images (default: figures/gallery beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace the page and images of an earlier call")
    args = p.parse_args(argv)
    try:
        print(gallery(args.run_dirs, args.out, args.figures, args.overwrite))
    except (RunError, OSError) as e:
        print(f"{PROG}: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    if args.out:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
