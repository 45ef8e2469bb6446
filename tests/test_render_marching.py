"""Ray marching: packed layout, step sizes, empty-space skipping, jitter, and the rendered result."""

from __future__ import annotations

import torch

from nbskit.render import (
    MarchConfig,
    OccupancyGrid,
    RenderConfig,
    generate_rays,
    march_rays,
    ray_aabb_intersect,
    render_image,
)
from nbskit.render.samples import step_sizes
from nbskit.render.toy import ToySphere, ToySphereField, orbit_cameras, render_toy_sphere, toy_intrinsics

SPHERE = ToySphere()
CONFIG = MarchConfig(cone_angle=1 / 64, min_step=1 / 256, max_steps=512)
INTRINSICS = toy_intrinsics(24)


def _rays():
    origins, dirs = generate_rays(INTRINSICS, orbit_cameras(1, 2.8)[0])
    origins, dirs = origins[0], dirs[0]
    near, far = ray_aabb_intersect(origins, dirs, SPHERE.aabb)
    return origins, dirs, near, far


def _grid(policy: str) -> OccupancyGrid:
    grid = OccupancyGrid(SPHERE.aabb, resolution=32, policy=policy)
    grid.update(ToySphereField(SPHERE), torch.ones(1), generator=torch.Generator().manual_seed(0))
    return grid


def test_packed_samples_are_contiguous_ordered_and_inside_the_box():
    origins, dirs, near, far = _rays()
    grid = _grid("none")
    samples = march_rays(origins, dirs, near, far, grid, CONFIG, backend="torch")
    ray = samples.ray_index
    assert torch.all(ray[1:] >= ray[:-1])  # rays contiguous, in order
    same_ray = ray[1:] == ray[:-1]
    assert torch.all(samples.t_start[1:][same_ray] >= samples.t_end[:-1][same_ray] - 1e-6)  # ordered in t
    assert torch.all(samples.t_end > samples.t_start)
    assert torch.all(samples.t_start >= near[ray] - 1e-6) and torch.all(samples.t_end <= far[ray] + 1e-6)
    # Every step follows the cone rule: clamp(t * cone_angle, min step, one cell), except the last (clipped).
    dt = samples.t_end - samples.t_start
    expected = step_sizes(samples.t_start, CONFIG, grid.aabb, grid.cell_diagonal)
    interior = torch.cat([same_ray, torch.tensor([False])])
    assert torch.allclose(dt[interior], expected[interior], rtol=1e-5)
    # Rays that miss the box produce nothing; with every cell occupied, every hitting ray has samples.
    counts = samples.counts(origins.shape[0])
    assert torch.all(counts[far <= near] == 0) and torch.all(counts[far > near] > 0)
    mid = 0.5 * (samples.t_start + samples.t_end)
    assert torch.allclose(samples.positions, origins[ray] + mid[:, None] * dirs[ray], atol=1e-5)


def test_skipping_empty_space_reduces_samples_and_keeps_the_image():
    origins, dirs, near, far = _rays()
    dense = march_rays(origins, dirs, near, far, _grid("none"), CONFIG, backend="torch")
    sparse = march_rays(origins, dirs, near, far, _grid("expression"), CONFIG, backend="torch")
    assert len(sparse) < 0.5 * len(dense)
    field = ToySphereField(SPHERE)
    w = torch.ones(1, 1)
    config = RenderConfig(march=CONFIG, backend="torch")
    images = [render_image(field, _grid(policy), INTRINSICS, orbit_cameras(1, 2.8)[0], w[0], config=config)
              for policy in ("none", "expression")]
    assert (images[0]["opacity"] - images[1]["opacity"]).abs().mean() < 0.02
    assert images[1]["num_samples"] < 0.5 * images[0]["num_samples"]


def test_rendered_toy_sphere_matches_ray_traced_ground_truth():
    field = ToySphereField(SPHERE)
    camera = orbit_cameras(3, 2.8, 30.0)[1]
    for w in (0.0, 1.0):
        image = render_image(field, _grid("expression"), INTRINSICS, camera, torch.tensor([w]),
                             config=RenderConfig(march=CONFIG, backend="torch"))
        rgb, mask = render_toy_sphere(SPHERE, INTRINSICS, camera, w)
        assert (image["opacity"] - mask).abs().mean() < 0.03
        assert (image["rgb"] - rgb).abs().mean() < 0.03
        # Depth on fully covered pixels: the analytic first hit, within one step.
        inside = (image["opacity"] > 0.999) & (mask > 0)
        hit = _analytic_depth(camera, w)[inside]
        assert ((image["depth"][inside] - hit).abs() < 2 * float(_grid("none").cell_diagonal)).all()


def _analytic_depth(camera, w):
    origins, dirs = generate_rays(INTRINSICS, camera)
    oc = origins[0] - torch.tensor(SPHERE.centre)
    half_b = (dirs[0] * oc).sum(-1)
    radius = SPHERE.radius + SPHERE.growth * w
    disc = (half_b**2 - ((oc * oc).sum(-1) - radius**2)).clamp_min(0)
    return (-half_b - disc.sqrt()).reshape(INTRINSICS.height, INTRINSICS.width)


def test_jitter_moves_samples_and_max_steps_caps_them():
    origins, dirs, near, far = _rays()
    grid = _grid("none")
    plain = march_rays(origins, dirs, near, far, grid, CONFIG, backend="torch")
    jittered = march_rays(origins, dirs, near, far, grid, CONFIG, jitter=True,
                          generator=torch.Generator().manual_seed(0), backend="torch")
    first = lambda s: s.t_start[torch.cat([torch.tensor([True]), s.ray_index[1:] != s.ray_index[:-1]])]
    assert not torch.allclose(first(plain), first(jittered))
    assert torch.all(first(jittered) >= first(plain))
    capped = march_rays(origins, dirs, near, far, grid, MarchConfig(cone_angle=0.0, min_step=1 / 256, max_steps=7),
                        backend="torch")
    assert int(capped.counts(origins.shape[0]).max()) == 7
