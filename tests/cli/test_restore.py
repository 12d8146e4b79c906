"""`scratchgen restore` of the VAE, GAN and DCGAN (latent optimization, the VAE's encoder), super-resolution
by 2 and 4, the classical baselines in the scores, and examples/restoration_table.py on tiny runs."""
import json
import os
import sys

import numpy as np
import pytest

from helpers import ROOT, run, trained_run
from scratchgen.evaluation import psnr, restoration
from scratchgen.training import load_run
from scratchgen.training.runs import eval_images, load_split

sys.path.insert(0, os.path.join(ROOT, "examples"))
import restoration_table  # noqa: E402

TINY = ("--limit", "48", "--batch-size", "16", "--epochs", "1", "--eval-images", "10", "--no-progress")
RUNS = {"vae": ("--latent", "4", "--hidden", "16"), "gan": ("--latent", "4", "--g-widths", "8", "--d-widths", "8"),
        "dcgan": ("--latent", "4", "--width", "4"), "ae": ("--latent", "4", "--hidden", "16")}


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    return {name: trained_run(tmp_path_factory, name, *args, "--data", data_dir, *TINY) for name, args in RUNS.items()}


def _restore(run_dir, *args):
    r = run("restore", run_dir, "--n", "4", *args)
    assert r.returncode == 0, r.stderr
    return r


def test_the_vae_gan_and_dcgan_restore_every_task_but_complete(runs):
    baselines = {"inpaint": ["mean image"], "denoise": ["gaussian filter (sigma 1)", "median filter (3x3)"],
                 "superres": ["bilinear", "bicubic"]}
    for name in ("vae", "gan", "dcgan"):
        for task, expected in baselines.items():
            r = _restore(runs[name], "--task", task)
            scores = json.load(open(os.path.join(runs[name], f"restore_{task}.json")))
            assert list(scores["baselines"]) == expected and np.isfinite(scores["psnr"])
            assert ("method" in scores) == (name == "vae") and ("factor" in scores) == (task == "superres")
            assert all(f"baseline {b}: psnr" in r.stdout for b in expected)
        r = run("restore", runs[name], "--task", "complete")
        assert r.returncode == 2
        assert r.stderr == f"scratchgen: error: a {name} run cannot complete: it can inpaint, denoise, superres\n"


def test_superres_by_4_writes_files_of_its_own_and_its_baselines_are_those_of_the_test_images(runs):
    run_dir = runs["gan"]
    _restore(run_dir, "--task", "superres", "--factor", "4", "--seed", "3")
    scores = json.load(open(os.path.join(run_dir, "restore_superres_4x.json")))
    assert scores["factor"] == 4 and os.path.exists(os.path.join(run_dir, "restore_superres_4x.png"))
    config, _ = load_run(run_dir)
    clean, _ = eval_images(config, 4)
    low, _, _ = restoration.damage("superres", clean, np.random.default_rng(3), factor=4)
    expected = restoration.baseline_scores("superres", low, None, clean, factor=4)
    assert list(scores["baselines"]) == list(expected)
    for name, baseline in expected.items():
        assert scores["baselines"][name] == pytest.approx(baseline)


def test_the_vae_restores_by_either_method_and_says_which(runs):
    for method in ("encoder", "latent"):
        _restore(runs["vae"], "--task", "inpaint", "--method", method, "--output", f"{runs['vae']}/{method}.png")
        scores = json.load(open(os.path.join(runs["vae"], f"{method}.json")))
        assert scores["method"] == method and np.isfinite(scores["psnr_hole"])
    encoder, latent = (json.load(open(os.path.join(runs["vae"], f"{m}.json"))) for m in ("encoder", "latent"))
    assert encoder["psnr_hole"] != latent["psnr_hole"]
    assert encoder["baselines"] == latent["baselines"]     # the same damage: seed 0 both times


def test_the_mean_image_baseline_is_the_mean_training_image_in_the_hole(runs):
    run_dir = runs["vae"]
    _restore(run_dir, "--task", "inpaint", "--mask", "left", "--output", f"{run_dir}/left.png")
    scores = json.load(open(os.path.join(run_dir, "left.json")))
    config, _ = load_run(run_dir)
    clean, _ = eval_images(config, 4)
    mean_image = load_split(config, "train").images.mean(axis=0) / 255
    known = restoration.known_pixels("left", 4, np.random.default_rng(0))
    assert scores["baselines"]["mean image"]["psnr_hole"] == pytest.approx(
        psnr(np.broadcast_to(mean_image, clean.shape), clean, where=~known))
    assert scores["baselines"]["mean image"]["psnr_hole"] == pytest.approx(scores["psnr_hole_mean_image"])


def test_restoration_table_prints_one_table_per_task_with_every_run_that_can(runs, tmp_path):
    out = str(tmp_path / "tables")
    text = restoration_table.tables([runs["ae"], runs["vae"], runs["gan"]], n=3, seed=0, out=out)
    assert text == open(os.path.join(out, "restoration_tables.md")).read()
    sections = {part.split("\n")[0]: part for part in text.split("### ")[1:]}
    assert list(sections) == ["inpaint: a centred 14x14 hole", "denoise: Gaussian noise, sigma 0.3",
                              "superres 2x: from 14x14", "superres 4x: from 7x7"]    # nothing here completes
    inpaint = sections["inpaint: a centred 14x14 hole"]
    for label in ("| ae | ae | gray |", "| vae (latent) | vae | binarized |", "| vae (encoder) | vae | binarized |",
                  "| gan | gan | gray |", "| baseline: mean image |  | gray |",
                  "| baseline: mean image |  | binarized |"):
        assert label in inpaint
    assert "| ae |" not in sections["superres 4x: from 7x7"]
    scores = json.load(open(os.path.join(out, "gan_superres_4x.json")))
    assert f"| gan | gan | gray | {scores['psnr']:.3f} | {scores['ssim']:.3f} |" in sections["superres 4x: from 7x7"]
