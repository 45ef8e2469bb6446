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
from nbskit.render.toy import ToySphere, ToySphereField, orbit_cameras, render_toy_sphere, toy_intrinsics

SPHERE = ToySphere(radius=0.35, growth=0.3, half_extent=0.75)
IMAGE_SIZE = 24
CAMERA_DISTANCE = 2.2
# Held-out coefficients lie half-way between training ones. The gap must be small: blending is linear
# in w, so across a gap the data only say "empty at one end, full at the other" and the radius in
# between is a guess (with a gap of 0.5 the interpolated rims stay hazy: ~19 dB at w = 0.25, 0.75).
TRAIN_COEFFICIENTS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
TEST_COEFFICIENTS = (0.3, 0.7)
# Small everything: this is a test, not a benchmark.
FIELD = NeRFBlendShapeConfig(
    hash_grid=HashGridConfig(levels=8, features=2, log2_table_size=12, base_resolution=4, finest_resolution=48),
    density_width=32, color_width=32, geometry_features=15,
)
RENDER = RenderConfig(march=MarchConfig(cone_angle=0.0, min_step=1 / 64))
STEPS = 400
RAYS_PER_STEP = 1024
TABLE_LEARNING_RATE = 2e-2
# The MLPs need a smaller step than the tables (measured: at 1e-2 the colour fit is noisier, ~3 dB lower).
MLP_LEARNING_RATE = 5e-3
# Learning rates decay exponentially to this fraction over the run: the last steps average out the
# noise of random rays instead of jumping around the optimum (about 1 dB).
FINAL_LEARNING_RATE_FRACTION = 0.1
MASK_WEIGHT = 0.3  # the mask term of training stage 1 (docs/architecture.md, “Training”) clears the initial fog sooner
MIN_PSNR = 25.0
# The learned grid may exceed the exact one by a little: a fuzzy surface and leftover fog near it.
MAX_OCCUPANCY_RATIO = 1.25


def _views(cameras: torch.Tensor, coefficients: tuple[float, ...]):
    """Rays, coefficient and ground-truth colour/mask of every pixel of every (camera, coefficient)."""
    intrinsics = toy_intrinsics(IMAGE_SIZE)
    parts = {"origins": [], "dirs": [], "frame": [], "rgb": [], "mask": []}
    for row, value in enumerate(coefficients):
        for camera in cameras:
            origins, dirs = generate_rays(intrinsics, camera)
            rgb, mask = render_toy_sphere(SPHERE, intrinsics, camera, value)
            parts["origins"].append(origins[0])
            parts["dirs"].append(dirs[0])
            parts["frame"].append(torch.full((origins.shape[1],), row))
            parts["rgb"].append(rgb.reshape(-1, 3))
            parts["mask"].append(mask.reshape(-1))
    return {key: torch.cat(values) for key, values in parts.items()} | {"w": torch.tensor(coefficients)[:, None]}


def _render(model, grid, rays, index, training=False):
    # A ray's "frame" is the row of its coefficient in rays["w"] [B, 1].
    return render_rays(model, grid, rays["origins"][index], rays["dirs"][index], rays["frame"][index], rays["w"],
                       torch.ones(3), RENDER, training=training)


@pytest.mark.slow
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
    tables = [model.grid.tables]
    mlps = [*model.density_mlp.parameters(), *model.color_mlp.parameters()]
    groups = [{"params": tables, "lr": TABLE_LEARNING_RATE}, {"params": mlps, "lr": MLP_LEARNING_RATE}]
    optimiser = torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15)
    decay = torch.optim.lr_scheduler.ExponentialLR(optimiser, FINAL_LEARNING_RATE_FRACTION ** (1 / STEPS))
    for step in range(STEPS):
        schedule.maybe_update(grid, step, model, model.expression_max, generator)
        index = torch.randint(train["rgb"].shape[0], (RAYS_PER_STEP,), generator=generator)
        out = _render(model, grid, train, index, training=True)
        loss = (out["rgb"] - train["rgb"][index]).abs().mean()  # L1, as the trainer's stage 1
        loss = loss + MASK_WEIGHT * (out["opacity"] - train["mask"][index]).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        decay.step()

    with torch.no_grad():
        rendered = _render(model, grid, test, torch.arange(test["rgb"].shape[0]))
    psnr = -10 * torch.log10((rendered["rgb"] - test["rgb"]).square().mean())
    assert psnr >= MIN_PSNR, f"held-out PSNR {psnr:.2f} dB < {MIN_PSNR} dB"
    # Empty space has been learned: the grid marks little more than the exact sphere's grid does.
    exact = OccupancyGrid(SPHERE.aabb, resolution=grid.resolution, policy="expression")
    exact.update(ToySphereField(SPHERE), model.expression_max, generator=generator)
    assert grid.occupied_fraction() <= MAX_OCCUPANCY_RATIO * exact.occupied_fraction()
