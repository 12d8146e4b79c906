"""A battery of the bad inputs a user hits, across every command and the Python API (issue 23).

Each row of the tables is one bad input and what must come of it: exit status 2 and exactly one
line on stderr starting with "scratchgen" (130 for Ctrl-C; 0 where the input is in fact fine, noted
in the row), never a traceback, and every file of every run the case touches byte-identical
afterwards. For the Python API the bar is a ValueError, RunError or OSError with a one-line message,
never an unrelated KeyError, TypeError or AttributeError.

Tiny runs of every family are trained once per module; each case works on fresh copies of the
runs it names, in a folder of its own.
"""
import errno
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from helpers import files_below, run, trained_run
from scratchgen.cli import commands
from scratchgen.figures import save_gray
from scratchgen.training import RunError, load_run, make_config, start_run, train_run

TINY_RUN = ("--limit", "48", "--batch-size", "16", "--epochs", "1", "--eval-images", "20", "--no-progress")
RUNS = {   # placeholder -> `scratchgen train` arguments of a tiny run
    "vae": ("vae", "--latent", "4", "--hidden", "16"),
    "ae": ("ae", "--latent", "4", "--hidden", "16", "--corrupt", "gaussian"),
    "gan": ("gan", "--latent", "4", "--g-widths", "8", "--d-widths", "8"),
    "ddpm": ("ddpm", "--net", "mlp", "--widths", "16", "--timesteps", "50"),
    "pixelcnn": ("pixelcnn", "--channels", "4", "--blocks", "1", "--hidden", "4", "--figure-samples", "0"),
    "pixelrnn": ("pixelrnn", "--layer", "row", "--hidden", "2", "--layers", "1", "--output-hidden", "4",
                 "--figure-samples", "0"),
    "classifier": ("classifier", "--width", "4"),
}


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """Placeholder -> run directory: the tiny runs on the test data folder, and a classifier of
    another dataset (the built-in glyph-digits)."""
    runs = {name: trained_run(tmp_path_factory, args[0], *args[1:], "--data", data_dir, *TINY_RUN)
            for name, args in RUNS.items()}
    runs["other_classifier"] = trained_run(tmp_path_factory, "classifier", "--width", "4", "--data", "glyph-digits",
                                           *TINY_RUN)
    return runs



# ---- what the cases build --------------------------------------------------------------------------
def _png(name, size, value=255):
    def make(tmp):
        save_gray(os.path.join(tmp, name), np.full((size, size), value, np.uint8))
    return make


def _text(name, text="not an image\n"):
    def make(tmp):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    return make


def _folder(name):
    return lambda tmp: os.makedirs(os.path.join(tmp, name))


def _in_run(run, name, text="already here\n"):
    """A file ``name`` in the copy of ``run``, made before the command (an earlier output)."""
    def make(tmp):
        with open(os.path.join(tmp, run, name), "w") as f:
            f.write(text)
    return make


def _only_config(tmp):
    """A folder holding the config.json of a run but no checkpoint (a training killed at the start)."""
    os.makedirs(os.path.join(tmp, "no_checkpoint"))
    shutil.copy(os.path.join(tmp, "vae", "config.json"), os.path.join(tmp, "no_checkpoint", "config.json"))


def _earlier_demo(tmp):
    os.makedirs(os.path.join(tmp, "demo"))
    with open(os.path.join(tmp, "demo", "index.html"), "w") as f:
        f.write("<html>an earlier demo</html>\n")


class Case:
    """``argv`` with {placeholders}: a run of RUNS (a fresh copy), {data}, {tmp} (the case's folder),
    {file} (a text file), {empty} (an empty folder), {missing} (nothing there)."""

    def __init__(self, name, *argv, code=2, says="", setup=None, writes=()):
        self.name, self.argv, self.code, self.says, self.setup, self.writes = name, argv, code, says, setup, writes

    def __repr__(self):
        return self.name


def C(name, *argv, **kw):
    return pytest.param(Case(name, *argv, **kw), id=name)


# Options of every model, out of range or of the wrong type: refused when the command line is read.
COMMON_BAD = [("--epochs", "0"), ("--epochs", "-1"), ("--epochs", "1.5"), ("--epochs", "two"), ("--lr", "nan"),
              ("--lr", "-0.001"), ("--lr", "0"), ("--lr", "inf"), ("--batch-size", "0"), ("--minutes", "0"),
              ("--minutes", "-1"), ("--seed", "-1"), ("--limit", "0"), ("--eval-images", "0"), ("--log-every", "0")]
TRAIN_BAD_OPTIONS = [C(f"train {model} {option} {value}", "train", model, option, value, "--out", "{tmp}/new",
                       says=f"argument {option}")
                     for i, (option, value) in enumerate(COMMON_BAD)
                     for model in [("classifier", "ae", "vae", "gan", "dcgan", "ddpm", "pixelcnn", "pixelrnn")[i % 8]]]

