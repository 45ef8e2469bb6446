"""Training losses (docs/architecture.md, “Training”): colour/mask L1, patch L1 + perceptual, and L1 shrinkage of the bases.

Pixels a subject's ignore mask leaves out reach none of them (:func:`visible_target`).
"""

from __future__ import annotations

import torch
from torch import nn


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error; any matching shapes (colour [R,3], opacity vs mask [R])."""
    return torch.mean(torch.abs(prediction - target))


def visible_target(prediction: torch.Tensor, target: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """The target with ignored pixels replaced by the (detached) prediction.

    ``visible`` [...] in [0, 1] matches the leading dimensions of ``prediction`` and ``target``
    (rays [R] for colours [R, 3], patches [P, S, S] for [P, S, S, 3]). Any loss of the pair then
    sees no error and sends no gradient where ``visible`` is 0; the L1 becomes the visibility-
    weighted L1. Where ``visible`` is 1 the target is returned bit for bit.
    """
    weight = visible.reshape(*visible.shape, *([1] * (prediction.dim() - visible.dim())))
    return weight * target + (1 - weight) * prediction.detach()


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
