"""Train the LeNet-style digit classifier that judges samples: ``scratchgen train classifier`` under another name.

    python examples/mnist_classifier.py                          # built-in glyph-digits, no download
    SCRATCHGEN_DATA=/path/to/mnist python examples/mnist_classifier.py --data mnist --out runs/classifier-mnist

Every option of ``scratchgen train classifier`` applies (``--epochs``, ``--width``, ``--resume``,
...). The recipe — model, cross-entropy step, Adam with a cosine learning rate, test accuracy
after every epoch and a confusion matrix in figures/ — is ``scratchgen/training/recipes/classifier.py``;
``scratchgen evaluate RUN_DIR --classifier runs/classifier-mnist`` uses the run as its judge.
"""
import sys

from scratchgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "classifier", *sys.argv[1:]]))
