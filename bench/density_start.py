"""Does a model's density survive the first steps on a subject? The raw density output over the head box, step by step.

    python -m bench.density_start SUBJECT [--model concatenate] [--steps 0 5 10 25 40]
                                  [--preset cpu] [--set KEY=VALUE ...] [--out FILE]

The field starts as a faint fog of nearly the same density everywhere. While the hash tables are
still near their initial values, the loss can only raise or lower that fog as a whole, and on a
clip where the head covers a small part of the frame most rays ask for less. If the density
network lowers its raw output far enough, softplus has no gradient left and the run never
recovers: its renders are the background alone. This trains in memory (nothing is written but
``--out``) and prints, at each of ``--steps``, the 5th/50th/95th percentiles of the raw density
output at uniform points of the head box (neutral expression), the fraction of the density
network's last hidden units that are active, and the occupied fraction of the grid; first, the
share of the frame the head mask covers (mean over the training frames).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.common import run_script, write_results

PROBE_POINTS = 4096
QUANTILES = (0.05, 0.5, 0.95)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", type=Path, help="subject folder (from `nbskit track` or a synthetic one)")
    parser.add_argument("--model", default="concatenate", help="model kind (blend or concatenate)")
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 5, 10, 25, 40], help="steps to probe at")
    parser.add_argument("--preset", default="cpu", help="training preset")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="more training overrides")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")


def probe(trainer, points) -> dict:
    """Raw density quantiles at ``points`` [P, 3] (world), active last-layer hidden units, occupied grid."""
    import torch

    model = trainer.model
    with torch.no_grad():
        frame = torch.zeros(len(points), dtype=torch.long)
        hidden = model.density_mlp[:-1](model.encode(model.normalise(points), frame,
                                                     model.coefficients(torch.zeros(1, model.num_expressions))))
        raw = model.density_mlp[-1](hidden)[:, 0]
        quantiles = torch.quantile(raw, torch.tensor(QUANTILES)).tolist()
    return {"raw_density_quantiles": dict(zip(map(str, QUANTILES), quantiles)),
            "active_hidden": float((hidden > 0).float().mean()),
            "occupied": trainer.occupancy.occupied_fraction()}


def head_share(subject) -> float:
    """Mean fraction of a training frame's pixels inside its head mask."""
    import numpy as np

    return float(np.mean([(subject.load_mask(i) > 0.5).mean() for i in subject.indices("train")]))


def run(args: argparse.Namespace) -> int:
    import torch

    from nbskit.data.subject import Subject
    from nbskit.train.presets import make_config
    from nbskit.train.trainer import Trainer

    config = make_config(args.preset, [f"model={args.model}", f"seed={args.seed}", *args.overrides])
    subject = Subject.load(args.subject)
    share = head_share(subject)
    print(f"head mask: {share:.1%} of a training frame on average", flush=True)
    trainer = Trainer(subject, config, None, progress=False)
    box = trainer.model.aabb.cpu()
    points = box[0] + torch.rand(PROBE_POINTS, 3, generator=torch.Generator().manual_seed(0)) * (box[1] - box[0])
    rows = []
    for step in sorted(set(args.steps)):
        trainer.fit(until=step)
        rows.append({"step": trainer.step, **probe(trainer, points)})
        low, middle, high = rows[-1]["raw_density_quantiles"].values()
        print(f"step {trainer.step:4d}: raw density p5 {low:7.2f}  p50 {middle:7.2f}  p95 {high:7.2f}   "
              f"active hidden {rows[-1]['active_hidden']:.3f}   occupied {rows[-1]['occupied']:.3f}", flush=True)
    if args.out is not None:
        print(f"wrote {write_results(args.out, {'subject': str(args.subject), 'model': args.model, 'head_share': share, 'rows': rows})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(__doc__, add_arguments, run))
