"""Configuration of a multi-resolution hash grid (docs/architecture.md, “Hash encoding”, paper Table 1).

A hash grid has L levels whose resolutions grow geometrically from ``base_resolution`` to
``finest_resolution``. Level l stores ``entries(l)`` rows of F features; coarse levels are small
enough to index densely (one row per grid corner), fine levels hash their corners into a table of
at most T = 2**log2_table_size rows. The per-level numbers below follow the original kernel's
arithmetic exactly, including where it rounds in float32, because the golden vectors depend on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

SPATIAL_DIMS = 3
BYTES_PER_FLOAT32 = 4


@dataclass(frozen=True)
class HashGridConfig:
    """Shape of one hash grid; one blended grid holds K+1 tables of this shape.

    Attributes:
        levels: L, number of resolution levels.
        features: F, features stored per table entry.
        log2_table_size: log2 of T, the most entries one level may hold.
        base_resolution: N_min, grid resolution of the coarsest level.
        finest_resolution: N_max, grid resolution of the finest level.
    """

    levels: int = 16
    features: int = 4
    log2_table_size: int = 14
    base_resolution: int = 16
    finest_resolution: int = 1024

    def __post_init__(self) -> None:
        for name in ("levels", "features", "log2_table_size", "base_resolution", "finest_resolution"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"HashGridConfig.{name} must be a positive integer, got {value!r}")
        if self.finest_resolution < self.base_resolution:
            raise ValueError(
                f"HashGridConfig.finest_resolution ({self.finest_resolution}) must be >= "
                f"base_resolution ({self.base_resolution})"
            )
        if self.log2_table_size > 31:
            raise ValueError(
                f"HashGridConfig.log2_table_size must be <= 31 (uint32 hash), got {self.log2_table_size}"
            )

    # ----------------------------------------------------------------- per-level geometry
    @property
    def table_size(self) -> int:
        """T, the cap on entries per level."""
        return 2**self.log2_table_size

    @property
    def growth_factor(self) -> float:
        """b = exp2(log2(N_max / N_min) / (L - 1)), in float64 as the host code computes it."""
        if self.levels == 1:
            return 1.0
        return 2.0 ** (math.log2(self.finest_resolution / self.base_resolution) / (self.levels - 1))

    def scale(self, level: int) -> float:
        """scale_l = exp2(l * log2 b) * N_min - 1, evaluated in float32 like the reference kernel.

        Positions are ``x * scale_l + 0.5``; fine levels amplify a one-ulp difference here, so the
        float32 rounding of every intermediate is reproduced.
        """
        log2_growth = np.float32(math.log2(self.growth_factor))
        exponent = np.float32(level) * log2_growth
        return float(np.exp2(exponent, dtype=np.float32) * np.float32(self.base_resolution) - np.float32(1.0))

    def resolution(self, level: int) -> int:
        """res_l = ceil(scale_l) + 1: grid corners per axis are 0..res_l (res_l + 1 of them)."""
        return math.ceil(self.scale(level)) + 1

    def entries(self, level: int) -> int:
        """entries_l = min(T, (ceil(N_min * b**l) + 1)**3), in float64 like the host code."""
        corners_per_axis = math.ceil(self.base_resolution * self.growth_factor**level) + 1
        return min(self.table_size, corners_per_axis**SPATIAL_DIMS)

    def is_dense(self, level: int) -> bool:
        """True if every grid corner of the level has its own entry (no hashing)."""
        return (self.resolution(level) + 1) ** SPATIAL_DIMS <= self.entries(level)

    # ----------------------------------------------------------------- table layout
    def offsets(self) -> torch.Tensor:
        """int32 [L+1]: first row of each level in a table, then the total row count."""
        starts = np.concatenate([[0], np.cumsum([self.entries(level) for level in range(self.levels)])])
        return torch.from_numpy(starts.astype(np.int32))

    @property
    def total_entries(self) -> int:
        """Rows of one table (all levels stored back to back)."""
        return sum(self.entries(level) for level in range(self.levels))

    @property
    def output_dim(self) -> int:
        """Width of an encoding: L * F."""
        return self.levels * self.features

    def table_bytes(self, bytes_per_value: int = BYTES_PER_FLOAT32) -> int:
        """Memory of one table [total_entries, F]."""
        return self.total_entries * self.features * bytes_per_value

    # ----------------------------------------------------------------- printing
    def describe(self, num_tables: int | None = None) -> str:
        """A readable per-level table: resolution, dense/hashed, entries, memory.

        Args:
            num_tables: if given (e.g. K+1 for a blended grid), also report the parameter memory
                of that many tables.
        """
        header = f"{'level':>5} {'scale':>10} {'res':>6} {'mode':>6} {'entries':>9} {'memory':>10}"
        title = (
            f"HashGridConfig: L={self.levels}, F={self.features}, T=2^{self.log2_table_size}, "
            f"N_min={self.base_resolution}, N_max={self.finest_resolution}, b={self.growth_factor:.6f}"
        )
        lines = [
            title,
            header,
            "-" * len(header),
        ]
        for level in range(self.levels):
            entries = self.entries(level)
            mode = "dense" if self.is_dense(level) else "hashed"
            lines.append(
                f"{level:>5} {self.scale(level):>10.4f} {self.resolution(level):>6} {mode:>6} "
                f"{entries:>9,} {format_bytes(entries * self.features * BYTES_PER_FLOAT32):>10}"
            )
        lines.append("-" * len(header))
        lines.append(
            f"one table: {self.total_entries:,} entries x {self.features} features = "
            f"{self.total_entries * self.features:,} float32 ({format_bytes(self.table_bytes())}); "
            f"output width {self.output_dim}"
        )
        if num_tables is not None:
            lines.append(
                f"{num_tables} tables: {num_tables * self.total_entries * self.features:,} parameters "
                f"({format_bytes(num_tables * self.table_bytes())})"
            )
        return "\n".join(lines)


def format_bytes(num_bytes: int) -> str:
    """Human-readable size with binary prefixes, e.g. ``3.76 MiB``."""
    size = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
