"""The shared trainer: exact resumption, Ctrl-C, NaN handling, checkpoint contents."""
import json
import os
import signal

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import DataLoader
from scratchgen.data.glyphs import generate
from scratchgen.models import VAE
from scratchgen.nn import load_checkpoint, serialization
from scratchgen.optim import Adam
from scratchgen.training import Trainer, TrainingDiverged, read_log

IMAGES = generate(48, 7)


def _make(run_dir, epochs=3, hook=None):
    """A tiny VAE on 48 glyphs in batches of 16 (3 steps per epoch), dynamically binarized."""
    sg.manual_seed(0)
    model = VAE("mlp", latent_dim=2, hidden=8, seed=1)
    optimizer = Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(IMAGES, 16, seed=0, binarize="bernoulli")

    def step(x, y, trainer):
        optimizer.zero_grad()
        loss, rec, kl = model.loss(x)
        loss.backward()
        optimizer.step()
        # draw from the default generator too, so that its state must be restored
        extra = float(sg.autograd.default_generator().random())
        out = {"loss": loss.item(), "extra": extra}
        if hook:
            out = hook(trainer, out)
        return out

    def evaluate(trainer):
        return {"loss": -model.evaluate(IMAGES[0][:16].astype(np.float32) / 255)["elbo"]}

    trainer = Trainer(str(run_dir), model=model, optimizer=optimizer, loader=loader, step=step,
                      evaluate=evaluate, generators={"noise": model.rng}, epochs=epochs,
                      log_every=1, progress=False)
    return trainer, model


def _records(run_dir):
    return [{k: v for k, v in r.items() if k != "minutes"} for r in read_log(run_dir)]


def test_resume_mid_epoch_gives_identical_numbers(tmp_path):
    straight, model_a = _make(tmp_path / "a")
    assert straight.fit() == "done"

    def stop_at_step_5(trainer, out):       # a Ctrl-C in the middle of the second epoch
        if trainer.step == 4:
            trainer._stop_requested = True
        return out
    first, _ = _make(tmp_path / "b", hook=stop_at_step_5)
    assert first.fit() == "interrupted"
    assert (first.epoch, first.step, first.batch) == (1, 5, 2)
    second, model_b = _make(tmp_path / "b")
    second.resume()
    assert second.fit() == "done"

    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert np.array_equal(a, b), name
    assert _records(tmp_path / "a") == _records(tmp_path / "b")
    ca, cb = load_checkpoint(tmp_path / "a" / "checkpoint.npz"), load_checkpoint(tmp_path / "b" / "checkpoint.npz")
    for part in ("model", "optimizer", "rng"):
        for key in ca[part]:
            assert np.array_equal(ca[part][key], cb[part][key]), (part, key)


def test_sigint_saves_a_checkpoint_then_stops(tmp_path):
    def ctrl_c(trainer, out):
        if trainer.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return out
    trainer, _ = _make(tmp_path, hook=ctrl_c)
    before = signal.getsignal(signal.SIGINT)
    assert trainer.fit() == "interrupted"
    parts = load_checkpoint(tmp_path / "checkpoint.npz")
    assert int(parts["trainer"]["step"]) == 2 and int(parts["trainer"]["batch"]) == 2
    assert signal.getsignal(signal.SIGINT) == before        # the previous handler is back


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    def poison(trainer, out):
        if trainer.step == 4:                 # the second step of epoch 2
            out["loss"] = float("nan")
        return out
    trainer, _ = _make(tmp_path, hook=poison)
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    message = str(info.value)
    assert "the loss became nan at epoch 2, step 5" in message
    assert f"the last good checkpoint is {tmp_path / 'checkpoint.npz'}" in message
    parts = load_checkpoint(tmp_path / "checkpoint.npz")
    assert int(parts["trainer"]["epoch"]) == 1 and int(parts["trainer"]["step"]) == 3


def test_checkpoint_is_pickle_free_and_complete(tmp_path):
    trainer, _ = _make(tmp_path, epochs=1)
    trainer.fit()
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as archive:
        names = set(archive.files)
    assert {"trainer.epoch", "trainer.step", "rng.noise", "rng.scratchgen_default", "rng.loader_order",
            "rng.loader_bits", "optimizer.state.0.exp_avg"} <= names
    assert any(n.startswith("model.") for n in names)
    log = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert [r["event"] for r in log] == ["train"] * 3 + ["epoch", "eval"]


def test_time_budget_stops_training(tmp_path):
    trainer, _ = _make(tmp_path, epochs=100)
    trainer.minutes = 1e-6
    assert trainer.fit() == "time budget"
    assert trainer.step == 1


def _checkpoint_writes_with(monkeypatch, before_writing):
    """Make every checkpoint write call ``before_writing(file)`` inside atomic_write's write callback."""
    real_atomic_write = serialization.atomic_write

    def atomic_write(path, write):
        def interrupted_write(file):
            before_writing(file)
            write(file)
        real_atomic_write(path, interrupted_write)
    monkeypatch.setattr(serialization, "atomic_write", atomic_write)


def test_a_second_ctrl_c_during_the_save_lets_the_save_finish(tmp_path, monkeypatch):
    def first_ctrl_c(trainer, out):
        if trainer.step == 4:                 # mid epoch 2: stop after this step, with a checkpoint
            os.kill(os.getpid(), signal.SIGINT)
        return out
    trainer, _ = _make(tmp_path, hook=first_ctrl_c)
    _checkpoint_writes_with(monkeypatch, lambda file: trainer._stop_requested and os.kill(os.getpid(), signal.SIGINT))
    try:
        status = trainer.fit()
    except KeyboardInterrupt:
        pytest.fail("the second Ctrl-C escaped from the checkpoint write")
    assert status == "interrupted"
    assert int(load_checkpoint(tmp_path / "checkpoint.npz")["trainer"]["step"]) == 5
    assert [f for f in os.listdir(tmp_path) if f.endswith(".part")] == []


def test_a_checkpoint_write_stopped_by_ctrl_c_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    trainer, _ = _make(tmp_path, epochs=1)
    trainer.fit()
    previous = (tmp_path / "checkpoint.npz").read_bytes()

    def ctrl_c(file):
        file.write(b"the first bytes of a checkpoint")
        raise KeyboardInterrupt
    _checkpoint_writes_with(monkeypatch, ctrl_c)
    trainer.step += 1
    with pytest.raises(KeyboardInterrupt):
        trainer.save()
    assert (tmp_path / "checkpoint.npz").read_bytes() == previous
    assert [f for f in os.listdir(tmp_path) if f.endswith(".part")] == []
