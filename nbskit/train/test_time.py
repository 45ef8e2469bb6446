"""Held-out frames with refinement: fit a frame's camera and coefficients on half of it, score the other half.

A run that refined its training frames is judged twice on held-out frames (both numbers are
always labelled):

- *as tracked*: the tracker's camera and coefficients, untouched (the paper's protocol);
- *test-time refined*: the field frozen, only this frame's camera correction and/or coefficient
  residual (``test_time_fit``; by default the camera alone) are fitted, on the **left half** of the
  image, and PSNR is computed on the **right half** (NeRF-W's protocol for per-image latents). The
  right half never reaches an optimiser: :func:`held_out_fit` crops the target before anything else.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from nbskit.encoding.position_gradient import coarse_position_gradient
from nbskit.train import metrics
from nbskit.train.losses import l1_loss
from nbskit.train.refinement import (
    TEST_TIME_FITS,
    FrameCorrections,
    build_refinement_optimizer,
    gradient_resolution,
)
from nbskit.train.region_metrics import MASK_HALF, masked_psnr
from nbskit.train.run import TrainedRun
from nbskit.train.trainer import step_generator

PROTOCOL = {
    "as_tracked": "as tracked: every metric with the tracker's cameras and coefficients, untouched",
    "test_time_refined": ("as tracked: whole-image metrics and PSNR_RIGHT_HALF_AS_TRACKED; test-time refined: "
                          "PSNR_RIGHT_HALF_TEST_TIME_REFINED (field frozen, what test_time_fit names, the frame's "
                          "camera and/or coefficients, fitted on the left half only)"),
}
TEST_TIME_STREAM = 3  # random stream of the fitting steps (after the trainer's data/grid/render streams)


def fitted_columns(width: int) -> int:
    """Columns [0, this) are fitted, [this, width) are scored."""
    return width // 2


def _left_rays(run: TrainedRun, corrections: FrameCorrections, c2w: torch.Tensor, pixels: torch.Tensor):
    from nbskit.render import generate_rays

    rows = torch.zeros(1, dtype=torch.int64)
    origins, dirs = generate_rays(run.intrinsics, corrections.cameras(c2w[None], rows), pixels[None])
    return origins[0], dirs[0]


def held_out_fit(run: TrainedRun, c2w, expression, target: torch.Tensor, background: torch.Tensor,
                 seed: int = 0) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Fit one held-out frame's camera and/or coefficients with the field frozen, step by step.

    The run's config says how: ``test_time_steps`` steps of ``test_time_rays`` rays, moving what
    ``test_time_fit`` names (see :data:`nbskit.train.refinement.TEST_TIME_FITS`) at the training learning rates times
    ``test_time_lr_scale``, with the training priors.

    Args:
        run: the trained run.
        c2w: [4, 4] the tracked camera; expression: [K] the tracked coefficients.
        target, background: [H, W, 3] at the run's training resolution; only columns
            ``[0, fitted_columns(W))`` are read.
        seed: seeds the pixel draws (with the frame's tracked values, the fit is deterministic).

    Yields:
        (steps taken, c2w [4, 4], coefficients [K] inside the training range), float32, first for
        0 steps (the tracked values) and then after every step.
    """
    config, device = run.config, run.model.aabb.device
    columns = fitted_columns(target.shape[1])
    target, background = target[:, :columns].to(device), background[:, :columns].to(device)  # the scored half stays behind
    low, high = run.expression_range
    corrections = FrameCorrections(1, low, high, run.subject.aabb).to(device)
    moves_camera, moves_expression = TEST_TIME_FITS[config.test_time_fit]
    optimizer = build_refinement_optimizer(corrections, config.refine_camera_lr * config.test_time_lr_scale * moves_camera,
                                           config.refine_expression_lr * config.test_time_lr_scale * moves_expression)
    c2w = torch.as_tensor(c2w, dtype=torch.float32, device=device)
    w = torch.as_tensor(expression, dtype=torch.float32, device=device)[None]
    rows = torch.zeros(1, dtype=torch.int64, device=device)

    def current(steps: int) -> tuple[int, np.ndarray, np.ndarray]:
        with torch.no_grad():
            return (steps, corrections.cameras(c2w[None], rows)[0].cpu().numpy(),
                    corrections.expressions(w, rows)[0].cpu().numpy())

    yield current(0)
    for step in range(config.test_time_steps):
        generator = step_generator(seed, step, TEST_TIME_STREAM)
        count = min(config.test_time_rays, target.shape[0] * columns)
        flat = torch.randint(target.shape[0] * columns, (count,), generator=generator).to(device)
        pixels = torch.stack([flat % columns, flat // columns], dim=-1)
        loss = _fit_loss(run, corrections, c2w, w, rows, pixels, target, background)
        # autograd.grad, not backward(): the frozen field's parameters never collect a gradient.
        optimizer.zero_grad(set_to_none=True)
        corrections.camera.grad, corrections.expression.grad = torch.autograd.grad(
            loss, [corrections.camera, corrections.expression], allow_unused=True)
        optimizer.step()
        yield current(step + 1)


def fit_held_out_frame(run: TrainedRun, c2w, expression, target: torch.Tensor, background: torch.Tensor,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`held_out_fit` run to the end: (c2w [4, 4], coefficients [K]) float32."""
    for _, fitted_c2w, fitted_expression in held_out_fit(run, c2w, expression, target, background, seed):
        pass
    return fitted_c2w, fitted_expression


def _fit_loss(run, corrections, c2w, w, rows, pixels, target, background) -> torch.Tensor:
    """L1 colour on ``pixels`` [R, 2] (x, y) of the fitted half plus the training priors."""
    from nbskit.render import render_rays

    origins, dirs = _left_rays(run, corrections, c2w, pixels)
    frame = torch.zeros(len(pixels), dtype=torch.int64, device=origins.device)
    with coarse_position_gradient(gradient_resolution(run.config.refine_gradient_resolution, run.intrinsics)):
        out = render_rays(run.model, run.occupancy, origins, dirs, frame, corrections.expressions(w, rows),
                          background[pixels[:, 1], pixels[:, 0]], run.render_config)
    camera_prior, expression_prior = corrections.prior(rows)
    return (run.config.colour_weight * l1_loss(out["rgb"], target[pixels[:, 1], pixels[:, 0]])
            + run.config.refine_camera_prior * camera_prior + run.config.refine_expression_prior * expression_prior)


def right_half_psnr(rendered: torch.Tensor, truth: torch.Tensor, region: torch.Tensor | None = None) -> float:
    """PSNR over the scored columns of [H, W, 3] images, or over those of them inside ``region`` (bool [H, W])."""
    columns = fitted_columns(truth.shape[1])
    if region is None:
        return metrics.psnr(rendered[:, columns:].clamp(0, 1), truth[:, columns:])
    return masked_psnr(rendered[:, columns:].clamp(0, 1), truth[:, columns:], region[:, columns:])


def visible_head(frames, row: int) -> torch.Tensor:
    """bool [H, W]: the head pixels of ``frames``' frame ``row`` that no ignore mask hides."""
    return (frames.masks[row] > MASK_HALF) & (frames.visible[row] > MASK_HALF)


def test_time_refined_metrics(run: TrainedRun, frames, row: int, tracked_render: torch.Tensor, seed: int) -> dict:
    """Right-half PSNR of one held-out frame as tracked and test-time refined, and what the fit moved.

    ``frames``: the split's FrameSet; ``tracked_render``: [H, W, 3] its render with the tracked values.
    Each PSNR is given over the whole right half and over its head pixels that no ignore mask hides
    (``psnr_right_half_head_visible_*``; NaN when there are none).
    """
    truth = frames.image(row)
    c2w, expression = fit_held_out_frame(run, frames.c2w[row], frames.expressions[row], truth, frames.background,
                                         seed)
    refined = run.render(c2w, expression, frames.intrinsics, frames.background)["rgb"]
    head_visible = visible_head(frames, row)
    scores = {}
    for protocol, rendered in (("as_tracked", tracked_render), ("test_time_refined", refined)):
        scores[f"psnr_right_half_{protocol}"] = right_half_psnr(rendered, truth)
        scores[f"psnr_right_half_head_visible_{protocol}"] = right_half_psnr(rendered, truth, head_visible)
    return {**scores, "expression_change": float(np.linalg.norm(expression - frames.expressions[row].numpy()))}
