"""The public encoders: each checks its inputs and runs the best backend of :mod:`.backends`.

``hash_encode`` -> :func:`.backends.select_encoder_backend` -> the backend's function (the torch
reference in :mod:`.hashgrid` / :mod:`.blended`, or a compiled one from ``nbskit_cuda``).
"""

from __future__ import annotations

import torch

from .backends import ENCODE_BLENDED, HASH_ENCODE, select_encoder_backend
from .blended import blend_tables, check_coefficients
from .config import HashGridConfig
from .hashgrid import CORNERS_PER_CELL, check_encode_inputs, check_frame_range
from .position_gradient import attach_position_gradient


def hash_encode(
    x: torch.Tensor,
    tables: torch.Tensor,
    frame: torch.Tensor,
    config: HashGridConfig,
    backend: str | None = None,
) -> torch.Tensor:
    """Encode points with per-sample tables.

    Args:
        x: [N, 3] positions in [0, 1]^3 (samples outside encode to zeros).
        tables: [B, total_entries, F] one (already blended) table per frame.
        frame: [N] integer index into ``tables`` for each sample.
        config: the grid layout the tables follow.
        backend: force ``"torch"``, ``"cpu"``, ``"cuda"``...; None picks the fastest available.

    Returns:
        [N, L*F] features, level-major (level 0 features first). Differentiable in ``tables``,
        and in ``x`` when ``x`` requires a gradient (camera refinement; computed in torch).
    """
    check_encode_inputs(x, tables, frame, config)
    entry = select_encoder_backend(HASH_ENCODE, backend, x.device, tables.dtype)
    if not x.requires_grad:
        return entry.hash_encode(x, tables, frame, config)
    return attach_position_gradient(x, entry.hash_encode(x.detach(), tables, frame, config), tables, frame, config)


def encode_blended(
    x: torch.Tensor,
    tables: torch.Tensor,
    coefficients: torch.Tensor,
    frame: torch.Tensor,
    config: HashGridConfig,
    backend: str | None = None,
) -> torch.Tensor:
    """Encode points with the table of their frame, blended from K+1 tables.

    ``x``, ``config`` and ``backend`` are as for :func:`hash_encode`.

    Args:
        tables: [K+1, total_entries, F] mean table first, then the K bases.
        coefficients: [B, K+1] per-frame blend weights (first column normally 1).
        frame: [N] integer in [0, B): which row of ``coefficients`` each sample uses.

    Returns:
        [N, L*F], differentiable in ``tables`` and ``coefficients`` (and in ``x`` when it requires
        a gradient, as :func:`hash_encode`).
    """
    check_encode_inputs(x, tables, frame, config)
    check_coefficients(coefficients, tables)
    if x.requires_grad:
        features = encode_blended(x.detach(), tables, coefficients, frame, config, backend)
        return attach_position_gradient(x, features, blend_tables(tables.detach(), coefficients.detach()), frame,
                                        config)
    terms = sparse_terms(coefficients, x.shape[0], config)
    if terms is not None:
        return encode_sparse_rows(x, tables, coefficients, frame, config, terms, backend)
    entry = select_encoder_backend(ENCODE_BLENDED, backend, x.device, tables.dtype)
    if entry.encode_blended is not None:
        return entry.encode_blended(x, tables, coefficients, frame, config)
    return entry.hash_encode(x, blend_tables(tables, coefficients), frame, config)


# Blending B rows costs B*(K+1)*T*F multiply-adds whatever the number of samples; looking up one
# more raw table costs about this many multiply-adds per corner touched (measured with the cpu
# backend at the paper grid: a 2^17-sample lookup in 7 ms, a B=2, K=46 blend in 6 ms).
MULTIPLY_ADDS_PER_TOUCH = 6.4


def sparse_terms(coefficients: torch.Tensor, num_samples: int, config: HashGridConfig) -> torch.Tensor | None:
    """Columns of the non-zero coefficients of every row, [B, m] (m = most non-zeros in a row,
    padded with zero-coefficient columns), when combining m raw-table lookups per sample is cheaper
    than blending B full tables; else None. Many rows with few terms each arise when the occupancy
    grid probes the neutral plus one basis at a time (paper Eq. 9). Coefficients that need a
    gradient are always blended: a zero coefficient still has one, which the lookups would miss."""
    num_rows, num_tables = coefficients.shape
    if num_rows <= 1 or coefficients.requires_grad:
        return None
    blend_cost = num_rows * num_tables * config.total_entries * config.features
    lookup_cost = num_samples * config.levels * CORNERS_PER_CELL * MULTIPLY_ADDS_PER_TOUCH  # per raw table beyond the first
    if lookup_cost >= blend_cost:
        return None  # even two terms per row lose: skip counting them (a device sync on a GPU)
    nonzero = coefficients.detach() != 0
    terms = int(nonzero.sum(dim=1).max())
    if max(terms - 1, 0) * lookup_cost >= blend_cost:
        return None
    # Stable sort: each row's non-zero columns first, in column order.
    return torch.argsort((~nonzero).to(torch.int8), dim=1, stable=True)[:, : max(terms, 1)]


def encode_sparse_rows(
    x: torch.Tensor,
    tables: torch.Tensor,
    coefficients: torch.Tensor,
    frame: torch.Tensor,
    config: HashGridConfig,
    terms: torch.Tensor,
    backend: str | None = None,
) -> torch.Tensor:
    """:func:`encode_blended` as a sum over each row's few terms of coefficient x lookup in a raw
    table (the lookup is linear in the table, so this equals looking up the blended table).

    Args:
        terms: [B, m] the columns of each row's non-zero coefficients (from :func:`sparse_terms`).

    Returns:
        [N, L*F], differentiable in ``tables`` (and in the non-zero ``coefficients`` only).
    """
    # terms[frame] would wrap a negative frame round to the last row: check first (this path has
    # already read the coefficients, so the check adds no device wait of its own on a GPU).
    check_frame_range(frame, coefficients.shape[0])
    entry = select_encoder_backend(HASH_ENCODE, backend, x.device, tables.dtype)
    weights = coefficients.gather(1, terms).to(tables.dtype)  # [B, m]
    # Each slot looks up one raw table per sample: the table index takes the place of the frame.
    return sum(weights[frame, slot, None] * entry.hash_encode(x, tables, terms[frame, slot], config)
               for slot in range(terms.shape[1]))
