"""The paper's "concatenate" baseline (§4.3): expression enters as an MLP input, not as a blend.

One hash table encodes position; a 2-layer MLP embeds the clamped coefficients w; the two are
concatenated and read by a deeper density MLP. It exists to reproduce the blend-vs-concatenate
comparison with the same trainer and renderer.
"""

from __future__ import annotations

import torch
from torch import nn

from nbskit.encoding import hash_encode
from nbskit.encoding.blended_grid import INIT_RANGE

from .config import ConcatenateConfig
from .field import RadianceField


class ConcatenateBaseline(RadianceField):
    """Hash features of x ⊕ MLP(w) → density MLP (7×128) → colour MLP; same interface as NeRFBlendShape.

    Args:
        config: table layout, embedding width and MLP sizes.
        aabb: [2, 3] world box.
        expression_min, expression_max: [K] training range of the coefficients (clamping).
    """

    def __init__(self, config: ConcatenateConfig, aabb, expression_min, expression_max):
        embedding = config.expression_embedding_width
        super().__init__(config, config.hash_grid.output_dim + embedding, aabb, expression_min, expression_max)
        grid = config.hash_grid
        self.table = nn.Parameter(torch.empty(1, grid.total_entries, grid.features).uniform_(-INIT_RANGE, INIT_RANGE))
        self.expression_embedding = nn.Sequential(
            nn.Linear(self.num_expressions, embedding), nn.ReLU(), nn.Linear(embedding, embedding), nn.ReLU()
        )

    def encode(self, x01: torch.Tensor, frame: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        single_table = torch.zeros_like(frame)
        features = hash_encode(x01, self.table, single_table, self.config.hash_grid,
                               backend=self.config.encoder_backend)
        # coefficients[:, 0] is the mean table's constant 1: only w is embedded.
        embedded = self.expression_embedding(coefficients[:, 1:])  # [B, E]
        return torch.cat([features, embedded[frame]], dim=-1)

    def parameter_groups(self):
        return {
            "hash table": [self.table],
            "expression embedding": list(self.expression_embedding.parameters()),
            "density MLP": list(self.density_mlp.parameters()),
            "colour MLP": list(self.color_mlp.parameters()),
        }
