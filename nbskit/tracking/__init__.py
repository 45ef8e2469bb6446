"""nbskit.tracking: mesh blendshape models (and, later, per-frame fitting of them to video)."""

from nbskit.tracking.blendshape import BlendshapeModel
from nbskit.tracking.ict import ICTFaceModel
from nbskit.tracking.procedural import ProceduralHead

__all__ = ["BlendshapeModel", "ICTFaceModel", "ProceduralHead"]
