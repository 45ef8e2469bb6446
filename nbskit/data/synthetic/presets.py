"""Named sizes of synthetic subjects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthPreset:
    """How big a synthetic subject is and which head model it prefers.

    model: 'procedural', 'ict', or 'auto' (ICT when the model file is found, else procedural).
    atlas_slot: texels per side of each material's slot in the albedo atlas.
    test_fraction: the last frames (rounded up) are the test split, kept for reported numbers.
    val_fraction: the frames just before them (rounded up) are the validation split, which
        periodic evaluation, training curves and tuning look at instead of the test frames.
    """

    name: str
    resolution: int
    num_frames: int
    model: str
    atlas_slot: int
    test_fraction: float = 0.1
    val_fraction: float = 0.05


# Bumped whenever the same preset and seed give a different subject (e.g. the validation split
# was added), so that cached subjects (``default_subject``) from older code are not reused.
GENERATOR_VERSION = 2

PRESETS = {
    "tiny": SynthPreset("tiny", 64, 60, "procedural", 128),
    "small": SynthPreset("small", 128, 300, "auto", 256),
    "paper": SynthPreset("paper", 512, 2000, "ict", 512),
}
