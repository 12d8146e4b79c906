"""`scratchgen restore` of the VAE, GAN and DCGAN (latent optimization, the VAE's encoder), super-resolution
by 2 and 4, the classical baselines in the scores, the images saved beside them, and
examples/restoration_table.py on tiny runs."""
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


def _check_saved_images(stem, task, factor=restoration.FACTOR):
    """STEM.npz holds the float32 images of STEM.json's scores, which they reproduce, baselines included."""
    scores = json.load(open(f"{stem}.json"))
    with np.load(f"{stem}.npz", allow_pickle=False) as file:
        saved = dict(file)
    hole = task in restoration.MASK_TASKS
    assert sorted(saved) == sorted(["clean", "damaged", "restored", "observed"] + (["known", "mean_image"] * hole))
    for name in ("clean", "damaged", "restored"):
        assert saved[name].shape == (scores["images"], 28, 28) and saved[name].dtype == np.float32, name
    side = 28 // factor if task == "superres" else 28
    assert saved["observed"].shape == (scores["images"], side, side)
    known, mean_image = saved.get("known"), saved.get("mean_image")
    assert scores["psnr"] == psnr(saved["restored"], saved["clean"])
    assert scores["psnr_damaged"] == psnr(saved["damaged"], saved["clean"])
    if hole:
        assert known.dtype == bool and known.shape == saved["clean"].shape
        assert scores["psnr_hole"] == psnr(saved["restored"], saved["clean"], where=~known)
    assert scores["baselines"] == restoration.baseline_scores(task, saved["observed"], known, saved["clean"],
                                                              factor=factor, mean_image=mean_image)


def test_the_vae_gan_and_dcgan_restore_every_task_but_complete(runs):
    baselines = {"inpaint": ["mean image"], "denoise": ["gaussian filter (sigma 1)", "median filter (3x3)"],
                 "superres": ["bilinear", "bicubic"]}
    for name in ("vae", "gan", "dcgan"):
        for task, expected in baselines.items():
            r = _restore(runs[name], "--task", task)
            scores = json.load(open(os.path.join(runs[name], f"restore_{task}.json")))
            _check_saved_images(os.path.join(runs[name], f"restore_{task}"), task)
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
    _check_saved_images(os.path.join(run_dir, "restore_superres_4x"), "superres", factor=4)
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


def test_restore_refuses_to_replace_the_images_of_an_earlier_call(runs, tmp_path):
    earlier = tmp_path / "hole.npz"
    earlier.write_bytes(b"an earlier call's images")
    r = run("restore", runs["ae"], "--task", "inpaint", "--n", "4", "--output", str(tmp_path / "hole.png"))
    assert r.returncode == 2 and f"{earlier} already exists: pass --overwrite" in r.stderr
    assert earlier.read_bytes() == b"an earlier call's images" and sorted(os.listdir(tmp_path)) == ["hole.npz"]
    _restore(runs["ae"], "--task", "inpaint", "--output", str(tmp_path / "hole.png"), "--overwrite")
    _check_saved_images(str(tmp_path / "hole"), "inpaint")


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
    assert scores["baselines"]["mean image"]["psnr_hole"] == scores["psnr_hole_mean_image"]


def test_restoration_table_prints_one_table_per_task_with_every_run_that_can(runs, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "tables")
    drawn = {}     # figure name -> (images, row labels) of the example's own figures
    draw = restoration_table.fig.image_grid

    def recording_image_grid(path, images, **kwargs):
        if os.path.basename(path).startswith("figure_"):
            drawn[os.path.basename(path)] = images, kwargs["row_labels"]
        return draw(path, images, **kwargs)

    monkeypatch.setattr(restoration_table.fig, "image_grid", recording_image_grid)
    text = restoration_table.tables([runs["ae"], runs["vae"], runs["gan"]], n=3, seed=0, out=out, figure_images=2)
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
    # one figure per task that has rows, linked under its table and printed, and nothing for complete
    printed = capsys.readouterr().out
    figures = ["figure_inpaint.png", "figure_denoise.png", "figure_superres_2x.png", "figure_superres_4x.png"]
    assert sorted(drawn) == sorted(figures) and not os.path.exists(os.path.join(out, "figure_complete.png"))
    for (title, section), name in zip(sections.items(), figures):
        assert section.rstrip().endswith(f"![{title}]({name})")
        assert os.path.exists(os.path.join(out, name)) and f"wrote {os.path.join(out, name)}" in printed
    # per kind of test images: clean, damaged, the best baseline by PSNR, every run of that kind
    scores = {stem: json.load(open(os.path.join(out, f"{stem}_superres_4x.json")))
              for stem in ("gan", "vae_latent", "vae_encoder")}
    best = {stem: max(scores[stem]["baselines"], key=lambda name: scores[stem]["baselines"][name]["psnr"])
            for stem in ("gan", "vae_latent")}
    images, labels = drawn["figure_superres_4x.png"]
    assert labels == [   # the kinds in the order of the runs: the ae cannot superres, so the vae's come first
        "clean (binarized)", f"damaged {scores['vae_latent']['psnr_damaged']:.1f} dB",
        f"baseline: {best['vae_latent']} {scores['vae_latent']['baselines'][best['vae_latent']]['psnr']:.1f} dB",
        f"vae (latent) {scores['vae_latent']['psnr']:.1f} dB", f"vae (encoder) {scores['vae_encoder']['psnr']:.1f} dB",
        "clean (gray)", f"damaged {scores['gan']['psnr_damaged']:.1f} dB",
        f"baseline: {best['gan']} {scores['gan']['baselines'][best['gan']]['psnr']:.1f} dB",
        f"gan {scores['gan']['psnr']:.1f} dB"]
    saved = {stem: dict(np.load(os.path.join(out, f"{stem}_superres_4x.npz"))) for stem in scores}
    # the labels' PSNRs, taken from the scores, are those of the rows' images over all --n test images, and the
    # baseline shown is the task's best on them
    for stem, kept in saved.items():
        assert (scores[stem]["psnr"], scores[stem]["psnr_damaged"]) == (psnr(kept["restored"], kept["clean"]),
                                                                        psnr(kept["damaged"], kept["clean"]))
    for stem, name in best.items():
        restored = restoration.baselines("superres", saved[stem]["observed"], None, factor=4)
        assert name == max(restored, key=lambda baseline: psnr(restored[baseline], saved[stem]["clean"]))
    expected = [saved["vae_latent"]["clean"], saved["vae_latent"]["damaged"],
                restoration.interpolate_up(saved["vae_latent"]["observed"], 4, cubic=best["vae_latent"] == "bicubic"),
                saved["vae_latent"]["restored"], saved["vae_encoder"]["restored"],
                saved["gan"]["clean"], saved["gan"]["damaged"],
                restoration.interpolate_up(saved["gan"]["observed"], 4, cubic=best["gan"] == "bicubic"),
                saved["gan"]["restored"]]
    assert images.shape == (len(expected) * 2, 28, 28)     # the first --figure-images 2 of each row
    for row, (label, expected_row) in enumerate(zip(labels, expected)):
        np.testing.assert_allclose(images[2 * row:2 * row + 2], expected_row[:2], atol=1e-6, err_msg=label)
