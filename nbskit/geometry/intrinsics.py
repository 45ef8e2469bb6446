"""Pinhole camera intrinsics, shared by subject folders, ray generation and the synthetic renderer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Intrinsics:
    """Pinhole intrinsics shared by all frames, in pixels (rays go through pixel centres)."""

    width: int
    height: int
    fl_x: float
    fl_y: float
    cx: float
    cy: float

    def matrix(self) -> np.ndarray:
        """The 3x3 calibration matrix K, float32 [3, 3]."""
        return np.array(
            [[self.fl_x, 0.0, self.cx], [0.0, self.fl_y, self.cy], [0.0, 0.0, 1.0]], dtype=np.float32
        )
