"""`nbskit train SUBJECT --preset P --out RUN [--resume | --overwrite] [--set key=value ...]`.

Everything is checked before any frame is loaded: the options (every ``--set`` key, type and
range), the subject, and the run folder (nbskit.train.run_guard: never written unless it is new,
empty, the same run resumed, or replaced on request).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nbskit.model import MODEL_KINDS
from nbskit.render.occupancy import POLICIES
from nbskit.train.presets import PRESETS

DEFAULT_PRESET = "cpu"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", type=Path, help="subject folder (with transforms.json)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help=f"size of the run (default: {DEFAULT_PRESET})")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write (new or empty)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out (same subject; options may be repeated but not changed)")
    again.add_argument("--overwrite", action="store_true", help="replace the run in --out with a new one")
    parser.add_argument("--grid", choices=tuple(POLICIES), help="occupancy-grid policy")
    parser.add_argument("--model", choices=tuple(MODEL_KINDS), help="field: NeRFBlendShape or the baseline")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any training config field (repeatable), e.g. --set total_steps=500")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def requested_overrides(args: argparse.Namespace) -> dict:
    """{field: value} of every config option given on the command line, each type- and range-checked."""
    from nbskit.train.config_rules import check_value
    from nbskit.train.presets import parse_override

    overrides = dict(parse_override(item) for item in args.overrides)
    for key, value in (("grid_policy", args.grid), ("model", args.model), ("seed", args.seed)):
        if value is not None:
            overrides[key] = value
    for key, value in overrides.items():
        check_value(key, value)
    return overrides


def prepare(args: argparse.Namespace):
    """(subject, config, what to do with --out: 'new', 'resume' or 'overwrite') after every check."""
    from nbskit.data.subject import Subject
    from nbskit.train import run_guard
    from nbskit.train.presets import make_config
    from nbskit.train.trainer import check_fits_subject

    overrides = requested_overrides(args)
    subject = Subject.load(args.subject)
    stored = run_guard.existing_run(args.out)
    if stored is not None and args.resume:
        config = run_guard.stored_config(stored, args.out)
        run_guard.check_same_subject(stored, subject, args.out)
        run_guard.check_unchanged(config, args.preset, overrides, args.out)
        return subject, config, "resume"
    config = make_config(args.preset or DEFAULT_PRESET, overrides)  # the rules between fields
    check_fits_subject(config, subject)
    if stored is None:
        if args.resume:
            print(f"note: nothing to resume in {args.out}; starting a new run")
        return subject, config, "new"
    if not args.overwrite:
        raise run_guard.RunFolderError(
            f"--out {args.out} already holds {run_guard.describe_run(stored, args.out)}; pass --resume to continue "
            "it or --overwrite to replace it (nothing was written)")
    return subject, config, "overwrite"


def run(args: argparse.Namespace) -> int:
    from nbskit.train.interrupt import TrainingInterrupted
    from nbskit.train.run_guard import clear_run
    from nbskit.train.trainer import Trainer

    subject, config, mode = prepare(args)
    trainer = Trainer(subject, config, args.out, progress=not args.quiet)  # loads every frame: may still fail
    if mode == "overwrite":
        clear_run(args.out)
    if mode == "resume" and trainer.resume():
        print(f"resumed {args.out} at step {trainer.step}")
    try:
        history = trainer.fit()
    except TrainingInterrupted as stop:
        print(f"checkpoint saved at step {stop.step}; continue with the same command plus --resume")
        raise
    last = history["eval"][-1] if history["eval"] else None
    scores = f", {last['split']} PSNR {last['psnr']:.2f} dB" if last else ""
    print(f"done: step {trainer.step}{scores}; run folder {args.out}")
    return 0
