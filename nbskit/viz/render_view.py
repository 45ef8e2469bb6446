"""Rendering a trained run for the widgets: a fixed small size, a base camera and an orbit around the head.

The widgets ask for many images in a row, so everything that does not depend on the expression or
the camera angles (intrinsics at the display size, the background, the orbit centre) is computed
once here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nbskit.geometry.camera import rigid, rotation_x, rotation_y

DEFAULT_SIZE = 64  # pixels (longest side): interactive on a CPU; pass the training size on a GPU


def as_run(run):
    """A TrainedRun from a run folder (str/Path) or a TrainedRun itself."""
    if isinstance(run, (str, Path)):
        from nbskit.train.run import load_run

        return load_run(run)
    for attribute in ("model", "grid", "subject", "render"):
        if not hasattr(run, attribute):
            raise TypeError(
                f"expected a run folder or a TrainedRun (nbskit.train.run.load_run); "
                f"got {type(run).__name__} without '{attribute}'"
            )
    return run


def orbit_camera(c2w: np.ndarray, centre: np.ndarray, yaw_degrees: float, pitch_degrees: float) -> np.ndarray:
    """Swing camera c2w [4, 4] around world point ``centre`` [3]: yaw about the world y axis, then pitch.

    Pitch turns about the camera's own horizontal axis through ``centre`` so that it always nods
    the view up/down whatever the yaw. Returns [4, 4].
    """
    c2w = np.asarray(c2w, dtype=np.float64)
    to_centre, from_centre = rigid(np.eye(3), -np.asarray(centre)), rigid(np.eye(3), np.asarray(centre))
    yaw = rigid(rotation_y(np.deg2rad(yaw_degrees)), np.zeros(3))
    swung = from_centre @ yaw @ to_centre @ c2w
    # Pitch about the (yawed) camera's x axis: R = C Rx C^T with C the camera's rotation.
    axes = swung[:3, :3]
    pitch = rigid(axes @ rotation_x(np.deg2rad(-pitch_degrees)) @ axes.T, np.zeros(3))
    return from_centre @ pitch @ to_centre @ swung


class RunView:
    """Renders ``run`` at ``size`` pixels from a base camera orbited by yaw/pitch.

    Args:
        run: a TrainedRun or a run folder.
        size: longest image side in pixels.
        frame: subject frame whose camera is the base view (default: the first training frame).
    """

    def __init__(self, run, size: int = DEFAULT_SIZE, frame: int | None = None):
        from nbskit.train.dataset import scaled_intrinsics

        self.run = as_run(run)
        subject = self.run.subject
        self.frame = int(subject.indices("train")[0]) if frame is None else int(frame)
        self.intrinsics = scaled_intrinsics(subject.intrinsics, size)
        self.background = self.run.background(self.intrinsics)
        self.base_camera = subject.camera_to_world([self.frame])[0]
        self.centre = np.asarray(subject.aabb, dtype=np.float64).mean(axis=0)
        self.expression_min, self.expression_max = self.run.expression_range

    @property
    def expression_names(self) -> list[str]:
        return list(self.run.subject.expression_names)

    @property
    def neutral(self) -> np.ndarray:
        """[K] the neutral expression (all zeros) clamped into the training range, as the field sees it."""
        return np.clip(np.zeros_like(self.expression_min), self.expression_min, self.expression_max)

    def camera(self, yaw_degrees: float = 0.0, pitch_degrees: float = 0.0) -> np.ndarray:
        """[4, 4] the base camera orbited by the given angles."""
        return orbit_camera(self.base_camera, self.centre, yaw_degrees, pitch_degrees)

    @torch.no_grad()
    def render(self, expression, yaw_degrees: float = 0.0, pitch_degrees: float = 0.0) -> np.ndarray:
        """expression [K] -> float32 [H, W, 3] image in [0, 1]."""
        camera = self.camera(yaw_degrees, pitch_degrees).astype(np.float32)
        expression = np.asarray(expression, dtype=np.float32)
        out = self.run.render(camera, expression, intrinsics=self.intrinsics, background=self.background)
        return out["rgb"].clamp(0, 1).numpy()
