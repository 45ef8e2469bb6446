"""The hash encoding's gradient with respect to the sample positions.

The encoders differentiate in their tables (and blend coefficients) only: a field never moves its
own samples. Refining a camera does: its rays, hence its samples, depend on the correction. The
trilinear lookup is piecewise linear in x, so its derivative along axis d is the lookup of the
same corner features with the weight factor of axis d replaced by (-1, +1), times the level's scale.

:func:`attach_position_gradient` wraps any backend's output: the forward pass is unchanged (and as
fast as that backend), the backward pass adds the gradient for ``x`` computed here in torch.

Fine levels vary over less than a pixel and hold hash-collision noise; their derivative is large
and mostly noise for anything that moves samples (BARF's observation for positional encodings).
Inside ``with coarse_position_gradient(resolution):`` only levels of at most that grid resolution
contribute to the position gradient (the features themselves and their table gradients still use
every level).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from .config import SPATIAL_DIMS, HashGridConfig
from .hashgrid import corner_products, level_rows_and_weights

# d(1 - frac)/dfrac and d(frac)/dfrac: the (lower, upper) factor of the differentiated axis.
_DERIVATIVE_FACTORS = (-1.0, 1.0)
_LIMIT = {"max_resolution": None}  # set by coarse_position_gradient, read when a forward pass attaches


@contextmanager
def coarse_position_gradient(max_resolution: int | None):
    """Position gradients of encodings computed inside the block use only levels whose grid
    resolution is at most ``max_resolution`` (None: every level)."""
    previous = _LIMIT["max_resolution"]
    _LIMIT["max_resolution"] = max_resolution
    try:
        yield
    finally:
        _LIMIT["max_resolution"] = previous


def position_gradient(x: torch.Tensor, tables: torch.Tensor, frame: torch.Tensor, config: HashGridConfig,
                      grad_out: torch.Tensor, max_resolution: int | None = None) -> torch.Tensor:
    """dL/dx [N, 3] given dL/dfeatures ``grad_out`` [N, L*F], for features looked up in ``tables``
    [B, total_entries, F] (already blended) at x [N, 3] in [0, 1]^3; zero for samples outside.
    Levels finer than ``max_resolution`` (if given) are left out."""
    num_samples = x.shape[0]
    compute_dtype = torch.promote_types(grad_out.dtype, torch.float32)
    grad_levels = grad_out.reshape(num_samples, config.levels, config.features).to(compute_dtype)
    flat_tables = tables.reshape(-1, config.features)
    inside = ((x >= 0) & (x <= 1)).all(dim=1)
    x_safe = torch.where(inside[:, None], x, torch.zeros_like(x)).to(compute_dtype)
    derivative = torch.tensor(_DERIVATIVE_FACTORS, dtype=compute_dtype, device=x.device).expand(num_samples, 2)
    grad_x = torch.zeros((num_samples, SPATIAL_DIMS), dtype=compute_dtype, device=x.device)
    for level in range(config.levels):
        if max_resolution is not None and config.resolution(level) > max_resolution:
            break  # levels grow finer
        rows, _ = level_rows_and_weights(x_safe, frame, level, config)
        corners = flat_tables.index_select(0, rows.reshape(-1)).to(compute_dtype).reshape(*rows.shape, config.features)
        along_corner = torch.einsum("ncf,nf->nc", corners, grad_levels[:, level])  # [N, 8]
        scale = config.scale(level)
        frac = x_safe * scale + 0.5
        frac = frac - torch.floor(frac)
        factors = torch.stack([1 - frac, frac], dim=2)  # [N, 3, 2]
        for axis in range(SPATIAL_DIMS):
            differentiated = factors.clone()
            differentiated[:, axis] = derivative
            grad_x[:, axis] += scale * (along_corner * corner_products(differentiated)).sum(dim=1)
    return (grad_x * inside[:, None]).to(x.dtype)


class _AttachPositionGradient(torch.autograd.Function):
    """Identity on ``features``; backward also returns dL/dx from :func:`position_gradient`."""

    @staticmethod
    def forward(ctx, x, features, tables, frame, config):
        ctx.save_for_backward(x, tables, frame)
        ctx.config, ctx.max_resolution = config, _LIMIT["max_resolution"]
        return features.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, tables, frame = ctx.saved_tensors
        grad_x = position_gradient(x, tables, frame, ctx.config, grad_out, ctx.max_resolution)
        return grad_x, grad_out, None, None, None


def attach_position_gradient(x: torch.Tensor, features: torch.Tensor, tables: torch.Tensor, frame: torch.Tensor,
                             config: HashGridConfig) -> torch.Tensor:
    """``features`` [N, L*F] (computed from ``x.detach()``), made differentiable in ``x`` [N, 3] too.

    Args:
        tables: [B, total_entries, F] the (blended) tables the features were looked up in; only
            their values are used here (their own gradient flows through ``features``).
    """
    return _AttachPositionGradient.apply(x, features, tables.detach(), frame, config)