FAMILY_BAD = [   # model, option, value
    ("classifier", "--width", "0"), ("classifier", "--width", "4.5"),
    ("ae", "--corrupt", "blur"), ("ae", "--loss", "l1"), ("ae", "--noise-level", "-0.1"), ("ae", "--arch", "cnn"),
    ("vae", "--latent", "0"), ("vae", "--hidden", "-16"), ("vae", "--beta", "nan"), ("vae", "--beta", "-1"),
    ("vae", "--kl-warmup", "-1"), ("vae", "--classes", "10"), ("vae", "--classes", "3,x"), ("vae", "--classes", ""),
    ("vae", "--binarize", "yes"), ("vae", "--likelihood", "normal"),
    ("gan", "--betas", "0.5"), ("gan", "--betas", "1,0.999"), ("gan", "--label-smoothing", "0.5"),
    ("gan", "--d-steps", "0"), ("gan", "--g-widths", "0"), ("gan", "--g-widths", "a,b"), ("gan", "--ema-decay", "1.5"),
    ("gan", "--loss", "wgan"), ("dcgan", "--width", "0"), ("dcgan", "--latent", "-3"),
    ("ddpm", "--timesteps", "0"), ("ddpm", "--widths", ""), ("ddpm", "--net", "resnet"),
    ("ddpm", "--schedule", "quadratic"), ("ddpm", "--clip-grad", "-1"), ("ddpm", "--label-dropout", "1.5"),
    ("ddpm", "--lr-schedule", "step"), ("ddpm", "--ema-decay", "nan"),
    ("pixelcnn", "--channels", "0"), ("pixelcnn", "--blocks", "0"), ("pixelcnn", "--figure-samples", "-1"),
    ("pixelcnn", "--hidden", "many"),
    ("pixelrnn", "--layer", "diagonl"), ("pixelrnn", "--layer", "Row"), ("pixelrnn", "--hidden", "0"),
    ("pixelrnn", "--layers", "-1"), ("pixelrnn", "--output-hidden", "1.5"), ("pixelrnn", "--lr-schedule", "step"),
]
TRAIN_FAMILY = [C(f"train {model} {option} {value!r}", "train", model, option, value, "--out", "{tmp}/new",
                  says=f"argument {option}") for model, option, value in FAMILY_BAD]

TRAIN = [
    # another family's option, typos, the wrong command
    C("train classifier --latent", "train", "classifier", "--latent", "4", says="unrecognized arguments"),
    C("train vae --timesteps", "train", "vae", "--timesteps", "10", says="unrecognized arguments"),
    C("train vae --class-conditional --arch conv", "train", "vae", "--class-conditional", "--arch", "conv",
      "--out", "{tmp}/new", says="--arch mlp"),
    C("train gan --gated", "train", "gan", "--gated", says="unrecognized arguments"),
    C("train ddpm --width", "train", "ddpm", "--width", "4", "--out", "{tmp}/new"),
    C("train vae --epocs", "train", "vae", "--epocs", "2", says="unrecognized arguments"),
    C("train vea", "train", "vea", says="invalid choice"),
    C("train VAE", "train", "VAE", says="invalid choice"),
    C("train without model", "train", says="required"),
    C("train vae --lr without value", "train", "vae", "--lr", says="expected one argument"),
    C("train vae positional out", "train", "vae", "{tmp}/new", says="unrecognized arguments"),
    # --data
    C("train --data missing folder", "train", "vae", "--data", "{missing}", "--out", "{tmp}/new"),
    C("train --data a file", "train", "vae", "--data", "{file}", "--out", "{tmp}/new"),
    C("train --data empty folder", "train", "vae", "--data", "{empty}", "--out", "{tmp}/new"),
    C("train --data misspelled", "train", "vae", "--data", "mnistt", "--out", "{tmp}/new"),
    C("train --data empty string", "train", "vae", "--data", "", "--out", "{tmp}/new"),
    # --out
    C("train --out an existing file", "train", "vae", "--data", "{data}", "--out", "{file}", says="is a file"),
    C("train --out under a file", "train", "vae", "--data", "{data}", "--out", "{file}/run", says="is a file"),
    C("train --out an existing run", "train", "vae", "--data", "{data}", "--out", "{vae}", says="already holds a run"),
    C("train --out another family's run", "train", "ddpm", "--data", "{data}", "--out", "{vae}",
      says="already holds a run"),
    C("train --overwrite with a missing data folder", "train", "vae", "--data", "{missing}", "--out", "{vae}",
      "--overwrite"),
    C("train --overwrite with a file as --data", "train", "vae", "--data", "{file}", "--out", "{vae}",
      "--overwrite"),
    # --resume
    C("resume a missing run", "train", "vae", "--out", "{missing}", "--resume"),
    C("resume an empty folder", "train", "vae", "--out", "{empty}", "--resume"),
    C("resume a file", "train", "vae", "--out", "{file}", "--resume"),
    C("resume a run without checkpoint", "train", "vae", "--out", "{tmp}/no_checkpoint", "--resume",
      setup=_only_config, says="no checkpoint"),
    C("resume as another family", "train", "ddpm", "--out", "{vae}", "--resume", says="holds a vae run"),
    C("resume with --overwrite", "train", "vae", "--out", "{vae}", "--resume", "--overwrite", says="--overwrite"),
    C("resume with another --batch-size", "train", "vae", "--out", "{vae}", "--resume", "--batch-size", "32",
      says="--batch-size"),
    C("resume with another --latent", "train", "vae", "--out", "{vae}", "--resume", "--latent", "8", says="--latent"),
    C("resume with other --data", "train", "vae", "--out", "{vae}", "--resume", "--data", "glyph-digits",
      says="--data"),
    C("resume with another --seed", "train", "vae", "--out", "{vae}", "--resume", "--seed", "7", says="--seed"),
    C("resume a pixelcnn with --gated", "train", "pixelcnn", "--out", "{pixelcnn}", "--resume", "--gated",
      says="--gated"),
    C("resume a row pixelrnn with --layer diagonal", "train", "pixelrnn", "--out", "{pixelrnn}", "--resume",
      "--layer", "diagonal", says="--layer diagonal (the run has row)"),
    C("resume with the same options (fine: already done)", "train", "vae", "--out", "{vae}", "--resume",
      "--epochs", "1", "--no-progress", code=0, writes=("vae/",)),
]

