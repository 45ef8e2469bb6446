"""nbskit.model: the radiance fields.

- :class:`NeRFBlendShape` — K+1 blended hash tables + density/colour MLPs (the paper's model).
- :class:`ConcatenateBaseline` — one table + an embedding of w fed to a deeper MLP (paper §4.3).
- :data:`MODEL_KINDS` — both by the name a training config uses (``'blend'``, ``'concatenate'``).

Both take world positions, normalise them by the aabb, clamp w to the training range, and expose
``density``, ``density_from_coefficients``, ``forward`` and ``summary``.
"""

from .concatenate import ConcatenateBaseline
from .config import ConcatenateConfig, DecoderConfig, NeRFBlendShapeConfig
from .field import RadianceField
from .kinds import MODEL_KINDS
from .nerf_blendshape import NeRFBlendShape

__all__ = [
    "MODEL_KINDS",
    "ConcatenateBaseline",
    "ConcatenateConfig",
    "DecoderConfig",
    "NeRFBlendShape",
    "NeRFBlendShapeConfig",
    "RadianceField",
]
