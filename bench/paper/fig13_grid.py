"""Paper Fig. 13–14: the occupancy grid during training, expression-aware (Eq. 9) vs neutral-only vs none.

    python -m bench.paper.fig13_grid --profile quick    # tiny subject: the trend only
    python -m bench.paper.fig13_grid --profile gpu

One blend run per grid policy (same preset, schedule and seed). Reports, on the test frames with
the most open mouths (half of the test split): PSNR, samples marched per ray and seconds per image;
and the training cost per step (CPU and wall). The paper's claim: a neutral-only grid culls space
an open mouth needs, so those frames lose quality; no grid at all costs many more samples.
"""

from __future__ import annotations

import argparse
import sys

from bench.common import run_script
from bench.paper import output
from bench.paper.training import bench_config, synthetic_subject, train_with_curve
from nbskit.render.occupancy import POLICIES

CLAIM = "fig13_grid"
POLICY_COLOURS = {"expression": "tab:blue", "neutral": "tab:green", "none": "tab:grey"}
MOUTH_OPEN_FRACTION = 0.5  # of the test frames, those with the largest jawOpen
PANELS = (("psnr", "PSNR, mouth-open test frames (dB)"), ("samples_per_ray", "samples per ray"),
          ("cpu_s_per_step", "training CPU s / step"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)


def policy_row(subject_dir, policy: str, profile, args) -> dict:
    from nbskit.train.run import load_run
    from nbskit.viz.course import frame_statistics, mouth_open_frames

    bench_run = train_with_curve(subject_dir, bench_config(profile, trend=True, grid_policy=policy), args.work,
                                 profile.curve_points, profile.curve_frames, progress=args.progress)
    run = load_run(bench_run.run_dir)
    frames = mouth_open_frames(run.subject, "test", fraction=MOUTH_OPEN_FRACTION)
    stats = frame_statistics(run, frames)
    return {
        "policy": policy, "run": str(bench_run.run_dir), "frames": [int(i) for i in frames],
        "occupied_fraction": float(run.occupancy.occupied_fraction()),
        **{name: output.mean_and_std(values)[0] for name, values in stats.items()},
        "psnr_std": output.mean_and_std(stats["psnr"])[1],
        "cpu_s_per_step": bench_run.cpu_seconds_per_step, "wall_s_per_step": bench_run.wall_seconds_per_step,
    }


def plot(rows: list[dict], path):
    figure, axes = output.new_figure(len(PANELS), width_per_panel=2.6)
    for axis, (key, title) in zip(axes, PANELS):
        axis.bar([row["policy"] for row in rows], [row[key] for row in rows],
                 color=[POLICY_COLOURS.get(row["policy"], "tab:purple") for row in rows])
        axis.set_title(title, fontsize=8)
        axis.tick_params(labelsize=8)
    low = min(row["psnr"] - row["psnr_std"] for row in rows)
    axes[0].set_ylim(bottom=max(0.0, low - 1.0))  # PSNR differences are small next to its value
    figure.tight_layout()
    return output.save_figure(figure, path)


def run(args: argparse.Namespace) -> int:
    profile = output.setup(args)
    subject_dir = synthetic_subject(profile.trend_subject, args.work)
    rows = [policy_row(subject_dir, policy, profile, args) for policy in POLICIES]
    plot(rows, args.out / f"{CLAIM}.png")
    result = output.write_result(args, CLAIM, {
        "subject": profile.trend_subject, "preset": profile.trend_preset,
        "steps": bench_config(profile, trend=True).total_steps, "rows": rows,
    })
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    rows = [[r["policy"], f"{r['psnr']:.2f} ± {r['psnr_std']:.2f}", r["samples_per_ray"], r["seconds"],
             r["cpu_s_per_step"], r["wall_s_per_step"], r["occupied_fraction"]] for r in result["rows"]]
    header = ["grid", "PSNR mouth-open dB", "samples/ray", "s/image", "CPU s/step", "wall s/step", "occupied"]
    return output.markdown_table(header, rows)


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
