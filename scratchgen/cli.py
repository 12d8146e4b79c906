"""The ``scratchgen`` command (also ``python -m scratchgen``)."""
from __future__ import annotations

import argparse
import sys

import numpy as np
from tqdm import tqdm

from . import autograd as ag
from .autograd import losses, ops
from .gradcheck import gradcheck_projection


def demo(args: argparse.Namespace) -> int:
    """Fit a two-layer network to two interleaved spirals with nothing but scratchgen's autograd.

    The models (autoencoder, VAE, GAN, diffusion, PixelCNN) replace this demo as they land.
    """
    rng = np.random.default_rng(args.seed)
    n = 200
    angle = rng.uniform(0.25, 3 * np.pi, size=n)
    label = rng.integers(0, 2, size=n)
    radius = angle / (3 * np.pi)
    sign = np.where(label == 1, 1.0, -1.0)
    points = np.stack([sign * radius * np.cos(angle), sign * radius * np.sin(angle)], axis=1)
    points += rng.normal(scale=0.02, size=points.shape)

    hidden = 32
    params = [
        ag.tensor(rng.normal(scale=1.0, size=(2, hidden)), requires_grad=True),
        ag.tensor(np.zeros(hidden), requires_grad=True),
        ag.tensor(rng.normal(scale=hidden**-0.5, size=(hidden, 1)), requires_grad=True),
        ag.tensor(np.zeros(1), requires_grad=True),
    ]

    def loss_fn(w1, b1, w2, b2, x=points, y=label[:, None]):
        logits = ops.tanh(ag.as_tensor(x, dtype=w1.dtype) @ w1 + b1) @ w2 + b2
        return losses.binary_cross_entropy_with_logits(logits, y), logits

    print("Checking the demo network's gradient against finite differences (float64)...")
    gradcheck_projection(lambda *p: loss_fn(*p)[0], [p.data for p in params], directions=3)
    print("  gradient check passed")

    progress = tqdm(range(args.steps), desc="training", unit="step", disable=None)
    for step in progress:
        loss, logits = loss_fn(*params)
        for p in params:
            p.zero_grad()
        loss.backward()
        with ag.no_grad():
            for p in params:
                p.data -= args.lr * p.grad
        if step % 50 == 0 or step == args.steps - 1:
            accuracy = float(np.mean((logits.data[:, 0] > 0) == label))
            progress.set_postfix(loss=f"{loss.item():.4f}", accuracy=f"{accuracy:.1%}")
    print(f"final loss {loss.item():.4f}, training accuracy {accuracy:.1%} on {n} spiral points")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchgen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser("demo", help="a short demo of the autograd: fit a network to two spirals")
    demo_parser.add_argument("--steps", type=int, default=3000, help="gradient descent steps (default 3000)")
    demo_parser.add_argument("--lr", type=float, default=1.0, help="learning rate (default 1.0)")
    demo_parser.add_argument("--seed", type=int, default=0, help="seed for the data and the weights (default 0)")
    demo_parser.set_defaults(run=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
