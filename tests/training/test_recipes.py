"""Every recipe through the Python API: exact resume (no undeclared random stream), and a run that
`train_run` trains is one the `scratchgen` commands read."""
import os

import numpy as np
import pytest

from helpers import checkpoint_differences, run
from scratchgen.training import RECIPES, RunError, load_run, make_config, train_run
from scratchgen.training.api import train_on_arrays
from scratchgen.training.recipes import recipe as recipe_module
from scratchgen.training.runs import load_split

# The smallest model of each family: a new family must add its entry here (the test below fails on a KeyError).
TINY = {
    "classifier": dict(width=4),
    "ae": dict(latent=4, hidden=16, corrupt="gaussian"),
    "vae": dict(latent=4, hidden=16),
    "gan": dict(latent=4, g_widths=[8], d_widths=[8]),
    "dcgan": dict(latent=4, width=4),
    "ddpm": dict(net="mlp", widths=[16], timesteps=50),
    "pixelcnn": dict(channels=4, blocks=1, hidden=4, figure_samples=0),
    # not the default Row LSTM, which tests/cli/test_pixelrnn_cli.py resumes
    "pixelrnn": dict(layer="diagonal", hidden=2, layers=1, output_hidden=4, figure_samples=0),
}


def _tiny_config(model, data_dir):
    return dict(model=model, data=data_dir, limit=48, batch_size=16, eval_images=20, seed=3, **TINY[model])


@pytest.mark.parametrize("model", sorted(RECIPES))
def test_a_resumed_run_ends_bit_for_bit_like_one_never_stopped(model, data_dir, tmp_path):
    """Every random stream a step draws from must be declared in its Step: one left out restarts
    from its seed on resume, and the two runs part. The halted run stops after its first step (a
    time budget of ~0), in the middle of the first epoch."""
    straight, halted = str(tmp_path / "straight"), str(tmp_path / "halted")
    config = _tiny_config(model, data_dir)
    train_run(dict(config, epochs=2), straight, progress=False)
    assert train_run(dict(config, epochs=2, minutes=1e-9), halted, progress=False).step == 1
    result = train_run({"model": model, "epochs": 2, "minutes": None}, halted, resume=True, progress=False)
    assert (result.status, result.epoch) == ("done", 2)
    assert checkpoint_differences(straight, halted) == []


def test_a_stream_left_out_of_the_step_is_caught(data_dir, tmp_path, monkeypatch):
    """The test above can fail: the GAN's step without its noise stream resumes with other z."""
    def forgetful(update, streams):
        return recipe_module.Step(update, {})
    monkeypatch.setitem(RECIPES["gan"].step.__globals__, "Step", forgetful)
    straight, halted = str(tmp_path / "straight"), str(tmp_path / "halted")
    config = _tiny_config("gan", data_dir)
    train_run(dict(config, epochs=2), straight, progress=False)
    train_run(dict(config, epochs=2, minutes=1e-9), halted, progress=False)
    train_run({"model": "gan", "epochs": 2, "minutes": None}, halted, resume=True, progress=False)
    assert any(name.startswith("model.") for name in checkpoint_differences(straight, halted))


def test_train_run_makes_a_run_the_commands_read(data_dir, tmp_path):
    out = str(tmp_path / "vae")
    result = train_run({"model": "vae", "data": data_dir, "epochs": 1, "limit": 48, "latent": 4, "hidden": 16},
                       out, progress=False)
    assert result.status == "done" and np.isfinite(result.metrics["elbo"])
    config, model = load_run(out)
    assert config == make_config(dict(model="vae", data=data_dir, epochs=1, limit=48, latent=4, hidden=16))
    r = run("sample", out, "--n", "4")
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(out, "samples.png"))


def test_train_on_arrays_trains_the_model_train_run_trains_on_the_same_images(data_dir, tmp_path):
    # the in-memory training (the CAS classifiers of `evaluate --conditional`) is the recipe's, not a copy of it
    config = dict(_tiny_config("classifier", data_dir), epochs=2)
    train_run(config, str(tmp_path / "run"), progress=False)
    _, from_run = load_run(str(tmp_path / "run"))
    images, labels = load_split(make_config(config), "train")
    in_memory = train_on_arrays(config, images[:config["limit"]], labels[:config["limit"]])
    assert not in_memory.training
    expected, got = from_run.state_dict(), in_memory.state_dict()
    assert expected.keys() == got.keys() and all(np.array_equal(expected[k], got[k]) for k in expected)
    other_seed = train_on_arrays(dict(config, seed=4), images[:config["limit"]], labels[:config["limit"]])
    assert not all(np.array_equal(expected[k], other_seed.state_dict()[k]) for k in expected)


def test_make_config_refuses_unknown_options_and_models():
    with pytest.raises(RunError, match="unknown option 'latent_size' for a vae run"):
        make_config({"model": "vae", "latent_size": 3})
    with pytest.raises(RunError, match="unknown model 'vqvae'"):
        make_config({"model": "vqvae"})
