"""Multi-resolution hash encoding: the readable PyTorch reference (docs/architecture.md, “Hash encoding”).

Nothing here dispatches: :func:`nbskit.encoding.hash_encode` (in :mod:`.dispatch`) picks a backend,
of which :func:`hash_encode_torch` is the reference.

For each level l a sample x in [0,1]^3 is scaled onto a grid (``pos = x * scale_l + 0.5``), the
8 corners of its cell are turned into table rows (dense index on coarse levels, a uint32 XOR hash
on fine ones), and their features are blended with trilinear weights. The levels are concatenated.

Every sample carries a frame index that selects one of B tables (the blended table of its frame).
Levels are processed one at a time so that 2^17 samples x 16 levels x 8 corners never live in
memory at once.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from .config import SPATIAL_DIMS, HashGridConfig

# Per-axis multipliers of the spatial hash (the first is 1: x passes through unchanged).
HASH_PRIMES = (1, 2654435761, 805459861)
UINT32_MASK = 0xFFFFFFFF
CORNERS_PER_CELL = 2**SPATIAL_DIMS


def hash_encode_torch(
    x: torch.Tensor, tables: torch.Tensor, frame: torch.Tensor, config: HashGridConfig
) -> torch.Tensor:
    """The torch backend of :func:`nbskit.encoding.hash_encode` (inputs already checked)."""
    check_frame_range(frame, tables.shape[0])
    return _HashEncode.apply(x, tables, frame, config)


def check_frame_range(frame: torch.Tensor, num_tables: int) -> None:
    """Raise an IndexError unless every index of ``frame`` [N] lies in [0, num_tables).

    Reads the values, so on a GPU it waits for the device. The compiled CPU kernels raise the same
    error themselves; the CUDA ones call this only with ``NBSKIT_CHECK_INPUTS=1``.
    """
    if frame.numel() == 0:
        return
    low, high = (int(value) for value in torch.aminmax(frame))
    if low < 0 or high >= num_tables:
        raise IndexError(
            f"hash_encode: frame indices must lie in [0, {num_tables}) (one per table); got range [{low}, {high}]"
        )


def check_encode_inputs(
    x: torch.Tensor, tables: torch.Tensor, frame: torch.Tensor, config: HashGridConfig
) -> None:
    """Raise a ValueError naming the argument whose shape, dtype or device is wrong."""
    if x.ndim != 2 or x.shape[1] != SPATIAL_DIMS or not x.is_floating_point():
        raise ValueError(f"x must be a floating tensor [N, 3]; got {tuple(x.shape)} {x.dtype}")
    expected = (config.total_entries, config.features)
    if tables.ndim != 3 or tuple(tables.shape[1:]) != expected or not tables.is_floating_point():
        raise ValueError(
            f"tables must be a floating tensor [B, {expected[0]}, {expected[1]}] for {config}; "
            f"got {tuple(tables.shape)} {tables.dtype}"
        )
    if frame.shape != (x.shape[0],) or frame.is_floating_point() or frame.dtype == torch.bool:
        raise ValueError(
            f"frame must be an integer tensor [N={x.shape[0]}]; got {tuple(frame.shape)} {frame.dtype}"
        )
    if not (x.device == tables.device == frame.device):
        raise ValueError(
            f"x, tables and frame must share a device; got {x.device}, {tables.device}, {frame.device}"
        )


def grid_index(corners: torch.Tensor, level: int, config: HashGridConfig) -> torch.Tensor:
    """Row of each grid corner within its level's table.

    Args:
        corners: [..., 3] integer grid coordinates in [0, res_l].
    Returns:
        [...] int64 in [0, entries_l).
    """
    corners = corners.to(torch.int64)
    index = _axis_term(corners[..., 0], 0, level, config)
    for axis in range(1, SPATIAL_DIMS):
        index = _combine_axis_terms(index, _axis_term(corners[..., axis], axis, level, config), level, config)
    return index % config.entries(level)


def _axis_term(coordinate: torch.Tensor, axis: int, level: int, config: HashGridConfig) -> torch.Tensor:
    """One axis' share of a corner's index: both index rules are separable over axes."""
    if config.is_dense(level):
        return coordinate * (config.resolution(level) + 1) ** axis
    # uint32 product emulated in int64: coordinates < 2^31 and primes < 2^32 cannot overflow int64
    # before the mask drops the bits above 32.
    return (coordinate * HASH_PRIMES[axis]) & UINT32_MASK


def _combine_axis_terms(a: torch.Tensor, b: torch.Tensor, level: int, config: HashGridConfig) -> torch.Tensor:
    """Dense levels add the per-axis terms (row-major index); hashed levels XOR them."""
    return a + b if config.is_dense(level) else a ^ b


def level_rows_and_weights(
    x: torch.Tensor, frame: torch.Tensor, level: int, config: HashGridConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8 table rows each sample reads at one level, and their trilinear weights.

    Corner i of a cell lies on the upper side along axis d when bit d of i is set. Both the index
    and the weight of a corner factor over axes, so each is built from per-axis pairs
    (lower, upper) [N, 2] by broadcasting to [N, 2(z), 2(y), 2(x)] = [N, 8].

    Args:
        x: [N, 3] positions; samples outside [0, 1]^3 get zero weights.
        frame: [N] table index per sample.
    Returns:
        rows [N, 8] int64 into ``tables.reshape(B * total_entries, F)``;
        weights [N, 8] in the dtype of ``x``.
    """
    num_samples = x.shape[0]
    inside = ((x >= 0) & (x <= 1)).all(dim=1)
    # Outside samples are moved to the origin so their (zero-weighted) rows stay in range.
    x_safe = torch.where(inside[:, None], x, torch.zeros_like(x))
    pos = x_safe * config.scale(level) + 0.5
    cell = torch.floor(pos)
    frac = pos - cell
    lower_upper = cell.to(torch.int64)[:, :, None] + torch.arange(2, device=x.device)  # [N, 3, 2]
    index = None
    for axis in range(SPATIAL_DIMS):
        term = _axis_term(lower_upper[:, axis], axis, level, config).reshape(_corner_axis_shape(num_samples, axis))
        index = term if index is None else _combine_axis_terms(index, term, level, config)
    index = index.reshape(num_samples, CORNERS_PER_CELL) % config.entries(level)
    weights = corner_products(torch.stack([1 - frac, frac], dim=2)) * inside[:, None]
    first_row = frame.to(torch.int64) * config.total_entries + int(config.offsets()[level])
    return first_row[:, None] + index, weights


