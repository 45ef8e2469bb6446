"""Compiled marching and compositing (``cpu``, ``cuda``), registered with :mod:`nbskit.render.backends`.

Both follow the torch reference (``nbskit/render/marching.py``, ``composite.py``) operation by
operation: the marcher emits the same samples, compositing the same weights. Randomness (the
jitter) is drawn in torch with the same call as the reference, so a shared generator gives the
same samples on every backend.
"""

from __future__ import annotations

import torch

from nbskit.render.backends import register_render_backend
from nbskit.render.composite import check_ray_index
from nbskit.render.samples import BOUNDARY_NUDGE, MarchConfig, PackedSamples, step_sizes

from . import KINDS, backend_options, checks_values, extension_for


@torch.no_grad()
def march_rays_compiled(
    origins: torch.Tensor,
    dirs: torch.Tensor,
    near: torch.Tensor,
    far: torch.Tensor,
    grid,
    config: MarchConfig,
    jitter: bool = False,
    generator: torch.Generator | None = None,
) -> PackedSamples:
    """:func:`nbskit.render.march_rays` on the compiled kernels (same arguments and result)."""
    aabb = grid.aabb
    diagonal = float((aabb[1] - aabb[0]).norm())
    min_step = config.min_step * diagonal
    origins, dirs = origins.float().contiguous(), dirs.float().contiguous()
    near, far = near.float().contiguous(), far.float().contiguous()
    active = near < far
    t_begin = near.clone()
    if jitter:  # drawn exactly as the reference draws it: one number per active ray
        t_active = near[active]
        t_begin[active] = t_active + torch.rand(
            t_active.shape, generator=generator, device=near.device
        ) * step_sizes(t_active, config, aabb, grid.cell_diagonal)
    ray_index, t_start, t_end = extension_for(origins.device).march_rays(
        origins,
        dirs,
        t_begin,
        far,
        active,
        grid.bitfield.contiguous(),
        aabb[0].float().contiguous(),
        grid.cell_extent.float().contiguous(),
        grid.resolution,
        config.cone_angle,
        min_step,
        max(min_step, grid.cell_diagonal),
        BOUNDARY_NUDGE * min_step,
        config.max_steps,
    )
    return PackedSamples.from_intervals(ray_index, t_start, t_end, origins, dirs)


def ray_starts(ray_index: torch.Tensor, num_rays: int) -> torch.Tensor:
    """[R+1] int64: the samples of ray r are ``[starts[r], starts[r+1])`` for a sorted ``ray_index``.

    A binary search per ray: its result has a known size (a count by ``bincount`` would make a GPU
    wait to learn the largest index) and always rises within [0, S], whatever the indices.
    """
    rays = torch.arange(num_rays + 1, device=ray_index.device, dtype=ray_index.dtype)
    return torch.searchsorted(ray_index, rays)


class _Composite(torch.autograd.Function):
    """colour (no background) [R,3], opacity [R], depth [R], weights [S] from sigma [S], rgb [S,3]."""

    @staticmethod
    def forward(ctx, sigma, rgb, t_start, t_end, starts):
        ctx.save_for_backward(sigma, rgb, t_start, t_end, starts)
        colour, opacity, depth, weights = extension_for(sigma.device).composite_forward(
            sigma, rgb, t_start, t_end, starts
        )
        return colour, opacity, depth, weights

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_colour, grad_opacity, grad_depth, grad_weights):
        sigma, rgb, t_start, t_end, starts = ctx.saved_tensors
        # Gradients of unused outputs arrive as zeros (autograd materialises them).
        grads = [grad.float().contiguous() for grad in (grad_colour, grad_opacity, grad_depth, grad_weights)]
        grad_sigma, grad_rgb = extension_for(sigma.device).composite_backward(
            *grads, sigma, rgb, t_start, t_end, starts
        )
        return grad_sigma, grad_rgb, None, None, None


def composite_compiled(
    sigma: torch.Tensor,
    rgb: torch.Tensor,
    samples: PackedSamples,
    num_rays: int,
    background: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """:func:`nbskit.render.composite` on the compiled kernels (same arguments and result)."""
    if sigma.device.type != "cuda" or checks_values():
        check_ray_index(samples.ray_index, num_rays)
    starts = ray_starts(samples.ray_index, num_rays)
    colour, opacity, depth, weights = _Composite.apply(
        sigma.float().contiguous(),
        rgb.float().contiguous(),
        samples.t_start.float().contiguous(),
        samples.t_end.float().contiguous(),
        starts,
    )
    if background is not None:  # in torch, as the reference, so a learnable background gets gradients
        colour = colour + (1.0 - opacity)[:, None] * background.to(colour.dtype).expand(num_rays, 3)
    return {"rgb": colour, "opacity": opacity, "depth": depth, "weights": weights}


for _kind in KINDS:
    register_render_backend(
        _kind,
        march_rays=march_rays_compiled,
        composite=composite_compiled,
        dtypes=(torch.float32,),  # the kernels compute in float32; float64 stays on torch
        **backend_options(_kind),
    )
