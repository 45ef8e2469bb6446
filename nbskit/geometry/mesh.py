"""Meshes from a density field: marching cubes (scikit-image), trimesh export, plotly figure.

Works on any field given as callables, so it knows nothing of the NeRF: ``density(x [N,3]) -> [N]``
and optionally ``colour(x [N,3]) -> [N,3]`` in [0, 1], both on world positions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nbskit.errors import UserError

DEFAULT_RESOLUTION = 128
# Iso-level as optical depth per box length: sigma * box_length. 50 means a layer 1/50 of the box
# thick absorbs 1 - e^-1 = 63% of the light — the "surface" a volume render shows.
DEFAULT_OPTICAL_DEPTH_PER_BOX = 50.0
QUERY_CHUNK = 1 << 16
EXPORT_FORMATS = (".ply", ".obj", ".glb")


class NoSurface(UserError, ValueError):
    """The density never crosses the iso-level inside the box (a level to try is in the message)."""


def sample_grid(function: Callable[[torch.Tensor], torch.Tensor], aabb, resolution: int,
                progress: bool = True) -> np.ndarray:
    """float32 [R, R, R] values of ``function`` at the R^3 lattice spanning ``aabb`` [2, 3] (index order x, y, z)."""
    aabb = np.asarray(aabb, dtype=np.float32)
    axes = [torch.linspace(float(aabb[0, i]), float(aabb[1, i]), resolution) for i in range(3)]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
    values = []
    with torch.no_grad():
        for start in tqdm(range(0, len(points), QUERY_CHUNK), desc="sampling density", disable=not progress):
            values.append(function(points[start : start + QUERY_CHUNK]).float().cpu())
    return torch.cat(values).reshape(resolution, resolution, resolution).numpy()


def extract_mesh(density: Callable[[torch.Tensor], torch.Tensor], aabb,
                 colour: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 resolution: int = DEFAULT_RESOLUTION, level: float | None = None, progress: bool = True):
    """Marching cubes on ``density`` over ``aabb``; vertex colours from ``colour`` if given.

    Args:
        level: density iso-value (1 / world length); default ``DEFAULT_OPTICAL_DEPTH_PER_BOX`` / box length.

    Returns:
        trimesh.Trimesh in world coordinates (vertex colours uint8 RGBA when ``colour`` is given).
    """
    import trimesh
    from skimage.measure import marching_cubes

    aabb = np.asarray(aabb, dtype=np.float64)
    box_length = float((aabb[1] - aabb[0]).max())
    level = DEFAULT_OPTICAL_DEPTH_PER_BOX / box_length if level is None else level
    volume = sample_grid(density, aabb, resolution, progress)
    if not volume.min() < level < volume.max():
        raise NoSurface(f"no surface: density ranges over [{volume.min():.3g}, {volume.max():.3g}], level {level:.3g}")
    spacing = (aabb[1] - aabb[0]) / (resolution - 1)
    vertices, faces, _, _ = marching_cubes(volume, level=level, spacing=tuple(spacing))
    vertices = vertices + aabb[0]
    # scikit-image orients faces for increasing values; density grows inwards, so flip to face outwards.
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces[:, ::-1], process=False)
    if colour is not None:
        with torch.no_grad():
            points = torch.as_tensor(vertices, dtype=torch.float32)
            rgb = torch.cat([colour(points[s : s + QUERY_CHUNK]).float().cpu()
                             for s in range(0, len(points), QUERY_CHUNK)]).numpy()
        alpha = np.ones((len(rgb), 1))
        mesh.visual.vertex_colors = (np.clip(np.concatenate([rgb, alpha], axis=1), 0, 1) * 255).round().astype(np.uint8)
    return mesh


def export_mesh(mesh, path: str | Path) -> Path:
    """Write ``mesh`` as .ply, .obj or .glb (from the suffix), atomically, vertex colours included."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_FORMATS:
        raise ValueError(f"{path}: mesh format must be one of {EXPORT_FORMATS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        mesh.export(temporary, file_type=path.suffix.lower()[1:])
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates owner-only files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def mesh_figure(mesh, title: str = ""):
    """A plotly Figure with the mesh as a Mesh3d (vertex colours if it has them)."""
    import plotly.graph_objects as go

    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    colours = None
    if getattr(mesh.visual, "kind", None) == "vertex":
        colours = [f"rgb({r},{g},{b})" for r, g, b in np.asarray(mesh.visual.vertex_colors)[:, :3]]
    trace = go.Mesh3d(x=vertices[:, 0], y=vertices[:, 1], z=vertices[:, 2], i=faces[:, 0], j=faces[:, 1],
                      k=faces[:, 2], vertexcolor=colours, color=None if colours else "lightgrey", flatshading=False)
    figure = go.Figure(trace)
    figure.update_layout(title=title, scene={"aspectmode": "data"}, margin={"l": 0, "r": 0, "t": 30 if title else 0, "b": 0})
    return figure