SAMPLE = [
    C("sample without run", "sample", says="required"),
    C("sampel", "sampel", "{vae}", says="invalid choice"),
    C("sample missing run", "sample", "{missing}"),
    C("sample a file", "sample", "{file}"),
    C("sample an empty folder", "sample", "{empty}"),
    C("sample a run without checkpoint", "sample", "{tmp}/no_checkpoint", setup=_only_config),
    C("sample a data folder", "sample", "{data}"),
    C("sample --n 0", "sample", "{vae}", "--n", "0", says="argument --n"),
    C("sample --n -4", "sample", "{vae}", "--n", "-4", says="argument --n"),
    C("sample --n abc", "sample", "{vae}", "--n", "abc", says="argument --n"),
    C("sample --n 2.5", "sample", "{vae}", "--n", "2.5", says="argument --n"),
    C("sample --seed -1", "sample", "{vae}", "--seed", "-1", says="argument --seed"),
    C("sample --n without value", "sample", "{vae}", "--n", says="expected one argument"),
    C("sample two runs", "sample", "{vae}", "{gan}", says="unrecognized arguments"),
    C("sample a classifier", "sample", "{classifier}", says="cannot sample"),
    C("sample an ae", "sample", "{ae}", "--n", "4", code=0, writes=("ae/samples.png",)),
    C("sample vae --eta", "sample", "{vae}", "--eta", "0.5", says="--eta"),
    C("sample gan --sampler", "sample", "{gan}", "--sampler", "ddim", says="--sampler"),
    C("sample pixelcnn --steps", "sample", "{pixelcnn}", "--steps", "10", says="--steps"),
    C("sample ae --guidance", "sample", "{ae}", "--guidance", "1", says="--guidance"),
    C("sample vae --label", "sample", "{vae}", "--label", "3", says="--label"),
    C("sample ddpm --eta 2", "sample", "{ddpm}", "--eta", "2", says="argument --eta"),
    C("sample ddpm --eta -0.1", "sample", "{ddpm}", "--eta", "-0.1", says="argument --eta"),
    C("sample ddpm --steps 0", "sample", "{ddpm}", "--steps", "0", says="argument --steps"),
    C("sample ddpm --sampler ancestral", "sample", "{ddpm}", "--sampler", "ancestral", says="invalid choice"),
    C("sample ddpm --variance big", "sample", "{ddpm}", "--variance", "big", says="invalid choice"),
    C("sample ddpm --label 10", "sample", "{ddpm}", "--label", "10", says="argument --label"),
    C("sample ddpm --guidance -1", "sample", "{ddpm}", "--guidance", "-1", says="argument --guidance"),
    C("sample unconditional ddpm --label", "sample", "{ddpm}", "--label", "3", says="--class-conditional"),
    C("sample unconditional ddpm --guidance", "sample", "{ddpm}", "--guidance", "2", says="--class-conditional"),
    C("sample unconditional vae --label", "sample", "{vae}", "--label", "3", says="--class-conditional"),
    C("sample gan --label", "sample", "{gan}", "--label", "3", says="only ddpm, vae runs do"),
    C("sample ddpm --steps more than T", "sample", "{ddpm}", "--steps", "100", "--n", "2"),
    C("sample over an earlier samples.png", "sample", "{vae}", setup=_in_run("vae", "samples.png"),
      says="--overwrite"),
    C("sample --output an existing PNG", "sample", "{vae}", "--output", "{tmp}/old.png", setup=_png("old.png", 28),
      says="--overwrite"),
    C("sample --output a text file", "sample", "{vae}", "--output", "{file}", says="ending in .png"),
    C("sample --output a folder", "sample", "{vae}", "--output", "{empty}", "--overwrite"),
    C("sample --output under a file", "sample", "{vae}", "--output", "{file}/x.png", says="choose another --output"),
    C("sample --output under a missing folder", "sample", "{vae}", "--n", "4", "--output", "{tmp}/new/x.png",
      code=0, writes=("new/x.png",)),
    C("sample --output not an image format", "sample", "{vae}", "--n", "4", "--output", "{tmp}/x.txt"),
    C("sample --output without extension", "sample", "{vae}", "--n", "4", "--output", "{tmp}/grid",
      says="ending in .png"),
    C("sample --output the run's config.json", "sample", "{vae}", "--n", "4", "--output", "{vae}/config.json",
      "--overwrite"),
]

RECONSTRUCT = [
    C("reconstruct missing run", "reconstruct", "{missing}"),
    C("reconstruct a file", "reconstruct", "{file}"),
    C("reconstruct a ddpm", "reconstruct", "{ddpm}", says="cannot reconstruct"),
    C("reconstruct a gan", "reconstruct", "{gan}", says="cannot reconstruct"),
    C("reconstruct a classifier", "reconstruct", "{classifier}", says="cannot reconstruct"),
    C("reconstruct --n 0", "reconstruct", "{vae}", "--n", "0", says="argument --n"),
    C("reconstruct --n x", "reconstruct", "{vae}", "--n", "x", says="argument --n"),
    C("reconstruct over earlier output", "reconstruct", "{vae}", "--n", "2",
      setup=_in_run("vae", "reconstructions.png"), says="--overwrite"),
    C("reconstruct --n 1000 (one column per image)", "reconstruct", "{ae}", "--n", "1000", says="from 1 to 100"),
    C("reconstruct --n more than the test images", "reconstruct", "{ae}", "--n", "60", says="has only 40 images"),
    C("reconstruct --n all the test images (fine)", "reconstruct", "{ae}", "--n", "40", code=0,
      writes=("ae/reconstructions.png",)),
    C("reconstruct --output (not an option)", "reconstruct", "{vae}", "--output", "{tmp}/x.png",
      says="unrecognized arguments"),
]

