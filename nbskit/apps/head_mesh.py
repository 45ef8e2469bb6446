"""A mesh of a trained head at one expression, coloured as seen from the front."""

from __future__ import annotations

import numpy as np
import torch

from nbskit.geometry.mesh import DEFAULT_RESOLUTION, extract_mesh
from nbskit.train.run import TrainedRun


def frontal_direction(run: TrainedRun) -> np.ndarray:
    """[3] unit viewing direction of the first training camera (OpenGL cameras look down their -z)."""
    c2w = run.subject.frames[int(run.subject.indices("train")[0])].transform_matrix
    direction = -np.asarray(c2w, dtype=np.float64)[:3, 2]
    return direction / np.linalg.norm(direction)


def head_mesh(run: TrainedRun, expression=None, resolution: int = DEFAULT_RESOLUTION, level: float | None = None,
              progress: bool = True):
    """trimesh.Trimesh of the density at ``expression`` [K] (default: the first training frame's),
    vertex colours from the colour MLP viewed along :func:`frontal_direction`."""
    model = run.model
    device = model.aabb.device
    if expression is None:
        expression = run.subject.frames[int(run.subject.indices("train")[0])].expression
    w = torch.as_tensor(np.asarray(expression), dtype=torch.float32, device=device)[None]
    view = torch.as_tensor(frontal_direction(run), dtype=torch.float32, device=device)

    def frame_zero(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), dtype=torch.int64, device=device)

    def density(x: torch.Tensor) -> torch.Tensor:
        x = x.to(device)
        return model.density(x, frame_zero(x), w)

    def colour(x: torch.Tensor) -> torch.Tensor:
        x = x.to(device)
        return model(x, view.expand_as(x), frame_zero(x), w)[1]

    return extract_mesh(density, run.subject.aabb, colour, resolution, level, progress)
