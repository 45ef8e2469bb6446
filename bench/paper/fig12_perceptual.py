"""Paper Fig. 12: stage 3 with and without the perceptual term of its patch loss.

    python -m bench.paper.fig12_perceptual --profile quick
    python -m bench.paper.fig12_perceptual --profile gpu

The run "with" is the blend run of Table 2 (stage 3: random rays + 32x32 patches, L1 and perceptual
loss). The run "without" continues from the same checkpoint at the start of stage 3 with the
perceptual weight set to 0 (patches and their L1 kept), so the two differ only by that term.
Reports SSIM, the perceptual distance and PSNR on the test frames, and a grid of mouth crops:
ground truth | with | without.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.common import run_script
from bench.paper import output
from bench.paper.evaluation import evaluate_test, load_perceptual_metric, statistics
from bench.paper.training import bench_config, branch_at_stage3, synthetic_subject, train_with_curve

CLAIM = "fig12_perceptual"
CROP_SIZE = 64  # pixels: every crop is resized to this square so the grid stays small
CROP_PADDING = 0.25  # fraction of the mouth box's larger side added around it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)


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
    subject_dir = synthetic_subject(profile.subject, args.work)
    with_run = train_with_curve(subject_dir, bench_config(profile, model="blend"), args.work,
                                profile.curve_points, profile.curve_frames, progress=args.progress)
    without_run = branch_at_stage3(with_run, bench_config(profile, model="blend", perceptual_weight=0.0),
                                   subject_dir, args.work, profile.curve_points, profile.curve_frames,
                                   progress=args.progress)
    perceptual = load_perceptual_metric()
    loaded = {"with": load_run(with_run.run_dir), "without": load_run(without_run.run_dir)}
    variants = []
    for label, run in loaded.items():
        result = evaluate_test(run.run_dir, perceptual, profile.eval_frames, args.progress)
        variants.append({"variant": label, "run": str(run.run_dir), "frames": result["frames"],
                         "perceptual_weight": run.config.perceptual_weight, **statistics(result)})

    subject = loaded["without"].subject
    frames = load_frames(subject, "test", with_run.config.max_image_size, with_run.config.background, progress=False)
    opened = mouth_open_frames(subject, "test", fraction=profile.crop_frames / len(frames))
    rows = [int(np.flatnonzero(frames.indices == index)[0]) for index in opened]
    output.save_image(crop_grid(loaded, frames, rows), args.out / f"{CLAIM}.png")
    result = output.write_result(args, CLAIM, {
        "subject": profile.subject, "perceptual_metric": getattr(perceptual, "label", None),
        "stage3_steps": with_run.config.total_steps - with_run.config.stage3_start,
        "variants": variants, "crop_frames": [int(i) for i in opened],
    })
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    names = list(result["variants"][0]["mean"])
    rows = [[v["variant"], v["frames"], *[f"{v['mean'][n]:.4g} ± {v['std'][n]:.2g}" for n in names]]
            for v in result["variants"]]
    return output.markdown_table(["perceptual term in stage 3", "frames", *[n.upper() for n in names]], rows)


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
