"""Refining a tracker's cameras and expression coefficients while the field trains.

A tracked frame's camera and coefficients are estimates; a radiance field fed frames that disagree
learns a blur. Each training frame therefore gets a small learned correction, zero at the start:

- camera: a rigid motion [6] = (axis-angle ω in radians, translation t in units of the head box's
  longest side s, so one learning rate suits metres and the official data's units) applied to the
  camera about the head box's centre p: ``c2w' = M @ c2w`` with M = [R(ω), p + s t - R p], i.e. the
  camera turns by R about p and shifts by s t. Moving the camera about
  the head, not about its own centre, keeps rotation and translation apart: a rotation about the
  camera centre and a sideways shift move the image almost alike.
- expression: a residual [K] added to the tracked coefficients, the sum clamped to the training
  range (the field never saw coefficients outside it).

Both have their own Adam learning rate and an L2 prior toward zero on the frames of each step, and
start only at ``refine_start`` (by default when stage 2 begins): until the density has settled,
every photometric error would be blamed on the cameras. BARF's coarse-to-fine argument is taken
as a later start with a linear warm-up, and a fixed window on the encoding: only hash levels no
finer than the training image (``refine_gradient_resolution``) move the cameras
(:func:`nbskit.encoding.position_gradient.coarse_position_gradient`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nbskit.data.subject import Subject
from nbskit.train.checkpoint import write_json

CAMERA_DOF = 6  # axis-angle (3) + translation (3)
REFINE_MODES = ("auto", "on", "off")
# test_time_fit -> (moves the camera, moves the coefficients) when a held-out frame is fitted
TEST_TIME_FITS = {"camera+expression": (True, True), "camera": (True, False), "expression": (False, True)}
REFINED_FRAMES_FILE = "refined_frames.json"  # in the run folder, for people and other tools


def refinement_enabled(mode: str, subject: Subject) -> bool:
    """``mode`` 'on'/'off', or 'auto': on unless the subject says it was synthesised (exact cameras and coefficients)."""
    if mode not in REFINE_MODES:
        raise ValueError(f"refine must be one of {REFINE_MODES}, got {mode!r}")
    return mode == "on" or (mode == "auto" and "synthetic" not in subject.extra)


def skew(vectors: torch.Tensor) -> torch.Tensor:
    """[N, 3] -> [N, 3, 3] cross-product matrices."""
    zero = torch.zeros_like(vectors[:, 0])
    x, y, z = vectors.unbind(dim=1)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=1).reshape(-1, 3, 3)


def rigid_motions(corrections: torch.Tensor, pivot: torch.Tensor, length: float = 1.0) -> torch.Tensor:
    """[N, 6] (axis-angle, translation in units of ``length``) -> [N, 4, 4] world motions
    x -> R (x - pivot) + pivot + length t."""
    rotation = torch.linalg.matrix_exp(skew(corrections[:, :3]))  # exact at zero, differentiable
    translation = pivot + length * corrections[:, 3:] - rotation @ pivot
    motion = torch.eye(4, dtype=corrections.dtype, device=corrections.device).repeat(len(corrections), 1, 1)
    motion[:, :3, :3] = rotation
    motion[:, :3, 3] = translation
    return motion


class FrameCorrections(nn.Module):
    """Learned per-frame corrections, all zero at the start.

    With ``keyframe_interval`` k > 1, the corrections live on every k-th frame (a keyframe) and a
    frame between two keyframes gets their linear interpolation: neighbouring frames share one
    correction, so each learned value is drawn k times as often (on a long clip a single frame is
    drawn only a few times in a CPU run), at the price of correcting only what changes slowly.

    Parameters:
        camera: [M, 6] axis-angle (radians) and translation (head-box lengths) at each keyframe.
        expression: [M, K] residual added to the coefficients, at each keyframe.
        (M = N with k = 1, else ceil((N - 1) / k) + 1 keyframes for N frames.)
    Buffers:
        pivot: [3] the head box's centre; length: [] its longest side (the translation unit);
        expression_min, expression_max: [K] the training range corrected coefficients stay in;
        frame_count: [] N; keyframe_interval: [] k.

    Args:
        aabb: [2, 3] the head box (world).
    """

    def __init__(self, num_frames: int, expression_min, expression_max, aabb, keyframe_interval: int = 1):
        super().__init__()
        if keyframe_interval < 1:
            raise ValueError(f"keyframe_interval must be at least 1, got {keyframe_interval}")
        low = torch.as_tensor(expression_min, dtype=torch.float32)
        box = torch.as_tensor(np.asarray(aabb), dtype=torch.float32).reshape(2, 3)
        keyframes = -(-(num_frames - 1) // keyframe_interval) + 1 if num_frames > 1 else num_frames
        self.camera = nn.Parameter(torch.zeros(keyframes, CAMERA_DOF))
        self.expression = nn.Parameter(torch.zeros(keyframes, low.shape[0]))
        self.register_buffer("pivot", box.mean(dim=0))
        self.register_buffer("length", (box[1] - box[0]).max())
        self.register_buffer("expression_min", low.clone())
        self.register_buffer("expression_max", torch.as_tensor(expression_max, dtype=torch.float32).clone())
        self.register_buffer("frame_count", torch.tensor(num_frames))
        self.register_buffer("keyframe_interval", torch.tensor(keyframe_interval))

    def __len__(self) -> int:
        return int(self.frame_count)

    def _at(self, values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Rows [B] of keyframe ``values`` [M, D], interpolated: [B, D]."""
        interval = int(self.keyframe_interval)
        if interval == 1:
            return values[rows]
        below = torch.div(rows, interval, rounding_mode="floor")
        above = (below + 1).clamp(max=values.shape[0] - 1)
        weight = ((rows - below * interval).to(values.dtype) / interval)[:, None]
        return (1 - weight) * values[below] + weight * values[above]

    def camera_at(self, rows: torch.Tensor) -> torch.Tensor:
        """Camera corrections [B, 6] of frames ``rows`` [B]."""
        return self._at(self.camera, rows)

    def expression_at(self, rows: torch.Tensor) -> torch.Tensor:
        """Coefficient residuals [B, K] of frames ``rows`` [B]."""
        return self._at(self.expression, rows)

    def cameras(self, c2w: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Corrected cameras [B, 4, 4] of frames ``rows`` [B] tracked at ``c2w`` [B, 4, 4]."""
        return rigid_motions(self.camera_at(rows), self.pivot, self.length) @ c2w.to(self.camera)

    def expressions(self, w: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Corrected coefficients [B, K] of frames ``rows`` tracked as ``w`` [B, K], inside the training range."""
        return torch.clamp(w.to(self.expression) + self.expression_at(rows), self.expression_min, self.expression_max)

    def prior(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(camera, expression) mean squared correction over the frames ``rows`` [B]."""
        return self.camera_at(rows).square().sum(dim=1).mean(), self.expression_at(rows).square().sum(dim=1).mean()

    @torch.no_grad()
    def corrected(self, c2w: torch.Tensor, w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Every frame's corrected camera [N, 4, 4] and coefficients [N, K] as float32 arrays."""
        rows = torch.arange(len(self), device=self.camera.device)
        return (self.cameras(c2w.to(self.camera.device), rows).cpu().numpy().astype(np.float32),
                self.expressions(w.to(self.camera.device), rows).cpu().numpy().astype(np.float32))

    @torch.no_grad()
    def per_frame(self) -> dict[str, np.ndarray]:
        """Each frame's correction: rotation_degrees [N] (angle of the turn), translation [N] (length of
        the shift, world units) and expression [N, K] (the residual) as float64 arrays."""
        rows = torch.arange(len(self), device=self.camera.device)
        camera = self.camera_at(rows)
        return {"rotation_degrees": np.degrees(camera[:, :3].norm(dim=1).double().cpu().numpy()),
                "translation": (self.length * camera[:, 3:].norm(dim=1)).double().cpu().numpy(),
                "expression": self.expression_at(rows).double().cpu().numpy()}

    def magnitudes(self) -> dict:
        """Mean |rotation| (degrees), |translation| (world units) and |expression residual| (L2) over frames."""
        frames = self.per_frame()
        return {"rotation_degrees": float(frames["rotation_degrees"].mean()),
                "translation": float(frames["translation"].mean()),
                "expression": float(np.linalg.norm(frames["expression"], axis=1).mean())}


def build_refinement_optimizer(corrections: FrameCorrections, camera_lr: float, expression_lr: float):
    """Adam with one group per correction (its own learning rate, scaled each step by :func:`warm_up`)."""
    groups = [{"params": [corrections.camera], "lr": camera_lr, "base_lr": camera_lr},
              {"params": [corrections.expression], "lr": expression_lr, "base_lr": expression_lr}]
    return torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15)


def warm_up(optimizer: torch.optim.Optimizer, steps_since_start: int, warmup_steps: int) -> None:
    """Ramp every group's learning rate linearly from 0 to its ``base_lr`` over ``warmup_steps``."""
    scale = min(1.0, (steps_since_start + 1) / max(warmup_steps, 1))
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * scale


def write_refined_frames(run_dir, step: int, corrections: FrameCorrections, frames) -> None:
    """Write ``run_dir/refined_frames.json``: each training frame's refined camera and coefficients.

    ``frames``: the training FrameSet the corrections belong to (row i = corrections row i).
    """
    cameras, expressions = corrections.corrected(frames.c2w, frames.expressions)
    write_json(run_dir / REFINED_FRAMES_FILE, {
        "step": step,
        "mean_correction": corrections.magnitudes(),
        "frames": [{"index": int(index), "transform_matrix": camera.tolist(), "expression": expression.tolist()}
                   for index, camera, expression in zip(frames.indices, cameras, expressions)],
    })


def corrections_from_state(state: dict | None, subject: Subject) -> FrameCorrections | None:
    """The training frames' learned corrections from a checkpoint's ``refinement`` entry (None when
    the run did not refine); raises ValueError when they do not match the subject's training frames."""
    if not state:
        return None
    values = dict(state["corrections"])
    # checkpoints written before keyframes held one correction per frame
    values.setdefault("frame_count", torch.tensor(values["camera"].shape[0]))
    values.setdefault("keyframe_interval", torch.tensor(1))
    corrections = FrameCorrections(int(values["frame_count"]), values["expression_min"], values["expression_max"],
                                   subject.aabb, int(values["keyframe_interval"]))
    corrections.load_state_dict(values)
    train = subject.indices("train")
    if len(train) != len(corrections):
        raise ValueError(f"{subject.root}: {len(train)} training frames, but the run refined {len(corrections)}")
    return corrections


def refined_training_frames(state: dict | None, subject: Subject) -> tuple[np.ndarray, np.ndarray] | None:
    """(cameras [N, 4, 4], coefficients [N, K]) of the subject's training frames after refinement,
    from a checkpoint's ``refinement`` entry (None when the run did not refine)."""
    corrections = corrections_from_state(state, subject)
    if corrections is None:
        return None
    train = subject.indices("train")
    return corrections.corrected(torch.from_numpy(subject.camera_to_world(train)),
                                 torch.from_numpy(subject.expressions(train)))


def gradient_resolution(config_value: int, intrinsics) -> int:
    """The finest hash-grid resolution that moves cameras: ``config_value``, or (0) the image's longest side."""
    return config_value if config_value > 0 else max(intrinsics.width, intrinsics.height)
