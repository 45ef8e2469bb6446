"""`nbskit eval RUN`: metrics on the test split, printed and written to RUN/metrics_test.json."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from nbskit.options import whole_number

# what evaluation may change: how a held-out frame is fitted (nbskit.train.test_time), not the trained field
EVAL_FIELDS = ("test_time_fit", "test_time_steps", "test_time_lr_scale", "test_time_rays")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder written by `nbskit train`")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="frames to evaluate")
    parser.add_argument("--max-frames", type=whole_number(1), help="evaluate only the first N frames of the split")
    parser.add_argument("--no-perceptual", action="store_true", help="skip (ST-)LPIPS")
    parser.add_argument("--test-time-refine", action="store_true",
                        help="also fit each frame's camera (and/or coefficients: test_time_fit) on the left half, "
                             "PSNR on the right")
    parser.add_argument("--subject", type=Path, help="the run's subject folder, if it moved since training")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"how held-out frames are fitted, one of {', '.join(EVAL_FIELDS)} (repeatable), "
                             "e.g. --set test_time_fit=camera+expression; the run's own values otherwise")


def eval_overrides(items: list[str]) -> dict:
    """{field: value} of ``--set`` items, each a test-time field (ConfigError naming the item otherwise)."""
    from nbskit.train.config_rules import ConfigError, check_value
    from nbskit.train.presets import parse_override

    overrides = dict(parse_override(item) for item in items)
    for key, value in overrides.items():
        if key not in EVAL_FIELDS:
            raise ConfigError(f"--set {key}: nbskit eval changes only {', '.join(EVAL_FIELDS)}; "
                              "the other fields describe how the run was trained")
        check_value(key, value)
    return overrides


def run(args: argparse.Namespace) -> int:
    from nbskit.train.evaluate import evaluate_run, format_table, write_metrics
    from nbskit.train.perceptual import load_perceptual
    from nbskit.train.run import load_run

    overrides = eval_overrides(args.overrides)  # checked before the run is loaded
    trained = load_run(args.run, subject_path=args.subject)
    trained.config = dataclasses.replace(trained.config, **overrides)
    trained.require_frames("nbskit eval")
    perceptual = None if args.no_perceptual else load_perceptual()
    if perceptual is not None:
        perceptual.to(trained.model.aabb.device)
    result = evaluate_run(trained, args.split, perceptual, args.max_frames, test_time_refine=args.test_time_refine)
    print(format_table(result))
    if args.split == "test" and args.max_frames is None:
        print(f"wrote {write_metrics(args.run, result)}")
    return 0
