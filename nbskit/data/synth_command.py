"""``nbskit synth OUT``: render a synthetic subject with exact ground truth."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nbskit.data.folders import require_new_folder
from nbskit.data.synthetic import PRESETS, synthesize_subject
from nbskit.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="subject folder to create (new or empty)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny", help="size of the subject")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--model",
        choices=["auto", "ict", "procedural"],
        default=None,
        help="head model (default: the preset's; 'auto' = ICT when found, else procedural)",
    )


def run(args: argparse.Namespace) -> int:
    from nbskit.data.subject import Subject

    require_new_folder(args.out)
    if args.seed < 0:
        raise UserError(f"--seed: expected a whole number >= 0, got {args.seed}")
    start = time.perf_counter()
    root = synthesize_subject(args.out, args.preset, seed=args.seed, model=args.model)
    print(Subject.load(root).describe())
    print(f"wrote {root} in {time.perf_counter() - start:.1f} s")
    return 0
