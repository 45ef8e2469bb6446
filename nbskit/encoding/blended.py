"""Blended hash tables: K+1 tables mixed per frame by expression coefficients.

The mean table h0 has the constant coefficient 1 and each expression basis h_i the frame's
(clamped) coefficient w_i, so frame b reads ``h_b = h0 + sum_i w_bi h_i = c_b @ tables``. Because
trilinear lookup is linear in the table, blending before or after the lookup gives the same
numbers; the torch backend blends first (one matmul), compiled backends may fuse the two.
"""

from __future__ import annotations

import torch
from torch import nn

from .backends import ENCODE_BLENDED, HASH_ENCODE, select_encoder_backend
from .config import HashGridConfig
from .hashgrid import CORNERS_PER_CELL, check_encode_inputs, check_frame_range, hash_encode_torch

INIT_RANGE = 1e-4  # tables start as U(-1e-4, 1e-4), as in the paper


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
        [N, L*F], differentiable in ``tables`` and ``coefficients``.
    """
    check_encode_inputs(x, tables, frame, config)
    check_coefficients(coefficients, tables)
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


def encode_blended_torch(
    x: torch.Tensor,
    tables: torch.Tensor,
    coefficients: torch.Tensor,
    frame: torch.Tensor,
    config: HashGridConfig,
) -> torch.Tensor:
    """The torch backend of :func:`encode_blended`: blend (one matmul), then look up."""
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


class BlendedHashGrid(nn.Module):
    """A mean hash table plus K expression-basis tables, blended per frame.

    Parameters:
        tables: [K+1, total_entries, F], h0 (the mean) followed by the bases h1..hK. One
            parameter, so that every forward pass hands the encoder the tables without a copy;
            ``mean_table`` [1, total, F] and ``basis_tables`` [K, total, F] are views of it.
            Checkpoints that stored the two halves separately still load (see
            :func:`_merge_split_tables`).
    Buffers:
        expression_min, expression_max: [K] range of each coefficient over the training frames;
            coefficients are clamped to it at every forward pass (docs/architecture.md, “Units and conventions”).
    """

    def __init__(
        self,
        config: HashGridConfig,
        num_expressions: int,
        expression_min,
        expression_max,
        backend: str | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.num_expressions = int(num_expressions)
        self.backend = backend
        low = _as_float_vector(expression_min, "expression_min", self.num_expressions)
        high = _as_float_vector(expression_max, "expression_max", self.num_expressions)
        if bool((low > high).any()):
            bad = int(torch.nonzero(low > high)[0])
            raise ValueError(
                f"expression_min[{bad}]={float(low[bad])} exceeds expression_max[{bad}]={float(high[bad])}"
            )
        self.register_buffer("expression_min", low)
        self.register_buffer("expression_max", high)
        shape = (self.num_expressions + 1, config.total_entries, config.features)
        self.tables = nn.Parameter(torch.empty(shape).uniform_(-INIT_RANGE, INIT_RANGE))
        self.register_load_state_dict_pre_hook(_merge_split_tables)

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    @property
    def mean_table(self) -> torch.Tensor:
        """[1, total_entries, F]: h0, a view of ``tables`` (differentiable; its ``.grad`` is ``tables.grad[:1]``)."""
        return self.tables[:1]

    @property
    def basis_tables(self) -> torch.Tensor:
        """[K, total_entries, F]: h1..hK, a view of ``tables`` (e.g. for a loss on the bases alone)."""
        return self.tables[1:]

    def coefficients(self, w: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Blend weights (1, w) per frame.

        Args:
            w: [B, K] (or [K] for one frame) expression coefficients.
            clamp: clamp w to [expression_min, expression_max] first.
        Returns:
            [B, K+1]
        """
        w = torch.as_tensor(w, dtype=self.expression_min.dtype, device=self.expression_min.device)
        if w.ndim == 1:
            w = w[None]
        if w.ndim != 2 or w.shape[1] != self.num_expressions:
            raise ValueError(f"w must be [B, K={self.num_expressions}] or [K]; got {tuple(w.shape)}")
        if clamp:
            w = torch.clamp(w, self.expression_min, self.expression_max)
        return torch.cat([torch.ones_like(w[:, :1]), w], dim=1)

    def forward(
        self, x01: torch.Tensor, frame: torch.Tensor, w: torch.Tensor, clamp: bool = True
    ) -> torch.Tensor:
        """[N, 3] points in [0,1]^3, [N] frame index, [B, K] coefficients -> [N, L*F]."""
        return self.forward_coefficients(x01, frame, self.coefficients(w, clamp=clamp))

    def forward_coefficients(
        self, x01: torch.Tensor, frame: torch.Tensor, coefficients: torch.Tensor
    ) -> torch.Tensor:
        """Encode with raw blend weights [B, K+1], no clamp (e.g. the occupancy update, paper Eq. 9)."""
        return encode_blended(x01, self.tables, coefficients, frame, self.config, backend=self.backend)

    def extra_repr(self) -> str:
        return f"{self.config}, num_expressions={self.num_expressions}, backend={self.backend!r}"


SPLIT_TABLE_KEYS = ("mean_table", "basis_tables")  # how checkpoints before the single parameter stored it


def _merge_split_tables(
    module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
):
    """Load-state-dict pre-hook: ``<prefix>mean_table`` [1,T,F] + ``<prefix>basis_tables`` [K,T,F]
    (older checkpoints) become ``<prefix>tables`` [K+1,T,F], so old runs keep loading."""
    mean_key, basis_key = (prefix + name for name in SPLIT_TABLE_KEYS)
    if mean_key in state_dict and basis_key in state_dict and prefix + "tables" not in state_dict:
        state_dict[prefix + "tables"] = torch.cat(
            [state_dict.pop(mean_key), state_dict.pop(basis_key)], dim=0
        )


def _as_float_vector(values, name: str, length: int) -> torch.Tensor:
    tensor = torch.as_tensor(values, dtype=torch.float32).detach().cpu().clone()
    if tensor.shape != (length,):
        raise ValueError(f"{name} must have shape [K={length}]; got {tuple(tensor.shape)}")
    return tensor
