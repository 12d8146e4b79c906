"""The validation split: the last twelfth of the training split is held out, never trained on, and is what
the evaluation after every epoch scores; a run whose config.json predates the split keeps its old data."""
import dataclasses
import json
import os

import numpy as np
import pytest

from helpers import checkpoint_differences, run
from scratchgen.data import load, write_idx
from scratchgen.data.glyphs import generate
from scratchgen.training import RECIPES, RunError, api, load_run, make_config, read_config, read_log, runs, train_run
from scratchgen.training.recipes.recipe import Step

TRAIN, VALIDATION, TEST = 55, 5, 20


@pytest.fixture(scope="module")
def marked_data(tmp_path_factory):
    """An IDX folder of 60 training images whose last twelfth, the validation images, are white (label 7):
    no glyph digit is, so a batch or an evaluation that holds one is recognized."""
    d = tmp_path_factory.mktemp("marked")
    x, y = generate(TRAIN + VALIDATION, 21)
    x[TRAIN:], y[TRAIN:] = 255, 7
    write_idx(str(d / "train-images-idx3-ubyte"), x)
    write_idx(str(d / "train-labels-idx1-ubyte"), y)
    x, y = generate(TEST, 22)
    write_idx(str(d / "t10k-images-idx3-ubyte"), x)
    write_idx(str(d / "t10k-labels-idx1-ubyte"), y)
    return str(d)


def _white(x) -> np.ndarray:
    """Which images of a batch are white (the marked validation images)."""
    return (np.asarray(x).reshape(len(x), -1) == 1).all(axis=1)


@pytest.fixture
def batches(monkeypatch):
    """Every batch the classifier's training steps see, in order."""
    seen = []
    recipe = RECIPES["classifier"]

    def recording_step(model, optimizer, c):
        inner = recipe.step(model, optimizer, c)

        def update(x, y, trainer):
            seen.append(np.array(x))
            return inner(x, y, trainer)
        return Step(update, inner.streams)
    monkeypatch.setitem(RECIPES, "classifier", dataclasses.replace(recipe, step=recording_step))
    return seen


def _config(data, **options):
    return dict(model="classifier", data=data, width=4, batch_size=16, seed=1, **options)


def _scores(model, x, labels) -> dict:
    """The classifier's evaluation, computed here from the images and labels given."""
    _, p = model.features_and_probabilities(x)
    return {"loss": -float(np.mean(np.log(p[np.arange(len(labels)), labels] + 1e-12))),
            "accuracy": float(np.mean(p.argmax(axis=1) == labels))}


def _last_eval(run_dir) -> dict:
    record = [r for r in read_log(run_dir) if r["event"] == "eval"][-1]
    return {k: record[k] for k in ("loss", "accuracy")}


def test_training_and_validation_images_are_disjoint_and_make_the_training_split(data_dir):
    config = make_config(dict(model="vae", data=data_dir))
    whole = load(data_dir, "train")
    train, validation = runs.load_split(config, "train"), runs.load_split(config, "validation")
    assert (len(train.labels), len(validation.labels)) == (110, 10)   # 120 - ceil(120 / 12)
    np.testing.assert_array_equal(np.concatenate([train.images, validation.images]), whole.images)
    np.testing.assert_array_equal(np.concatenate([train.labels, validation.labels]), whole.labels)
    assert not {im.tobytes() for im in train.images} & {im.tobytes() for im in validation.images}
    # classes restricts the training images only; the validation images keep every class, as the test images
    normal = runs.load_split(dict(config, classes=[3]), "train")
    assert set(normal.labels.tolist()) == {3} and len(normal.labels) == np.sum(train.labels == 3)
    np.testing.assert_array_equal(runs.load_split(dict(config, classes=[3]), "validation").labels, validation.labels)


def test_validation_images_are_binarized_once_with_their_own_seed(data_dir):
    config = make_config(dict(model="vae", data=data_dir))   # binarize: bernoulli
    bits, labels = runs.validation_images(config, 4)
    gray = runs.load_split(config, "validation").images[:4] / 255
    assert set(np.unique(bits)) == {0.0, 1.0} and bits.shape == (4, 28, 28) and labels.dtype == np.int64
    assert np.array_equal(runs.validation_images(config)[0][:4], bits)   # the same bits whatever n
    expected = np.random.default_rng(runs.VALIDATION_BINARIZATION_SEED).random(gray.shape, np.float32) < gray
    np.testing.assert_array_equal(bits, expected)


def test_training_never_sees_the_validation_images_and_the_evaluation_scores_them(marked_data, tmp_path, batches):
    out = str(tmp_path / "run")
    train_run(_config(marked_data, epochs=1, limit=1000, eval_images=1000), out, progress=False)
    assert sum(len(x) for x in batches) == TRAIN and not any(_white(x).any() for x in batches)
    config, model = load_run(out)
    assert config["validation"] == runs.VALIDATION_SPLIT
    white, sevens = np.ones((VALIDATION, 28, 28), np.float32), np.full(VALIDATION, 7)
    assert _last_eval(out) == pytest.approx(_scores(model, white, sevens), rel=1e-6)
    test_x, test_labels = runs.eval_images(config)
    assert _last_eval(out)["loss"] != pytest.approx(_scores(model, test_x, test_labels)["loss"], rel=1e-3)


@pytest.fixture
def old_runs(monkeypatch):
    """Runs started until the returned function is called are made as before the split: their config.json
    has no "validation" entry."""
    made = api.make_config
    monkeypatch.setattr(api, "make_config", lambda c: {k: v for k, v in made(c).items() if k != "validation"})
    return lambda: monkeypatch.setattr(api, "make_config", made)


def test_a_run_made_before_the_split_resumes_on_its_old_data(marked_data, tmp_path, old_runs, batches, capsys):
    """It trained on the whole training split and was evaluated on test images: resumed, it goes on doing
    so, bit for bit as it would have (the old behaviour is what a config.json without "validation" means)."""
    straight, halted = str(tmp_path / "straight"), str(tmp_path / "halted")
    config = _config(marked_data, epochs=2, eval_images=TEST)
    train_run(config, straight, progress=False)
    train_run(dict(config, minutes=1e-9), halted, progress=False)
    old_runs()
    assert "validation" not in read_config(halted)
    batches.clear()
    capsys.readouterr()
    train_run({"model": "classifier", "epochs": 2, "minutes": None}, halted, resume=True, progress=False)
    assert f"evaluated on {TEST} test images" in capsys.readouterr().out
    assert any(_white(x).any() for x in batches)   # the whole training split, the last twelfth included
    assert checkpoint_differences(straight, halted) == []
    config, model = load_run(halted)
    assert _last_eval(halted) == pytest.approx(_scores(model, *runs.eval_images(config, TEST)), rel=1e-6)
    r = run("evaluate", halted)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


def test_an_unknown_validation_entry_is_one_line_error(marked_data, tmp_path):
    with pytest.raises(ValueError, match="validation: expected 'last-twelfth'"):
        make_config(_config(marked_data, validation="random"))
    out = tmp_path / "run"
    train_run(_config(marked_data, epochs=1), str(out), progress=False)
    path = out / "config.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), validation="first-tenth")))
    r = run("train", "classifier", "--out", str(out), "--resume", "--epochs", "2", "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "validation: expected 'last-twelfth', the only split, got 'first-tenth'" in r.stderr
    with pytest.raises(RunError, match=f"{os.path.join(str(out), 'config.json')} has validation 'first-tenth'"):
        runs.load_split(read_config(str(out)), "train")
    with pytest.raises(RunError, match="predates the validation split"):
        runs.load_split({"data": marked_data}, "validation")
