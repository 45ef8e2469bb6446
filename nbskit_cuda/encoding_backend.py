"""Compiled hash-encoding backends ``cpu`` and ``cuda``, registered with :mod:`nbskit.encoding.backends`.

Importing this module only registers them; the first dispatch that asks whether one is available
builds (or loads) its extension. Two ways to evaluate a blended encoding are provided, chosen per
shape (see :func:`use_fused_blend`):

- *blend, then look up*: ``blended = coefficients @ tables`` ([B,T,F], one dense pass over the
  K+1 tables), then an ordinary lookup with the frame index. The backward pass scatters into the
  small blended gradient and applies the chain rule through the blend in one kernel.
- *fused*: each sample reads its 8 corners in all K+1 tables and blends them with its frame's
  coefficients. No pass over whole tables, but K+1 times the random reads per sample.
"""

from __future__ import annotations

import functools

import torch

from nbskit.encoding.backends import register_encoder_backend
from nbskit.encoding.config import HashGridConfig
from nbskit.encoding.hashgrid import check_frame_range

from . import KINDS, backend_options, checks_values, extension_for

# Fused is cheaper when N samples x L levels x 8 corners touch few rows compared with the B
# blended tables: one touch of the fused kernel costs about this many rows of dense blending.
# CPU: measured forward+backward at the paper grid, K=46, B=2 on 2 EPYC cores, the fused kernel
# wins below ~150 samples (128: 12.0 vs 13.4 ms; 256: 20.5 vs 13.4 ms), i.e. ~24 rows per touch.
# CUDA: not measured yet (no GPU run yet); a guess to be replaced from bench/gpu_check.sh.
FUSED_ROWS_PER_TOUCH = {"cpu": 24.0, "cuda": 4.0}
TABLE_DTYPES = {"cpu": (torch.float32, torch.float64), "cuda": (torch.float32, torch.float16)}


