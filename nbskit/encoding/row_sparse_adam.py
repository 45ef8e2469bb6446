"""One step of row-sparse ("lazy") Adam on a hash table: the torch reference of the backend operation.

:class:`nbskit.train.table_optimizer.RowSparseAdam` explains what the update does to the
optimisation; compiled backends (``nbskit_cuda``) implement the same step in one kernel.
"""

from __future__ import annotations

import torch


def row_sparse_adam_step_torch(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    step_size: float,
    bias_correction2_sqrt: float,
) -> int:
    """Update in place the rows (last dimension) of ``param`` whose gradient is not all zero.

    Args:
        param, grad, exp_avg, exp_avg_sq: one shape [..., F], contiguous.
        step_size: lr / (1 - beta1^t); bias_correction2_sqrt: sqrt(1 - beta2^t).
    Returns:
        The number of rows updated.
    """
    features = param.shape[-1]

    def rows_of(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.view(-1, features)

    grad_rows = rows_of(grad)
    touched = grad_rows.ne(0).any(dim=1).nonzero().squeeze(1)  # [R] row indices
    g = grad_rows[touched]
    m = rows_of(exp_avg)[touched].lerp_(g, 1 - beta1)
    v = rows_of(exp_avg_sq)[touched].mul_(beta2).addcmul_(g, g, value=1 - beta2)
    denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
    p = rows_of(param)[touched].addcdiv_(m, denom, value=-step_size)
    for target, rows in ((exp_avg, m), (exp_avg_sq, v), (param, p)):
        rows_of(target).index_copy_(0, touched, rows)
    return int(touched.numel())
