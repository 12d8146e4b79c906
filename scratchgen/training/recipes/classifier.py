"""Training recipe of the digit classifier (``scratchgen train classifier``): the evaluation's judge.

DigitClassifier (``models/classifier.py``) trained with softmax cross-entropy, Adam and a cosine
learning rate that falls to 0 over the whole run (one schedule step per optimizer step).
Its run directory is what ``scratchgen evaluate --classifier`` loads; ``config["data"]`` records
the dataset it learned, so the harness can refuse to judge samples of another dataset.
"""
from __future__ import annotations

import os

import numpy as np

from ... import figures as fig
from ...autograd.losses import cross_entropy
from ...evaluation.metrics import confusion_matrix
from ...models.classifier import DigitClassifier
from ..runs import eval_images, evaluation_split, figures_dir, loss_figure, validation_images
from .recipe import Recipe, Step, cosine_schedule

OPTIONS = dict(width=32)   # channels of the first convolution (the second has twice as many)


def _configure(o):
    return dict(width=o["width"])


def _build(c):
    return DigitClassifier(width=c["width"])


def _step(model, optimizer, c):
    def step(x, y, trainer):
        optimizer.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        trainer.schedule.step()
        return {"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]}
    return Step(step, streams={})


def _scores(model, x, labels):
    """Mean cross-entropy and accuracy on images x in [0, 1] with their labels."""
    _, probabilities = model.features_and_probabilities(x)
    loss = -float(np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12)))
    return {"loss": loss, "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels))}


def _evaluate(model, c, x):
    _, labels = validation_images(c, len(x))   # x is the first len(x) of these images (api._load_inputs)
    return _scores(model, x, labels)


def _figures(model, c, run_dir, tag, x, labels):
    _, probabilities = model.features_and_probabilities(x)
    counts = confusion_matrix(labels, probabilities.argmax(axis=1), 10)
    fig.confusion_plot(os.path.join(figures_dir(run_dir), f"confusion_{tag}.png"), counts,
                       title=f"Confusion matrix on {len(x)} {evaluation_split(c)} images ({tag}): "
                             f"accuracy {np.trace(counts) / len(x):.2%}")
    loss_figure(run_dir)


def _final(model, c, run_dir, limit, seed, k):
    x, labels = eval_images(c, limit)
    return {"test_images": len(x), **_scores(model, x, labels)}


RECIPES = {
    "classifier": Recipe("digit classifier (the judge of `scratchgen evaluate`)", OPTIONS, _configure, _build,
                         _step, _evaluate, _figures, _final, schedule=cosine_schedule, defaults=dict(epochs=5)),
}
