"""``scratchgen evaluate``: a run's own test metrics, and its samples scored by the harness.

Every recipe's ``final`` gives its test metrics (a VAE's ELBO and IWAE bound, a classifier's
accuracy). A family that can ``sample`` also has N samples scored against real images by a
classifier run trained on the same dataset (``evaluation.harness.sample_report``, and with
``--parzen`` ``parzen_report``), each score beside its real-vs-real baseline with the same N.
Negative log-likelihoods (``nll_*`` metrics, nats per image) are also given in bits per dimension.
"""
from __future__ import annotations

import os

import numpy as np
from tqdm import tqdm

from ..data import load
from ..evaluation.conditional import conditional_evaluation
from ..evaluation.harness import check_classifier_dataset, parzen_report, sample_report
from ..evaluation.metrics import nats_to_bits_per_dim
from ..training import load_run, make_config
from ..training.api import train_on_arrays
from ..training.runs import TEST_BINARIZATION_SEED, RunError, default_classifier_dir

DEFAULT_SAMPLES = 10000
SAMPLE_BATCH = 1000
MIN_SAMPLES = 10
CAS_CLASSIFIER = {"model": "classifier"}   # the classifier recipe with its defaults: `scratchgen train classifier`


def load_classifier(run_dir: str | None, data: str):
    """(run directory, DigitClassifier) of the classifier run that judges samples of ``data``; a
    RunError when it is missing, is not a classifier, or learned another dataset."""
    if run_dir is None:
        run_dir = default_classifier_dir(data)
        if not os.path.isdir(run_dir):
            raise RunError(f"no classifier for {data}: train one with scratchgen train classifier --data {data} "
                           f"--out {run_dir} (or pass --classifier RUN_DIR, or --n-samples 0 to skip sample metrics)")
    config, model = load_run(run_dir)
    if config["model"] != "classifier":
        raise RunError(f"--classifier {run_dir} holds a {config['model']} run, not a classifier run")
    try:
        check_classifier_dataset(config["data"], data)
    except ValueError as e:
        raise RunError(f"{run_dir}: {e}") from None
    return run_dir, model