RESTORE = [
    C("restore without --task", "restore", "{ae}", says="required: --task"),
    C("restore --task inpainting", "restore", "{ae}", "--task", "inpainting", says="invalid choice"),
    C("restore missing run", "restore", "{missing}", "--task", "inpaint"),
    C("restore an empty folder", "restore", "{empty}", "--task", "inpaint"),
    C("restore ae superres", "restore", "{ae}", "--task", "superres", says="cannot superres"),
    C("restore vae complete", "restore", "{vae}", "--task", "complete",
      says="a vae run cannot complete: it can inpaint, denoise, superres"),
    C("restore ae complete", "restore", "{ae}", "--task", "complete", says="an ae run cannot complete"),
    C("restore pixelcnn denoise", "restore", "{pixelcnn}", "--task", "denoise",
      says="a pixelcnn run cannot denoise: it can complete"),
    C("restore pixelrnn superres", "restore", "{pixelrnn}", "--task", "superres",
      says="a pixelrnn run cannot superres: it can complete"),
    C("restore pixelcnn inpaint", "restore", "{pixelcnn}", "--task", "inpaint", says="cannot inpaint"),
    C("restore pixelrnn inpaint", "restore", "{pixelrnn}", "--task", "inpaint", says="cannot inpaint: it can complete"),
    C("restore pixelrnn complete --mask center", "restore", "{pixelrnn}", "--task", "complete", "--mask", "center",
      says="known pixels to come first in raster order"),
    C("restore ddpm complete", "restore", "{ddpm}", "--task", "complete", says="cannot complete"),
    C("restore gan complete", "restore", "{gan}", "--task", "complete",
      says="a gan run cannot complete: it can inpaint, denoise, superres"),
    C("restore classifier denoise", "restore", "{classifier}", "--task", "denoise", says="cannot restore"),
    # masks
    C("restore --mask missing file", "restore", "{ae}", "--task", "inpaint", "--mask", "{tmp}/mask.png",
      says="mask"),
    C("restore --mask misspelled pattern", "restore", "{ae}", "--task", "inpaint", "--mask", "centre",
      says="unknown mask"),
    C("restore --mask not a PNG", "restore", "{ae}", "--task", "inpaint", "--mask", "{tmp}/mask.png",
      setup=_text("mask.png"), says="mask.png"),
    C("restore --mask empty file", "restore", "{ae}", "--task", "inpaint", "--mask", "{tmp}/mask.png",
      setup=_text("mask.png", ""), says="mask.png"),
    C("restore --mask a text file", "restore", "{ae}", "--task", "inpaint", "--mask", "{file}", says="mask"),
    C("restore --mask wrong size PNG", "restore", "{ae}", "--task", "inpaint", "--mask", "{tmp}/mask.png",
      setup=_png("mask.png", 20), says="20x20"),
    C("restore --mask a folder", "restore", "{ae}", "--task", "inpaint", "--mask", "{empty}", says="mask"),
    C("restore complete --mask wrong size PNG", "restore", "{pixelcnn}", "--task", "complete", "--mask",
      "{tmp}/mask.png", setup=_png("mask.png", 14), says="14x14"),
    C("restore complete --mask center", "restore", "{pixelcnn}", "--task", "complete", "--mask", "center"),
    C("restore complete --mask left", "restore", "{pixelcnn}", "--task", "complete", "--mask", "left"),
    C("restore inpaint --mask all-white PNG (fine: nothing missing)", "restore", "{ae}", "--task", "inpaint",
      "--n", "2", "--mask", "{tmp}/mask.png", setup=_png("mask.png", 28), code=0,
      writes=("ae/restore_inpaint.png", "ae/restore_inpaint.json")),
    # options a task or mask does not use
    C("restore denoise --mask", "restore", "{ae}", "--task", "denoise", "--mask", "center", says="--mask"),
    C("restore superres --mask", "restore", "{ddpm}", "--task", "superres", "--mask", "left", says="--mask"),
    C("restore inpaint --noise-std", "restore", "{ae}", "--task", "inpaint", "--noise-std", "0.5",
      says="--noise-std"),
    C("restore superres --noise-std", "restore", "{ddpm}", "--task", "superres", "--noise-std", "0.5",
      says="--noise-std"),
    C("restore complete --noise-std", "restore", "{pixelcnn}", "--task", "complete", "--noise-std", "0.1",
      says="--noise-std"),
    C("restore inpaint center --fraction", "restore", "{ae}", "--task", "inpaint", "--fraction", "0.3",
      says="--fraction"),
    C("restore inpaint default mask --fraction", "restore", "{ae}", "--task", "inpaint", "--mask", "left",
      "--fraction", "0.3", says="--fraction"),
    C("restore denoise --fraction", "restore", "{ae}", "--task", "denoise", "--fraction", "0.3",
      says="--fraction"),
    C("restore inpaint PNG mask --fraction", "restore", "{ae}", "--task", "inpaint", "--mask", "{tmp}/mask.png",
      "--fraction", "0.3", setup=_png("mask.png", 28), says="--fraction"),
    C("restore inpaint --factor", "restore", "{vae}", "--task", "inpaint", "--factor", "4",
      says="--task inpaint does not use --factor"),
    C("restore denoise --factor 2", "restore", "{gan}", "--task", "denoise", "--factor", "2", says="--factor"),
    C("restore ae superres --factor 4", "restore", "{ae}", "--task", "superres", "--factor", "4",
      says="cannot superres"),
    C("restore gan --method", "restore", "{gan}", "--task", "inpaint", "--method", "latent",
      says="gan runs do not use --method: only vae runs do"),
    C("restore ddpm --method", "restore", "{ddpm}", "--task", "superres", "--method", "encoder",
      says="ddpm runs do not use --method"),
    C("restore ae --resample", "restore", "{ae}", "--task", "inpaint", "--resample", "3", says="--resample"),
    C("restore ae denoise --steps", "restore", "{ae}", "--task", "denoise", "--steps", "10", says="--steps"),
    C("restore ddpm denoise --reconstruction-guidance", "restore", "{ddpm}", "--task", "denoise",
      "--reconstruction-guidance", "1", says="--reconstruction-guidance"),
    # numbers
    C("restore --fraction 0", "restore", "{ae}", "--task", "inpaint", "--mask", "random", "--fraction", "0",
      says="argument --fraction"),
    C("restore --fraction 1", "restore", "{ae}", "--task", "inpaint", "--mask", "random", "--fraction", "1",
      says="argument --fraction"),
    C("restore --fraction 50%", "restore", "{ae}", "--task", "inpaint", "--mask", "random", "--fraction", "50%",
      says="argument --fraction"),
    C("restore --noise-std -1", "restore", "{ae}", "--task", "denoise", "--noise-std", "-1",
      says="argument --noise-std"),
    C("restore --noise-std nan", "restore", "{ae}", "--task", "denoise", "--noise-std", "nan",
      says="argument --noise-std"),
    C("restore --factor 3", "restore", "{vae}", "--task", "superres", "--factor", "3",
      says="argument --factor: invalid choice: 3 (choose from 2, 4)"),
    C("restore --factor 2.0", "restore", "{vae}", "--task", "superres", "--factor", "2.0", says="argument --factor"),
    C("restore --factor 0", "restore", "{ddpm}", "--task", "superres", "--factor", "0", says="argument --factor"),
    C("restore --method map", "restore", "{vae}", "--task", "denoise", "--method", "map",
      says="argument --method: invalid choice"),
    C("restore vae superres --factor 4 --method encoder (fine)", "restore", "{vae}", "--task", "superres",
      "--factor", "4", "--method", "encoder", "--n", "2", code=0,
      writes=("vae/restore_superres_4x.png", "vae/restore_superres_4x.json")),
    C("restore gan inpaint (fine)", "restore", "{gan}", "--task", "inpaint", "--n", "2", code=0,
      writes=("gan/restore_inpaint.png", "gan/restore_inpaint.json")),
    C("restore --samples 0", "restore", "{ae}", "--task", "denoise", "--samples", "0", says="argument --samples"),
    C("restore --n 0", "restore", "{ae}", "--task", "denoise", "--n", "0", says="argument --n"),
    C("restore --n more than the test images", "restore", "{ae}", "--task", "denoise", "--n", "60",
      says="has only 40 images"),
    C("restore --resample 0", "restore", "{ddpm}", "--task", "inpaint", "--resample", "0",
      says="argument --resample"),
    C("restore ddpm inpaint --steps more than T", "restore", "{ddpm}", "--task", "inpaint", "--steps", "500",
      "--n", "2"),
    # outputs
    C("restore over earlier output", "restore", "{ae}", "--task", "denoise",
      setup=_in_run("ae", "restore_denoise.png"), says="--overwrite"),
    C("restore --output a folder", "restore", "{ae}", "--task", "denoise", "--n", "2", "--output", "{empty}",
      "--overwrite"),
    C("restore --output under a file", "restore", "{ae}", "--task", "denoise", "--n", "2", "--output",
      "{file}/x.png"),
    C("restore --output whose .json is a folder", "restore", "{ae}", "--task", "denoise", "--n", "2", "--output",
      "{tmp}/r.png", setup=_folder("r.json")),
    C("restore --output whose .json exists", "restore", "{ae}", "--task", "denoise", "--n", "2", "--output",
      "{tmp}/r.png", setup=_text("r.json", "{}\n"), says="--overwrite"),
]

