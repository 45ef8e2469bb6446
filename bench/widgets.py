"""Widget responsiveness: how many ExpressionExplorer updates per second a trained run allows.

One update is what a slider move costs in the kernel: render the run at the widget's size with the
new coefficients, encode the PNG and hand it to the image widget. The target (issue 7) is at least
5 updates/s on a CPU at 64x64. Each timed call moves one coefficient slider to a new value, so the
numbers include everything the user waits for except the browser round trip.

    python -m bench.widgets RUN_DIR [--sizes 64 128] [--repeats 10]   (or `nbskit bench widgets RUN_DIR`)

RUN_DIR is a folder written by `nbskit train` (e.g. `nbskit train SUBJECT --preset cpu-smoke`).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np

from bench.common import add_timing_arguments, apply_thread_setting, report, run_script, time_call

TARGET_UPDATES_PER_SECOND = 5.0
SLIDER_POSITIONS = 6


def move_slider(slider, values) -> None:
    """One widget update: the slider takes the next value and the explorer re-renders."""
    slider.value = float(next(values))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a trained run folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="render sizes (pixels)")
    add_timing_arguments(parser, "widgets.json")


def run(args: argparse.Namespace) -> int:
    apply_thread_setting(args.threads)
    from nbskit.train.run import load_run
    from nbskit.viz.widgets import ExpressionExplorer

    trained = load_run(args.run_dir)
    device = next(trained.model.parameters()).device
    rows = []
    for size in args.sizes:
        explorer = ExpressionExplorer(trained, size=size)
        slider = next(iter(explorer.sliders.values()))
        # Fractions strictly inside (0, 1) that never repeat twice in a row: every call is a real change.
        fractions = (np.arange(args.warmup + args.repeats) % SLIDER_POSITIONS + 1) / (SLIDER_POSITIONS + 1)
        values = iter(slider.min + fractions * (slider.max - slider.min))
        timing = time_call(functools.partial(move_slider, slider, values), device, args.warmup, args.repeats)
        rows.append(
            {
                "size": size,
                "median_ms": 1000 * timing.median,
                "updates_per_s": 1.0 / timing.median,
                "meets_target": 1.0 / timing.median >= TARGET_UPDATES_PER_SECOND,
                **timing.as_dict(),
            }
        )
    columns = [
        ("size", "size", "d"),
        ("median_ms", "ms/update", ".1f"),
        ("updates_per_s", "updates/s", ".1f"),
        ("meets_target", f">= {TARGET_UPDATES_PER_SECOND:g}/s", ""),
    ]
    report(
        args.out,
        rows,
        columns,
        {"run": str(args.run_dir), "step": trained.step, "rows": rows},
        heading=f"run: {args.run_dir} (step {trained.step}, device {device})",
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
