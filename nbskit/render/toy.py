"""A toy scene with exact answers: a coloured sphere whose radius grows with one coefficient.

Used by the tests, the rendering notebook and the benchmark. ``ToySphereField`` has the field
interface (``density_from_coefficients``, ``density``, ``forward``) with an analytic density, so the
occupancy grid can be checked against known geometry; ``render_toy_sphere`` ray-traces the same
sphere exactly, as ground truth for fitting a learned field.

The sphere has centre ``centre`` and radius ``radius + growth * w`` for the coefficient w in
[0, 1]; its colour at a surface point p is ``0.5 + 0.5 * (p - centre) / |p - centre|`` (the
normal mapped to RGB), view-independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nbskit.geometry.camera import look_at
from nbskit.geometry.intrinsics import Intrinsics

from .rays import generate_rays


@dataclass(frozen=True)
class ToySphere:
    """Geometry of the toy scene (arbitrary world units; the aabb is [-half_extent, half_extent]³)."""

    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radius: float = 0.35
    growth: float = 0.3
    inside_density: float = 200.0  # per world unit: opaque within a few cells of a 128³ grid
    half_extent: float = 1.0

    @property
    def aabb(self) -> torch.Tensor:
        return torch.tensor([[-self.half_extent] * 3, [self.half_extent] * 3])

    def radius_at(self, w: torch.Tensor) -> torch.Tensor:
        return self.radius + self.growth * w

    def colour_at(self, points: torch.Tensor) -> torch.Tensor:
        """[N, 3] RGB of the normal direction from the centre at points [N, 3]."""
        offset = points - torch.tensor(self.centre, dtype=points.dtype, device=points.device)
        return 0.5 + 0.5 * offset / offset.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class ToySphereField(nn.Module):
    """The toy sphere as a field (K = 1) with the interface of :class:`nbskit.model.RadianceField`."""

    def __init__(self, sphere: ToySphere = ToySphere()):
        super().__init__()
        self.sphere = sphere
        self.num_expressions = 1
        self.register_buffer("aabb", sphere.aabb)
        self.register_buffer("expression_min", torch.zeros(1))
        self.register_buffer("expression_max", torch.ones(1))

    def coefficients(self, w: torch.Tensor) -> torch.Tensor:
        w = torch.as_tensor(w, dtype=torch.float32).reshape(-1, 1).clamp(0.0, 1.0)
        return torch.cat([torch.ones_like(w), w], dim=1)

    def density_from_coefficients(self, x, frame, coefficients):
        """σ [N]: ``inside_density`` inside the sphere of radius ``radius + growth * c[frame, 1]``."""
        centre = torch.tensor(self.sphere.centre, dtype=x.dtype, device=x.device)
        radius = self.sphere.radius_at(coefficients[frame, 1])
        inside = (x - centre).norm(dim=-1) < radius
        return inside.to(x.dtype) * self.sphere.inside_density

    def density(self, x, frame, w):
        return self.density_from_coefficients(x, frame, self.coefficients(w))

    def forward(self, x, d, frame, w):
        return self.density(x, frame, w), self.sphere.colour_at(x)


def render_toy_sphere(sphere: ToySphere, intrinsics, c2w, w: float, background=(1.0, 1.0, 1.0)):
    """Exact image of the sphere at coefficient w by ray–sphere intersection.

    Returns:
        rgb [H, W, 3] float32 (the surface colour where the ray hits, else ``background``) and
        mask [H, W] float32 in {0, 1}.
    """
    origins, dirs = generate_rays(intrinsics, torch.as_tensor(c2w, dtype=torch.float32))
    origins, dirs = origins[0], dirs[0]
    centre = torch.tensor(sphere.centre)
    radius = float(sphere.radius_at(torch.tensor(float(w))))
    # |o + t d - c|² = r² with |d| = 1:  t² + 2 t (d·(o-c)) + |o-c|² - r² = 0
    oc = origins - centre
    half_b = (dirs * oc).sum(-1)
    disc = half_b**2 - ((oc * oc).sum(-1) - radius**2)
    hit = disc > 0
    t = -half_b - disc.clamp_min(0).sqrt()
    hit = hit & (t > 0)
    colour = sphere.colour_at(origins + t[:, None] * dirs)
    rgb = torch.where(hit[:, None], colour, torch.tensor(background, dtype=torch.float32))
    shape = (intrinsics.height, intrinsics.width)
    return rgb.reshape(*shape, 3), hit.to(torch.float32).reshape(shape)


def orbit_cameras(count: int, distance: float, elevation_deg: float = 20.0, phase_deg: float = 0.0) -> torch.Tensor:
    """[count, 4, 4] camera-to-world matrices evenly spaced around the y axis, looking at the origin."""
    cameras = []
    for i in range(count):
        azimuth = np.deg2rad(phase_deg + 360.0 * i / count)
        elevation = np.deg2rad(elevation_deg)
        eye = distance * np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                                   np.cos(elevation) * np.cos(azimuth)])
        cameras.append(look_at(eye, np.zeros(3)))
    return torch.tensor(np.stack(cameras), dtype=torch.float32)


def toy_intrinsics(size: int, field_of_view_deg: float = 40.0) -> Intrinsics:
    """Square pinhole intrinsics with the principal point at the image centre."""
    focal = 0.5 * size / np.tan(np.deg2rad(field_of_view_deg) / 2)
    return Intrinsics(width=size, height=size, fl_x=float(focal), fl_y=float(focal), cx=size / 2, cy=size / 2)
