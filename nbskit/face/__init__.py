"""nbskit.face: mesh blendshape models of the face (the protocol, ICT-FaceKit, the procedural head).

Below both ``nbskit.data`` (synthetic subjects are rendered from them) and ``nbskit.tracking``
(videos are fitted with them).
"""

from nbskit.face.blendshape import BlendshapeModel
from nbskit.face.ict import ICTFaceModel
from nbskit.face.procedural import ProceduralHead

__all__ = ["BlendshapeModel", "ICTFaceModel", "ProceduralHead"]
