"""Rendering a field: rays → box → marched samples → field → composited pixels."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .dispatch import composite, march_rays
from .rays import generate_rays, ray_aabb_intersect
from .samples import MarchConfig

# White, the colour composited behind the head when a subject has no background (docs/architecture.md, “Units and conventions”).
DEFAULT_BACKGROUND = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class RenderConfig:
    """How to render.

    Attributes:
        march: marcher step sizes and sample cap.
        chunk_rays: rays rendered at once by :func:`render_image` (bounds memory).
        backend: force a render backend by name (None: the best available).
    """

    march: MarchConfig = field(default_factory=MarchConfig)
    chunk_rays: int = 1 << 14
    backend: str | None = None


def render_rays(model, grid, origins: torch.Tensor, dirs: torch.Tensor, frame: torch.Tensor, w: torch.Tensor,
                background: torch.Tensor | None, config: RenderConfig, training: bool = False,
                generator: torch.Generator | None = None) -> dict:
    """Render a batch of rays (differentiable in the field's parameters, and in the rays when they
    require a gradient: the samples keep their distances along each ray and move with it).

    Args:
        model: a field with ``forward(x [S,3], d [S,3], frame [S], w [B,K]) -> (sigma [S], rgb [S,3])``.
        grid: the :class:`~nbskit.render.OccupancyGrid` over the model's aabb.
        origins, dirs: [R, 3] world rays (unit directions).
        frame: [R] int64 row of ``w`` each ray belongs to.
        w: [B, K] expression coefficients of the frames in the batch.
        background: [R, 3] or [3] colour behind the scene, or None for black.
        config: render settings.
        training: jitter sample positions.
        generator: random source for the jitter.

    Returns:
        dict with ``rgb`` [R, 3], ``opacity`` [R], ``depth`` [R] and ``num_samples`` (int).
    """
    rays_need_grad = origins.requires_grad or dirs.requires_grad
    if rays_need_grad:  # refined cameras: samples stay where the marcher put them along each ray
        live_origins, live_dirs = origins, dirs
        origins, dirs = origins.detach(), dirs.detach()
    near, far = ray_aabb_intersect(origins, dirs, grid.aabb)
    samples = march_rays(origins, dirs, near, far, grid, config.march, jitter=training, generator=generator,
                         backend=config.backend)
    if rays_need_grad:
        samples = samples.along(live_origins, live_dirs)
    sigma, rgb = model(samples.positions, samples.directions, frame[samples.ray_index], w)
    out = composite(sigma, rgb, samples, origins.shape[0], background, backend=config.backend)
    return {"rgb": out["rgb"], "opacity": out["opacity"], "depth": out["depth"], "num_samples": len(samples)}


@torch.no_grad()
def render_image(model, grid, intrinsics, c2w, w, background=None, config: RenderConfig | None = None,
                 chunk: int | None = None, progress: bool = False) -> dict[str, torch.Tensor]:
    """Render one full image, in chunks of rays, without gradients.

    Args:
        model, grid: as in :func:`render_rays`.
        intrinsics: ``width, height, fl_x, fl_y, cx, cy`` (pixels).
        c2w: [4, 4] camera-to-world (OpenGL axes).
        w: [K] expression coefficients.
        background: [H, W, 3] image, [3] colour, or None for white.
        config: render settings (default :class:`RenderConfig`).
        chunk: rays per chunk (default ``config.chunk_rays``).
        progress: show a progress bar over chunks.

    Returns:
        dict with ``rgb`` [H, W, 3], ``opacity`` [H, W], ``depth`` [H, W] and ``num_samples`` (int).
    """
    from tqdm.auto import tqdm

    config = config or RenderConfig()
    chunk = chunk or config.chunk_rays
    device = grid.aabb.device
    height, width = intrinsics.height, intrinsics.width
    origins, dirs = generate_rays(intrinsics, torch.as_tensor(c2w, dtype=torch.float32, device=device))
    origins, dirs = origins[0], dirs[0]
    w = torch.as_tensor(w, dtype=torch.float32, device=device).reshape(1, -1)
    if background is None:
        background = DEFAULT_BACKGROUND
    background = torch.as_tensor(background, dtype=torch.float32, device=device).expand(height, width, 3)
    background = background.reshape(-1, 3)

    parts: dict[str, list[torch.Tensor]] = {"rgb": [], "opacity": [], "depth": []}
    num_samples = 0
    for start in tqdm(range(0, origins.shape[0], chunk), desc="render", disable=not progress, leave=False):
        stop = start + chunk
        frame = torch.zeros(origins[start:stop].shape[0], dtype=torch.int64, device=device)
        out = render_rays(model, grid, origins[start:stop], dirs[start:stop], frame, w, background[start:stop],
                          config)
        for key, values in parts.items():
            values.append(out[key])
        num_samples += out["num_samples"]
    image = {key: torch.cat(values).reshape(height, width, -1).squeeze(-1) for key, values in parts.items()}
    image["num_samples"] = num_samples
    return image
