"""`scratchgen demo` end to end with a tiny budget on a tiny folder of glyph digits."""
import math
import os
import re

import pytest

from scratchgen.cli import main
from scratchgen.cli.demo import STAGES, _format, metric_tables, shown_values, stage_results, write_gallery
from scratchgen.data import write_idx
from scratchgen.data.glyphs import generate


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("idx")
    for prefix, (n, seed) in (("train", (160, 21)), ("t10k", (40, 22))):
        x, y = generate(n, seed)
        write_idx(str(data / f"{prefix}-images-idx3-ubyte"), x)
        write_idx(str(data / f"{prefix}-labels-idx1-ubyte"), y)
    out = str(tmp_path_factory.mktemp("demo"))
    code = main(["demo", "--data", str(data), "--minutes", "0.05", "--n-samples", "20", "--out", out,
                 "--no-progress", "--overwrite"])
    assert code == 0
    return out


def test_the_stage_shares_divide_the_whole_training_time():
    assert math.isclose(sum(stage.share for stage in STAGES), 1.0)


def test_every_model_family_is_in_the_gallery_and_every_image_it_names_exists(demo_dir):
    page = open(os.path.join(demo_dir, "index.html")).read()
    summary = open(os.path.join(demo_dir, "summary.md")).read()
    for stage in STAGES:
        assert f"(`{stage.model}`)" in summary and f"<code>{stage.model}</code>" in page
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", summary)
    assert images[0] == "overview.png" and len(images) >= 13
    for image in images:
        assert os.path.exists(os.path.join(demo_dir, image)), image
    embedded = re.findall(r"src='data:image/png;base64,", page)
    assert len(embedded) == len(images)     # the page is self-contained: one embedded PNG per figure


def test_every_metric_in_the_summary_is_a_finite_number(demo_dir):
    rows = [line.strip("|").split("|") for line in open(os.path.join(demo_dir, "summary.md"))
            if line.startswith("| ") and "---" not in line]
    values = [cell.strip() for row in rows for cell in row[1:] if cell.strip()]
    numbers = [v for v in values if re.fullmatch(r"-?[\d.]+(e[-+]?\d+)?", v)]
    headers = {"value", "samples", "real baseline", "restored", "damaged input"}
    assert len(numbers) >= 40 and set(values) - set(numbers) <= headers
    assert all(math.isfinite(float(v)) for v in numbers)


def test_a_second_demo_into_the_same_directory_needs_overwrite(demo_dir):
    assert main(["demo", "--out", demo_dir]) == 2


def test_the_finished_demo_reads_back_with_every_number_its_summary_shows(demo_dir):
    results = stage_results(demo_dir)
    assert set(results) == {stage.model for stage in STAGES}
    summary = open(os.path.join(demo_dir, "summary.md")).read()
    for model, metrics in results.items():
        values = shown_values(metrics)
        assert values and all(f"| {_format(v)} |" in summary for v in values.values()), model
    assert {"samples.fid", "restore_inpaint.psnr"} <= set(shown_values(results["ddpm"]))


def test_a_band_column_appears_only_where_a_band_is_measured():
    metrics = {"loss": 110.0, "test_images": 100, "restore_denoise": {
        "task": "denoise", "images": 10, "psnr": 20.0, "ssim": 0.8, "psnr_damaged": 15.0, "ssim_damaged": 0.5}}
    assert all("band" not in header for _, header, _ in metric_tables(metrics))
    own, restored = metric_tables(metrics, {"loss": [100.0, 105.0], "restore_denoise.ssim": [0.7, 0.9]})
    assert own[1] == ["metric", "value", "band"] and own[2] == [["loss", 110.0, "100 to 105: above"],
                                                                 ["test_images", 100, ""]]
    assert restored[1][-1] == "band" and [row[-1] for row in restored[2]] == ["", "0.7 to 0.9"]


def test_the_page_shows_each_stage_against_its_band(demo_dir, tmp_path):
    results = stage_results(demo_dir)
    bands = {model: {key: [v - 1, v + 1] for key, v in shown_values(metrics).items()}
             for model, metrics in results.items()}
    bands["vae"] = {key: [v + 1, v + 2] for key, v in shown_values(results["vae"]).items()}   # every value below
    out = str(tmp_path / "demo")
    os.makedirs(out)
    for stage in STAGES:
        os.symlink(os.path.join(demo_dir, stage.model), os.path.join(out, stage.model))
    index, summary = write_gallery(out, results, "glyph-digits", 60.0, bands)
    text = open(summary).read()
    assert "A band is the range of demos of other seeds" in text
    vae = text[text.index("(`vae`)"):text.index("(`gan`)")]
    assert vae.count(": below |") == len(bands["vae"]) and ": above" not in text
    assert open(index).read().count("<th>band</th>") >= len(STAGES)   # a band column in every stage's tables
