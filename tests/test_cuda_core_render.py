"""Compiled marching and compositing (nbskit_cuda) against the torch reference."""

from __future__ import annotations

import pytest
import torch
from cuda_core_helpers import assert_close, devices_with_extension, require_extension

from nbskit.render import MarchConfig, OccupancyGrid, composite, march_rays, ray_aabb_intersect
from nbskit.render.occupancy import pack_bits

RESOLUTION = 24
NUM_RAYS = 700


def random_scene(device: str, max_steps: int = 1024):
    """A grid with random occupancy and rays from random cameras (some miss the box)."""
    grid = OccupancyGrid(
        torch.tensor([[-0.4, -0.5, -0.3], [0.5, 0.4, 0.6]]), resolution=RESOLUTION, policy="none"
    )
    grid.bitfield.copy_(pack_bits(torch.rand(RESOLUTION, RESOLUTION, RESOLUTION) < 0.3))
    grid = grid.to(device)
    target = torch.rand(NUM_RAYS, 3) * 0.8 - 0.4
    origins = torch.nn.functional.normalize(torch.randn(NUM_RAYS, 3), dim=1) * 2.0
    dirs = torch.nn.functional.normalize(target - origins + 0.3 * torch.randn(NUM_RAYS, 3), dim=1)
    dirs[:5] = torch.tensor([0.0, 0.0, 1.0])  # axis-aligned rays: the exit test divides by zero
    origins, dirs = origins.to(device), dirs.to(device)
    near, far = ray_aabb_intersect(origins, dirs, grid.aabb)
    config = MarchConfig(cone_angle=1 / 128, min_step=1 / 512, max_steps=max_steps)
    return grid, origins, dirs, near, far, config


def march_both(kind: str, jitter: bool, max_steps: int = 1024):
    grid, origins, dirs, near, far, config = random_scene(kind, max_steps)
    seed = int(torch.randint(0, 2**31, ()))
    results = {}
    for backend in ("torch", kind):
        generator = torch.Generator(device=kind).manual_seed(seed)
        results[backend] = march_rays(
            origins, dirs, near, far, grid, config, jitter, generator, backend=backend
        )
    return results["torch"], results[kind]


@pytest.mark.parametrize("kind", devices_with_extension())
@pytest.mark.parametrize("jitter", [False, True], ids=["fixed", "jitter"])
@pytest.mark.parametrize("max_steps", [1024, 7], ids=["uncapped", "capped"])
def test_marching_emits_the_reference_samples(kind, jitter, max_steps):
    require_extension(kind)
    expected, got = march_both(kind, jitter, max_steps)
    assert len(expected) > 0
    assert torch.equal(got.ray_index.cpu(), expected.ray_index.cpu())
    for name in ("t_start", "t_end", "positions", "directions"):
        assert torch.equal(getattr(got, name).cpu(), getattr(expected, name).cpu()), name


@pytest.mark.parametrize("kind", devices_with_extension())
def test_compositing_and_its_gradients_match_reference(kind):
    require_extension(kind)
    samples, _ = march_both(kind, jitter=True)
    num_samples = len(samples)
    sigma = torch.rand(num_samples, device=kind) * 40
    sigma[::7] = 0  # transparent samples still pass gradient to sigma
    rgb = torch.rand(num_samples, 3, device=kind)
    background = torch.rand(NUM_RAYS, 3, device=kind)
    upstream = {
        "rgb": torch.randn(NUM_RAYS, 3, device=kind),
        "opacity": torch.randn(NUM_RAYS, device=kind),
        "depth": torch.randn(NUM_RAYS, device=kind),
        "weights": torch.randn(num_samples, device=kind),
    }
    results = {}
    for backend in ("torch", kind):
        s, c = sigma.clone().requires_grad_(), rgb.clone().requires_grad_()
        out = composite(s, c, samples, NUM_RAYS, background, backend=backend)
        loss = sum((out[key] * upstream[key]).sum() for key in upstream)
        results[backend] = {**out, **dict(zip(("grad sigma", "grad rgb"), torch.autograd.grad(loss, [s, c])))}
    for name, expected in results["torch"].items():
        assert_close(results[kind][name].detach().cpu(), expected.detach().cpu(), what=name)
    empty = torch.bincount(samples.ray_index, minlength=NUM_RAYS) == 0
    assert empty.any(), "the scene should leave some rays without samples"
    assert torch.equal(results[kind]["rgb"][empty].detach(), background[empty])