EVALUATE = [
    C("evaluate missing run", "evaluate", "{missing}"),
    C("evaluate a file", "evaluate", "{file}"),
    C("evaluate --classifier missing", "evaluate", "{vae}", "--k", "2", "--limit", "4", "--n-samples", "10",
      "--classifier", "{missing}"),
    C("evaluate --classifier a vae run", "evaluate", "{vae}", "--k", "2", "--limit", "4", "--n-samples", "10",
      "--classifier", "{gan}", says="not a classifier"),
    C("evaluate --classifier of another dataset", "evaluate", "{vae}", "--k", "2", "--limit", "4", "--n-samples",
      "10", "--classifier", "{other_classifier}", says="glyph-digits"),
    C("evaluate --classifier an empty folder", "evaluate", "{gan}", "--limit", "4", "--n-samples", "10",
      "--classifier", "{empty}"),
    C("evaluate without a classifier", "evaluate", "{gan}", "--limit", "4", "--n-samples", "10",
      says="no classifier"),
    C("evaluate --k on a ddpm", "evaluate", "{ddpm}", "--k", "5", says="--k"),
    C("evaluate --sampler on a vae", "evaluate", "{vae}", "--sampler", "ddim", says="--sampler"),
    C("evaluate --eta on a pixelcnn", "evaluate", "{pixelcnn}", "--eta", "0.5", says="--eta"),
    C("evaluate --conditional on an unconditional vae", "evaluate", "{vae}", "--conditional",
      says="trained without --class-conditional"),
    C("evaluate --conditional on an unconditional ddpm", "evaluate", "{ddpm}", "--conditional", "--guidance", "0,1",
      says="trained without --class-conditional"),
    C("evaluate --conditional on a gan", "evaluate", "{gan}", "--conditional", says="only ddpm and vae runs"),
    C("evaluate --guidance 0,x", "evaluate", "{ddpm}", "--guidance", "0,x", says="argument --guidance"),
    C("evaluate --guidance 1,1", "evaluate", "{ddpm}", "--guidance", "1,1", says="argument --guidance"),
    C("evaluate --guidance 0,-1", "evaluate", "{ddpm}", "--guidance", "0,-1", says="argument --guidance"),
    C("evaluate --guidance 0,,1", "evaluate", "{ddpm}", "--guidance", "0,,1", says="argument --guidance"),
    C("evaluate two --guidance weights without --conditional", "evaluate", "{ddpm}", "--guidance", "0,1",
      says="need --conditional"),
    C("evaluate --cas-images without --conditional", "evaluate", "{vae}", "--cas-images", "10",
      says="add --conditional"),
    C("evaluate --cas-images -10", "evaluate", "{vae}", "--conditional", "--cas-images", "-10",
      says="argument --cas-images"),
    C("evaluate --guidance on a vae", "evaluate", "{vae}", "--conditional", "--guidance", "1", says="--guidance"),
    C("evaluate --k -1", "evaluate", "{vae}", "--k", "-1", says="argument --k"),
    C("evaluate --bound-images on a vae", "evaluate", "{vae}", "--bound-images", "5",
      says="vae runs do not use --bound-images"),
    C("evaluate --bound-binarize on a pixelcnn", "evaluate", "{pixelcnn}", "--bound-binarize", "bernoulli",
      says="pixelcnn runs do not use --bound-binarize"),
    C("evaluate --bound-images -1", "evaluate", "{ddpm}", "--bound-images", "-1", says="argument --bound-images"),
    C("evaluate --bound-binarize dynamic", "evaluate", "{ddpm}", "--bound-binarize", "dynamic",
      says="argument --bound-binarize"),
    C("evaluate --limit 0", "evaluate", "{vae}", "--limit", "0", says="argument --limit"),
    C("evaluate --n-samples -1", "evaluate", "{vae}", "--n-samples", "-1", says="argument --n-samples"),
    C("evaluate --n-samples 5 (fewer than the splits)", "evaluate", "{gan}", "--limit", "4", "--n-samples", "5",
      "--classifier", "{classifier}"),
    C("evaluate --n-samples on a classifier", "evaluate", "{classifier}", "--limit", "4", "--n-samples", "10",
      says="classifier runs do not use --n-samples"),
    C("evaluate --parzen on a classifier", "evaluate", "{classifier}", "--limit", "4", "--parzen",
      says="classifier runs do not use --parzen"),
    C("evaluate --classifier on a classifier", "evaluate", "{classifier}", "--classifier", "{classifier}",
      says="classifier runs do not use --classifier"),
    C("evaluate a classifier (fine)", "evaluate", "{classifier}", "--limit", "4", code=0,
      writes=("classifier/metrics.json",)),
    C("evaluate over earlier metrics.json", "evaluate", "{vae}", "--k", "2", "--limit", "4", "--n-samples", "0",
      setup=_in_run("vae", "metrics.json", "{}\n"), says="--overwrite"),
    C("evaluate a vae (fine)", "evaluate", "{vae}", "--k", "2", "--limit", "4", "--n-samples", "0", code=0,
      writes=("vae/metrics.json",)),
]

