"""Camera rays through pixel centres (OpenGL convention) and the aabb slab test."""

from __future__ import annotations

import math

import torch

from nbskit.geometry.camera import euler_to_matrix, rigid
from nbskit.geometry.intrinsics import Intrinsics
from nbskit.render import generate_rays, pixel_grid, ray_aabb_intersect

INTRINSICS = Intrinsics(width=8, height=6, fl_x=10.0, fl_y=12.0, cx=4.0, cy=3.0)


def _camera(yaw=0.3, pitch=-0.2, roll=0.1, eye=(0.5, -1.0, 2.0)) -> torch.Tensor:
    return torch.tensor(rigid(euler_to_matrix(yaw, pitch, roll), eye), dtype=torch.float32)


def test_ray_through_principal_point_looks_down_minus_z():
    c2w = _camera()
    intrinsics = Intrinsics(width=8, height=6, fl_x=10.0, fl_y=12.0, cx=3.5, cy=2.5)
    # Pixel (3, 2) has its centre (3.5, 2.5) on the principal point.
    origins, dirs = generate_rays(intrinsics, c2w[None], torch.tensor([[[3.0, 2.0]]]))
    assert torch.allclose(dirs[0, 0], -c2w[:3, 2], atol=1e-6)
    assert torch.allclose(origins[0, 0], c2w[:3, 3])


def test_pixel_centres_and_axes_in_camera_space():
    identity = torch.eye(4)
    pixels = torch.tensor([[[0.0, 0.0], [7.0, 5.0]]])
    _, dirs = generate_rays(INTRINSICS, identity[None], pixels)
    # Top-left pixel centre (0.5, 0.5): left of and above the principal point -> x < 0, y > 0.
    expected = torch.tensor([(0.5 - 4.0) / 10.0, -(0.5 - 3.0) / 12.0, -1.0])
    assert torch.allclose(dirs[0, 0], expected / expected.norm(), atol=1e-6)
    # Bottom-right pixel: right of and below it -> x > 0, y < 0 (rows grow downwards).
    assert dirs[0, 1, 0] > 0 and dirs[0, 1, 1] < 0
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(1, 2))


def test_all_pixels_row_major_for_every_camera():
    c2w = torch.stack([_camera(), _camera(yaw=1.0)])
    origins, dirs = generate_rays(INTRINSICS, c2w)
    assert dirs.shape == (2, 48, 3) and origins.shape == (2, 48, 3)
    explicit = generate_rays(INTRINSICS, c2w, pixel_grid(8, 6).expand(2, -1, -1))[1]
    assert torch.equal(dirs, explicit)
    assert torch.equal(pixel_grid(8, 6)[9], torch.tensor([1.0, 1.0]))  # row 1, column 1


def test_slab_test_on_axis_and_miss_and_inside():
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    origins = torch.tensor([[0.0, 0.0, 5.0], [0.0, 3.0, 5.0], [0.2, 0.1, 0.0], [0.0, 0.0, 5.0]])
    dirs = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    near, far = ray_aabb_intersect(origins, dirs, aabb)
    assert torch.allclose(near[0], torch.tensor(4.0)) and torch.allclose(far[0], torch.tensor(6.0))
    assert far[1] <= near[1]  # passes above the box
    assert far[3] <= near[3]  # box behind the camera
    # Starting inside: near is the small positive minimum, far the exit through x = 1.
    assert 0 < near[2] < 1e-3 and torch.allclose(far[2], torch.tensor(0.8))


def test_slab_test_diagonal_ray_matches_geometry():
    aabb = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    direction = torch.tensor([[1.0, 1.0, 1.0]]) / math.sqrt(3)
    near, far = ray_aabb_intersect(torch.tensor([[-1.0, -1.0, -1.0]]), direction, aabb)
    # Enters when all coordinates reach 0 (t = √3), leaves when x reaches 1 (t = 2√3).
    assert torch.allclose(near, torch.tensor([math.sqrt(3)]), atol=1e-5)
    assert torch.allclose(far, torch.tensor([2 * math.sqrt(3)]), atol=1e-5)
