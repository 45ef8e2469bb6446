"""`nbskit train SUBJECT --preset P --out RUN [--resume] [--set key=value ...]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from nbskit.model import MODEL_KINDS
from nbskit.render.occupancy import POLICIES
from nbskit.train.presets import PRESETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", type=Path, help="subject folder (with transforms.json)")
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="size of the run (default: cpu)")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    parser.add_argument("--grid", choices=tuple(POLICIES), help="occupancy-grid policy")
    parser.add_argument("--model", choices=tuple(MODEL_KINDS), help="field: NeRFBlendShape or the baseline")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any training config field (repeatable), e.g. --set total_steps=500")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from nbskit.data.subject import Subject
    from nbskit.train.checkpoint import CONFIG_FILE, read_json
    from nbskit.train.presets import TrainConfig, make_config
    from nbskit.train.trainer import Trainer

    overrides = list(args.overrides)
    for key, value in (("grid_policy", args.grid), ("model", args.model), ("seed", args.seed)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.resume and (args.out / CONFIG_FILE).is_file():
        # The stored config wins: a resumed run must repeat the steps of the interrupted one.
        config = TrainConfig.from_dict(read_json(args.out / CONFIG_FILE)["train"])
    else:
        config = make_config(args.preset, overrides)
    trainer = Trainer(Subject.load(args.subject), config, args.out, progress=not args.quiet)
    if args.resume and trainer.resume():
        print(f"resumed {args.out} at step {trainer.step}")
    history = trainer.fit()
    if history["eval"]:
        last = history["eval"][-1]
        print(f"done: step {trainer.step}, {last['split']} PSNR {last['psnr']:.2f} dB; run folder {args.out}")
    return 0