DATA = [
    C("data without what", "data", says="required"),
    C("data sumary", "data", "sumary", says="invalid choice"),
    C("data summary --data missing", "data", "summary", "--data", "{missing}"),
    C("data summary --data a file", "data", "summary", "--data", "{file}"),
    C("data summary --data empty folder", "data", "summary", "--data", "{empty}"),
    C("data summary --data a run", "data", "summary", "--data", "{vae}"),
    C("data summary --data misspelled", "data", "summary", "--data", "fashion_mnist"),
    C("data figure without path", "data", "figure", "--data", "{data}", says="required"),
    C("data figure into a folder", "data", "figure", "{empty}", "--data", "{data}"),
    C("data figure under a file", "data", "figure", "{file}/x.png", "--data", "{data}"),
    C("data figure --data missing", "data", "figure", "{tmp}/x.png", "--data", "{missing}"),
    C("data figure over an existing PNG", "data", "figure", "{tmp}/old.png", "--data", "{data}",
      setup=_png("old.png", 28), says="--overwrite"),
    C("data figure over the run's config.json", "data", "figure", "{vae}/config.json", "--data", "{data}",
      says="ending in .png"),
    C("data figure not an image format", "data", "figure", "{tmp}/x.txt", "--data", "{data}"),
]

DEMO = [
    C("demo --minutes 0", "demo", "--minutes", "0", "--out", "{tmp}/demo", says="argument --minutes"),
    C("demo --minutes -1", "demo", "--minutes", "-1", "--out", "{tmp}/demo", says="argument --minutes"),
    C("demo --minutes ten", "demo", "--minutes", "ten", "--out", "{tmp}/demo", says="argument --minutes"),
    C("demo --minutes nan", "demo", "--minutes", "nan", "--out", "{tmp}/demo", says="argument --minutes"),
    C("demo --n-samples 0", "demo", "--n-samples", "0", "--out", "{tmp}/demo", says="argument --n-samples"),
    C("demo --seed -1", "demo", "--seed", "-1", "--out", "{tmp}/demo", says="argument --seed"),
    C("demo --data missing", "demo", "--data", "{missing}", "--out", "{tmp}/demo", "--no-progress"),
    C("demo --out an existing file", "demo", "--data", "{data}", "--out", "{file}", "--no-progress"),
    C("demo --out under a file", "demo", "--data", "{data}", "--out", "{file}/demo", "--no-progress"),
    C("demo over an earlier demo", "demo", "--data", "{data}", "--out", "{tmp}/demo", setup=_earlier_demo,
      says="--overwrite"),
    C("demo --out a run of the user's", "demo", "--data", "{data}", "--out", "{vae}", "--no-progress",
      says="which the demo does not write"),
    C("demo --out a folder of other files, with --overwrite", "demo", "--data", "{data}", "--out", "{tmp}",
      "--overwrite", "--no-progress", setup=_text("notes.txt"), says="notes.txt"),
    C("demo over an interrupted demo", "demo", "--data", "{data}", "--out", "{tmp}/demo", "--no-progress",
      setup=_folder("demo/classifier"), says="--overwrite"),
    C("demo --n-samples many", "demo", "--n-samples", "many", "--out", "{tmp}/demo", says="argument --n-samples"),
]

def _band_table_for(run, log=None):
    """A table of bands (at {tmp}/bands.json) with an entry for the copy of ``run``, whose log.jsonl
    becomes ``log`` when given."""
    def make(tmp):
        with open(os.path.join(tmp, run, "config.json")) as f:
            config = json.load(f)
        entry = {"config": config, "seeds": [0, 1],
                 "epochs": {"3": {"loss": {"values": [1.0, 2.0], "band": [0.0, 3.0]}}}}
        with open(os.path.join(tmp, "bands.json"), "w") as f:
            json.dump({"recipes": {config["model"]: {config["data"]: entry}}}, f)
        if log is not None:
            with open(os.path.join(tmp, run, "log.jsonl"), "w") as f:
                f.write(log)
    return make


