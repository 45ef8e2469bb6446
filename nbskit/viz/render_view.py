"""Rendering a trained run for the widgets: a fixed small size, a base camera and an orbit around the head.

The widgets ask for many images in a row, so everything that does not depend on the expression or
the camera angles (intrinsics at the display size, the background, the orbit centre, the occupancy
grid to march through) is computed once here, and recent images are kept so that going back to a
state (reset, undo a slider) costs nothing.

What makes a view cheaper than the training renderer, and why it is safe:

- **a fresh occupancy grid** (:func:`display_grid`): the run's own grid decays old estimates
  slowly (``grid = max(decay * grid, new)``), so it can remember the fog of early training long
  after the field has emptied those cells (a 1500-step ``cpu`` run still had every cell occupied,
  where a fresh estimate keeps 63%). One full expression-aware update (paper Eq. 9) with the run's
  own threshold says what the field holds *now*; it is intersected with the run's grid, so a view
  never samples where the run would not.
- **a march step matched to the display** (:func:`display_render_config`): samples much closer
  together than a display pixel cannot be told apart in a 64-pixel image.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from nbskit.geometry.camera import rigid, rotation_x, rotation_y

DEFAULT_SIZE = 64  # pixels (longest side): interactive on a CPU; pass the training size on a GPU
# A CPU estimates the display grid at most this finely: K+1 density passes over R³ cells must take
# seconds, not minutes (the training presets for CPUs use 32 already).
CPU_DISPLAY_GRID_RESOLUTION = 32
DISPLAY_GRID_SEED = 0  # in-cell jitter of the display grid's probes: the same view every time
RECENT_IMAGES = 16  # images kept per view, keyed by (expression, yaw, pitch)


def as_run(run):
    """A TrainedRun from a run folder (str/Path) or a TrainedRun itself."""
    if isinstance(run, (str, Path)):
        from nbskit.train.run import load_run

        return load_run(run)
    for attribute in ("model", "occupancy", "subject", "render"):
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


def display_grid(run):
    """A fresh occupancy grid of ``run`` for viewing (see the module doc): OccupancyGrid on the model's device.

    Every cell is evaluated once at the neutral table and at each basis at its training maximum,
    cut at the run grid's threshold and intersected with the run's grid. On a CPU the grid is
    estimated at a divisor of the run's resolution no finer than
    :data:`CPU_DISPLAY_GRID_RESOLUTION` (a coarse cell is kept if any of its fine cells is).
    """
    from nbskit.render import OccupancyGrid
    from nbskit.render.occupancy import pack_bits

    trained = run.occupancy
    device = trained.aabb.device
    resolution = trained.resolution
    if device.type == "cpu":
        resolution = math.gcd(resolution, CPU_DISPLAY_GRID_RESOLUTION)
    grid = OccupancyGrid(trained.aabb.cpu(), resolution, policy="expression", threshold=trained.threshold)
    grid = grid.to(device)
    generator = torch.Generator(device=device).manual_seed(DISPLAY_GRID_SEED)
    grid.update(run.model, run.model.expression_max, generator=generator)
    factor = trained.resolution // resolution
    allowed = trained.occupied().reshape(resolution, factor, resolution, factor, resolution, factor)
    allowed = allowed.any(dim=5).any(dim=3).any(dim=1)
    grid.bitfield.copy_(pack_bits(grid.occupied() & allowed))
    return grid


def display_render_config(config, size: int):
    """``config`` (a RenderConfig) with march steps no finer than 1/``size`` of the box diagonal.

    That is about one display pixel for a head that fills the image: finer samples would only
    refine what the pixel grid cannot show.
    """
    march = dataclasses.replace(config.march, min_step=max(config.march.min_step, 1.0 / size))
    return dataclasses.replace(config, march=march)


class RunView:
    """Renders ``run`` at ``size`` pixels from a base camera orbited by yaw/pitch.

    Args:
        run: a TrainedRun or a run folder.
        size: longest image side in pixels.
        frame: subject frame whose camera is the base view (default: the first training frame).

    Attributes:
        render_config: the run's renderer with the display's march step.
        renders, cached: images rendered, and images served from the recent-image cache.
        samples_per_ray: mean samples per ray of the last image rendered.
    """

    def __init__(self, run, size: int = DEFAULT_SIZE, frame: int | None = None):
        from nbskit.train.dataset import scaled_intrinsics

        self.run = as_run(run)
        self.render_config = display_render_config(self.run.render_config, size)
        self.renders = self.cached = 0
        self.samples_per_ray = float("nan")
        self._recent: OrderedDict[tuple, np.ndarray] = OrderedDict()
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

    @functools.cached_property
    def occupancy(self):
        """The occupancy grid the view marches through (:func:`display_grid`), made on first use."""
        return display_grid(self.run)

    def render(self, expression, yaw_degrees: float = 0.0, pitch_degrees: float = 0.0) -> np.ndarray:
        """expression [K] -> float32 [H, W, 3] image in [0, 1] (a recent identical request is not re-rendered)."""
        expression = np.asarray(expression, dtype=np.float32)
        key = (expression.tobytes(), float(yaw_degrees), float(pitch_degrees))
        if key in self._recent:
            self._recent.move_to_end(key)
            self.cached += 1
            return self._recent[key].copy()
        image = self._render(expression, yaw_degrees, pitch_degrees)
        self.renders += 1
        self._recent[key] = image
        if len(self._recent) > RECENT_IMAGES:
            self._recent.popitem(last=False)
        return image.copy()

    @torch.inference_mode()
    def _render(self, expression: np.ndarray, yaw_degrees: float, pitch_degrees: float) -> np.ndarray:
        from nbskit.render import render_image

        device = self.run.occupancy.aabb.device
        camera = torch.as_tensor(self.camera(yaw_degrees, pitch_degrees), dtype=torch.float32, device=device)
        background = torch.as_tensor(self.background, device=device)
        out = render_image(
            self.run.model, self.occupancy, self.intrinsics, camera, expression, background, self.render_config
        )
        self.samples_per_ray = out["num_samples"] / (self.intrinsics.width * self.intrinsics.height)
        return out["rgb"].clamp(0, 1).cpu().numpy()
