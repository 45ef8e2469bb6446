"""Named sizes of synthetic subjects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthPreset:
    """How big a synthetic subject is and which head model it prefers.

    model: 'procedural', 'ict', or 'auto' (ICT when the model file is found, else procedural).
    atlas_slot: texels per side of each material's slot in the albedo atlas.
    """

    name: str
    resolution: int
    num_frames: int
    model: str
    atlas_slot: int
    test_fraction: float = 0.1


PRESETS = {
    "tiny": SynthPreset("tiny", 64, 60, "procedural", 128),
    "small": SynthPreset("small", 128, 300, "auto", 256),
    "paper": SynthPreset("paper", 512, 2000, "ict", 512),
}