CHECK = [
    C("check without a run", "check", says="required"),
    C("check missing run", "check", "{missing}", says="is not a directory"),
    C("check a file", "check", "{file}", says="is not a directory"),
    C("check an empty folder", "check", "{empty}", says="no config.json"),
    C("check a run without a band", "check", "{vae}", says="no reference band for vae on"),
    C("check --table missing", "check", "{vae}", "--table", "{missing}", says="no reference table"),
    C("check --table not JSON", "check", "{vae}", "--table", "{file}", says="is not valid JSON"),
    C("check --table a run's config.json", "check", "{vae}", "--table", "{vae}/config.json", says="no 'recipes'"),
    C("check a run whose log is empty", "check", "{vae}", "--table", "{tmp}/bands.json",
      setup=_band_table_for("vae", log=""), says="the log is empty"),
    C("check a run that logged none of the band's epochs", "check", "{vae}", "--table", "{tmp}/bands.json",
      setup=_band_table_for("vae"), says="nothing to compare"),
]

TOP = [
    C("no command", says="required"),
    C("trian", "trian", "vae", says="invalid choice"),
    C("unknown top option", "--verbose", "sample", "{vae}", says="unrecognized arguments"),
    C("--version", "--version"),
    C("help as a command", "help", says="invalid choice"),
]

CASES = (TRAIN_BAD_OPTIONS + TRAIN_FAMILY + TRAIN + SAMPLE + RECONSTRUCT + RESTORE + EVALUATE + DATA + DEMO + CHECK
         + TOP)


@pytest.fixture
def place(trained, data_dir, tmp_path):
    """What the placeholders stand for in this case: fresh copies of the runs, and the case's folder."""
    (tmp_path / "a_file.txt").write_text("some notes\n")
    (tmp_path / "empty").mkdir()
    for name, run_dir in trained.items():
        shutil.copytree(run_dir, tmp_path / name)
    return dict({name: str(tmp_path / name) for name in trained}, data=data_dir, tmp=str(tmp_path),
                file=str(tmp_path / "a_file.txt"), empty=str(tmp_path / "empty"), missing=str(tmp_path / "missing"))


def _assert_one_line(stderr, code, expected_code, says=""):
    assert "Traceback" not in stderr, stderr
    assert code == expected_code, (code, stderr[-300:])
    lines = stderr.strip().splitlines()
    if expected_code != 0:
        assert len(lines) == 1 and lines[0].startswith("scratchgen"), stderr
        assert says in lines[0], (says, lines[0])


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_gets_one_line_and_loses_nothing(case, place, monkeypatch):
    monkeypatch.chdir(place["tmp"])    # a default output (runs/..., runs/classifier-DATA) stays in the case's folder
    if case.setup:
        case.setup(place["tmp"])
    before = files_below(place["tmp"])
    r = run(*[arg.format(**place) for arg in case.argv])
    _assert_one_line(r.stderr, r.returncode, case.code, case.says)
    after = files_below(place["tmp"])
    written = [path for path in after if path.startswith(case.writes)] if case.writes else []
    assert {p: after.get(p) for p in before if not p.startswith(case.writes or ("\0",))} == \
        {p: b for p, b in before.items() if not p.startswith(case.writes or ("\0",))}
    if case.code == 0:
        assert written, "a successful command wrote nothing"   # no silent success
    else:
        assert set(after) == set(before), sorted(set(after) - set(before))   # a failure leaves no new file


def test_the_battery_has_enough_cases():
    assert len(CASES) + len(INTERRUPTS) + len(API_CASES) >= 150


# ---- Ctrl-C ------------------------------------------------------------------------------------------
def _ctrl_c(*args, **options):
    raise KeyboardInterrupt


INTERRUPTS = {   # where Ctrl-C lands -> the command line
    "sample": ("sample", "{vae}"), "reconstruct": ("reconstruct", "{vae}"),
    "restore": ("restore", "{vae}", "--task", "denoise"), "evaluate": ("evaluate", "{vae}"),
    "data_summary": ("data", "summary", "--data", "{data}"), "data_figure": ("data", "figure", "{tmp}/x.png"),
}


@pytest.mark.parametrize("command", INTERRUPTS)
def test_ctrl_c_exits_130_in_one_line_and_loses_nothing(command, place, monkeypatch):
    monkeypatch.setattr(commands, command, _ctrl_c)
    before = files_below(place["tmp"])
    r = run(*[arg.format(**place) for arg in INTERRUPTS[command]])
    assert r.returncode == 130 and r.stderr == "scratchgen: interrupted\n"
    assert files_below(place["tmp"]) == before


# ---- the Python API -------------------------------------------------------------------------------
def _config(**options):
    return lambda place: make_config({"model": "vae", **options})


def _start(model, **options):
    """start_run of a new run: what the model's constructor checks is met here, before anything is written."""
    return lambda place: start_run({"model": model, "data": place["data"], **options}, place["tmp"] + "/new")


