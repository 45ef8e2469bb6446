"""Camera rays and their intersection with the scene box.

Conventions (docs/architecture.md, “Units and conventions”): cameras are 4×4 camera-to-world matrices with OpenGL axes (x right, y up,
the camera looks down −z); a pixel (x, y) is hit by the ray through its centre (x + 0.5, y + 0.5);
pixel rows grow downwards, so a larger row means a *smaller* camera-space y.
"""

from __future__ import annotations

import torch

# Near distances are clamped to this fraction of the aabb diagonal: a ray must never start at its
# own origin (t = 0 would place samples inside the camera and make cone steps vanish).
MIN_NEAR_FRACTION = 1e-4
# Direction components smaller than this are replaced by ±this value in the slab test, so that a
# ray parallel to a slab gets an infinite (not NaN) entry distance.
_PARALLEL_EPS = 1e-12


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def pixel_grid(width: int, height: int, device=None) -> torch.Tensor:
    """All pixel coordinates of an image in row-major order.

    Returns:
        [H*W, 2] float32 (x, y) integer pixel coordinates (not centres).
    """
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)


def generate_rays(intrinsics, c2w: torch.Tensor, pixels: torch.Tensor | None = None):
    """Rays through pixel centres for a batch of cameras.

    Args:
        intrinsics: any object with ``width, height, fl_x, fl_y, cx, cy`` (pixels), e.g.
            ``nbskit.geometry.intrinsics.Intrinsics``.
        c2w: [B, 4, 4] (or [4, 4]) camera-to-world matrices, OpenGL axes.
        pixels: [B, R, 2] (x, y) integer pixel coordinates, or None for every pixel of the image in
            row-major order (R = H*W, the same pixels for every camera).

    Returns:
        origins [B, R, 3] and unit directions [B, R, 3] in world space (float32).
    """
    c2w = torch.as_tensor(c2w, dtype=torch.float32)
    if c2w.dim() == 2:
        c2w = c2w[None]
    if c2w.shape[-2:] != (4, 4):
        raise ValueError(f"generate_rays: c2w must be [B,4,4] camera-to-world, got {tuple(c2w.shape)}")
    batch = c2w.shape[0]
    if pixels is None:
        pixels = pixel_grid(intrinsics.width, intrinsics.height, c2w.device).expand(batch, -1, -1)
    pixels = torch.as_tensor(pixels, dtype=torch.float32, device=c2w.device)
    if pixels.dim() != 3 or pixels.shape[0] != batch or pixels.shape[-1] != 2:
        raise ValueError(f"generate_rays: pixels must be [B={batch}, R, 2] (x, y), got {tuple(pixels.shape)}")

    x = (pixels[..., 0] + 0.5 - intrinsics.cx) / intrinsics.fl_x
    y = (pixels[..., 1] + 0.5 - intrinsics.cy) / intrinsics.fl_y
    # OpenGL camera: image rows go down while camera y goes up; the camera looks along -z.
    dirs_camera = torch.stack([x, -y, -torch.ones_like(x)], dim=-1)  # [B, R, 3]
    dirs = torch.einsum("bij,brj->bri", c2w[:, :3, :3], dirs_camera)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    origins = c2w[:, None, :3, 3].expand_as(dirs)
    return origins, dirs


def ray_aabb_intersect(origins: torch.Tensor, dirs: torch.Tensor, aabb, min_near: float | None = None):
    """Slab test of rays against an axis-aligned box.

    Args:
        origins, dirs: [R, 3] ray origins and unit directions (world).
        aabb: [2, 3] box min and max corners.
        min_near: smallest allowed near distance; default ``MIN_NEAR_FRACTION`` of the aabb diagonal.

    Returns:
        near [R], far [R]: the segment of each ray inside the box, with near >= min_near.
        A ray that misses the box (or whose box lies behind it) has far <= near.
    """
    aabb = _as_tensor(aabb, origins)
    if aabb.shape != (2, 3):
        raise ValueError(f"ray_aabb_intersect: aabb must be [2,3] (min, max), got {tuple(aabb.shape)}")
    if min_near is None:
        min_near = MIN_NEAR_FRACTION * float((aabb[1] - aabb[0]).norm())
    safe = torch.where(dirs.abs() < _PARALLEL_EPS, torch.full_like(dirs, _PARALLEL_EPS).copysign(dirs), dirs)
    t0 = (aabb[0] - origins) / safe
    t1 = (aabb[1] - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(min_near)
    far = torch.maximum(t0, t1).amin(dim=-1)
    return near, far
