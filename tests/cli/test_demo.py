"""`scratchgen demo` end to end with a tiny budget on a tiny folder of glyph digits."""
import math
import os
import re

import pytest

from scratchgen.cli import main
from scratchgen.cli.demo import STAGES
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
