"""Row-sparse ("lazy") Adam for hash tables, and the optimiser that pairs it with Adam on the MLPs.

A training step touches only the table rows around the samples it rendered, yet dense Adam reads
and writes every entry's value and both moments. :class:`RowSparseAdam` updates only the rows
whose gradient is not all zero (a row = the F features of one table entry; the last dimension of
the parameter). It pays off when few samples meet large tables; at T = 2^14 a step's samples
(8 corners each per level) touch nearly every hashed row (measured: 89% of all rows per step at
the cpu preset), and then torch's fused dense Adam is as fast (see ``nbskit bench step``).
What it does to the optimisation:

- a touched row gets torch.optim.Adam's update formula (same operations in the same order) on
  its own moments, so with every row touched at every step the two optimisers agree;
- untouched rows keep their value *and* both moments. Dense Adam would decay the moments and
  keep moving the row by ``m / sqrt(v)`` from its past gradients; lazy Adam does neither, so a
  row seen rarely is not dragged by momentum while unseen, and its moments describe only the
  steps on which it was seen (as torch.optim.SparseAdam and the lazy Adam of TensorFlow do);
- bias correction uses the *global* step count (as SparseAdam does), not a per-row count: a row
  first touched at a late step t has bias corrections ~1, so its first update is
  ``lr (1-beta1)/sqrt(1-beta2) sign(g)`` where dense Adam's first step is ``lr sign(g)``: the
  same size for the paper's betas (0.9, 0.99), 3x larger for (0.9, 0.999). This avoids a per-row
  counter (another [K+1,T] tensor to read and write each step).

The row scan and update is an operation of the hash-table backends (:mod:`nbskit.encoding.backends`):
one compiled kernel (``nbskit_cuda``, C++ or CUDA) when available, else the readable torch
reference :func:`nbskit.encoding.row_sparse_adam.row_sparse_adam_step_torch`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from nbskit.encoding.backends import ROW_SPARSE_ADAM_STEP, select_encoder_backend


class RowSparseAdam(torch.optim.Optimizer):
    """Adam that updates only the rows that received gradient (see the module docstring).

    Args:
        params: parameters (or groups); each is updated row by row along its last dimension.
        lr, betas, eps: as torch.optim.Adam. (No weight decay: it would touch every row.)
        backend: force a hash-table backend by name (``"torch"`` is the reference, ``"cpu"``/``"cuda"``
            the compiled kernels); None runs the best available (a missing compiled one is warned about once).
    State per parameter: ``step`` (float tensor, the global count), ``exp_avg``, ``exp_avg_sq``.
    After each step, ``last_rows_updated`` / ``last_rows_total`` give the touched-row count (the
    former is read from the device only when asked, so a step never waits for the GPU).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        backend: str | None = None,
    ) -> None:
        if not (lr >= 0 and eps >= 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"RowSparseAdam: invalid lr={lr}, betas={betas} or eps={eps}")
        self.backend = backend
        self._rows_updated: list[torch.Tensor | int] = []
        self.last_rows_total = 0
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    @property
    def last_rows_updated(self) -> int:
        return sum(int(count) for count in self._rows_updated)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        updated, total = [], 0
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None or param.numel() == 0:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError(
                        "RowSparseAdam takes dense gradients (it finds the touched rows itself)"
                    )
                state = self.state[param]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.contiguous_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.contiguous_format)
                state["step"] += 1
                step = float(state["step"])
                arguments = (
                    beta1,
                    beta2,
                    group["eps"],
                    group["lr"] / (1 - beta1**step),
                    math.sqrt(1 - beta2**step),
                )
                updated.append(self._update(param, param.grad.contiguous(), state, arguments))
                total += param.numel() // param.shape[-1]
        self._rows_updated, self.last_rows_total = updated, total
        return loss

    def _update(
        self, param: torch.Tensor, grad: torch.Tensor, state: dict, arguments: tuple
    ) -> torch.Tensor | int:
        """Run one parameter's update; returns its updated-row count (a device scalar when compiled)."""
        if not param.is_contiguous():
            raise RuntimeError("RowSparseAdam: parameters must be contiguous")
        entry = select_encoder_backend(ROW_SPARSE_ADAM_STEP, self.backend, param.device, param.dtype)
        return entry.row_sparse_adam_step(param, grad, state["exp_avg"], state["exp_avg_sq"], *arguments)


