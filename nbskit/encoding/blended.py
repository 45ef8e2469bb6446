"""Blended hash tables, the torch reference: K+1 tables mixed per frame by expression coefficients.

The mean table h0 has the constant coefficient 1 and each expression basis h_i the frame's
(clamped) coefficient w_i, so frame b reads ``h_b = h0 + sum_i w_bi h_i = c_b @ tables``. Because
trilinear lookup is linear in the table, blending before or after the lookup gives the same
numbers; the torch backend blends first (one matmul), compiled backends may fuse the two.
The dispatching :func:`nbskit.encoding.encode_blended` lives in :mod:`.dispatch`.
"""

from __future__ import annotations

import torch

from .config import HashGridConfig
from .hashgrid import hash_encode_torch


def encode_blended_torch(
    x: torch.Tensor,
    tables: torch.Tensor,
    coefficients: torch.Tensor,
    frame: torch.Tensor,
    config: HashGridConfig,
) -> torch.Tensor:
    """The torch backend of :func:`nbskit.encoding.encode_blended`: blend (one matmul), then look up."""
    return hash_encode_torch(x, blend_tables(tables, coefficients), frame, config)


def blend_tables(tables: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """[K+1, total, F] tables and [B, K+1] coefficients -> [B, total, F] blended tables."""
    num_tables, total, features = tables.shape
    blended = coefficients.to(tables.dtype) @ tables.reshape(num_tables, total * features)
    return blended.reshape(coefficients.shape[0], total, features)


def check_coefficients(coefficients: torch.Tensor, tables: torch.Tensor) -> None:
    """Raise a ValueError unless coefficients are [B, K+1] for these tables, on their device."""
    if coefficients.ndim != 2 or coefficients.shape[1] != tables.shape[0]:
        raise ValueError(
            f"coefficients must be [B, K+1={tables.shape[0]}] (one row per frame); got {tuple(coefficients.shape)}"
        )
    if coefficients.device != tables.device:
        raise ValueError(f"coefficients on {coefficients.device} but tables on {tables.device}")