def draw_samples(recipe, model, config, n: int, seed: int, sampler_options: dict) -> tuple[np.ndarray, str]:
    """n samples drawn in batches of SAMPLE_BATCH from one generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    batches, title = [], ""
    for start in tqdm(range(0, n, SAMPLE_BATCH), desc="sampling", unit="batch", leave=False, disable=None):
        images, title = recipe.sample(model, config, min(SAMPLE_BATCH, n - start), rng, sampler_options)
        batches.append(np.asarray(images, np.float32).reshape(-1, 28, 28))
    return np.concatenate(batches), title


def likelihoods_in_bits(metrics: dict, config: dict) -> dict:
    """bits_per_dim_X for every nll_X (nats per image over 784 pixels), with the binarization stated (unless
    the recipe stated it: a ddpm's bound takes its own --bound-binarize)."""
    out = {f"bits_per_dim_{k[4:]}": nats_to_bits_per_dim(v, 28 * 28) for k, v in metrics.items()
           if k.startswith("nll_")}
    if out and "likelihood_binarization" not in metrics:
        out["likelihood_binarization"] = {
            "bernoulli": f"test images binarized once by bernoulli draws with seed {TEST_BINARIZATION_SEED}",
            "threshold": "test images binarized by thresholding at 0.5",
        }.get(config.get("binarize"), "gray test images, not binarized")
    return out


def evaluate_run(run_dir: str, recipe, model, config, *, k: int, limit: int | None, seed: int, n_samples: int,
                 classifier: str | None, parzen: bool, sampler_options: dict) -> dict:
    """The metrics.json content of a run: ``recipe.final``, likelihoods in bits, and sample scores."""
    scored = recipe.sample is not None and n_samples > 0
    if scored:   # checked before recipe.final writes its figures: a refused evaluation writes nothing
        if n_samples < MIN_SAMPLES:
            raise RunError(f"--n-samples {n_samples}: expected 0 (no sample metrics) or at least {MIN_SAMPLES} "
                           f"(the classifier score averages over 10 splits)")
        classifier_dir, judge = load_classifier(classifier, config["data"])
    metrics = {"model": config["model"], "data": config["data"], **recipe.final(model, config, run_dir, limit, seed, k)}
    metrics.update(likelihoods_in_bits(metrics, config))
    if not scored:
        return metrics
    samples, title = draw_samples(recipe, model, config, n_samples, seed, sampler_options)
    train, test = load(config["data"], "train").images, load(config["data"], "test").images
    metrics["samples"] = {"what": title, "classifier": classifier_dir, "real_images": "gray, not binarized",
                          **sample_report(samples, judge, train, test, seed=seed)}
    if parzen:
        metrics["parzen"] = parzen_report(samples, train, test, seed=seed)
    return metrics


def conditional_metrics(recipe, model, config, judge, *, weights: list, per_class: int, cas_per_class: int,
                        seed: int, sampler_options: dict) -> dict:
    """metrics.json's "conditional": ``evaluation.conditional.conditional_evaluation`` of the run's sampling of
    a requested digit (``--label``) at each guidance weight (None: a family without guidance), on the whole
    test set. Each weight draws from its own generator seeded with ``seed``: the same noises. The CAS classifiers
    are ``train_cas_classifier``'s, described in ``cas_training``."""
    generators = {}

    def draw(digit, n, weight):
        rng = generators.setdefault(weight, np.random.default_rng(seed))
        options = {**sampler_options, "label": digit, **({} if weight is None else {"guidance": weight})}
        return recipe.sample(model, config, n, rng, options)[0]
    train, test = load(config["data"], "train"), load(config["data"], "test")
    report = {"per_class": per_class, **conditional_evaluation(
        draw, weights, judge, train.images, train.labels, test.images, test.labels, per_class=per_class,
        train_classifier=train_cas_classifier, cas_per_class=cas_per_class, seed=seed)}
    if cas_per_class:
        c = make_config({**CAS_CLASSIFIER, "seed": seed})
        report["cas_training"] = (f"scratchgen train classifier --width {c['width']} --lr {c['lr']:g} --batch-size "
                                  f"{c['batch_size']} --epochs {c['epochs']} --seed {seed}, on the images in memory; "
                                  f"tested on {len(test.images)} real test images")
    return report


def train_cas_classifier(images: np.ndarray, labels: np.ndarray, seed: int):
    """The classifier of the CAS and of its real baseline: trained on the uint8 (images, labels) as
    ``scratchgen train classifier --seed SEED`` trains one on a dataset (``training.api.train_on_arrays``)."""
    return train_on_arrays({**CAS_CLASSIFIER, "seed": seed}, images, labels)


def _row(name: str, sample: str, real: str) -> str:
    return f"{name:<30}{sample:>18}{real:>18}"


def _value(scores: dict, key: str) -> str:
    """A score with its spread (std over subsets or splits, or standard error) when it has one."""
    for spread in (f"{key}_std", "standard_error" if key == "mean" else None):
        if spread in scores:
            return f"{scores[key]:.4g} ± {scores[spread]:.2g}"
    return f"{scores[key]:.4g}"


def table(metrics: dict) -> str:
    """The metrics as text: the run's own numbers, then every sample score beside its real baseline."""
    lines = [f"{k:>28}: {v:.4f}" if isinstance(v, float) else f"{k:>28}: {v}"
             for k, v in metrics.items() if k not in ("samples", "parzen", "conditional")]
    if "samples" in metrics:
        report = metrics["samples"]
        s, r = report["samples"], report["real_baseline"]
        lines += ["", f"{report['n']} samples ({report['what']}), judged by {report['classifier']}, against the first "
                      f"{report['n']} test images; real baseline: {report['n']} training images",
                  _row("", "samples", "real baseline")]
        lines += [_row(name, _value(s, key), _value(r, key)) for name, key in (
            ("classifier FID", "fid"), ("KID", "kid"), ("classifier score", "classifier_score"),
            ("class entropy (max 2.303)", "class_entropy"),
            (f"memorization (real ~{report['memorization_quantile']})", "memorization"))]
        lines += [f"class counts of the samples: {s['class_counts']}",
                  f"        of the real baseline: {r['class_counts']}"]
    if "conditional" in metrics:
        lines += ["", *conditional_table(metrics["conditional"])]
    if "parzen" in metrics:
        p = metrics["parzen"]
        lines += [_row(f"Parzen log-lik. (nats, {p['test_images']} test)", _value(p["samples"], "mean"),
                       _value(p["real_baseline"], "mean")),
                  _row("Parzen sigma", f"{p['samples']['sigma']:.3f}", f"{p['real_baseline']['sigma']:.3f}")]
    return "\n".join(lines)


def conditional_table(report: dict) -> list[str]:
    """The lines of the conditional-generation table: per guidance weight, the judge's accuracy on the samples of
    each requested digit, their quality and CAS; the judge on real test images and real-trained CAS last."""
    digits = "".join(f"{d:>6}" for d in range(len(report["judge_on_real_test"]["per_class_accuracy"])))
    per_digit = lambda scores: "".join(f"{a:>6.3f}" for a in scores["per_class_accuracy"])  # noqa: E731
    lines = [f"conditional generation: {report['per_class']} samples of each requested digit, judged by "
             f"{report['classifier']}",
             f"{'guidance':<10}{'accuracy':>10}{'FID':>9}{'entropy':>9}{'CAS':>8}  accuracy per requested digit",
             f"{'':<46}{digits}"]
    for entry in report["by_guidance"]:
        quality = entry["quality"]["samples"]
        cas = f"{entry['cas']['accuracy']:.3f}" if "cas" in entry else "-"
        lines.append(f"{entry.get('guidance', '-')!s:<10}{entry['accuracy']:>10.3f}{quality['fid']:>9.2f}"
                     f"{quality['class_entropy'] + 0.0:>9.3f}{cas:>8}{per_digit(entry)}")   # + 0.0: no -0.000
    real = report["judge_on_real_test"]
    baseline = f"{report['cas_real_baseline']['accuracy']:.3f}" if "cas_real_baseline" in report else "-"
    lines.append(f"{'real test':<10}{real['accuracy']:>10.3f}{'':>18}{baseline:>8}{per_digit(real)}")
    if "cas_real_baseline" in report:
        lines.append(f"CAS: {report['by_guidance'][0]['cas']['images']} generated images (real baseline: as many "
                     f"real training images) -> {report['cas_training']}")
    return lines