def _corner_axis_shape(num_samples: int, axis: int) -> list[int]:
    """Axis d varies along dimension -(d+1) of the [N, 2(z), 2(y), 2(x)] corner block."""
    shape = [num_samples] + [1] * SPATIAL_DIMS
    shape[SPATIAL_DIMS - axis] = 2
    return shape


def corner_products(factors: torch.Tensor) -> torch.Tensor:
    """Per-axis (lower, upper) factors [N, 3, 2] -> their products at the 8 cell corners [N, 8],
    in the corner order of :func:`level_rows_and_weights` (trilinear weights when the factors are
    (1 - frac, frac))."""
    num_samples = factors.shape[0]
    product = None
    for axis in range(SPATIAL_DIMS):
        factor = factors[:, axis].reshape(_corner_axis_shape(num_samples, axis))
        product = factor if product is None else product * factor
    return product.reshape(num_samples, CORNERS_PER_CELL)


def corner_loads(config: HashGridConfig, level: int, progress: bool = False) -> torch.Tensor:
    """How many grid corners of a level land on each table entry (exact, by enumeration).

    Corners are enumerated one z-slice at a time, so memory stays at (res_l + 1)^2 indices even at
    the finest paper level (about 10^9 corners).

    Returns:
        [entries_l] int64; a dense level has all ones, a hashed level counts its collisions.
    """
    side = config.resolution(level) + 1
    axis = torch.arange(side)
    plane_y, plane_x = torch.meshgrid(axis, axis, indexing="ij")
    corners = torch.stack([plane_x, plane_y, torch.zeros_like(plane_x)], dim=-1).reshape(-1, SPATIAL_DIMS)
    loads = torch.zeros(config.entries(level), dtype=torch.int64)
    for z in tqdm(range(side), desc=f"level {level} corners", disable=not progress, leave=False):
        corners[:, 2] = z
        loads += torch.bincount(grid_index(corners, level, config), minlength=loads.numel())
    return loads


class _HashEncode(torch.autograd.Function):
    """Gather forward, scatter-add backward.

    Only ``x`` and ``frame`` are saved; the backward recomputes rows and weights level by level.
    Plain autograd over the gathers would keep N x L x 8 indices and weights alive until backward
    (about 200 MB for 2^17 samples at the paper config) and build one graph node per level.
    """

    @staticmethod
    def forward(ctx, x, tables, frame, config):
        ctx.save_for_backward(x, frame)
        ctx.config = config
        ctx.table_shape = tables.shape
        compute_dtype = torch.promote_types(tables.dtype, torch.float32)
        flat_tables = tables.reshape(-1, config.features)
        out = x.new_empty((x.shape[0], config.levels, config.features), dtype=compute_dtype)
        for level in range(config.levels):
            rows, weights = level_rows_and_weights(x, frame, level, config)
            # index_select on the flattened rows is several times faster than advanced indexing.
            gathered = flat_tables.index_select(0, rows.reshape(-1)).to(compute_dtype)
            corner_features = gathered.reshape(*rows.shape, config.features)  # [N, 8, F]
            out[:, level] = torch.einsum("nc,ncf->nf", weights.to(compute_dtype), corner_features)
        return out.reshape(x.shape[0], config.output_dim).to(tables.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, frame = ctx.saved_tensors
        config = ctx.config
        compute_dtype = torch.promote_types(grad_out.dtype, torch.float32)
        grad_levels = grad_out.reshape(x.shape[0], config.levels, config.features).to(compute_dtype)
        grad_flat = torch.zeros(
            (ctx.table_shape[0] * ctx.table_shape[1], config.features), dtype=compute_dtype, device=x.device
        )
        for level in range(config.levels):
            rows, weights = level_rows_and_weights(x, frame, level, config)
            contributions = weights.to(compute_dtype)[..., None] * grad_levels[:, None, level]  # [N, 8, F]
            grad_flat.index_add_(0, rows.reshape(-1), contributions.reshape(-1, config.features))
        grad_tables = grad_flat.reshape(ctx.table_shape).to(grad_out.dtype)
        return None, grad_tables, None, None
