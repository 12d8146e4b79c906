"""Train the LeNet-style digit classifier with scratchgen's layers, kernels and optimizers.

    python examples/mnist_classifier.py                       # built-in glyph-digits, no download
    python examples/mnist_classifier.py --data mnist          # real MNIST (downloaded or SCRATCHGEN_DATA)
    python examples/mnist_classifier.py --data mnist --save judge.npz

Prints the test accuracy after every epoch. With --save, writes the weights with the dataset name
and accuracy: the evaluation harness uses them as the feature extractor for sample metrics.
"""
import argparse
import time

import numpy as np
from tqdm import tqdm

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen import optim
from scratchgen.data import DEFAULT_DATASET, DataLoader, load, resolve_data_arg
from scratchgen.models.classifier import DigitClassifier


def accuracy(model: DigitClassifier, images: np.ndarray, labels: np.ndarray) -> float:
    _, probabilities = model.features_and_probabilities(images.astype(np.float32) / 255)
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=resolve_data_arg, default=DEFAULT_DATASET,
                        help=f"mnist, fashion-mnist, glyph-digits or a folder of IDX files (default {DEFAULT_DATASET})")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", metavar="PATH", help="write the trained weights here (.npz)")
    args = parser.parse_args()

    sg.manual_seed(args.seed)
    train, test = load(args.data, "train"), load(args.data, "test")
    model = DigitClassifier()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    schedule = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loader = DataLoader(train, args.batch_size, seed=args.seed)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        progress = tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", unit="batch")
        for x, y in progress:
            loss = sg.cross_entropy(model(x[:, None]), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            progress.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        schedule.step()
        test_accuracy = accuracy(model, *test)
        print(f"epoch {epoch}: test accuracy {test_accuracy:.2%} "
              f"({time.perf_counter() - start:.0f} s so far, data: {args.data})")
        if args.save:  # every epoch, atomically: an interrupted run keeps the last finished epoch
            nn.save_checkpoint(args.save, model=model, meta={"dataset": np.array(args.data), "epoch": np.array(epoch),
                                                              "test_accuracy": np.array(test_accuracy)})


if __name__ == "__main__":
    main()
