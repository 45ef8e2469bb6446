"""Paper Fig. 8: held-out PSNR against training time, blend vs concatenate, whole image, mouth and eyes.

    python -m bench.paper.fig8_speed --profile quick
    python -m bench.paper.fig8_speed --profile gpu

Both models train for the same number of steps with the same preset and seed; each run is
evaluated ``curve_points`` times on a few held-out frames. The x axis is this process's CPU time
spent training (all threads), because the wall clock of a shared machine also counts other jobs;
the JSON has both. The paper's claim: blending learns the dynamic regions (mouth, eyes) much faster.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.common import run_script
from bench.paper import output
from bench.paper.training import bench_config, synthetic_subject, train_with_curve
from nbskit.model import MODEL_KINDS

CLAIM = "fig8_speed"
MODELS = tuple(MODEL_KINDS)
REGIONS = (("psnr", "whole image"), ("psnr_mouth", "mouth box"), ("psnr_eyes", "eye boxes"))
TIME_AXIS = "cpu_s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)


def psnr_at_equal_time(curves: dict[str, list[dict]], key: str) -> dict:
    """Each model's PSNR (linear in time between evaluations) at the time the quicker run finished."""
    horizon = min(curve[-1][TIME_AXIS] for curve in curves.values())
    values = {model: float(np.interp(horizon, [p[TIME_AXIS] for p in curve], [p[key] for p in curve]))
              for model, curve in curves.items()}
    return {"cpu_s": horizon, **values}


def plot(curves: dict[str, list[dict]], regions: list[tuple[str, str]], path):
    figure, axes = output.new_figure(len(regions))
    for axis, (key, title) in zip(axes, regions):
        for model, curve in curves.items():
            axis.plot([p[TIME_AXIS] for p in curve], [p[key] for p in curve], "o-", markersize=3,
                      color=output.MODEL_COLOURS[model], label=model)
        axis.set_title(f"held-out PSNR, {title}", fontsize=9)
        axis.set_xlabel("training CPU seconds (all threads)", fontsize=8)
        axis.set_ylabel("dB", fontsize=8)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    return output.save_figure(figure, path)


def run(args: argparse.Namespace) -> int:
    profile = output.setup(args)
    subject_dir = synthetic_subject(profile.subject, args.work)
    runs = {model: train_with_curve(subject_dir, bench_config(profile, model=model), args.work,
                                    profile.curve_points, profile.curve_frames, progress=args.progress)
            for model in MODELS}
    curves = {model: run.curve for model, run in runs.items()}
    regions = [(key, title) for key, title in REGIONS if all(key in p for c in curves.values() for p in c)]
    plot(curves, regions, args.out / f"{CLAIM}.png")
    result = output.write_result(args, CLAIM, {
        "subject": profile.subject, "steps": runs["blend"].config.total_steps,
        "frames_per_evaluation": profile.curve_frames, "time_axis": "process CPU seconds of training (all threads)",
        "curves": curves,
        "cpu_seconds_per_step": {model: run.cpu_seconds_per_step for model, run in runs.items()},
        "wall_seconds_per_step": {model: run.wall_seconds_per_step for model, run in runs.items()},
        "psnr_at_equal_cpu_time": {key: psnr_at_equal_time(curves, key) for key, _ in regions},
        "runs": {model: str(run.run_dir) for model, run in runs.items()},
    })
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    """PSNR of both models at the same CPU time, per region, and the cost of a step."""
    rows = []
    for key, values in result["psnr_at_equal_cpu_time"].items():
        rows.append([key, f"{values['cpu_s']:.0f}", *[values[m] for m in MODELS], values["blend"] - values["concatenate"]])
    table = output.markdown_table(["region", "at CPU s", *[f"{m} dB" for m in MODELS], "blend − concat dB"], rows)
    cost = ", ".join(f"{m} {result['cpu_seconds_per_step'][m]:.2f} CPU s / {result['wall_seconds_per_step'][m]:.2f} "
                     f"wall s per step" for m in MODELS)
    return f"{table}\n\n{cost}"


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
