"""Diffusion (DDPM), start to finish, with the Python API: train the noise network eps_theta with
the simplified loss, then draw from the same starting noises with the three samplers and restore
damaged test images with the same network.

    python examples/ddpm.py                                # glyph-digits, MLP noise network, ~2 minutes
    python examples/ddpm.py --data mnist --net unet --minutes 20

Samplers (docs/ddpm.md): ancestral over all T = 1000 steps (Ho et al. 2020, Algorithm 2), and
DDIM with 50 steps (Song et al. 2021, eq. 12) with eta 0 (deterministic) and eta 1 (fresh noise
at every jump, the better samples from short training). Restoration: a centred 14x14 hole filled
by RePaint with reconstruction guidance, and Gaussian noise removed by starting the reverse
process at the matching t. Writes samplers.png, restoration.png and ddpm.md into --out.
"""
import argparse
import os
import time

import numpy as np
from tqdm import tqdm

import scratchgen as sg
from scratchgen import figures
from scratchgen.cli import data_option
from scratchgen.data import DEFAULT_DATASET, DataLoader, load
from scratchgen.evaluation.metrics import psnr
from scratchgen.models.ddpm import Diffusion, NoiseSchedule, to_model_space
from scratchgen.models.unet import MLPDenoiser, UNet
from scratchgen.optim import EMA, Adam, clip_grad_norm_


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    p.add_argument("--net", choices=["mlp", "unet"], default="mlp", help="noise network (unet: ddpm_unet, slower)")
    p.add_argument("--minutes", type=float, default=2.0, help="training time budget")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n", type=int, default=32, help="samples per sampler, from the same starting noises")
    p.add_argument("--restore", type=int, default=8, help="test images to restore")
    p.add_argument("--out", default="runs/ddpm_example", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.minutes <= 0 or args.n < 1 or args.restore < 1:
        p.error(f"--minutes must be > 0 and --n, --restore >= 1; got {args.minutes:g}, {args.n}, {args.restore}")
    os.makedirs(args.out, exist_ok=True)

    # Data in model space [-1, 1], shape (N, 1, 28, 28).
    sg.manual_seed(args.seed)
    train = load(args.data, "train")
    test = load(args.data, "test").images[:args.restore].astype(np.float32) / 255
    loader = DataLoader(train, args.batch_size, seed=args.seed)
    net = UNet(widths=(32, 64)) if args.net == "unet" else MLPDenoiser(hidden=512)
    diffusion = Diffusion(net, NoiseSchedule(1000, "linear"), progress=True)
    optimizer, ema = Adam(net.parameters(), lr=args.lr), EMA(net, 0.999, warmup=True)

    # Training: L_simple = || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2, t uniform (eq. 14).
    rng = np.random.default_rng(args.seed + 1)
    deadline, steps, losses = time.time() + 60 * args.minutes, 0, []
    with tqdm(desc="training", unit="step", disable=None) as bar:
        while time.time() < deadline:
            for x, _ in loader:
                optimizer.zero_grad()
                loss = diffusion.loss(to_model_space(x)[:, None], rng)
                loss.backward()
                clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                ema.update()
                steps += 1
                losses.append(loss.item())
                bar.update()
                bar.set_postfix(loss=f"{np.mean(losses[-100:]):.4f}")
                if time.time() >= deadline:
                    break
    rows = [f"{args.data}, {args.net} noise network, {steps} steps of batch {args.batch_size} in "
            f"{args.minutes:g} minutes; L_simple {np.mean(losses[:100]):.4f} over the first 100 steps, "
            f"{np.mean(losses[-100:]):.4f} over the last 100.", "",
            "| sampler | network calls | seconds per image |", "|---|---:|---:|"]

    # Sampling with the EMA weights, every sampler from the same x_T ~ N(0, I).
    x_T = np.random.default_rng(args.seed + 2).standard_normal((args.n, 1, 28, 28)).astype(np.float32)
    samplers = [("ancestral, 1000 steps", 1000, lambda r: diffusion.sample(args.n, r, x_T=x_T)),
                ("DDIM-50, eta 0", 50, lambda r: diffusion.ddim_sample(args.n, r, steps=50, eta=0.0, x_T=x_T)),
                ("DDIM-50, eta 1", 50, lambda r: diffusion.ddim_sample(args.n, r, steps=50, eta=1.0, x_T=x_T))]
    grids, labels = [], []
    with ema.average_parameters():
        for name, calls, draw in samplers:
            start = time.time()
            grids.append(draw(np.random.default_rng(args.seed + 3))[:, 0])
            labels.append(name)
            rows.append(f"| {name} | {calls} | {(time.time() - start) / args.n:.3f} |")

        # Restoration: a centred 14x14 hole, and Gaussian noise of std 0.3 (in [0, 1] units).
        known = np.ones((28, 28), bool)
        known[7:21, 7:21] = False
        inpainted = diffusion.inpaint(test, known, np.random.default_rng(args.seed + 4), resample=4, steps=25,
                                      reconstruction_guidance=15.0)[:, 0]
        noisy = np.clip(test + 0.3 * np.random.default_rng(args.seed + 5).standard_normal(test.shape), 0, 1)
        denoised = diffusion.denoise(noisy, 0.3, np.random.default_rng(args.seed + 6))[:, 0]
    hole = np.broadcast_to(~known, test.shape)
    mean_fill = np.where(known, test, train.images.astype(np.float32).mean(0) / 255)
    rows += ["", "| restoration | PSNR (dB) |", "|---|---:|",
             f"| hole filled with the mean training image | {psnr(mean_fill, test, where=hole):.2f} |",
             f"| hole filled by RePaint + reconstruction guidance (25 jumps x 4) "
             f"| {psnr(inpainted, test, where=hole):.2f} |",
             f"| noisy, sigma 0.3 | {psnr(noisy, test):.2f} |",
             f"| denoised from t = {diffusion.matching_timestep(0.3)} | {psnr(denoised, test):.2f} |"]

    report = "\n".join(rows) + "\n"
    with open(os.path.join(args.out, "ddpm.md"), "w") as f:
        f.write(report)
    print(report)
    columns = min(args.n, 16)
    print("wrote", figures.image_grid(os.path.join(args.out, "samplers.png"),
                                      np.concatenate([g[:columns] for g in grids]), ncols=columns, row_labels=labels,
                                      title=f"the same {columns} starting noises, three samplers"))
    print("wrote", figures.image_grid(os.path.join(args.out, "restoration.png"),
                                      np.concatenate([test, np.where(known, test, 0), inpainted, noisy, denoised]),
                                      ncols=len(test), row_labels=["clean", "holed", "inpainted", "noisy", "denoised"],
                                      title=f"restoring {args.data} test images"))


if __name__ == "__main__":
    main()
