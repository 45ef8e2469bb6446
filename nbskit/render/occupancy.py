"""Occupancy grid over the scene box, with the expression-aware update of the paper (Eq. 9).

The grid keeps, per cell, a running estimate of the largest density the field can produce there,
and a packed bitfield of the cells worth sampling. The marcher skips every cell whose bit is 0.

Cell layout (shared with the compiled core): cell (i, j, k) along (x, y, z) covers
``aabb_min + [i, i+1] * cell_extent`` and has linear index ``(i * R + j) * R + k``; bit ``index % 8``
(least significant first) of byte ``index // 8`` of ``bitfield`` says whether it is occupied.

Densities are stored in the field's world units (1 / world length). The threshold is expressed per
aabb length (``sigma * longest_side``: the optical depth of a ray crossing the whole box at that
density), so that a grid behaves the same whether the scene is in metres or centimetres. By default
a cell is skipped when a ray crossing it would lose less than ``CELL_OPTICAL_DEPTH`` of its light
(instant-ngp's threshold is likewise an optical depth per step, 0.01 per smallest step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Field evaluations (cells x probe rows) per model call during an update: bounds memory (the
# expression-aware policy probes K+1 rows per cell), not results.
UPDATE_SAMPLES = 1 << 16
# Default threshold: optical depth across one cell below which the cell is empty (1% of the light).
# A threshold for the whole box instead (e.g. 0.01 per box length) sits far below the faint initial
# fog of a fresh field, so nothing is skipped until the fog has decayed away (hundreds of steps).
CELL_OPTICAL_DEPTH = 0.01
_BIT_WEIGHTS = torch.tensor([1 << b for b in range(8)], dtype=torch.uint8)


def pack_bits(occupied: torch.Tensor) -> torch.Tensor:
    """[R,R,R] bool -> [R³/8] uint8, bit ``index % 8`` of byte ``index // 8`` (linear cell index)."""
    flat = occupied.reshape(-1, 8).to(torch.uint8)
    return (flat * _BIT_WEIGHTS.to(flat.device)).sum(dim=1, dtype=torch.uint8)


def unpack_bits(bitfield: torch.Tensor, resolution: int) -> torch.Tensor:
    """[R³/8] uint8 -> [R,R,R] bool; inverse of :func:`pack_bits`."""
    bits = (bitfield[:, None] & _BIT_WEIGHTS.to(bitfield.device)) != 0
    return bits.reshape(resolution, resolution, resolution)


