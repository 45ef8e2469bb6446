"""Render a trained head: any frame, any coefficient vector, any camera, and novel-view orbits."""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from nbskit.train.run import TrainedRun

DEFAULT_ORBIT_YAW_DEGREES = 30.0
DEFAULT_ORBIT_VIEWS = 48


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """[H, W, 3] float in [0, 1] -> uint8."""
    array = image.detach().cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_expression(run: TrainedRun, expression, c2w, intrinsics=None, background=None) -> np.ndarray:
    """uint8 [H, W, 3]: the head with coefficients ``expression`` [K] seen from ``c2w`` [4, 4]."""
    return to_uint8(run.render(c2w, expression, intrinsics, background)["rgb"])


def render_frame(run: TrainedRun, index: int, background=None) -> np.ndarray:
    """uint8 [H, W, 3]: subject frame ``index`` re-rendered with its own camera and coefficients
    (as refined in training, for a training frame of a run that refined them)."""
    c2w, expression = run.frame_camera_and_expression(index)
    return render_expression(run, expression, c2w, background=background)


def render_frames(run: TrainedRun, indices, progress: bool = True) -> list[np.ndarray]:
    """Re-render several subject frames (e.g. ``run.subject.indices('test')``)."""
    return [render_frame(run, int(i)) for i in tqdm(indices, desc="rendering frames", disable=not progress)]


def head_centre(run: TrainedRun) -> np.ndarray:
    """[3] centre of the head box: the point orbits turn around."""
    return np.asarray(run.subject.aabb, dtype=np.float64).mean(axis=0)


def yaw_about(c2w: np.ndarray, centre: np.ndarray, angle: float) -> np.ndarray:
    """[4, 4] camera ``c2w`` turned by ``angle`` radians about the world y axis through ``centre``."""
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = np.array([[cos, 0.0, sin], [0.0, 1.0, 0.0], [-sin, 0.0, cos]])
    turned = np.eye(4)
    turned[:3, :3] = rotation @ np.asarray(c2w)[:3, :3]
    turned[:3, 3] = rotation @ (np.asarray(c2w)[:3, 3] - centre) + centre
    return turned.astype(np.float32)


def orbit_cameras(run: TrainedRun, num_views: int = DEFAULT_ORBIT_VIEWS,
                  max_yaw_degrees: float = DEFAULT_ORBIT_YAW_DEGREES, reference_c2w=None) -> np.ndarray:
    """[N, 4, 4] cameras swinging from -max_yaw to +max_yaw and back around the head centre.

    ``reference_c2w`` defaults to the first training frame's (refined) camera.
    """
    if reference_c2w is None:
        reference_c2w = run.frame_camera_and_expression(int(run.subject.indices("train")[0]))[0]
    phases = np.linspace(0.0, 2.0 * math.pi, num_views, endpoint=False)
    angles = np.radians(max_yaw_degrees) * np.sin(phases)
    centre = head_centre(run)
    return np.stack([yaw_about(reference_c2w, centre, angle) for angle in angles])


def render_orbit(run: TrainedRun, expression=None, num_views: int = DEFAULT_ORBIT_VIEWS,
                 max_yaw_degrees: float = DEFAULT_ORBIT_YAW_DEGREES, progress: bool = True) -> list[np.ndarray]:
    """Novel views of one expression (default: the first training frame's) along :func:`orbit_cameras`."""
    first_c2w, first_expression = run.frame_camera_and_expression(int(run.subject.indices("train")[0]))
    expression = first_expression if expression is None else expression
    cameras = orbit_cameras(run, num_views, max_yaw_degrees, first_c2w)
    return [render_expression(run, expression, c2w) for c2w in tqdm(cameras, desc="orbit", disable=not progress)]
