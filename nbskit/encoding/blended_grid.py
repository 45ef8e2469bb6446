"""The learnable blended hash grid of NeRFBlendShape: mean and basis tables, coefficient clamping."""

from __future__ import annotations

import torch
from torch import nn

from .coefficients import blend_coefficients, expression_range
from .config import HashGridConfig
from .dispatch import encode_blended

INIT_RANGE = 1e-4  # tables start as U(-1e-4, 1e-4), as in the paper


class BlendedHashGrid(nn.Module):
    """A mean hash table plus K expression-basis tables, blended per frame.

    Parameters:
        tables: [K+1, total_entries, F], h0 (the mean) followed by the bases h1..hK. One
            parameter, so that every forward pass hands the encoder the tables without a copy;
            ``mean_table`` [1, total, F] and ``basis_tables`` [K, total, F] are views of it.
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
        low, high = expression_range(expression_min, expression_max, self.num_expressions)
        self.register_buffer("expression_min", low)
        self.register_buffer("expression_max", high)
        shape = (self.num_expressions + 1, config.total_entries, config.features)
        self.tables = nn.Parameter(torch.empty(shape).uniform_(-INIT_RANGE, INIT_RANGE))

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
        return blend_coefficients(w, self.expression_min, self.expression_max, clamp)

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
