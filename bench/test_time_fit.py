"""Tuning the test-time fit on validation frames: what it moves, how fast, and for how many steps.

    python -m bench.test_time_fit RUN [RUN ...] [--split val] [--steps 5 10 20 40 60]
                                  [--fit camera+expression camera expression] [--lr-scale 0.3 1]
                                  [--max-frames N] [--out FILE]

Each RUN is a trained run, one per training seed. For every frame of SPLIT and every variant (what
is fitted × learning-rate scale), the frame's left half is fitted with the field frozen
(`nbskit.train.test_time.held_out_fit`) and its right half is scored after each number of STEPS:
PSNR over the whole right half and over its visible head pixels. Zero steps is the frame as
tracked. A run's score for a variant is its mean over frames; the table gives the mean over runs
and the paired difference from as tracked (mean ± std over runs, range, verdict), and names the
variant with the highest visible-head score as `--set` options for `nbskit train` or
`nbskit eval`.

Tune on validation frames (`nbskit track --val-frames N`); test frames are for reported numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import numpy as np

from bench.common import DEFAULT_OUT_DIR, report, run_script
from bench.paper.seeds import across_seeds, format_difference, paired_difference

DEFAULT_OUT = DEFAULT_OUT_DIR / "test_time_fit.json"
AS_TRACKED = ("as tracked", 0.0, 0)  # (fit, learning-rate scale, steps) of the unfitted frame
SCORES = ("right_half", "right_half_head_visible")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="trained run folders (one per training seed)")
    parser.add_argument("--split", default="val", help="frames to fit and score (default: val)")
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20, 40, 60],
                        help="numbers of fitting steps to score (default: 5 10 20 40 60)")
    parser.add_argument("--fit", nargs="+", default=["camera+expression", "camera", "expression"],
                        help="what the fit moves (test_time_fit values)")
    parser.add_argument("--lr-scale", type=float, nargs="+", default=[0.3, 1.0],
                        help="test_time_lr_scale values (times the training refinement learning rates)")
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames of the split")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON written here")


def score_run(run_dir: Path, split: str, steps: list[int], fits: list[str], scales: list[float],
              max_frames: int | None = None, progress: bool = True) -> dict[tuple, dict[str, list[float]]]:
    """{(fit, scale, steps) | AS_TRACKED: {score: [per frame]}} for one run; scores as in :data:`SCORES`."""
    from tqdm import tqdm

    from nbskit.train.dataset import load_frames
    from nbskit.train.run import load_run
    from nbskit.train.test_time import held_out_fit, right_half_psnr, visible_head

    run = load_run(run_dir, device="cpu")
    base = run.config
    frames = load_frames(run.subject, split, base.max_image_size, base.background, progress=False)
    count = len(frames) if max_frames is None else min(max_frames, len(frames))
    scores: dict[tuple, dict[str, list[float]]] = {}

    def record(key: tuple, c2w, expression, truth, head_visible) -> None:
        rendered = run.render(c2w, expression, frames.intrinsics, frames.background)["rgb"]
        values = scores.setdefault(key, {name: [] for name in SCORES})
        values["right_half"].append(right_half_psnr(rendered, truth))
        values["right_half_head_visible"].append(right_half_psnr(rendered, truth, head_visible))

    for row in tqdm(range(count), desc=f"{run_dir.name}: {split} frames", disable=not progress):
        truth = frames.image(row)
        head_visible = visible_head(frames, row)
        record(AS_TRACKED, frames.c2w[row].numpy(), frames.expressions[row].numpy(), truth, head_visible)
        for fit, scale in itertools.product(fits, scales):
            run.config = dataclasses.replace(base, test_time_fit=fit, test_time_lr_scale=scale,
                                             test_time_steps=max(steps))
            # the seed evaluate_run gives this row, so the last step matches `nbskit eval --test-time-refine`
            for taken, c2w, expression in held_out_fit(run, frames.c2w[row], frames.expressions[row], truth,
                                                       frames.background, seed=base.seed + row):
                if taken in steps:
                    record((fit, scale, taken), c2w, expression, truth, head_visible)
        run.config = base
    return scores


def summarise(per_run: list[dict[tuple, dict[str, list[float]]]]) -> list[dict]:
    """One row per variant: each score's mean over runs and its paired difference from as tracked."""
    rows = []
    for key in per_run[0]:
        fit, scale, steps = key
        row = {"fit": fit, "lr_scale": scale, "steps": steps}
        for name in SCORES:
            means = [float(np.nanmean(scores[key][name])) for scores in per_run]
            tracked = [float(np.nanmean(scores[AS_TRACKED][name])) for scores in per_run]
            row[name] = across_seeds(means)
            row[f"{name}_minus_as_tracked"] = paired_difference(means, tracked)
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    per_run = [score_run(run_dir, args.split, sorted(set(args.steps)), args.fit, args.lr_scale, args.max_frames)
               for run_dir in args.runs]
    rows = summarise(per_run)
    table = [{"variant": "as tracked" if row["fit"] == AS_TRACKED[0] else f"{row['fit']} ×{row['lr_scale']:g}",
              "steps": row["steps"], "half": row["right_half"]["mean"],
              "head": row["right_half_head_visible"]["mean"],
              "head_vs_tracked": format_difference(row["right_half_head_visible_minus_as_tracked"])}
             for row in rows]
    fitted = [row for row in rows if row["fit"] != AS_TRACKED[0]]
    best = max(fitted, key=lambda row: row["right_half_head_visible"]["mean"]) if fitted else None
    notes = [f"{len(args.runs)} run(s), {args.split} frames; right half scored, left half fitted"]
    if best is not None:
        notes.append(f"highest visible-head score: --set test_time_fit={best['fit']} "
                     f"--set test_time_lr_scale={best['lr_scale']:g} --set test_time_steps={best['steps']}")
    columns = [("variant", "variant", ""), ("steps", "steps", "d"), ("half", "right half dB", ".2f"),
               ("head", "visible head dB", ".2f"), ("head_vs_tracked", "visible head − as tracked (over runs)", "")]
    payload = {"runs": [str(path) for path in args.runs], "split": args.split, "rows": rows,
               "per_run": [{"|".join(map(str, key)): values for key, values in scores.items()} for scores in per_run]}
    report(args.out, table, columns, payload, benchmark="test_time_fit",
           heading="Test-time fit of held-out frames: right-half PSNR", notes=notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(__doc__, add_arguments, run))
