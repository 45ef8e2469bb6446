"""Ray marching through the occupancy grid into packed samples (reference torch implementation).

Each ray advances from its near to its far distance with steps ``dt = clamp(t * cone_angle,
min_step, one cell diagonal)``: fine steps near the camera, coarser far away (a cone of constant
angle), never coarser than a grid cell. A candidate sample whose midpoint lies in an unoccupied cell
is not emitted; the ray jumps to where it leaves that cell instead. Samples come back *packed*:
flat arrays holding only real samples, with the ray each belongs to.
"""

from __future__ import annotations

import torch

from .samples import BOUNDARY_NUDGE, MarchConfig, PackedSamples, step_sizes


def _distance_to_cell_exit(grid_pos: torch.Tensor, grid_dir: torch.Tensor) -> torch.Tensor:
    """[N] ray parameter from ``grid_pos`` [N,3] to where it leaves its cell, along ``grid_dir`` [N,3].

    Both are in cell units (one cell = 1 along each axis).
    """
    cell = grid_pos.floor()
    boundary = torch.where(grid_dir > 0, cell + 1, cell)
    dist = (boundary - grid_pos) / grid_dir
    dist = torch.where(grid_dir == 0, torch.full_like(dist, float("inf")), dist)  # parallel axes never exit
    return dist.amin(dim=-1).clamp_min(0)


@torch.no_grad()
def march_rays_torch(origins: torch.Tensor, dirs: torch.Tensor, near: torch.Tensor, far: torch.Tensor, grid,
                     config: MarchConfig, jitter: bool = False,
                     generator: torch.Generator | None = None) -> PackedSamples:
    """Reference marcher; see :func:`nbskit.render.march_rays` for the contract."""
    device = origins.device
    aabb = grid.aabb
    resolution = grid.resolution
    occupied = grid.occupied().reshape(-1)
    cell_extent = grid.cell_extent
    nudge = BOUNDARY_NUDGE * config.min_step * float((aabb[1] - aabb[0]).norm())

    def steps(t):
        return step_sizes(t, config, aabb, grid.cell_diagonal)

    active = (near < far).nonzero().squeeze(1)
    t = near[active].clone()
    if jitter:
        t = t + torch.rand(t.shape, generator=generator, device=device) * steps(t)
    emitted = torch.zeros(origins.shape[0], dtype=torch.int64, device=device)
    out_ray, out_t0, out_t1 = [], [], []
    while active.numel() > 0:
        d = dirs[active]
        f = far[active]
        dt = steps(t)
        mid = t + 0.5 * dt
        grid_pos = (origins[active] + mid[:, None] * d - aabb[0]) / cell_extent
        cell = grid_pos.floor().long().clamp(0, resolution - 1)
        is_occupied = occupied[(cell[:, 0] * resolution + cell[:, 1]) * resolution + cell[:, 2]]

        out_ray.append(active[is_occupied])
        out_t0.append(t[is_occupied])
        out_t1.append(torch.minimum(t + dt, f)[is_occupied])
        emitted[active[is_occupied]] += 1

        skip_to = mid + _distance_to_cell_exit(grid_pos, d / cell_extent) + nudge
        t = torch.where(is_occupied, t + dt, skip_to)
        keep = (t < f) & (emitted[active] < config.max_steps)
        active, t = active[keep], t[keep]

    ray_index = torch.cat(out_ray) if out_ray else torch.zeros(0, dtype=torch.int64, device=device)
    t_start = torch.cat(out_t0) if out_t0 else torch.zeros(0, device=device)
    t_end = torch.cat(out_t1) if out_t1 else torch.zeros(0, device=device)
    # Each ray's samples were produced in increasing t; a stable sort by ray keeps that order.
    order = torch.sort(ray_index, stable=True).indices
    ray_index, t_start, t_end = ray_index[order], t_start[order], t_end[order]
    return PackedSamples.from_intervals(ray_index, t_start, t_end, origins, dirs)


def check_march_inputs(origins: torch.Tensor, dirs: torch.Tensor, near: torch.Tensor, far: torch.Tensor) -> None:
    """Raise a ValueError naming the ray input whose shape or device does not fit ``origins`` [R, 3]."""
    if origins.ndim != 2 or origins.shape[1] != 3 or not origins.is_floating_point():
        raise ValueError(f"march_rays: origins must be a floating tensor [R, 3]; got {tuple(origins.shape)} {origins.dtype}")
    count = origins.shape[0]
    for name, tensor, shape in (("dirs", dirs, (count, 3)), ("near", near, (count,)), ("far", far, (count,))):
        if tuple(tensor.shape) != shape or tensor.device != origins.device:
            raise ValueError(
                f"march_rays: {name} must be {list(shape)} on {origins.device}; got {list(tensor.shape)} on {tensor.device}"
            )
