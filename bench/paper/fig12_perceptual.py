"""Paper Fig. 12: stage 3 with and without the perceptual term of its patch loss.

    python -m bench.paper.fig12_perceptual --profile quick
    python -m bench.paper.fig12_perceptual --profile gpu

The run "with" is the blend run of Table 2 (stage 3: random rays + 32x32 patches, L1 and perceptual
loss). The run "without" continues from the same checkpoint at the start of stage 3 with the
perceptual weight set to 0 (patches and their L1 kept), so the two differ only by that term.
Both are trained once per training seed (``--seeds``). Reports the test frames' metrics per run,
mean ± std over seeds per variant and the paired difference with − without (``bench.paper.seeds``),
and a grid of mouth crops of the first seed's runs: ground truth | with | without.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.common import run_script
from bench.paper import output, seeds
from bench.paper.evaluation import evaluate_test, load_perceptual_metric, statistics
from bench.paper.fig8_speed import model_specs
from bench.paper.jobs import Need, RunSpec, run_spec
from bench.paper.paper_values import FIGURE_CLAIMS
from bench.paper.training import finished_run

CLAIM = "fig12_perceptual"
CROP_SIZE = 64  # pixels: every crop is resized to this square so the grid stays small
CROP_PADDING = 0.25  # fraction of the mouth box's larger side added around it
VARIANTS = ("with", "without")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)


def variant_specs(profile, args) -> list[dict[str, RunSpec]]:
    """Per training seed: 'with' = the blend run of Table 2, 'without' = its branch at stage 3."""
    pairs = []
    for per_seed in model_specs(profile, args):
        parent = per_seed["blend"]
        without = run_spec(profile, parent.subject_dir, parent.seed, parent=parent, model="blend",
                           perceptual_weight=0.0)
        pairs.append({"with": parent, "without": without})
    return pairs


def needs(profile, args) -> list[Need]:
    return [Need(spec, evaluate=True) for pair in variant_specs(profile, args) for spec in pair.values()]


def square_crop(image: np.ndarray, box, padding: float = CROP_PADDING) -> np.ndarray:
    """uint8 [CROP_SIZE, CROP_SIZE, 3]: the square around ``box`` (x0, y0, x1, y1), padded, clipped, resized."""
    from PIL import Image

    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * padding)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    height, width = image.shape[:2]
    left, top = int(np.clip(round(cx - side / 2), 0, width - 1)), int(np.clip(round(cy - side / 2), 0, height - 1))
    right, bottom = int(np.clip(round(cx + side / 2), left + 1, width)), int(np.clip(round(cy + side / 2), top + 1, height))
    crop = Image.fromarray(image[top:bottom, left:right])
    return np.asarray(crop.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.LANCZOS))


def crop_grid(runs: dict, frames, rows: list[int]) -> np.ndarray:
    """uint8 image: one row per test frame, columns ground truth | each run, mouth crops."""
    from nbskit.apps.gallery import tile_grid
    from nbskit.apps.render import render_expression, to_uint8

    tiles, labels = [], []
    for row in rows:
        box = frames.mouth_boxes[row].tolist()
        images = [to_uint8(frames.image(row))] + [
            render_expression(run, frames.expressions[row], frames.c2w[row], frames.intrinsics, frames.background)
            for run in runs.values()]
        tiles += [square_crop(image, box) for image in images]
        labels += ["truth", *runs]
    return tile_grid(tiles, labels, columns=1 + len(runs))


def run(args: argparse.Namespace) -> int:
    from nbskit.train.dataset import load_frames
    from nbskit.train.run import load_run
    from nbskit.viz.course import mouth_open_frames

    profile = output.setup(args)
    output.prepare(profile, args, needs(profile, args))
    perceptual = load_perceptual_metric()
    pairs = [{label: finished_run(spec, args.work) for label, spec in pair.items()}
             for pair in variant_specs(profile, args)]
    variants = []
    for seed, pair in zip(args.seeds, pairs):
        for label, bench_run in pair.items():
            result = evaluate_test(bench_run.run_dir, perceptual, profile.eval_frames, args.progress)
            variants.append({"variant": label, "seed": seed, "run": str(bench_run.run_dir), "frames": result["frames"],
                             "perceptual_weight": bench_run.config.perceptual_weight,
                             "perceptual_term_ran": perceptual_term_ran(bench_run.run_dir), **statistics(result)})
    names = list(variants[0]["mean"])
    per_variant = {label: [v for v in variants if v["variant"] == label] for label in VARIANTS}

    loaded = {label: load_run(bench_run.run_dir) for label, bench_run in pairs[0].items()}
    subject, config = loaded["without"].subject, pairs[0]["with"].config
    frames = load_frames(subject, "test", config.max_image_size, config.background, progress=False)
    opened = mouth_open_frames(subject, "test", fraction=profile.crop_frames / len(frames))
    rows = [int(np.flatnonzero(frames.indices == index)[0]) for index in opened]
    output.save_image(crop_grid(loaded, frames, rows), args.out / f"{CLAIM}.png")
    result = output.write_result(args, CLAIM, {
        "subject": profile.subject, "perceptual_metric": getattr(perceptual, "label", None),
        "stage3_steps": config.total_steps - config.stage3_start,
        "variants": variants,
        "over_seeds": {label: {n: seeds.across_seeds([v["mean"][n] for v in runs]) for n in names}
                       for label, runs in per_variant.items()},
        "with_minus_without": {n: seeds.paired_difference([v["mean"][n] for v in per_variant["with"]],
                                                          [v["mean"][n] for v in per_variant["without"]])
                               for n in names},
        "crop_frames": [int(i) for i in opened], "crop_seed": args.seeds[0], "paper": FIGURE_CLAIMS[CLAIM],
    })
    print(markdown(result))
    return 0


def perceptual_term_ran(run_dir) -> bool:
    """Whether the run's logged stage-3 steps carry a perceptual loss term (from its log)."""
    from nbskit.train.checkpoint import LOG_FILE, read_json

    history = read_json(run_dir / LOG_FILE)
    return any(record.get("perceptual", 0) > 0 for record in history["train"] if record.get("stage") == 3)


def markdown(result: dict) -> str:
    names = list(result["over_seeds"]["with"])
    count = len(result["seeds"])
    rows = [[label, count, *[seeds.format_spread(result["over_seeds"][label][n]) for n in names]] for label in VARIANTS]
    rows.append(["with − without, per seed", count,
                 *[seeds.format_difference(result["with_minus_without"][n], 4) for n in names]])
    table = output.markdown_table(["perceptual term in stage 3", "seeds", *[n.upper() for n in names]], rows)
    return f"{table}\n\nPaper: {result['paper']}"


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
