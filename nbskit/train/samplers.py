"""Which pixels a training step looks at: random rays over a few frames, and 32x32 face patches.

Every ray carries an explicit frame slot (its row in the batch's coefficient matrix); nothing
derives it from a ray id by integer division. All randomness comes from the ``generator`` argument,
which the trainer seeds from (seed, step), so a resumed run draws exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class PixelBatch:
    """Pixels of a step, grouped by frame.

    Attributes:
        frames: int64 [B] rows of the FrameSet (the frames of this batch).
        pixels: int64 [B, R, 2] (x, y) pixel coordinates, R per frame.
    """

    frames: torch.Tensor
    pixels: torch.Tensor

    @property
    def ray_slots(self) -> torch.Tensor:
        """int64 [B*R] batch slot (0..B-1) of each ray, matching ``pixels.reshape(-1, 2)``."""
        batch, rays = self.pixels.shape[:2]
        return torch.arange(batch).repeat_interleave(rays)


def sample_frames(num_frames: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """int64 [batch] frames drawn uniformly with replacement from ``range(num_frames)``."""
    return torch.randint(num_frames, (batch,), generator=generator)


def sample_random_rays(frames: torch.Tensor, width: int, height: int, rays_per_frame: int,
                       generator: torch.Generator) -> PixelBatch:
    """Uniformly random pixels: ``rays_per_frame`` in each of ``frames`` [B]."""
    shape = (len(frames), rays_per_frame)
    xs = torch.randint(width, shape, generator=generator)
    ys = torch.randint(height, shape, generator=generator)
    return PixelBatch(frames=frames, pixels=torch.stack([xs, ys], dim=-1))


def patch_offsets(size: int) -> torch.Tensor:
    """int64 [size*size, 2] (x, y) offsets of a size x size patch, row-major."""
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)


def sample_patches(frames: torch.Tensor, face_boxes: torch.Tensor, mouth_boxes: torch.Tensor, size: int,
                   width: int, height: int, mouth_probability: float, generator: torch.Generator) -> PixelBatch:
    """One size x size patch per frame [P], centred at a uniform point of the mouth box (with
    probability ``mouth_probability``) or else of the face box; patches are shifted to lie inside the image.

    Args:
        frames: int64 [P] frame rows; face_boxes, mouth_boxes: float32 [N, 4] (x0, y0, x1, y1) per frame row.

    Returns:
        PixelBatch with pixels [P, size*size, 2].
    """
    if size > min(width, height):
        raise ValueError(f"patch size {size} does not fit in a {width}x{height} image")
    count = len(frames)
    in_mouth = torch.rand(count, generator=generator) < mouth_probability
    boxes = torch.where(in_mouth[:, None], mouth_boxes[frames], face_boxes[frames])
    u = torch.rand(count, 2, generator=generator)
    centres = boxes[:, :2] + u * (boxes[:, 2:] - boxes[:, :2])
    corner = torch.floor(centres - size / 2).long()
    corner[:, 0] = corner[:, 0].clamp(0, width - size)
    corner[:, 1] = corner[:, 1].clamp(0, height - size)
    return PixelBatch(frames=frames, pixels=corner[:, None, :] + patch_offsets(size)[None])


def gather(values: torch.Tensor, batch: PixelBatch) -> torch.Tensor:
    """Per-pixel values [N, H, W, ...] at the batch's pixels -> [B*R, ...]."""
    frames = batch.frames[:, None].expand(batch.pixels.shape[:2])
    return values[frames, batch.pixels[..., 1], batch.pixels[..., 0]].reshape(-1, *values.shape[3:])


def _rays(config, data, frames: torch.Tensor, generator: torch.Generator) -> PixelBatch:
    return sample_random_rays(frames, data.width, data.height, config.rays_per_frame, generator)


def _patches(config, data, frames: torch.Tensor, generator: torch.Generator) -> PixelBatch | None:
    if config.patches_per_batch <= 0:
        return None
    return sample_patches(frames[: config.patches_per_batch], data.face_boxes, data.mouth_boxes,
                          config.patch_size, data.width, data.height, config.mouth_patch_probability, generator)


# name -> sampler(config, frame set, frames [B], generator) -> PixelBatch or None (nothing to draw);
# a training stage lists the names it renders (nbskit.train.stages).
SAMPLERS: dict[str, Callable] = {"rays": _rays, "patches": _patches}
