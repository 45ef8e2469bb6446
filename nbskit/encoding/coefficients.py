"""Expression coefficients: the training range they are clamped to, and the blend weights (1, w).

The one place that checks a coefficient range and turns w into clamped blend weights; the blended
grid and every radiance field use it.
"""

from __future__ import annotations

import torch


def expression_range(expression_min, expression_max, num_expressions: int | None = None):
    """``(low, high)``: float32 [K] CPU tensors of the training range (K = ``num_expressions``, or the
    length of ``expression_min``); raises a ValueError naming the bad argument."""
    low = torch.as_tensor(expression_min, dtype=torch.float32).detach().cpu().reshape(-1).clone()
    high = torch.as_tensor(expression_max, dtype=torch.float32).detach().cpu().reshape(-1).clone()
    expected = low.shape[0] if num_expressions is None else int(num_expressions)
    for name, values in (("expression_min", low), ("expression_max", high)):
        if values.shape != (expected,):
            raise ValueError(f"{name} must have shape [K={expected}]; got {tuple(values.shape)}")
    if bool((low > high).any()):
        bad = int((low > high).nonzero()[0])
        raise ValueError(f"expression_min[{bad}]={float(low[bad])} exceeds expression_max[{bad}]={float(high[bad])}")
    return low, high


def blend_coefficients(w, low: torch.Tensor, high: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Blend weights (1, w) per frame: w [B, K] (or [K] for one frame) -> [B, K+1].

    With ``clamp``, w is first clamped to [low, high] ([K] each, from :func:`expression_range`).
    """
    w = torch.as_tensor(w, dtype=low.dtype, device=low.device)
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2 or w.shape[1] != low.shape[0]:
        raise ValueError(f"w must be [B, K={low.shape[0]}] or [K]; got {tuple(w.shape)}")
    if clamp:
        w = torch.clamp(w, low, high)
    return torch.cat([torch.ones_like(w[:, :1]), w], dim=1)
