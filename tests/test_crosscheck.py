"""scratchgen.crosscheck: a PyTorch model compared with scratchgen's, tensor by tensor.

The PyTorch VAE of examples/crosscheck_vae.py is written as a user would write one to match
scratchgen's VAE (same parameter names); with each of two classic bugs planted, ``compare`` must
report a difference, and without them agreement, in every row.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchgen.crosscheck import compare, load_torch_state_dict, torch_state_dict
from scratchgen.models.vae import VAE

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import crosscheck_vae  # noqa: E402  (needs torch: only after the importorskip)
from crosscheck_vae import BUGS, TorchVAE  # noqa: E402


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return (rng.uniform(size=(4, 1, 28, 28)) < 0.2).astype(np.float32), rng.standard_normal((4, 20)).astype(np.float32)


def test_a_faithful_twin_agrees_in_every_row(batch):
    x, eps = batch
    report = compare(VAE(), TorchVAE(), (x,), kwargs={"eps": eps})
    assert report.ok, str(report)
    names = [row.name for row in report.rows]
    assert names[0] == "output" and "grad encoder.1.weight" in names and "after sgd step decoder.2.bias" in names
    assert report.verdict.startswith("crosscheck: all 17 tensors agree")


@pytest.mark.parametrize("bug", BUGS)
def test_each_classic_vae_bug_is_reported(batch, bug):
    x, eps = batch
    report = compare(VAE(), TorchVAE(bug), (x,), kwargs={"eps": eps})
    assert not report.ok
    assert "output" in [row.name for row in report.differing]
    assert report.verdict.startswith("crosscheck: ") and "differ" in report.verdict
    assert "DIFFERS" in str(report)


def test_adam_and_float32_compare_too(batch):
    x, eps = batch
    assert compare(VAE(), TorchVAE(), (x,), kwargs={"eps": eps}, optimizer="adam", lr=1e-3, dtype=np.float32).ok


def test_neither_model_nor_the_inputs_change(batch):
    x, eps = batch
    ours, theirs = VAE(), TorchVAE()
    before = ours.state_dict()
    their_before = {name: value.clone() for name, value in theirs.state_dict().items()}
    x_before = x.copy()
    compare(ours, theirs, (x,), kwargs={"eps": eps})
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
        assert value.dtype == np.float32
    for name, value in theirs.state_dict().items():
        assert torch.equal(value, their_before[name])
    np.testing.assert_array_equal(x, x_before)


def test_state_dicts_convert_both_ways():
    ours, theirs = VAE(), TorchVAE()
    theirs.load_state_dict(torch_state_dict(ours))
    other = VAE(seed=1)
    for param in other.parameters():
        param.data[...] = 0
    load_torch_state_dict(other, theirs.state_dict())
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, ours.state_dict()[name])


def test_differently_named_parameters_are_one_clear_error(batch):
    x, eps = batch
    theirs = TorchVAE()
    theirs.enc = theirs.encoder
    del theirs.encoder
    with pytest.raises(ValueError, match="name their parameters differently: only in scratchgen") as error:
        compare(VAE(), theirs, (x,), kwargs={"eps": eps})
    assert "\n" not in str(error.value)


def test_a_loss_that_is_not_one_number_is_refused(batch):
    x, eps = batch
    with pytest.raises(ValueError, match="compare needs one number"):
        compare(VAE(), TorchVAE(), (x,), kwargs={"eps": eps}, loss=lambda out, x: out * x.sum(axis=(1, 2, 3)))


def test_without_pytorch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'needs PyTorch: pip install "scratchgen\[bench\]"'):
        torch_state_dict(VAE())


def test_the_example_reports_both_bugs_and_passes_the_faithful_vae(capsys):
    assert crosscheck_vae.main() == 0
    assert capsys.readouterr().out.count("DIFFERS") >= 17


def test_outputs_of_different_shapes_are_reported_not_subtracted(batch):
    x, eps = batch

    class Stats(TorchVAE):
        def forward(self, x, eps):                       # (N, 39) against scratchgen's (N, 40)
            return self.encoder(x)[:, :39]

    class OurStats(VAE):
        def forward(self, x, eps=None):
            return self.encoder(x)

    report = compare(OurStats(), Stats(), (x,), kwargs={"eps": eps}, loss=lambda out, x: out.sum())
    output = report.rows[0]
    assert output.name == "output" and output.max_abs == float("inf") and not report.ok
