"""Real spherical harmonics of view directions, degree 4 (bands 0..3, 16 values).

"Degree 4" follows the instant-ngp naming: the number of bands, so 4² = 16 outputs. The basis is
the orthonormal real SH on the unit sphere (∫ Y_i Y_j dΩ = δ_ij) with the sign convention used by
instant-ngp-style encoders. Unlike instant-ngp's kernel, which first maps inputs from [0, 1] to
[-1, 1], this function expects unit vectors directly (components already in [-1, 1]).
"""

from __future__ import annotations

import math

import torch

SH_DEGREE = 4
SH_OUTPUT_DIM = SH_DEGREE**2

# Normalisation constants sqrt((2l+1)/(4π) · (l-|m|)!/(l+|m|)!) times the polynomial factors,
# named by band and order.
_C00 = 0.5 * math.sqrt(1 / math.pi)
_C1 = math.sqrt(3 / (4 * math.pi))
_C2_XY = 0.5 * math.sqrt(15 / math.pi)
_C2_Z = 0.25 * math.sqrt(5 / math.pi)
_C2_XX_YY = 0.25 * math.sqrt(15 / math.pi)
_C3_3 = 0.25 * math.sqrt(35 / (2 * math.pi))
_C3_2 = 0.5 * math.sqrt(105 / math.pi)
_C3_1 = 0.25 * math.sqrt(21 / (2 * math.pi))
_C3_0 = 0.25 * math.sqrt(7 / math.pi)
_C3_2_XX_YY = 0.25 * math.sqrt(105 / math.pi)


def sh_encode(directions: torch.Tensor) -> torch.Tensor:
    """[N, 3] unit directions -> [N, 16] real SH values, ordered by band l then order m = -l..l."""
    if directions.ndim != 2 or directions.shape[1] != 3:
        raise ValueError(f"directions must be [N, 3]; got {tuple(directions.shape)}")
    x, y, z = directions.unbind(dim=1)
    xx, yy, zz = x * x, y * y, z * z
    values = [
        torch.full_like(x, _C00),
        # band 1
        -_C1 * y,
        _C1 * z,
        -_C1 * x,
        # band 2
        _C2_XY * x * y,
        -_C2_XY * y * z,
        _C2_Z * (3 * zz - 1),
        -_C2_XY * x * z,
        _C2_XX_YY * (xx - yy),
        # band 3
        _C3_3 * y * (yy - 3 * xx),
        _C3_2 * x * y * z,
        _C3_1 * y * (1 - 5 * zz),
        _C3_0 * z * (5 * zz - 3),
        _C3_1 * x * (1 - 5 * zz),
        _C3_2_XX_YY * z * (xx - yy),
        _C3_3 * x * (3 * yy - xx),
    ]
    return torch.stack(values, dim=1)
