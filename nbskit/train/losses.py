"""Training losses (docs/architecture.md, “Training”): colour/mask L1, patch L1 + perceptual, and L1 shrinkage of the bases."""

from __future__ import annotations

import torch
from torch import nn


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error; any matching shapes (colour [R,3], opacity vs mask [R])."""
    return torch.mean(torch.abs(prediction - target))


def perceptual_loss(perceptual: nn.Module, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean perceptual distance of patches [P, S, S, 3] (channels last, in [0, 1])."""
    return perceptual(prediction.permute(0, 3, 1, 2), target.permute(0, 3, 1, 2)).mean()


def expression_tables(model: nn.Module) -> list[torch.Tensor]:
    """The expression basis tables h_1..h_K of a model (empty for fields without bases)."""
    from nbskit.encoding import BlendedHashGrid

    return [m.basis_tables for m in model.modules() if isinstance(m, BlendedHashGrid)]


def shrinkage_loss(model: nn.Module) -> torch.Tensor:
    """Mean |h_i| over the expression bases (not the mean table h0), as in the authors' code.

    Pulls every basis towards zero so that each one only stores what its expression changes.
    """
    tables = expression_tables(model)
    if not tables:
        return torch.zeros(())
    return torch.stack([table.abs().mean() for table in tables]).mean()