def _expression_probes(expression_max: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 9: the neutral (1, 0, …, 0) and, for each basis i, (1, 0, …, ŵ_i, …, 0): [K+1, K+1]."""
    k = expression_max.shape[0]
    rows = torch.zeros(k + 1, k + 1, dtype=torch.float32, device=expression_max.device)
    rows[:, 0] = 1.0
    rows[1:, 1:] = torch.diag(expression_max.to(torch.float32))
    return rows


def _neutral_probes(expression_max: torch.Tensor) -> torch.Tensor:
    """The mean table only: the neutral row (1, 0, …, 0), [1, K+1]."""
    return _expression_probes(expression_max)[:1]


def _no_probes(expression_max: torch.Tensor) -> None:
    """Dense sampling: every cell stays occupied and the grid is never updated."""


# Occupancy policies: name -> probe rule(ŵ [K]) -> [P, K+1] coefficient rows at which an update
# evaluates the field (the first column is the mean table's constant 1), or None for no updates.
POLICIES: dict[str, Callable[[torch.Tensor], torch.Tensor | None]] = {
    "expression": _expression_probes,
    "neutral": _neutral_probes,
    "none": _no_probes,
}


def expression_probe_coefficients(expression_max: torch.Tensor, policy: str) -> torch.Tensor | None:
    """Coefficient rows [P, K+1] at which a grid of ``policy`` evaluates the field (see :data:`POLICIES`).

    Args:
        expression_max: [K] training maximum ŵ of every coefficient.
    """
    return POLICIES[policy](expression_max)


class OccupancyGrid(torch.nn.Module):
    """A ``resolution``³ grid over ``aabb`` with a float density estimate and a packed bitfield.

    Args:
        aabb: [2, 3] scene box (world).
        resolution: cells per side (a multiple of 2, so that R³ is a whole number of bytes).
        policy: a key of :data:`POLICIES`: 'expression' (paper Eq. 9), 'neutral' (mean table
            only) or 'none' (every cell occupied, never updated: dense sampling).
        decay: per-update decay of old estimates, ``grid = max(decay * grid, new)``.
        threshold: occupancy threshold in density per aabb length; a cell is occupied when its
            density exceeds ``min(threshold, mean density)``. Default (None):
            ``CELL_OPTICAL_DEPTH * resolution``, i.e. light crossing one cell loses 1%.

    Before the first update every cell is occupied, so an untrained field renders densely.
    """

    def __init__(self, aabb, resolution: int = 128, policy: str = "expression", decay: float = 0.95,
                 threshold: float | None = None):
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"OccupancyGrid: policy must be one of {tuple(POLICIES)}, got {policy!r}")
        if resolution < 2 or resolution % 2:
            raise ValueError(f"OccupancyGrid: resolution must be an even number >= 2, got {resolution}")
        aabb = torch.as_tensor(aabb, dtype=torch.float32)
        if aabb.shape != (2, 3) or not bool((aabb[1] > aabb[0]).all()):
            raise ValueError(f"OccupancyGrid: aabb must be [2,3] with max > min, got {aabb.tolist()}")
        self.resolution = resolution
        self.policy = policy
        self.decay = decay
        self.threshold = CELL_OPTICAL_DEPTH * resolution if threshold is None else threshold
        self.register_buffer("aabb", aabb)
        self.register_buffer("density", torch.zeros(resolution, resolution, resolution))
        self.register_buffer("bitfield", pack_bits(torch.ones(resolution, resolution, resolution, dtype=torch.bool)))

    # --- geometry -------------------------------------------------------------------------------
    @property
    def cell_extent(self) -> torch.Tensor:
        """[3] size of one cell along x, y, z (world)."""
        return (self.aabb[1] - self.aabb[0]) / self.resolution

    @property
    def cell_diagonal(self) -> float:
        """Length of one cell's diagonal (world): the largest march step."""
        return float(self.cell_extent.norm())

    @property
    def box_length(self) -> float:
        """Longest side of the aabb (world): the unit in which ``threshold`` is expressed."""
        return float((self.aabb[1] - self.aabb[0]).max())

    def occupied(self) -> torch.Tensor:
        """[R,R,R] bool occupancy unpacked from the bitfield."""
        return unpack_bits(self.bitfield, self.resolution)

    def occupied_fraction(self) -> float:
        return float(self.occupied().float().mean())

    def cell_centers(self) -> torch.Tensor:
        """[R³, 3] world positions of the cell centres, in linear cell order."""
        return self._cell_positions(torch.arange(self.resolution**3, device=self.aabb.device))

    def _cell_positions(self, index: torch.Tensor, jitter: bool = False,
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """[N, 3] world positions inside the cells ``index`` [N]: centres, or uniform in the cell."""
        r = self.resolution
        ijk = torch.stack([index // (r * r), (index // r) % r, index % r], dim=-1).to(torch.float32)
        if jitter:
            offset = torch.rand(ijk.shape, generator=generator, device=ijk.device)
        else:
            offset = torch.full_like(ijk, 0.5)
        return self.aabb[0] + (ijk + offset) * self.cell_extent

    # --- update -------------------------------------------------------------------------------
    @torch.no_grad()
    def update(self, model, expression_max, num_cells: int | None = None,
               generator: torch.Generator | None = None, progress: bool = False) -> None:
        """Re-estimate the grid from ``model`` (paper Eq. 9) and rebuild the bitfield.

        Args:
            model: a field with ``density_from_coefficients(x [N,3], frame [N], coefficients [P,K+1])``.
            expression_max: [K] training maximum of each coefficient (ŵ).
            num_cells: cells to evaluate this update. None evaluates every cell. Otherwise, as in
                instant-ngp, half are drawn uniformly and half among the currently occupied cells
                (so occupied cells are refreshed often enough not to decay away).
            generator: random source for cell choice and in-cell jitter (jittered positions avoid
                missing thin structures that always fall between cell centres).
            progress: show a progress bar over evaluation batches.
        """
        device = self.aabb.device
        expression_max = torch.as_tensor(expression_max, dtype=torch.float32, device=device)
        probes = expression_probe_coefficients(expression_max, self.policy)
        if probes is None:
            return
        cells = self._choose_cells(num_cells, generator)
        estimate = torch.zeros(self.resolution**3, device=device)
        estimate[cells] = self._max_density(model, cells, probes, generator, progress)
        dilated = F.max_pool3d(estimate.view(1, 1, *self.density.shape), kernel_size=3, stride=1, padding=1)
        self.density.copy_(torch.maximum(self.decay * self.density, dilated.view_as(self.density)))
        self._rebuild_bitfield()

    def _choose_cells(self, num_cells: int | None, generator: torch.Generator | None) -> torch.Tensor:
        total = self.resolution**3
        device = self.aabb.device
        if num_cells is None or num_cells >= total:
            return torch.arange(total, device=device)
        uniform = torch.randint(total, (num_cells - num_cells // 2,), generator=generator, device=device)
        occupied = self.occupied().reshape(-1).nonzero().squeeze(1)
        if occupied.numel() == 0:
            return uniform
        pick = torch.randint(occupied.numel(), (num_cells // 2,), generator=generator, device=device)
        return torch.cat([uniform, occupied[pick]])

    def _max_density(self, model, cells, probes, generator, progress) -> torch.Tensor:
        """[len(cells)] max over probe coefficient rows of the density at jittered cell positions."""
        from tqdm.auto import tqdm

        num_probes = probes.shape[0]
        result = torch.empty(cells.shape[0], device=cells.device)
        batch = max(1, UPDATE_SAMPLES // num_probes)
        starts = range(0, cells.shape[0], batch)
        for start in tqdm(starts, desc="occupancy update", disable=not progress, leave=False):
            chunk = cells[start : start + batch]
            x = self._cell_positions(chunk, jitter=True, generator=generator)
            # Every point is evaluated once per probe row: frame p reads coefficient row p.
            frame = torch.arange(num_probes, device=x.device).repeat_interleave(x.shape[0])
            sigma = model.density_from_coefficients(x.repeat(num_probes, 1), frame, probes)
            result[start : start + chunk.shape[0]] = sigma.view(num_probes, -1).amax(dim=0)
        return result

    def _rebuild_bitfield(self) -> None:
        per_box = self.density * self.box_length
        cutoff = min(self.threshold, float(per_box.mean()))
        self.bitfield.copy_(pack_bits(per_box > cutoff))


@dataclass(frozen=True)
class OccupancySchedule:
    """When and how much of the grid to update during training (instant-ngp's schedule).

    Every ``every`` steps; during the first ``warmup_steps`` every cell is evaluated, afterwards
    ``cell_fraction`` of them (half uniform, half among occupied cells).
    """

    every: int = 16
    warmup_steps: int = 256
    cell_fraction: float = 0.25

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def num_cells(self, step: int, resolution: int) -> int | None:
        """Cells to evaluate at ``step`` (None = all)."""
        if step < self.warmup_steps:
            return None
        return max(1, int(self.cell_fraction * resolution**3))

    def maybe_update(self, grid: OccupancyGrid, step: int, model, expression_max,
                     generator: torch.Generator | None = None) -> bool:
        """Update ``grid`` if ``step`` is due; returns whether it did."""
        if not self.due(step):
            return False
        grid.update(model, expression_max, self.num_cells(step, grid.resolution), generator)
        return True
