"""The diffusion issue's PyTorch reference: the ddpm_unet network trained in PyTorch, scored by scratchgen.

    python benchmarks/ddpm_reference.py --data mnist --minutes 20 --out runs/ddpm-torch20
    scratchgen evaluate runs/ddpm-torch20 --n-samples 2000 --classifier runs/classifier-mnist

The arguments are those of `scratchgen train ddpm`, and so is the recipe: the same config.json, the
same initial weights, the same batches in the same order, the same t and noise (drawn by
scratchgen's Diffusion from the same seed), L_simple, Adam, gradient-norm clipping, the EMA with its
warm-up and the --lr-schedule. Only the network's forward and backward and the optimizer run in
PyTorch (``torch_workloads.UNet``, scratchgen's UNet with widths 32,64 module for module). The run
directory gets scratchgen's checkpoint holding the EMA weights, so `scratchgen sample` and
`scratchgen evaluate` draw from it with scratchgen's samplers and score it with the same classifier
as every scratchgen run: the comparison is of the training, not of the harness.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # the scratchgen next to benchmarks/, then torch_workloads
from scratchgen import allocator  # noqa: E402
from scratchgen.autograd import manual_seed  # noqa: E402
from scratchgen.cli import build_parser  # noqa: E402
from scratchgen.data import DataLoader  # noqa: E402
from scratchgen.models.ddpm import Diffusion, NoiseSchedule, to_model_space  # noqa: E402
from scratchgen.nn import save_checkpoint  # noqa: E402
from scratchgen.training import RECIPES, RunError, make_config, runs, start_run  # noqa: E402

import torch_workloads  # noqa: E402

WIDTHS = [32, 64]      # torch_workloads.UNet's


def _config(argv):
    """config.json of a new run in --out, written as `scratchgen train ddpm ARGV` would write it."""
    options = vars(build_parser().parse_args(["train", "ddpm", *argv]))   # the options given, and "model"
    for key in ("command", "run", "progress"):
        options.pop(key, None)
    out, resume, overwrite, log_every = (options.pop(k, default) for k, default in
                                         (("out", None), ("resume", False), ("overwrite", False), ("log_every", 50)))
    try:
        config = make_config(options)
        if resume or config["net"] != "unet" or config["widths"] != WIDTHS or config["class_conditional"]:
            raise SystemExit(f"ddpm_reference.py: the PyTorch twin trains a new unconditional UNet with --widths "
                             f"{','.join(map(str, WIDTHS))}; drop --resume/--net/--widths/--class-conditional")
        out = out or "runs/ddpm-torch"
        return start_run(options, out, overwrite=overwrite), out, log_every
    except (RunError, ValueError, OSError) as e:
        raise SystemExit(f"ddpm_reference.py: {e}") from None


def main(argv=None) -> int:
    if not torch_workloads.available():
        raise SystemExit("ddpm_reference.py needs PyTorch: pip install torch==2.13.0")
    import torch  # noqa: PLC0415 (optional: only once torch_workloads.available())
    import torch.nn.functional as F  # noqa: PLC0415 (optional, as above)
    allocator.keep_freed_memory()
    config, out, log_every = _config(sys.argv[1:] if argv is None else argv)
    config["trained_with"] = f"PyTorch {torch_workloads.version()} (benchmarks/ddpm_reference.py)"
    runs.write_config(out, config)

    manual_seed(config["seed"])
    model = RECIPES["ddpm"].build(config)                      # scratchgen's initial weights ...
    net = torch_workloads.UNet()
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})  # ... in PyTorch
    images, labels = runs.load_split(config, "train")
    if config["limit"]:
        images, labels = images[:config["limit"]], labels[:config["limit"]]
    loader = DataLoader((images, labels), config["batch_size"], seed=config["seed"])
    # The same t and noise as `scratchgen train ddpm`: scratchgen's Diffusion draws them and noises x_0.
    diffusion = Diffusion(None, NoiseSchedule(config["timesteps"], config["schedule"]))
    rng = np.random.default_rng(config["seed"] + 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=config["lr"])
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"] * len(loader))
                if config["lr_schedule"] == "cosine" else None)
    shadow = {name: p.detach().clone() for name, p in net.named_parameters()}
    max_norm = config["clip_grad"] or math.inf

    steps, trained, losses, budget = 0, 0.0, [], (config["minutes"] or math.inf) * 60
    with open(os.path.join(out, "log.jsonl"), "w") as log:
        for epoch in range(config["epochs"]):
            for x, _ in loader:
                if trained >= budget:
                    break
                started = time.perf_counter()
                x0 = to_model_space(x)[:, None]
                t = rng.integers(0, config["timesteps"], size=len(x0))
                noise = rng.standard_normal(x0.shape).astype(np.float32)
                x_t = torch.from_numpy(diffusion.q_sample(x0, t, noise))
                loss = F.mse_loss(net(x_t, torch.from_numpy(t)), torch.from_numpy(noise))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
                optimizer.step()
                decay = min(config["ema_decay"], (1 + steps) / (10 + steps))   # optim.EMA's warm-up
                with torch.no_grad():
                    for name, p in net.named_parameters():
                        shadow[name].mul_(decay).add_(p.detach(), alpha=1 - decay)
                if schedule is not None:
                    schedule.step()
                trained += time.perf_counter() - started
                steps += 1
                losses.append(loss.item())
                if steps % log_every == 0:
                    record = dict(event="train", epoch=epoch, step=steps, minutes=round(trained / 60, 4),
                                  loss=float(np.mean(losses[-log_every:])))
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    print(f"step {steps}  {trained / 60:.1f} min  loss {record['loss']:.4f}", flush=True)
            if trained >= budget:
                break
    model.load_state_dict({name: value.numpy() for name, value in shadow.items()})
    save_checkpoint(os.path.join(out, "checkpoint.npz"), model=model)     # the EMA weights, which sampling uses
    print(f"{steps} steps of batch {config['batch_size']} in {trained / 60:.1f} minutes of training "
          f"({trained / max(steps, 1) * 1000:.0f} ms per step); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
