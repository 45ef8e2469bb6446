"""Training losses (docs/architecture.md, “Training”): colour/mask L1, patch L1 + perceptual, and L1 shrinkage of the bases.

Pixels a subject's ignore mask leaves out reach none of them (:func:`visible_target`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass
class StepOutputs:
    """What the loss terms of one training step read.

    Attributes:
        rgb, opacity: [N, 3], [N] rendered over all of the step's batches, in batch order.
        target: [N, 3] true colours of the same pixels.
        mask: () -> [R] true opacity of the random rays (read only by the terms that need it).
        num_rays: R, the random rays (first in ``rgb``); the rest, if any, are patches.
        patch_size: S, the side of each patch.
        model: the field (for regularisers of its tables).
        perceptual: () -> the perceptual module or None (loaded only by the term that needs it).
    """

    rgb: torch.Tensor
    opacity: torch.Tensor
    target: torch.Tensor
    mask: Callable[[], torch.Tensor]
    num_rays: int
    patch_size: int
    model: nn.Module
    perceptual: Callable[[], nn.Module | None]

    @property
    def has_patches(self) -> bool:
        return self.rgb.shape[0] > self.num_rays

    def patches(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(rendered, true) patches, each [P, S, S, 3]."""
        size, rest = self.patch_size, slice(self.num_rays, None)
        return self.rgb[rest].reshape(-1, size, size, 3), self.target[rest].reshape(-1, size, size, 3)


def _colour(out: StepOutputs) -> torch.Tensor:
    return l1_loss(out.rgb[: out.num_rays], out.target[: out.num_rays])


def _mask(out: StepOutputs) -> torch.Tensor:
    return l1_loss(out.opacity[: out.num_rays], out.mask())


def _patch_l1(out: StepOutputs) -> torch.Tensor | None:
    return l1_loss(*out.patches()) if out.has_patches else None


def _perceptual(out: StepOutputs) -> torch.Tensor | None:
    module = out.perceptual() if out.has_patches else None
    return None if module is None else perceptual_loss(module, *out.patches())


# name -> unweighted term(StepOutputs) -> scalar, or None when the step has nothing it applies to
# (no patches drawn, no perceptual weights found); a training stage lists (name, weight) pairs.
LOSS_TERMS: dict[str, Callable[[StepOutputs], torch.Tensor | None]] = {
    "colour": _colour,
    "mask": _mask,
    "patch_l1": _patch_l1,
    "perceptual": _perceptual,
    "shrinkage": lambda out: shrinkage_loss(out.model),
}