@functools.lru_cache(maxsize=32)
def level_arguments(config: HashGridConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """offsets [L+1] int32 and per-level scales [L] float32 (the reference's float32 values).

    CPU tensors whatever the samples' device: the kernels take the level geometry by value, so
    it never has to be copied to a GPU (or read back from one, which would wait for it).
    """
    offsets = config.offsets().to(torch.int32)
    scales = torch.tensor([config.scale(level) for level in range(config.levels)], dtype=torch.float32)
    return offsets, scales


def use_fused_blend(num_samples: int, num_frames: int, config: HashGridConfig, device_type: str) -> bool:
    """True when the fused kernel is expected to beat blend-then-lookup for this shape."""
    touches = num_samples * config.levels * 8
    return touches * FUSED_ROWS_PER_TOUCH[device_type] < num_frames * config.total_entries


def _samples(x: torch.Tensor, frame: torch.Tensor, num_tables: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x and frame as the kernels take them; on a GPU with value checks on, frame range-checked
    (the CPU kernels check it themselves; see :func:`nbskit_cuda.checks_values`)."""
    if x.device.type == "cuda" and checks_values():
        check_frame_range(frame, num_tables)
    return x.detach().to(torch.float32).contiguous(), frame.to(torch.int64).contiguous()


class _Lookup(torch.autograd.Function):
    """Lookup in blended tables [B,T,F]; differentiable in the tables."""

    @staticmethod
    def forward(ctx, x, tables, frame, offsets, scales):
        ctx.save_for_backward(x, frame, offsets, scales)
        ctx.table_shape = tables.shape
        return extension_for(x.device).hash_encode_forward(x, tables, frame, offsets, scales)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, frame, offsets, scales = ctx.saved_tensors
        num_tables, _, features = ctx.table_shape
        grad = extension_for(x.device).hash_encode_backward(
            grad_out.contiguous(), x, frame, offsets, scales, num_tables, features
        )
        return None, grad.to(grad_out.dtype), None, None, None


class _BlendThenLookup(torch.autograd.Function):
    """Blend [K+1,T,F] tables with [B,K+1] coefficients, then look up; one node so the backward
    can apply the chain rule through the blend in a kernel instead of a dense matmul."""

    @staticmethod
    def forward(ctx, x, tables, coefficients, frame, offsets, scales):
        ext = extension_for(x.device)
        blended = ext.blend_forward(tables, coefficients)
        ctx.save_for_backward(x, tables, coefficients, frame, offsets, scales)
        return ext.hash_encode_forward(x, blended, frame, offsets, scales)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, tables, coefficients, frame, offsets, scales = ctx.saved_tensors
        ext = extension_for(x.device)
        num_frames, features = coefficients.shape[0], tables.shape[2]
        grad_blended = ext.hash_encode_backward(
            grad_out.contiguous(), x, frame, offsets, scales, num_frames, features
        )
        grad_tables = ext.blend_backward(grad_blended, coefficients) if ctx.needs_input_grad[1] else None
        grad_coefficients = None
        if ctx.needs_input_grad[2]:
            flat_tables = tables.reshape(tables.shape[0], -1)
            grad_coefficients = grad_blended.reshape(num_frames, -1).to(tables.dtype) @ flat_tables.T
        return None, grad_tables, grad_coefficients, None, None, None


class _FusedBlendLookup(torch.autograd.Function):
    """Per-sample blend of the K+1 tables at the touched corners (no blended tables)."""

    @staticmethod
    def forward(ctx, x, tables, coefficients, frame, offsets, scales):
        ctx.save_for_backward(x, tables, coefficients, frame, offsets, scales)
        return extension_for(x.device).blended_encode_forward(x, tables, coefficients, frame, offsets, scales)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, tables, coefficients, frame, offsets, scales = ctx.saved_tensors
        grad_tables, grad_coefficients = extension_for(x.device).blended_encode_backward(
            grad_out.contiguous(), x, tables, coefficients, frame, offsets, scales, ctx.needs_input_grad[2]
        )
        return (
            None,
            grad_tables if ctx.needs_input_grad[1] else None,
            grad_coefficients if ctx.needs_input_grad[2] else None,
            None,
            None,
            None,
        )


def hash_encode_compiled(
    x: torch.Tensor, tables: torch.Tensor, frame: torch.Tensor, config: HashGridConfig
) -> torch.Tensor:
    """``hash_encode`` on the compiled kernels: x [N,3], tables [B,T,F], frame [N] -> [N, L*F]."""
    x, frame = _samples(x, frame, tables.shape[0])
    offsets, scales = level_arguments(config)
    return _Lookup.apply(x, tables.contiguous(), frame, offsets, scales)


def encode_blended_compiled(
    x: torch.Tensor,
    tables: torch.Tensor,
    coefficients: torch.Tensor,
    frame: torch.Tensor,
    config: HashGridConfig,
    fused: bool | None = None,
) -> torch.Tensor:
    """``encode_blended`` on the compiled kernels: tables [K+1,T,F], coefficients [B,K+1] -> [N, L*F].

    Args:
        fused: force the fused (True) or blend-then-lookup (False) kernel; None chooses by shape.
    """
    x, frame = _samples(x, frame, coefficients.shape[0])
    offsets, scales = level_arguments(config)
    coefficients = coefficients.to(tables.dtype).contiguous()
    if fused is None:
        fused = use_fused_blend(x.shape[0], coefficients.shape[0], config, x.device.type)
    function = _FusedBlendLookup if fused else _BlendThenLookup
    return function.apply(x, tables.contiguous(), coefficients, frame, offsets, scales)


def row_sparse_adam_step_compiled(param, grad, exp_avg, exp_avg_sq, *scalars) -> torch.Tensor:
    """One row-sparse Adam step in the compiled kernel (arguments of
    :func:`nbskit.encoding.row_sparse_adam.row_sparse_adam_step_torch`); returns the updated-row
    count as a device scalar, so a step never waits for the GPU."""
    return extension_for(param.device).row_sparse_adam_step(param, grad, exp_avg, exp_avg_sq, *scalars)


for _kind in KINDS:
    register_encoder_backend(
        _kind,
        hash_encode=hash_encode_compiled,
        encode_blended=encode_blended_compiled,
        row_sparse_adam_step=row_sparse_adam_step_compiled,
        dtypes=TABLE_DTYPES[_kind],
        **backend_options(_kind),
    )