API_CASES = {   # case -> a call that must raise ValueError, RunError or OSError with a one-line message
    "make_config of a string": lambda p: make_config("vae"),
    "make_config of None": lambda p: make_config(None),
    "make_config without model": lambda p: make_config({}),
    "make_config unknown model": lambda p: make_config({"model": "vea"}),
    "make_config unknown option": lambda p: make_config({"model": "vae", "latnet": 4}),
    "make_config another family's option": lambda p: make_config({"model": "vae", "timesteps": 10}),
    "make_config lr as text": _config(lr="0.001"),
    "make_config lr nan": _config(lr=float("nan")),
    "make_config epochs 2.0": _config(epochs=2.0),
    "make_config epochs True": _config(epochs=True),
    "make_config batch_size 0": _config(batch_size=0),
    "make_config seed -1": _config(seed=-1),
    "make_config seed 1.5": _config(seed=1.5),
    "make_config minutes 0": _config(minutes=0),
    "make_config limit 0": _config(limit=0),
    "make_config eval_images all": _config(eval_images="all"),
    "make_config latent as text": _config(latent="8"),
    "start_run latent 0": _start("vae", latent=0),
    "make_config hidden 1.5": _config(hidden=1.5),
    "make_config classes an int": _config(classes=3),
    "make_config classes [11]": _config(classes=[11]),
    "start_run classes []": _start("vae", classes=[]),
    "make_config classes as text": _config(classes="3"),
    "start_run arch cnn": _start("vae", arch="cnn"),
    "make_config binarize True": _config(binarize=True),
    "start_run likelihood normal": _start("vae", likelihood="normal"),
    "make_config beta -1": _config(beta=-1.0),
    "make_config gan betas one": lambda p: make_config({"model": "gan", "betas": [0.5]}),
    "make_config gan betas a float": lambda p: make_config({"model": "gan", "betas": 0.5}),
    "make_config gan g_widths empty": lambda p: make_config({"model": "gan", "g_widths": []}),
    "make_config gan g_widths an int": lambda p: make_config({"model": "gan", "g_widths": 8}),
    "make_config gan loss wgan": lambda p: make_config({"model": "gan", "loss": "wgan"}),
    "make_config ddpm timesteps 0": lambda p: make_config({"model": "ddpm", "timesteps": 0}),
    "make_config ddpm widths [0]": lambda p: make_config({"model": "ddpm", "widths": [0]}),
    "start_run ae corrupt blur": _start("ae", corrupt="blur"),
    "start_run dcgan width 0": _start("dcgan", width=0),
    "make_config ddpm net resnet": lambda p: make_config({"model": "ddpm", "net": "resnet"}),
    "start_run pixelcnn channels -1": _start("pixelcnn", channels=-1),
    "start_run pixelrnn layer diagonl": _start("pixelrnn", layer="diagonl"),
    "make_config pixelrnn layers 0": lambda p: make_config({"model": "pixelrnn", "layers": 0}),
    "make_config pixelrnn lr_schedule step": lambda p: make_config({"model": "pixelrnn", "lr_schedule": "step"}),
    "start_run classifier width None": _start("classifier", width=None),
    "start_run data missing": lambda p: start_run({"model": "vae", "data": p["missing"]}, p["tmp"] + "/new"),
    "start_run data a number": lambda p: start_run({"model": "vae", "data": 5}, p["tmp"] + "/new"),
    "start_run out a file": lambda p: start_run({"model": "vae", "data": p["data"]}, p["file"]),
    "start_run out an existing run": lambda p: start_run({"model": "vae", "data": p["data"]}, p["vae"]),
    "train_run out None": lambda p: train_run({"model": "vae", "data": p["data"]}, None),
    "train_run resume missing": lambda p: train_run({"model": "vae"}, p["missing"], resume=True),
    "train_run resume a file": lambda p: train_run({"model": "vae"}, p["file"], resume=True),
    "train_run resume with overwrite": lambda p: train_run({"model": "vae"}, p["vae"], resume=True,
                                                           overwrite=True),
    "train_run resume another batch_size": lambda p: train_run({"model": "vae", "batch_size": 7}, p["vae"],
                                                               resume=True),
    "train_run resume lr nan": lambda p: train_run({"model": "vae", "lr": float("nan")}, p["vae"], resume=True),
    "train_run resume unknown option": lambda p: train_run({"model": "vae", "latnet": 3}, p["vae"], resume=True),
    "train_run config a list": lambda p: train_run([("model", "vae")], p["tmp"] + "/new"),
    "load_run missing": lambda p: load_run(p["missing"]),
    "load_run a file": lambda p: load_run(p["file"]),
    "load_run empty folder": lambda p: load_run(p["empty"]),
    "load_run a data folder": lambda p: load_run(p["data"]),
}


@pytest.mark.parametrize("case", API_CASES)
def test_the_python_api_raises_a_one_line_error_of_a_documented_type(case, place):
    before = files_below(place["tmp"])
    with pytest.raises((ValueError, RunError, OSError)) as caught:
        API_CASES[case](place)
    assert not isinstance(caught.value, (KeyError, TypeError, AttributeError))
    message = str(caught.value)
    assert message and len(message.splitlines()) == 1, message
    assert files_below(place["tmp"]) == before


def test_the_python_api_takes_path_objects(trained, data_dir, tmp_path):
    """Not bad input, but what a careful user passes: pathlib.Path works wherever a str does."""
    config, _ = load_run(pathlib.Path(trained["vae"]))
    assert config["model"] == "vae"
    assert start_run({"model": "vae", "data": data_dir}, tmp_path / "new")["model"] == "vae"
    assert json.load(open(tmp_path / "new" / "config.json"))["model"] == "vae"


# ---- a full disk -------------------------------------------------------------------------------------
@pytest.fixture
def full_disk(tmp_path):
    """A 200 kB tmpfs (needs root); skipped with the reason where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {result.stderr.strip() or result.returncode}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _fill(folder):
    """Fill the disk of ``folder`` to the last byte."""
    with pytest.raises(OSError) as full:
        with open(os.path.join(folder, "filler"), "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    assert full.value.errno == errno.ENOSPC


def test_a_full_disk_while_sampling_is_one_line_and_keeps_the_old_output(trained, full_disk):
    output = full_disk / "x.png"
    output.write_bytes(b"an earlier grid")
    _fill(full_disk)
    r = run("sample", trained["vae"], "--n", "64", "--output", str(output), "--overwrite")
    _assert_one_line(r.stderr, r.returncode, 2, "No space left on device; free some disk space")
    assert output.read_bytes() == b"an earlier grid"


def test_a_full_disk_at_the_first_checkpoint_is_one_line(data_dir, full_disk):
    out = full_disk / "run"
    r = run("train", "vae", "--out", str(out), "--data", data_dir, "--latent", "64", "--hidden", "256", *TINY_RUN)
    _assert_one_line(r.stderr, r.returncode, 2, "No space left on device")
    assert not [name for name in os.listdir(out) if name.startswith(".") or name.endswith(".tmp")]
