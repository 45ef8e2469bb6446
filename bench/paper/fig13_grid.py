"""Paper Fig. 13–14: the occupancy grid during training, expression-aware (Eq. 9) vs neutral-only vs none.

    python -m bench.paper.fig13_grid --profile quick    # tiny subject: the trend only
    python -m bench.paper.fig13_grid --profile gpu

One blend run per grid policy and training seed (same preset and schedule; ``--seeds``). Reports,
on the test frames with the most open mouths (half of the test split): PSNR, samples marched per
ray and seconds per image; and the training cost per step (CPU and wall); each as mean ± std over
seeds, with the paired differences expression-aware − neutral and expression-aware − none
(``bench.paper.seeds``). The paper's claim: a neutral-only grid culls space an open mouth needs,
so those frames lose quality; no grid at all costs many more samples.
"""

from __future__ import annotations

import argparse
import sys

from bench.common import run_script
from bench.paper import output, seeds
from bench.paper.jobs import Need, RunSpec, run_spec
from bench.paper.paper_values import FIGURE_CLAIMS
from bench.paper.training import finished_run, synthetic_subject
from nbskit.render.occupancy import POLICIES as POLICY_TABLE

CLAIM = "fig13_grid"
POLICIES = tuple(POLICY_TABLE)  # expression-aware first: the others are compared with it
POLICY_COLOURS = {"expression": "tab:blue", "neutral": "tab:green", "none": "tab:grey"}
MOUTH_OPEN_FRACTION = 0.5  # of the test frames, those with the largest jawOpen
PANELS = (("psnr", "PSNR, mouth-open test frames (dB)"), ("samples_per_ray", "samples per ray"),
          ("cpu_s_per_step", "training CPU s / step"))
COMPARED = ("psnr", "samples_per_ray", "occupied_fraction")  # paired differences against the other policies


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)


def policy_specs(profile, args) -> list[dict[str, RunSpec]]:
    """Per training seed, {policy: spec} on the trend subject."""
    subject_dir = synthetic_subject(profile.trend_subject, args.work)
    return [{policy: run_spec(profile, subject_dir, seed, trend=True, grid_policy=policy) for policy in POLICIES}
            for seed in args.seeds]


def needs(profile, args) -> list[Need]:
    return [Need(spec) for per_seed in policy_specs(profile, args) for spec in per_seed.values()]


def policy_row(spec: RunSpec, args) -> dict:
    from nbskit.train.run import load_run
    from nbskit.viz.course import frame_statistics, mouth_open_frames

    bench_run = finished_run(spec, args.work)
    run = load_run(bench_run.run_dir)
    frames = mouth_open_frames(run.subject, "test", fraction=MOUTH_OPEN_FRACTION)
    stats = frame_statistics(run, frames)
    return {
        "policy": bench_run.config.grid_policy, "seed": spec.seed, "run": str(bench_run.run_dir),
        "frames": [int(i) for i in frames],
        "occupied_fraction": float(run.occupancy.occupied_fraction()),
        **{name: output.mean_and_std(values)[0] for name, values in stats.items()},
        "psnr_std": output.mean_and_std(stats["psnr"])[1],
        "cpu_s_per_step": bench_run.cpu_seconds_per_step, "wall_s_per_step": bench_run.wall_seconds_per_step,
    }


def plot(rows: list[dict], path):
    """One panel per quantity: each seed's value (dots) and the mean over seeds (bar) per policy."""
    figure, axes = output.new_figure(len(PANELS), width_per_panel=2.6)
    for axis, (key, title) in zip(axes, PANELS):
        for x, policy in enumerate(POLICIES):
            values = [row[key] for row in rows if row["policy"] == policy]
            axis.bar(x, seeds.across_seeds(values)["mean"], color=POLICY_COLOURS[policy], alpha=0.6)
            axis.plot([x] * len(values), values, "k.", markersize=4)
        axis.set_xticks(range(len(POLICIES)), POLICIES)
        axis.set_title(title, fontsize=8)
        axis.tick_params(labelsize=8)
    low = min(row["psnr"] for row in rows)
    axes[0].set_ylim(bottom=max(0.0, low - 1.0))  # PSNR differences are small next to its value
    figure.tight_layout()
    return output.save_figure(figure, path)


def run(args: argparse.Namespace) -> int:
    profile = output.setup(args)
    output.prepare(profile, args, needs(profile, args))
    specs = policy_specs(profile, args)
    rows = [policy_row(spec, args) for per_seed in specs for spec in per_seed.values()]
    plot(rows, args.out / f"{CLAIM}.png")
    keys = [key for key, _ in PANELS] + ["seconds", "wall_s_per_step", "occupied_fraction"]
    per_policy = {policy: [row for row in rows if row["policy"] == policy] for policy in POLICIES}
    result = output.write_result(args, CLAIM, {
        "subject": profile.trend_subject, "preset": profile.trend_preset,
        "steps": specs[0]["expression"].config().total_steps, "rows": rows,
        "over_seeds": {policy: {key: seeds.across_seeds([row[key] for row in policy_rows]) for key in keys}
                       for policy, policy_rows in per_policy.items()},
        "expression_minus": {other: {key: seeds.paired_difference([row[key] for row in per_policy["expression"]],
                                                                  [row[key] for row in per_policy[other]])
                                     for key in COMPARED} for other in POLICIES[1:]},
        "paper": FIGURE_CLAIMS[CLAIM],
    })
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    spread = result["over_seeds"]
    header = ["grid", "PSNR mouth-open dB", "samples/ray", "s/image", "CPU s/step", "wall s/step", "occupied"]
    keys = ("psnr", "samples_per_ray", "seconds", "cpu_s_per_step", "wall_s_per_step", "occupied_fraction")
    rows = [[policy, *[seeds.format_spread(spread[policy][key], 3) for key in keys]] for policy in POLICIES]
    table = output.markdown_table(header, rows)
    differences = output.markdown_table(
        ["expression-aware − …", "PSNR mouth-open dB", "samples/ray", "occupied fraction"],
        [[other, *[seeds.format_difference(result["expression_minus"][other][key]) for key in COMPARED]]
         for other in POLICIES[1:]])
    return (f"{table}\n\nPaired over {len(result['seeds'])} seeds (mean ± std, range, verdict):\n\n{differences}"
            f"\n\nPaper: {result['paper']}")


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
