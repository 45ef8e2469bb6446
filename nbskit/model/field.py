"""What both radiance fields share: box normalisation, coefficient clamping, the two MLP heads.

A field maps a world position x, a view direction d and a frame's expression coefficients to a
density σ and a colour. Subclasses only say how a normalised position and per-frame coefficients
become a feature vector (:meth:`RadianceField.encode`); the decoding is common:

    features → density MLP → (raw σ, geometry features);  σ = density_scale · softplus(raw) / box length
    [SH(d), geometry features] → colour MLP → sigmoid → rgb

Densities are predicted per *box length* (the longest aabb side) and converted to world units
here, so the same network and initialisation behave the same whether the scene is in metres or
centimetres.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

from nbskit.encoding import SH_OUTPUT_DIM, sh_encode
from nbskit.encoding.coefficients import blend_coefficients, expression_range
from nbskit.encoding.config import BYTES_PER_FLOAT32, format_bytes

from .config import DecoderConfig


def mlp(in_features: int, width: int, hidden_layers: int, out_features: int) -> nn.Sequential:
    """``hidden_layers`` Linear+ReLU layers of ``width``, then a linear output layer.

    Weights are He-initialised (variance 2 / fan-in) and biases start at zero, so a signal keeps its
    scale through the ReLU layers. PyTorch's default init shrinks it by about 0.6 per layer: through
    the 5 layers of the density MLP the tiny initial hash features then barely reach the output,
    whose biases dominate, and the colour head starts (and long stays) nearly blind to position.
    """
    layers: list[nn.Module] = []
    for _ in range(hidden_layers):
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    layers.append(nn.Linear(in_features, out_features))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class RadianceField(nn.Module, ABC):
    """Base of :class:`NeRFBlendShape` and :class:`ConcatenateBaseline`.

    Args:
        config: the decoder sizes (subclass configs extend it).
        encoded_features: width of :meth:`encode`'s output.
        aabb: [2, 3] world box the field lives in; outside it σ = 0.
        expression_min, expression_max: [K] training range of each coefficient; w is clamped to it.
    """

    def __init__(self, config: DecoderConfig, encoded_features: int, aabb, expression_min, expression_max):
        super().__init__()
        aabb = torch.as_tensor(aabb, dtype=torch.float32).detach().cpu().clone()
        if aabb.shape != (2, 3) or not bool((aabb[1] > aabb[0]).all()):
            raise ValueError(f"{type(self).__name__}: aabb must be [2,3] (min, max) with max > min, got {aabb.tolist()}")
        low, high = expression_range(expression_min, expression_max)
        self.config = config
        self.num_expressions = int(low.shape[0])
        self.register_buffer("aabb", aabb)
        self.register_buffer("expression_min", low)
        self.register_buffer("expression_max", high)
        self.density_mlp = mlp(encoded_features, config.density_width, config.density_hidden_layers,
                               1 + config.geometry_features)
        self.color_mlp = mlp(SH_OUTPUT_DIM + config.geometry_features, config.color_width,
                             config.color_hidden_layers, 3)
        with torch.no_grad():
            self.density_mlp[-1].bias[0] = config.density_bias

    # --- what subclasses provide -------------------------------------------------------------
    @abstractmethod
    def encode(self, x01: torch.Tensor, frame: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        """[N, 3] positions in [0,1]³, [N] frame index, [B, K+1] coefficients -> [N, D] features."""

    @abstractmethod
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role (e.g. 'hash tables', 'density MLP') for :meth:`summary`."""

    # --- the field -----------------------------------------------------------------------------
    @property
    def box_length(self) -> torch.Tensor:
        """Longest side of the aabb (world): the unit in which the network predicts density."""
        return (self.aabb[1] - self.aabb[0]).max()

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3] world positions -> [N, 3] positions in the aabb's unit cube [0, 1]³."""
        return (x - self.aabb[0]) / (self.aabb[1] - self.aabb[0])

    def coefficients(self, w: torch.Tensor) -> torch.Tensor:
        """[B, K] (or [K]) coefficients -> [B, K+1] blend weights (1, clamp(w, min, max))."""
        return blend_coefficients(w, self.expression_min, self.expression_max)

    def _density_and_features(self, x: torch.Tensor, frame: torch.Tensor, coefficients: torch.Tensor):
        x01 = self.normalise(x)
        raw = self.density_mlp(self.encode(x01, frame, coefficients))
        inside = ((x01 >= 0) & (x01 <= 1)).all(dim=-1)
        sigma = self.config.density_scale * F.softplus(raw[:, 0]) / self.box_length * inside
        return sigma, raw[:, 1:]

    def density_from_coefficients(self, x: torch.Tensor, frame: torch.Tensor, coefficients: torch.Tensor):
        """σ [N] (1 / world length) at world points x [N,3] for raw coefficients [B, K+1] (no clamp)."""
        return self._density_and_features(x, frame, coefficients)[0]

    def density(self, x: torch.Tensor, frame: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """σ [N] at world points x [N,3]; sample n uses coefficients w[frame[n]] of w [B, K]."""
        return self.density_from_coefficients(x, frame, self.coefficients(w))

    def forward(self, x: torch.Tensor, d: torch.Tensor, frame: torch.Tensor, w: torch.Tensor):
        """(σ [N], rgb [N, 3]) at world points x [N,3] seen along unit directions d [N,3].

        ``frame`` [N] picks each sample's row of the coefficients ``w`` [B, K].
        """
        sigma, geometry = self._density_and_features(x, frame, self.coefficients(w))
        rgb = torch.sigmoid(self.color_mlp(torch.cat([sh_encode(d), geometry], dim=-1)))
        return sigma, rgb

    # --- reporting -----------------------------------------------------------------------------
    def summary(self) -> str:
        """A table of parameter counts and float32 memory by role (tables vs MLPs)."""
        rows = [(role, sum(p.numel() for p in params)) for role, params in self.parameter_groups().items()]
        total = sum(count for _, count in rows)
        width = max(len(role) for role, _ in rows + [("total", 0)])
        lines = [f"{type(self).__name__}: K={self.num_expressions}, aabb={self.aabb.tolist()}",
                 f"{'part':<{width}} {'parameters':>12} {'memory':>11} {'share':>6}"]
        for role, count in rows + [("total", total)]:
            lines.append(f"{role:<{width}} {count:>12,} {format_bytes(count * BYTES_PER_FLOAT32):>11} "
                         f"{100 * count / max(total, 1):>5.1f}%")
        return "\n".join(lines)
