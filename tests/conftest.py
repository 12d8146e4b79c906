"""Shared test configuration: hypothesis profiles, and the tiny IDX folder the command tests train on.

The quick profile keeps CI fast; the thorough one draws many more examples:

    SCRATCHGEN_HYPOTHESIS_PROFILE=thorough python -m pytest
"""
import os

import pytest
from hypothesis import HealthCheck, settings

from helpers import offline_fetch
from scratchgen.data import sources, write_idx
from scratchgen.data.glyphs import generate

settings.register_profile(
    "quick",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("SCRATCHGEN_HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A folder of MNIST-format IDX files: 120 training and 40 test glyph digits."""
    d = tmp_path_factory.mktemp("idx")
    x, y = generate(120, 11)
    write_idx(str(d / "train-images-idx3-ubyte"), x)
    write_idx(str(d / "train-labels-idx1-ubyte"), y)
    x, y = generate(40, 12)
    write_idx(str(d / "t10k-images-idx3-ubyte"), x)
    write_idx(str(d / "t10k-labels-idx1-ubyte"), y)
    return str(d)


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """No network, no SCRATCHGEN_DATA, no system data folders, and a data cache of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(sources.ENV_VAR, raising=False)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": ()})
    monkeypatch.setattr(sources, "fetch", offline_fetch)
