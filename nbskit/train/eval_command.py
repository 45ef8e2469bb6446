"""`nbskit eval RUN`: metrics on the test split, printed and written to RUN/metrics_test.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from nbskit.options import whole_number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder written by `nbskit train`")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="frames to evaluate")
    parser.add_argument("--max-frames", type=whole_number(1), help="evaluate only the first N frames of the split")
    parser.add_argument("--no-perceptual", action="store_true", help="skip (ST-)LPIPS")
    parser.add_argument("--test-time-refine", action="store_true",
                        help="also fit each frame's camera and coefficients on the left half, PSNR on the right")
    parser.add_argument("--subject", type=Path, help="the run's subject folder, if it moved since training")


def run(args: argparse.Namespace) -> int:
    from nbskit.train.evaluate import evaluate_run, format_table, write_metrics
    from nbskit.train.perceptual import load_perceptual
    from nbskit.train.run import load_run

    trained = load_run(args.run, subject_path=args.subject)
    trained.require_frames("nbskit eval")
    perceptual = None if args.no_perceptual else load_perceptual()
    if perceptual is not None:
        perceptual.to(trained.model.aabb.device)
    result = evaluate_run(trained, args.split, perceptual, args.max_frames, test_time_refine=args.test_time_refine)
    print(format_table(result))
    if args.split == "test" and args.max_frames is None:
        print(f"wrote {write_metrics(args.run, result)}")
    return 0
