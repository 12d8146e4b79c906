"""examples/gallery.py on tiny evaluated runs of every family on two data folders: the table holds each run's
figures from its metrics.json and its log, the page links copies of the runs' images, and every input it
cannot use ends in one line."""
import json
import os
import re
import shutil
import sys

import pytest

from helpers import ROOT, run, trained_run
from scratchgen.data import write_idx
from scratchgen.data.glyphs import generate

sys.path.insert(0, os.path.join(ROOT, "examples"))
import gallery  # noqa: E402

TINY = ("--limit", "32", "--batch-size", "16", "--epochs", "1", "--eval-images", "8", "--no-progress")
FAMILIES = {   # family -> (`scratchgen train` options of a tiny run, `scratchgen evaluate` options)
    "ae": (("--latent", "4", "--hidden", "16"), ()),
    "vae": (("--latent", "4", "--hidden", "16"), ("--k", "2")),
    "gan": (("--latent", "4", "--g-widths", "8", "--d-widths", "8"), ("--n-samples", "10")),
    "dcgan": (("--latent", "4", "--width", "4"), ("--n-samples", "10")),
    "ddpm": (("--net", "mlp", "--widths", "16", "--timesteps", "50"),
             ("--n-samples", "10", "--steps", "2", "--bound-images", "2")),
    "pixelcnn": (("--channels", "4", "--blocks", "1", "--hidden", "4", "--figure-samples", "0"), ("--n-samples", "0")),
    "pixelrnn": (("--layer", "row", "--hidden", "2", "--layers", "1", "--output-hidden", "4",
                  "--figure-samples", "0"), ("--n-samples", "0")),
}


def _ok(*args):
    r = run(*args)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    """{(family, "first" or "second"): run directory}: every family evaluated on the first data folder (sample
    scores by a classifier of it); on a second folder, evaluated without sample scores, an ae with its
    reconstructions.png and a gan with its samples.png."""
    second = tmp_path_factory.mktemp("second")
    for split, (n, seed) in (("train", (64, 21)), ("t10k", (16, 22))):
        x, y = generate(n, seed)
        write_idx(str(second / f"{split}-images-idx3-ubyte"), x)
        write_idx(str(second / f"{split}-labels-idx1-ubyte"), y)
    classifier = trained_run(tmp_path_factory, "classifier", "--width", "4", "--data", data_dir, *TINY)
    found = {("classifier", "first"): classifier}
    for family, (train_options, evaluate_options) in FAMILIES.items():
        found[family, "first"] = trained_run(tmp_path_factory, family, *train_options, "--data", data_dir, *TINY)
        _ok("evaluate", found[family, "first"], "--limit", "8", "--classifier", classifier, *evaluate_options)
    for family, final in (("ae", "reconstruct"), ("gan", "sample")):
        found[family, "second"] = trained_run(tmp_path_factory, family, *FAMILIES[family][0], "--data", str(second),
                                              *TINY)
        _ok("evaluate", found[family, "second"], "--limit", "8", "--n-samples", "0")
        _ok(final, found[family, "second"], "--n", "4")
    return found


def _gallery(runs):
    return [runs[key] for key in runs if key[0] != "classifier"]


def _main(capsys, *args):
    code = gallery.main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _title(run_dir):
    return os.path.basename(json.load(open(os.path.join(run_dir, "config.json")))["data"])


def _metrics(run_dir):
    return json.load(open(os.path.join(run_dir, "metrics.json")))


def _trained(run_dir):
    last = [json.loads(line) for line in open(os.path.join(run_dir, "log.jsonl"))][-1]
    assert last["epoch"] == 1
    return f"1 epoch, {last['minutes']:.1f} min"


def _scores(metrics):
    s, r = metrics["samples"]["samples"], metrics["samples"]["real_baseline"]
    return (f"FID {s['fid']:.2f} (real {r['fid']:.2f}), class entropy {s['class_entropy'] + 0.0:.3f} "
            f"(real {r['class_entropy'] + 0.0:.3f}), 10 samples")


def test_the_table_has_a_row_per_family_and_in_each_dataset_column_the_figures_of_its_run(runs, capsys):
    code, out, err = _main(capsys, *_gallery(runs))
    assert code == 0 and err == ""
    lines = out.strip().split("\n")
    first, second = _title(runs["ae", "first"]), _title(runs["ae", "second"])
    assert lines[:2] == [f"| family | {first} | {second} |", "|---|---|---|"]
    rows = {cells[0]: cells[1:] for cells in (line.strip("| ").split(" | ") for line in lines[2:])}
    assert list(rows) == list(FAMILIES) and all(len(cells) == 2 for cells in rows.values())
    m = {family: _metrics(runs[family, "first"]) for family in FAMILIES}
    expected = {
        "ae": f"BCE loss {m['ae']['loss']:.2f}, PSNR {m['ae']['psnr']:.2f} dB on 8 test images",
        "vae": f"ELBO {m['vae']['elbo']:.2f}, IWAE-2 {m['vae']['iwae_2']:.2f} nats on 8 test images",
        "gan": _scores(m["gan"]),
        "dcgan": _scores(m["dcgan"]),
        "ddpm": f"{_scores(m['ddpm'])}; NLL bound {m['ddpm']['nll_elbo']:.2f} nats, "
                f"{m['ddpm']['bits_per_dim_elbo']:.4f} bits/dim on 2 test images",
        "pixelcnn": f"NLL {m['pixelcnn']['nll_exact']:.2f} nats, {m['pixelcnn']['bits_per_dim_exact']:.4f} "
                    f"bits/dim on 8 test images",
        "pixelrnn": f"NLL {m['pixelrnn']['nll_exact']:.2f} nats, {m['pixelrnn']['bits_per_dim_exact']:.4f} "
                    f"bits/dim on 8 test images",
    }
    for family, figures in expected.items():
        assert rows[family][0] == f"{figures}; {_trained(runs[family, 'first'])}", family
    second_ae = _metrics(runs["ae", "second"])
    assert rows["ae"][1] == (f"BCE loss {second_ae['loss']:.2f}, PSNR {second_ae['psnr']:.2f} dB on 8 test images; "
                             f"{_trained(runs['ae', 'second'])}")
    assert rows["gan"][1] == f"samples not scored (evaluated with --n-samples 0); {_trained(runs['gan', 'second'])}"
    assert all(rows[family][1] == "-" for family in FAMILIES if family not in ("ae", "gan"))


