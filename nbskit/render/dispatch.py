"""The public render kernels: each runs the best backend of :mod:`.backends` for its inputs.

``march_rays`` / ``composite`` -> :func:`.backends.select_render_backend` -> the torch reference
(:mod:`.marching`, :mod:`.composite`) or a compiled kernel registered by ``nbskit_cuda``.
"""

from __future__ import annotations

import torch

from .backends import select_render_backend
from .composite import check_composite_inputs
from .marching import check_march_inputs
from .samples import MarchConfig, PackedSamples


def march_rays(origins: torch.Tensor, dirs: torch.Tensor, near: torch.Tensor, far: torch.Tensor, grid,
               config: MarchConfig, jitter: bool = False, generator: torch.Generator | None = None,
               backend: str | None = None) -> PackedSamples:
    """March rays through an occupancy grid and return their samples, packed.

    Args:
        origins, dirs: [R, 3] ray origins and unit directions (world).
        near, far: [R] the part of each ray to march (from :func:`ray_aabb_intersect`); rays with
            far <= near produce no samples.
        grid: an :class:`~nbskit.render.OccupancyGrid`; unoccupied cells are skipped.
        config: step sizes and the per-ray sample cap.
        jitter: start each ray a random fraction of its first step later (training), so that
            samples do not sit at the same depths in every iteration.
        generator: random source for the jitter.
        backend: force a render backend by name (default: the best available).

    Returns:
        :class:`PackedSamples` without gradients (:meth:`PackedSamples.along` puts them on rays that need one).
    """
    check_march_inputs(origins, dirs, near, far)
    kernel = select_render_backend("march_rays", backend, origins.device, origins.dtype)
    return kernel(origins, dirs, near, far, grid, config, jitter, generator)


def composite(sigma: torch.Tensor, rgb: torch.Tensor, samples, num_rays: int,
              background: torch.Tensor | None = None, backend: str | None = None) -> dict[str, torch.Tensor]:
    """Composite packed samples front to back into per-ray colour, opacity and depth.

    Args:
        sigma: [S] densities (1 / world length) at the samples.
        rgb: [S, 3] colours in [0, 1].
        samples: the :class:`~nbskit.render.PackedSamples` they were evaluated at.
        num_rays: R, number of rays (rays without samples get opacity 0 and the background).
        background: [R, 3] or [3] colour behind the scene; None composites over black.
        backend: force a render backend by name (default: the best available).

    Returns:
        dict with ``rgb`` [R, 3], ``opacity`` [R] (the mask output, 1 − final transmittance),
        ``depth`` [R] (expected distance Σ weight · t_mid) and ``weights`` [S]; differentiable in
        ``sigma`` and ``rgb``.
    """
    check_composite_inputs(sigma, rgb, samples, num_rays)
    kernel = select_render_backend("composite", backend, sigma.device, sigma.dtype)
    return kernel(sigma, rgb, samples, num_rays, background)
