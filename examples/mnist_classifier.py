"""Train the LeNet-style digit classifier that judges samples, with the Python API: the run
``scratchgen train classifier`` makes, trained by ``scratchgen.training.train_run``.

    python examples/mnist_classifier.py                          # built-in glyph-digits, no download
    SCRATCHGEN_DATA=/path/to/mnist python examples/mnist_classifier.py --data mnist

The recipe — model, cross-entropy step, Adam with a cosine learning rate, validation accuracy after
every epoch and a confusion matrix in figures/ — is ``scratchgen/training/recipes/classifier.py``.
The run lands in --out, by default runs/classifier-DATA: where ``scratchgen evaluate RUN_DIR``
looks for the judge of a DATA run when no ``--classifier`` is given.
"""
import argparse

from scratchgen.cli import data_option
from scratchgen.data import DEFAULT_DATASET
from scratchgen.training import COMMON_OPTIONS, RECIPES, RunError, train_run
from scratchgen.training.runs import default_classifier_dir

CLASSIFIER = RECIPES["classifier"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    p.add_argument("--epochs", type=int, default=CLASSIFIER.defaults["epochs"],
                   help="epochs to train (the total, when resuming)")
    p.add_argument("--width", type=int, default=CLASSIFIER.options["width"],
                   help="channels of the first convolution (the second has twice as many)")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many minutes of training steps")
    p.add_argument("--seed", type=int, default=COMMON_OPTIONS["seed"])
    p.add_argument("--out", default=None, help="run directory (default runs/classifier-DATA)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    args = p.parse_args()
    out = args.out or default_classifier_dir(args.data)

    try:
        trained = train_run({"model": "classifier", "data": args.data, "epochs": args.epochs, "width": args.width,
                             "minutes": args.minutes, "seed": args.seed}, out, resume=args.resume,
                            overwrite=args.overwrite)
    except (RunError, ValueError) as e:
        p.error(str(e).splitlines()[0])
    summary = ", ".join(f"{k} {v:.4g}" for k, v in trained.metrics.items() if isinstance(v, float))
    print(f"{trained.status}: epoch {trained.epoch}, step {trained.step}, {trained.train_minutes:.2f} min of "
          f"training; {summary}")
    print(f"checkpoint: {trained.checkpoint}")
    if trained.status == "interrupted":
        raise SystemExit(130)


if __name__ == "__main__":
    main()
