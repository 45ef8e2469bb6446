"""What the marcher promises every backend and every caller: its step sizes and its packed samples.

The torch reference (:mod:`nbskit.render.marching`) and the compiled kernels (``nbskit_cuda``) both
build on these, so they emit the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# After a jump to a cell boundary the ray moves this fraction of the minimum step further, so that
# the next sample lies strictly inside the next cell (rounding could leave it on the boundary).
BOUNDARY_NUDGE = 1e-3


@dataclass(frozen=True)
class MarchConfig:
    """Step sizes of the marcher, relative to the scene box so nothing depends on world units.

    Attributes:
        cone_angle: step grows as ``t * cone_angle`` (0 gives constant steps of ``min_step``).
        min_step: smallest step as a fraction of the aabb diagonal.
        max_steps: most samples one ray may emit.
    """

    cone_angle: float = 1.0 / 256
    min_step: float = 1.0 / 1024
    max_steps: int = 1024

    def __post_init__(self):
        if self.cone_angle < 0 or not 0 < self.min_step <= 1 or self.max_steps < 1:
            raise ValueError(f"MarchConfig: need cone_angle >= 0, 0 < min_step <= 1, max_steps >= 1; got {self}")


@dataclass
class PackedSamples:
    """Samples of many rays in flat arrays (S samples in all).

    The samples of one ray are contiguous and ordered by ``t``; rays appear in increasing index
    order; rays without samples simply do not appear.

    Attributes:
        ray_index: [S] int64 ray each sample belongs to.
        t_start, t_end: [S] the interval of the ray the sample stands for (world distances).
        positions: [S, 3] world position of the interval midpoint.
        directions: [S, 3] unit direction of the ray.
    """

    ray_index: torch.Tensor
    t_start: torch.Tensor
    t_end: torch.Tensor
    positions: torch.Tensor
    directions: torch.Tensor

    def __len__(self) -> int:
        return int(self.ray_index.shape[0])

    @classmethod
    def from_intervals(cls, ray_index: torch.Tensor, t_start: torch.Tensor, t_end: torch.Tensor,
                       origins: torch.Tensor, dirs: torch.Tensor) -> PackedSamples:
        """Samples at the midpoints of the intervals [t_start, t_end] of rays ``origins``, ``dirs`` [R, 3]."""
        directions = dirs[ray_index]
        positions = origins[ray_index] + (0.5 * (t_start + t_end))[:, None] * directions
        return cls(ray_index, t_start, t_end, positions, directions)

    def along(self, origins: torch.Tensor, dirs: torch.Tensor) -> PackedSamples:
        """The same intervals on other rays [R, 3] (e.g. differentiable copies of the marched ones)."""
        return PackedSamples.from_intervals(self.ray_index, self.t_start, self.t_end, origins, dirs)

    def counts(self, num_rays: int) -> torch.Tensor:
        """[num_rays] int64 number of samples of each ray."""
        return torch.bincount(self.ray_index, minlength=num_rays)


def step_sizes(t: torch.Tensor, config: MarchConfig, aabb: torch.Tensor, cell_diagonal: float) -> torch.Tensor:
    """[N] step ``clamp(t * cone_angle, min_step * aabb diagonal, cell_diagonal)`` at distances ``t`` [N]."""
    min_step = config.min_step * float((aabb[1] - aabb[0]).norm())
    return (t * config.cone_angle).clamp(min=min_step, max=max(min_step, cell_diagonal))
