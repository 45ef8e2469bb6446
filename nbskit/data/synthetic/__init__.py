"""Synthetic subjects: talking-head videos rendered from a blendshape model with exact truth."""

from nbskit.data.synthetic.generate import SUBJECT_CACHE, SyntheticScene, default_subject, synthesize_subject
from nbskit.data.synthetic.presets import PRESETS, SynthPreset

__all__ = ["PRESETS", "SUBJECT_CACHE", "SynthPreset", "SyntheticScene", "default_subject", "synthesize_subject"]
