"""The learnable blended hash grid of NeRFBlendShape: mean and basis tables, coefficient clamping."""

from __future__ import annotations

import torch
from torch import nn

from .config import HashGridConfig
from .dispatch import encode_blended

INIT_RANGE = 1e-4  # tables start as U(-1e-4, 1e-4), as in the paper


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
