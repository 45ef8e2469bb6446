"""Configuration of the radiance fields: one dataclass per model, paper defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from nbskit.encoding import HashGridConfig


@dataclass(frozen=True)
class DecoderConfig:
    """The MLPs that turn encoded features into density and colour (shared by both models).

    Attributes:
        density_hidden_layers, density_width: hidden ReLU layers of the density MLP and their width.
        geometry_features: features the density MLP hands to the colour MLP (besides σ).
        color_hidden_layers, color_width: hidden ReLU layers of the colour MLP and their width.
        density_scale: density per box length that a softplus output of 1 stands for:
            σ = density_scale · softplus(raw) / box length. At 128 a raw output of order 1 already
            makes a surface opaque within about one cell of a 128³ grid, so the network never has
            to produce outputs in the hundreds (which a linear softplus tail learns slowly).
        density_bias: initial bias of the raw density output. −6 starts the field as a faint fog
            (density_scale · softplus(−6) ≈ 0.32 per box length: about a quarter of the light is
            absorbed across the whole box), so every sample gets colour gradients while what lies
            behind it stays visible. There softplus(raw) ≈ exp(raw): density first changes
            multiplicatively, as with the exponential activation of instant-ngp.
    """

    density_hidden_layers: int = 4
    density_width: int = 64
    geometry_features: int = 64
    color_hidden_layers: int = 1
    color_width: int = 64
    density_scale: float = 128.0
    density_bias: float = -6.0

    def __post_init__(self):
        for name in ("density_hidden_layers", "color_hidden_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{type(self).__name__}.{name} must be >= 0, got {getattr(self, name)}")
        if self.density_scale <= 0:
            raise ValueError(f"{type(self).__name__}.density_scale must be > 0, got {self.density_scale}")
        for name in ("density_width", "geometry_features", "color_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class NeRFBlendShapeConfig(DecoderConfig):
    """NeRFBlendShape (docs/architecture.md, “Fields and renderer”): K+1 blended hash tables, density MLP 64→4×64→1+64 (softplus),
    colour MLP [SH16, 64]→64→3 (sigmoid).

    Attributes:
        hash_grid: layout of each of the K+1 tables (paper Table 1 by default).
        encoder_backend: force a hash-encoding backend by name (None: the fastest available).
    """

    hash_grid: HashGridConfig = field(default_factory=HashGridConfig)
    encoder_backend: str | None = None


@dataclass(frozen=True)
class ConcatenateConfig(DecoderConfig):
    """The paper's "concatenate" baseline (§4.3, Fig. 5): one hash table whose features are
    concatenated with a 2-layer MLP embedding of w, read by a deeper MLP (7 hidden layers of 128 to
    density + features) and one hidden layer of 128 to RGB.

    Attributes:
        hash_grid: layout of the single table.
        expression_embedding_width: width of both layers of the w embedding.
        encoder_backend: force a hash-encoding backend by name (None: the fastest available).
    """

    density_hidden_layers: int = 7
    density_width: int = 128
    color_width: int = 128
    hash_grid: HashGridConfig = field(default_factory=HashGridConfig)
    expression_embedding_width: int = 32
    encoder_backend: str | None = None