class CombinedOptimizer:
    """Several optimisers used as one: ``zero_grad``, ``step``, ``state_dict``, ``load_state_dict``.

    The state dict has torch's layout (``state`` keyed by parameter index across all groups,
    ``param_groups``), each group tagged with the name of the optimiser it belongs to, so a
    checkpoint reads like any optimiser's and a mismatched one is refused with a clear message.

    Args:
        optimizers: name -> optimiser (e.g. ``{"tables": RowSparseAdam(...), "mlps": Adam(...)}``).
    """

    GROUP_TAG = "optimizer"

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        self.optimizers = dict(optimizers)

    @property
    def param_groups(self) -> list[dict]:
        return [group for optimizer in self.optimizers.values() for group in optimizer.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.step()

    def state_dict(self) -> dict:
        merged: dict = {"state": {}, "param_groups": []}
        offset = 0
        for name, optimizer in self.optimizers.items():
            part = optimizer.state_dict()
            merged["state"].update({offset + index: value for index, value in part["state"].items()})
            for group in part["param_groups"]:
                indices = [offset + index for index in group["params"]]
                merged["param_groups"].append({**group, "params": indices, self.GROUP_TAG: name})
            offset += sum(len(group["params"]) for group in part["param_groups"])
        return merged

    def load_state_dict(self, state: dict) -> None:
        groups = state["param_groups"]
        expected = [name for name, optimizer in self.optimizers.items() for _ in optimizer.param_groups]
        found = [group.get(self.GROUP_TAG) for group in groups]
        if found != expected:
            raise ValueError(
                f"optimiser state has groups of {found} but this run's optimiser has {expected} "
                "(was the checkpoint written with another table_optimizer setting?)"
            )
        first_group = 0
        for optimizer in self.optimizers.values():
            mine = groups[first_group : first_group + len(optimizer.param_groups)]
            first_group += len(mine)
            offset = min((index for group in mine for index in group["params"]), default=0)
            optimizer.load_state_dict(
                {
                    "state": {
                        index - offset: state["state"][index]
                        for group in mine
                        for index in group["params"]
                        if index in state["state"]
                    },
                    "param_groups": [
                        {
                            **{key: value for key, value in group.items() if key != self.GROUP_TAG},
                            "params": [index - offset for index in group["params"]],
                        }
                        for group in mine
                    ],
                }
            )


def dense_adam(tables: list, mlp_group: dict, adam: dict) -> torch.optim.Optimizer:
    """One fused torch Adam over everything (no weight decay on the tables).

    fused: one multi-threaded kernel per step instead of ~10 passes over the tables (CPU and CUDA;
    10x less CPU time for the paper-size tables); same update up to rounding.
    """
    return torch.optim.Adam([{"params": tables, "weight_decay": 0.0}, mlp_group], **adam, fused=True)


def row_sparse_adam(tables: list, mlp_group: dict, adam: dict) -> CombinedOptimizer:
    """:class:`RowSparseAdam` on the tables and fused torch Adam on the MLPs, stepped as one."""
    mlp_adam = torch.optim.Adam([mlp_group], **adam, fused=True)
    return CombinedOptimizer({"tables": RowSparseAdam(tables, **adam), "mlps": mlp_adam})


# Table optimisers: name -> builder(table parameters, the MLPs' parameter group, Adam settings
# {lr, betas, eps}); ``TrainConfig.table_optimizer`` picks one.
TABLE_OPTIMIZERS = {"adam": dense_adam, "sparse-adam": row_sparse_adam}
