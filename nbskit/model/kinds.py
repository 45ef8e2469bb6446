"""The field kinds a run can train, by name: the one table the trainer, presets, CLI and benches read."""

from __future__ import annotations

from .concatenate import ConcatenateBaseline
from .config import ConcatenateConfig, NeRFBlendShapeConfig
from .nerf_blendshape import NeRFBlendShape

# name -> (field class, its config class with the paper's defaults)
MODEL_KINDS: dict[str, tuple[type, type]] = {
    "blend": (NeRFBlendShape, NeRFBlendShapeConfig),
    "concatenate": (ConcatenateBaseline, ConcatenateConfig),
}
