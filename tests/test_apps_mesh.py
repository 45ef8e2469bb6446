"""Marching cubes, export and plotly figure on an analytic field with a known surface."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbskit.geometry import mesh as meshes

RADIUS = 0.3
AABB = np.array([[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]])


def ball_density(x: torch.Tensor) -> torch.Tensor:
    """1000 inside a ball of RADIUS, falling linearly to 0 outside: the iso-level 500 sits at RADIUS."""
    return torch.clamp(1000.0 * (1 - (x.norm(dim=-1) - RADIUS) / 0.02) / 2, 0.0, 1000.0)


def height_colour(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([(x[:, 1] + 0.5), torch.zeros(len(x)), torch.ones(len(x))], dim=-1)


def test_sphere_surface_lands_at_the_radius_with_colours():
    mesh = meshes.extract_mesh(ball_density, AABB, height_colour, resolution=48, level=500.0, progress=False)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(radii - RADIUS).max() < 1.5 / 47  # within about a lattice cell
    assert mesh.is_watertight
    assert mesh.volume > 0, "faces must point outwards"
    colours = np.asarray(mesh.visual.vertex_colors)
    expected_red = np.round((mesh.vertices[:, 1] + 0.5) * 255)
    assert np.abs(colours[:, 0].astype(float) - expected_red).max() <= 1


def test_level_outside_the_field_is_an_error():
    with pytest.raises(ValueError, match="no surface"):
        meshes.extract_mesh(ball_density, AABB, resolution=16, level=5000.0, progress=False)


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".glb"])
def test_export_round_trips(tmp_path, suffix):
    trimesh = pytest.importorskip("trimesh")
    mesh = meshes.extract_mesh(ball_density, AABB, height_colour, resolution=24, level=500.0, progress=False)
    path = meshes.export_mesh(mesh, tmp_path / f"ball{suffix}")
    loaded = trimesh.load(path, force="mesh")
    assert len(loaded.faces) == len(mesh.faces)
    if suffix == ".ply":
        assert np.array_equal(np.asarray(loaded.visual.vertex_colors), np.asarray(mesh.visual.vertex_colors))


def test_unknown_format_is_rejected(tmp_path):
    mesh = meshes.extract_mesh(ball_density, AABB, resolution=16, level=500.0, progress=False)
    with pytest.raises(ValueError, match="format"):
        meshes.export_mesh(mesh, tmp_path / "ball.stl")


def test_plotly_figure_carries_vertex_colours():
    mesh = meshes.extract_mesh(ball_density, AABB, height_colour, resolution=16, level=500.0, progress=False)
    figure = meshes.mesh_figure(mesh, "ball")
    trace = figure.data[0]
    assert trace.type == "mesh3d" and len(trace.i) == len(mesh.faces)
    assert len(trace.vertexcolor) == len(mesh.vertices)
