"""Paper Fig. 8: validation PSNR against training time, blend vs concatenate, whole image, mouth and eyes.

    python -m bench.paper.fig8_speed --profile quick
    python -m bench.paper.fig8_speed --profile gpu

Both models train for the same number of steps with the same preset, once per training seed
(``--seeds``); each run is evaluated ``curve_points`` times on a few validation frames (the test
frames are kept for Table 2). The x axis is the CPU time the run's process spent training (all
threads), because the wall clock of a shared machine also counts other jobs; the JSON has both.
For each seed, both models' PSNR is read at the time the quicker of the two finished, and the
per-seed differences (blend − concatenate) are summarised by ``bench.paper.seeds``. The paper's
claim: blending learns the dynamic regions (mouth, eyes) much faster.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.common import run_script
from bench.paper import output, seeds
from bench.paper.jobs import Need, RunSpec, run_spec
from bench.paper.paper_values import FIGURE_CLAIMS
from bench.paper.training import finished_run, synthetic_subject
from nbskit.model import MODEL_KINDS

CLAIM = "fig8_speed"
MODELS = tuple(MODEL_KINDS)
REGIONS = (("psnr", "whole image"), ("psnr_mouth", "mouth box"), ("psnr_eyes", "eye boxes"))
TIME_AXIS = "cpu_s"
EVALUATION_SPLIT = "val (test when the subject has none)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)


def model_specs(profile, args) -> list[dict[str, RunSpec]]:
    """Per training seed, {model: spec} of the main subject's blend and concatenate runs (shared
    with Table 2, Fig. 12 and Fig. 9–10)."""
    subject_dir = synthetic_subject(profile.subject, args.work)
    return [{model: run_spec(profile, subject_dir, seed, model=model) for model in MODELS} for seed in args.seeds]


def needs(profile, args) -> list[Need]:
    """Both models, each training seed (Table 2 evaluates the same runs, so their tasks do it)."""
    return [Need(spec, evaluate=True) for per_seed in model_specs(profile, args) for spec in per_seed.values()]


def psnr_at_equal_time(curves: dict[str, list[dict]], key: str) -> dict:
    """Each model's PSNR (linear in time between evaluations) at the time the quicker run finished."""
    horizon = min(curve[-1][TIME_AXIS] for curve in curves.values())
    values = {model: float(np.interp(horizon, [p[TIME_AXIS] for p in curve], [p[key] for p in curve]))
              for model, curve in curves.items()}
    return {"cpu_s": horizon, **values}


def plot(curves_per_seed: list[dict[str, list[dict]]], regions: list[tuple[str, str]], path):
    """One panel per region; one line per model and seed (the legend names each model once)."""
    figure, axes = output.new_figure(len(regions))
    for axis, (key, title) in zip(axes, regions):
        for index, curves in enumerate(curves_per_seed):
            for model, curve in curves.items():
                axis.plot([p[TIME_AXIS] for p in curve], [p[key] for p in curve], "o-", markersize=3, alpha=0.7,
                          color=output.MODEL_COLOURS[model], label=model if index == 0 else None)
        axis.set_title(f"validation PSNR, {title}", fontsize=9)
        axis.set_xlabel("training CPU seconds (all threads)", fontsize=8)
        axis.set_ylabel("dB", fontsize=8)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    return output.save_figure(figure, path)


def run(args: argparse.Namespace) -> int:
    profile = output.setup(args)
    output.prepare(profile, args, needs(profile, args))
    runs = [{model: finished_run(spec, args.work) for model, spec in per_seed.items()}
            for per_seed in model_specs(profile, args)]
    curves = [{model: run.curve for model, run in per_seed.items()} for per_seed in runs]
    regions = [(key, title) for key, title in REGIONS
               if all(key in p for per_seed in curves for c in per_seed.values() for p in c)]
    plot(curves, regions, args.out / f"{CLAIM}.png")
    at_equal_time = {key: [psnr_at_equal_time(per_seed, key) for per_seed in curves] for key, _ in regions}
    result = output.write_result(args, CLAIM, {
        "subject": profile.subject, "steps": runs[0]["blend"].config.total_steps,
        "frames_per_evaluation": profile.curve_frames, "evaluation_split": EVALUATION_SPLIT,
        "time_axis": "process CPU seconds of training (all threads)",
        "curves": curves,
        "cpu_seconds_per_step": {m: seeds.across_seeds([r[m].cpu_seconds_per_step for r in runs]) for m in MODELS},
        "wall_seconds_per_step": {m: seeds.across_seeds([r[m].wall_seconds_per_step for r in runs]) for m in MODELS},
        "psnr_at_equal_cpu_time": at_equal_time,
        "blend_minus_concatenate_db": {key: seeds.paired_difference([v["blend"] for v in values],
                                                                    [v["concatenate"] for v in values])
                                       for key, values in at_equal_time.items()},
        "paper": FIGURE_CLAIMS[CLAIM],
        "runs": [{model: str(run.run_dir) for model, run in per_seed.items()} for per_seed in runs],
    })
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    """Per region: both models' PSNR at equal CPU time (mean ± std over seeds), the paired
    difference, and the cost of a step; then what the paper reports."""
    rows = []
    for key, values in result["psnr_at_equal_cpu_time"].items():
        means = [seeds.format_spread(seeds.across_seeds([v[m] for v in values])) for m in MODELS]
        rows.append([key, seeds.format_spread(seeds.across_seeds([v["cpu_s"] for v in values]), 3), *means,
                     seeds.format_difference(result["blend_minus_concatenate_db"][key])])
    table = output.markdown_table(["region", "at CPU s", *[f"{m} dB" for m in MODELS],
                                   f"blend − concat dB, per seed ({len(result['seeds'])} seeds)"], rows)
    cost = ", ".join(f"{m} {result['cpu_seconds_per_step'][m]['mean']:.2f} CPU s / "
                     f"{result['wall_seconds_per_step'][m]['mean']:.2f} wall s per step" for m in MODELS)
    return f"{table}\n\n{cost}\n\nPaper: {result['paper']}"


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
