"""Train a small LeNet-style digit classifier with scratchgen's layers, kernels and optimizers.

    python examples/mnist_classifier.py                       # built-in glyph-digits, no download
    python examples/mnist_classifier.py --data mnist          # real MNIST (downloaded or SCRATCHGEN_DATA)

Prints the test accuracy after every epoch.
"""
import argparse
import time

import numpy as np
from tqdm import tqdm

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen import optim
from scratchgen.data import DEFAULT_DATASET, DataLoader, load, resolve_data_arg


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 14 x 14
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 7 x 7
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 500) -> float:
    model.eval()
    correct = 0
    with sg.no_grad():
        for x, y in DataLoader((images, labels), batch_size, shuffle=False):
            correct += int((model(x[:, None]).data.argmax(axis=1) == y).sum())
    model.train()
    return correct / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=resolve_data_arg, default=DEFAULT_DATASET,
                        help=f"mnist, fashion-mnist, glyph-digits or a folder of IDX files (default {DEFAULT_DATASET})")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sg.manual_seed(args.seed)
    train, test = load(args.data, "train"), load(args.data, "test")
    model = lenet()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
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
        print(f"epoch {epoch}: test accuracy {accuracy(model, *test):.2%} "
              f"({time.perf_counter() - start:.0f} s so far, data: {args.data})")


if __name__ == "__main__":
    main()
