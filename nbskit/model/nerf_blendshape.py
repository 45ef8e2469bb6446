"""NeRFBlendShape: K+1 hash tables blended by the expression coefficients, decoded by small MLPs."""

from __future__ import annotations

import torch

from nbskit.encoding import BlendedHashGrid

from .config import NeRFBlendShapeConfig
from .field import RadianceField


class NeRFBlendShape(RadianceField):
    """The paper's field: h = h0 + Σ wᵢhᵢ looked up at x, then the density and colour MLPs.

    Args:
        config: table layout and MLP sizes (paper defaults).
        aabb: [2, 3] world box; positions are normalised into [0, 1]³ by it before the lookup.
        expression_min, expression_max: [K] training range of the coefficients (clamping).
    """

    def __init__(self, config: NeRFBlendShapeConfig, aabb, expression_min, expression_max):
        super().__init__(config, config.hash_grid.output_dim, aabb, expression_min, expression_max)
        self.grid = BlendedHashGrid(config.hash_grid, self.num_expressions, self.expression_min,
                                    self.expression_max, backend=config.encoder_backend)

    def encode(self, x01: torch.Tensor, frame: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        return self.grid.forward_coefficients(x01, frame, coefficients)

    def parameter_groups(self):
        k = self.num_expressions
        return {
            f"hash tables h0 (mean), h1..h{k} (bases)": [self.grid.tables],
            "density MLP": list(self.density_mlp.parameters()),
            "colour MLP": list(self.color_mlp.parameters()),
        }
