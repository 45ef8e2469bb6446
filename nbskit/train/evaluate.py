"""Held-out evaluation like the paper's Table 2: MSE, L1, PSNR, SSIM and a perceptual distance.

Besides the whole-image numbers: PSNR inside the head mask (``psnr_head``) and inside it where
the subject's ignore mask leaves pixels visible (``psnr_head_visible``: a hand in front of the
face is not the head, so a model that shows the face behind it is not penalised there).

Render and ground truth are composited over the same background (the run's: the subject's
background image, white if it has none, unless the run chose white/black); the result says which.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nbskit.data.subject import SubjectError
from nbskit.train import metrics
from nbskit.train.checkpoint import TEST_METRICS_FILE, write_json
from nbskit.train.dataset import load_frames, scaled_intrinsics
from nbskit.train.region_metrics import MASK_HALF, masked_psnr
from nbskit.train.run import TrainedRun

METRIC_NAMES = ("mse", "l1", "psnr", "ssim")


def head_psnr(rendered: torch.Tensor, truth: torch.Tensor, head: torch.Tensor, visible: torch.Tensor) -> dict:
    """PSNR over the head mask's pixels, and over those the ignore mask leaves visible.

    rendered, truth: [H, W, 3]; head, visible: bool [H, W]. NaN for an empty region.
    """
    return {"psnr_head": masked_psnr(rendered, truth, head),
            "psnr_head_visible": masked_psnr(rendered, truth, head & visible)}


def evaluate_run(run: TrainedRun, split: str = "test", perceptual: torch.nn.Module | None = None,
                 max_frames: int | None = None, progress: bool = True, test_time_refine: bool = False) -> dict:
    """Metrics of every frame of ``split`` (or its first ``max_frames``) and their means.

    The whole-image metrics use the tracked cameras and coefficients ("as tracked"). With
    ``test_time_refine`` each frame also gets the right-half PSNR as tracked and after fitting its
    camera and coefficients on the left half (``nbskit.train.test_time``).

    Returns a JSON-ready dict: split, frames, resolution, background, perceptual_metric (its label,
    or None), protocol, test_time (with ``test_time_refine``: the fit's settings), mean {metric: value},
    per_frame [{frame, metric: value}].
    """
    from nbskit.train.test_time import PROTOCOL, test_time_refined_metrics

    size = scaled_intrinsics(run.subject.intrinsics, run.config.max_image_size)
    if min(size.width, size.height) < metrics.SSIM_WINDOW_SIZE:
        raise SubjectError(f"{run.subject.root}: evaluation needs images of at least {metrics.SSIM_WINDOW_SIZE} "
                           f"pixels a side (the SSIM window); the run's images are {size.width}x{size.height}")
    frames = load_frames(run.subject, split, run.config.max_image_size, run.config.background, progress)
    count = len(frames) if max_frames is None else min(max_frames, len(frames))
    per_frame = []
    for row in tqdm(range(count), desc=f"evaluating {split}", disable=not progress):
        rendered = run.render(frames.c2w[row], frames.expressions[row], frames.intrinsics,
                              frames.background)["rgb"].clamp(0, 1)
        truth = frames.image(row)
        values = {name: getattr(metrics, name)(rendered, truth) for name in METRIC_NAMES}
        values.update(head_psnr(rendered, truth, frames.masks[row] > MASK_HALF, frames.visible[row] > MASK_HALF))
        if test_time_refine:
            values.update(test_time_refined_metrics(run, frames, row, rendered, seed=run.config.seed + row))
        if perceptual is not None:
            with torch.no_grad():
                pair = rendered.permute(2, 0, 1)[None], truth.permute(2, 0, 1)[None]
                device = next(perceptual.buffers()).device
                values[perceptual.label] = float(perceptual(pair[0].to(device), pair[1].to(device)))
        per_frame.append({"frame": int(frames.indices[row]), **values})
    names = [key for key in per_frame[0] if key != "frame"]
    return {
        "run": str(run.run_dir),
        "step": run.step,
        "split": split,
        "frames": count,
        "resolution": [frames.width, frames.height],
        "background": f"render and ground truth both composited over: {frames.background_label}",
        "perceptual_metric": getattr(perceptual, "label", None),
        "protocol": PROTOCOL["test_time_refined" if test_time_refine else "as_tracked"],
        **({"test_time": {name: getattr(run.config, f"test_time_{name}") for name in ("fit", "steps", "lr_scale", "rays")}}
           if test_time_refine else {}),
        # nanmean: a frame whose head is all ignored has no visible-head PSNR
        "mean": {name: float(np.nanmean([item[name] for item in per_frame])) for name in names},
        "per_frame": per_frame,
    }


def format_table(result: dict) -> str:
    """The mean metrics as a small text table, with the protocol above it."""
    lines = [
        (f"{result['split']} split: {result['frames']} frames at {result['resolution'][0]}x{result['resolution'][1]}, "
        f"step {result['step']}"),
        result["background"],
    ]
    if result["perceptual_metric"] is None:
        lines.append("perceptual metric: unavailable (pip install stlpips-pytorch for ST-LPIPS)")
    width = max(len(name) for name in result["mean"])
    lines.append(result["protocol"])
    lines += [f"  {name.upper():<{width}}  {value:10.5f}" for name, value in result["mean"].items()]
    return "\n".join(lines)


def write_metrics(run_dir: Path, result: dict) -> Path:
    return write_json(Path(run_dir) / TEST_METRICS_FILE, result)
