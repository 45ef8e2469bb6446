"""Widget responsiveness: how many ExpressionExplorer updates per second a trained run allows.

One update is what a slider move costs in the kernel: render the run at the widget's size with the
new coefficients, encode the PNG and hand it to the image widget. The target is at least
5 updates/s on a CPU at 64x64. Each timed call moves one coefficient slider to a value it has not
had before, so no update is served from the explorer's cache of recent images; the numbers include
everything the user waits for except the browser round trip.

On a shared machine the wall clock is inflated by other processes, so the table also gives the CPU
seconds per update (all threads of this process) and the load average. ``1 / CPU-s`` is a floor
for the updates per second on an idle machine: there an update takes at most its CPU time.

    python -m bench.widgets RUN_DIR [--sizes 64 128] [--repeats 10]   (or `nbskit bench widgets RUN_DIR`)

RUN_DIR is a folder written by `nbskit train` (e.g. `nbskit train SUBJECT --preset cpu-smoke`).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import numpy as np

from bench.common import add_timing_arguments, apply_thread_setting, report, run_script, time_call

TARGET_UPDATES_PER_SECOND = 5.0


def move_slider(slider, values) -> None:
    """One widget update: the slider takes the next value and the explorer re-renders."""
    slider.value = float(next(values))


def fresh_values(slider, count: int) -> np.ndarray:
    """``count`` different values strictly inside the slider's range, at least one slider step apart."""
    values = slider.min + (np.arange(count) + 1) / (count + 1) * (slider.max - slider.min)
    if count > 1 and values[1] - values[0] < slider.step:
        raise ValueError(
            f"slider '{slider.description}' has too few steps for {count} different values; lower --repeats"
        )
    return values


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
        values = iter(fresh_values(slider, args.warmup + args.repeats))
        renders_before = explorer.view.renders
        timing = time_call(functools.partial(move_slider, slider, values), device, args.warmup, args.repeats)
        if explorer.view.renders - renders_before != args.warmup + args.repeats:
            raise RuntimeError(
                "an update was served from the image cache: the timing would flatter the widget"
            )
        rows.append(
            {
                "size": size,
                "median_ms": 1000 * timing.median,
                "updates_per_s": 1.0 / timing.median,
                "cpu_s_per_update": timing.median_cpu,
                "idle_updates_per_s_at_least": 1.0 / timing.median_cpu,
                "samples_per_ray": explorer.view.samples_per_ray,
                "meets_target": 1.0 / timing.median >= TARGET_UPDATES_PER_SECOND,
                **timing.as_dict(),
            }
        )
    columns = [
        ("size", "size", "d"),
        ("median_ms", "ms/update", ".1f"),
        ("updates_per_s", "updates/s", ".1f"),
        ("cpu_s_per_update", "CPU-s/update", ".3f"),
        ("idle_updates_per_s_at_least", "idle >= updates/s", ".1f"),
        ("samples_per_ray", "samples/ray", ".1f"),
        ("meets_target", f">= {TARGET_UPDATES_PER_SECOND:g}/s (wall)", ""),
    ]
    load = os.getloadavg()
    report(
        args.out,
        rows,
        columns,
        {"run": str(args.run_dir), "step": trained.step, "load_average": load, "rows": rows},
        heading=f"run: {args.run_dir} (step {trained.step}, device {device})",
        notes=[f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (wall times are inflated above 2)"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