def test_the_page_holds_the_table_and_each_runs_image_side_by_side(runs, capsys, tmp_path):
    page = tmp_path / "site" / "gallery.md"
    code, out, err = _main(capsys, *_gallery(runs), "--out", page)
    assert code == 0
    assert err.splitlines() == [f"gallery.py: warning: {runs[f, 'first']} has no samples image: run "
                                f"`scratchgen sample {runs[f, 'first']}`" for f in ("pixelcnn", "pixelrnn")]
    text = page.read_text()
    assert out.split("\nwrote ")[0] in text
    sections = {part.split("\n")[0]: part for part in text.split("\n## ")[1:]}
    assert list(sections) == list(FAMILIES)
    shown = {   # (family, data folder) -> the file of the run that the page must show
        ("ae", "first"): "figures/reconstructions_epoch001.png", ("ae", "second"): "reconstructions.png",
        ("gan", "first"): "figures/samples_epoch001.png", ("gan", "second"): "samples.png",
        **{(f, "first"): "figures/samples_epoch001.png" for f in ("vae", "dcgan", "ddpm")}}
    for family, section in sections.items():
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", section)
        expected = [(data, shown[family, data]) for data in ("first", "second") if (family, data) in shown]
        assert len(links) == len(expected), family
        for link, (data, source) in zip(links, expected):
            assert link == f"figures/gallery/{family}_{_title(runs[family, data])}.png"
            with open(os.path.join(runs[family, data], source), "rb") as f:
                assert (page.parent / link).read_bytes() == f.read(), (family, link)
            assert f"`{source}`" in section
    assert "| samples | no samples image |" in sections["pixelcnn"]


def test_the_page_and_its_images_are_replaced_only_with_overwrite(runs, capsys, tmp_path):
    page, figures = tmp_path / "gallery.md", tmp_path / "images"
    assert _main(capsys, runs["gan", "second"], "--out", page, "--figures", figures)[0] == 0
    assert f"](images/gan_{_title(runs['gan', 'second'])}.png)" in page.read_text()
    page.write_text("the lead's edits")
    code, out, err = _main(capsys, runs["gan", "second"], "--out", page, "--figures", figures)
    assert (code, out, err) == (2, "", f"gallery.py: error: {page} already exists: pass --overwrite to replace it\n")
    assert page.read_text() == "the lead's edits"
    page.unlink()   # an image of an earlier call is refused too, before the page is written
    code, out, err = _main(capsys, runs["gan", "second"], "--out", page, "--figures", figures)
    assert code == 2 and err.startswith(f"gallery.py: error: {figures}") and not page.exists()
    assert _main(capsys, runs["gan", "second"], "--out", page, "--figures", figures, "--overwrite")[0] == 0
    assert page.read_text().startswith("# Gallery")


def test_what_is_not_an_evaluated_run_of_a_shown_family_ends_in_one_line(runs, capsys, tmp_path):
    not_evaluated = str(tmp_path / "not_evaluated")
    shutil.copytree(runs["gan", "second"], not_evaluated)
    os.remove(os.path.join(not_evaluated, "metrics.json"))
    cases = {
        str(tmp_path): f"{tmp_path} has no config.json: expected a run directory made by `scratchgen train`",
        not_evaluated: f"{not_evaluated} has no metrics.json: run `scratchgen evaluate {not_evaluated}` first",
        runs["classifier", "first"]: f"{runs['classifier', 'first']} holds a classifier run: the gallery shows "
                                     f"runs of ae, vae, gan, dcgan, ddpm, pixelcnn, pixelrnn",
    }
    page = tmp_path / "gallery.md"
    for run_dir, message in cases.items():
        assert _main(capsys, runs["ae", "first"], run_dir, "--out", page) == (2, "", f"gallery.py: error: {message}\n")
    twice = runs["ae", "first"]
    assert _main(capsys, twice, twice) == (2, "", f"gallery.py: error: {twice} and {twice} are both ae runs on "
                                                  f"{json.load(open(os.path.join(twice, 'config.json')))['data']}: "
                                                  f"give one run per family and dataset\n")
    assert not page.exists()
