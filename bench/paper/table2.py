"""Paper Table 2: self-reenactment on held-out frames, NeRFBlendShape (blend) vs the concatenate baseline.

    python -m bench.paper.table2 --profile quick                      # small synthetic subject, 2 CPU cores
    python -m bench.paper.table2 --profile gpu                        # paper synthetic subject, one GPU
    python -m bench.paper.table2 --profile quick --real SUBJECT_DIR   # adds rows for a tracked real clip

MSE, L1, PSNR, SSIM and the perceptual distance (LPIPS, or ST-LPIPS offline) of every test frame,
reported as mean and standard deviation over the frames. Both models use the same preset, schedule
and seed; their run folders are shared with Fig. 8.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.common import run_script
from bench.paper import output
from bench.paper.evaluation import evaluate_test, load_perceptual_metric, statistics
from bench.paper.training import bench_config, synthetic_subject, train_with_curve
from nbskit.model import MODEL_KINDS

CLAIM = "table2"
MODELS = tuple(MODEL_KINDS)
PLOTTED_METRICS = ("psnr", "ssim")  # plus the perceptual metric when there is one


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)
    parser.add_argument("--real", type=Path, metavar="SUBJECT_DIR",
                        help="also train and evaluate both models on this subject folder (e.g. from `nbskit track`)")


def evaluate_model(subject_dir: Path, label: str, model: str, profile, args, perceptual) -> dict:
    """One table row: train (or reuse) the run, evaluate its test frames, mean/std per metric."""
    run = train_with_curve(subject_dir, bench_config(profile, model=model), args.work, profile.curve_points,
                           profile.curve_frames, progress=args.progress)
    result = evaluate_test(run.run_dir, perceptual, profile.eval_frames, args.progress)
    return {
        "subject": label, "model": model, "run": str(run.run_dir), "steps": run.config.total_steps,
        "frames": result["frames"], "resolution": result["resolution"], "background": result["background"],
        **statistics(result),
        "train_cpu_s": run.curve[-1]["cpu_s"], "train_wall_s": run.curve[-1]["wall_s"],
    }


def plot(rows: list[dict], metrics: list[str], path: Path) -> Path:
    """One panel per metric: mean +- std (error bars) per subject and model."""
    figure, axes = output.new_figure(len(metrics), width_per_panel=2.6)
    labels = [f"{row['subject']}\n{row['model']}" for row in rows]
    for axis, name in zip(axes, metrics):
        for x, row in enumerate(rows):
            axis.errorbar(x, row["mean"][name], yerr=row["std"][name], fmt="o", capsize=4,
                          color=output.MODEL_COLOURS[row["model"]])
        axis.set_xticks(range(len(rows)), labels, fontsize=7)
        axis.set_xlim(-0.5, len(rows) - 0.5)
        axis.set_title(f"{name.upper()} (mean ± std over test frames)", fontsize=8)
    figure.tight_layout()
    return output.save_figure(figure, path)


def run(args: argparse.Namespace) -> int:

    profile = output.setup(args)
    perceptual = load_perceptual_metric()
    subjects = [(f"synthetic {profile.subject}", synthetic_subject(profile.subject, args.work))]
    if args.real is not None:
        subjects.append((f"real {args.real.name}", args.real))
    rows = [evaluate_model(path, label, model, profile, args, perceptual) for label, path in subjects
            for model in MODELS]
    metrics = [*PLOTTED_METRICS, *([perceptual.label] if perceptual is not None else [])]
    plot(rows, metrics, args.out / f"{CLAIM}.png")
    result = output.write_result(args, CLAIM, {
        "perceptual_metric": getattr(perceptual, "label", None),
        "std": "sample standard deviation over test frames (ddof=1)",
        "rows": rows,
    })
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    """The table as markdown: mean ± std per metric."""
    names = list(result["rows"][0]["mean"])
    header = ["subject", "model", "steps", "frames", *[name.upper() for name in names]]
    rows = [[row["subject"], row["model"], row["steps"], row["frames"],
             *[f"{row['mean'][n]:.4g} ± {row['std'][n]:.2g}" for n in names]] for row in result["rows"]]
    return output.markdown_table(header, rows)


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
