"""The ICT Face Model Light (ICT-FaceKit, MIT licence) as a ``BlendshapeModel``.

The model is read from ``ict_light_v1.npz``, a compact repack of the upstream OBJ files (array
layout in ``data/ict_facekit_light/README.md`` and in ``nbskit.face.assets_command``).
The repository ships it under ``data/ict_facekit_light/`` with its licence and credits;
``nbskit assets ict`` rebuilds it from upstream into the user cache on a networked machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nbskit.errors import UserError
from nbskit.face.blendshape import BlendshapeModel

ICT_FILENAME = "ict_light_v1.npz"
ICT_ENV_VAR = "NBSKIT_ICT"
CENTIMETRES_TO_METRES = 0.01
REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_ICT_DIR = REPO_ROOT / "data" / "ict_facekit_light"

# Upstream vertex ranges (inclusive start, exclusive end), from the ICT-FaceKit documentation.
ICT_VERTEX_RANGES = {
    "face": (0, 9409),
    "head_and_neck": (9409, 11248),
    "mouth_socket": (11248, 13294),
    "eye_sockets": (13294, 14062),
    "gums_and_tongue": (14062, 17039),
    "teeth": (17039, 21451),
    "eyes": (21451, 24591),
    "helper": (24591, 25351),  # lacrimal fluid, eye blend, eye occlusion: not real surfaces
    "eyelashes": (25351, 26719),
}

# Upstream material name -> nbskit surface kind (see blendshape.SURFACE_KINDS).
ICT_MATERIAL_KINDS = {
    "M_Face": "skin",
    "M_BackHead": "skin",
    "M_GumsTongue": "mouth_interior",
    "M_Teeth": "teeth",
    "M_ScleraLeft": "sclera",
    "M_IrisLeft": "iris",
    "M_ScleraRight": "sclera",
    "M_IrisRight": "iris",
    "M_LacrimalFluid": "helper",
    "M_EyeBlend": "helper",
    "M_EyeOcclusion": "helper",
    "M_EyeLashes": "eyelashes",
}


def user_cache_dir() -> Path:
    """Where downloaded assets live: ``$XDG_CACHE_HOME/nbskit`` or ``~/.cache/nbskit``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nbskit"


def ict_search_paths(path: str | os.PathLike | None = None) -> list[Path]:
    """Candidate locations of the npz, in the order ``ICTFaceModel.load`` tries them."""
    candidates = []
    if path is not None:
        candidates.append(Path(path))
    if os.environ.get(ICT_ENV_VAR):
        candidates.append(Path(os.environ[ICT_ENV_VAR]))
    candidates.append(BUNDLED_ICT_DIR / ICT_FILENAME)
    candidates.append(user_cache_dir() / ICT_FILENAME)
    # A directory stands for the npz inside it.
    return [c / ICT_FILENAME if c.is_dir() else c for c in candidates]


def find_ict(path: str | os.PathLike | None = None) -> Path | None:
    """The first existing ICT npz on the search path, or None."""
    if path is not None:  # an explicit path is never silently replaced by another location
        explicit = ict_search_paths(path)[0]
        return explicit if explicit.is_file() else None
    return next((p for p in ict_search_paths() if p.is_file()), None)


class ICTModelMissing(UserError, FileNotFoundError):
    """The ICT face model file is not where nbskit looks for it."""


class ICTFaceModel(BlendshapeModel):
    """ICT Face Model Light: 26719 vertices, 53 ARKit-named expressions, 20 identity modes."""

    @property
    def name(self) -> str:
        return "ict"

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> ICTFaceModel:
        """Load the model from ``path`` (file or folder) or the default search path.

        Search order: ``path``; ``$NBSKIT_ICT``; the copy shipped in the repository
        (``data/ict_facekit_light/``); the user cache (``~/.cache/nbskit/ict_light_v1.npz``).
        """
        found = find_ict(path)
        if found is None:
            looked = "\n  ".join(str(p) for p in (ict_search_paths(path)[:1] if path else ict_search_paths()))
            raise ICTModelMissing(
                f"ICT face model ({ICT_FILENAME}) not found. Looked in:\n  {looked}\n"
                "Get it with `nbskit assets ict` (downloads the MIT-licensed ICT-FaceKit from GitHub "
                f"and repacks it into {user_cache_dir()}), or point ${ICT_ENV_VAR} at the file."
            )
        return cls.from_npz(found)

    @classmethod
    def from_npz(cls, path: Path) -> ICTFaceModel:
        with np.load(path) as data:
            try:
                arrays = {key: data[key] for key in data.files}
                material_names = [str(n) for n in arrays["material_names"]]
                kinds = [ICT_MATERIAL_KINDS[n] for n in material_names]
                num_vertices = arrays["neutral"].shape[0]
                groups = {name: np.arange(a, b) for name, (a, b) in ICT_VERTEX_RANGES.items()}
                groups["mouth_interior"] = np.concatenate([groups["mouth_socket"], groups["gums_and_tongue"]])
                groups["fitting"] = arrays["fitting_vertices"]
                groups["rigid"] = arrays["rigid_vertices"]
                if num_vertices != ICT_VERTEX_RANGES["eyelashes"][1]:
                    raise ValueError(f"neutral has {num_vertices} vertices, expected 26719")
                model = cls(
                    neutral=arrays["neutral"] * CENTIMETRES_TO_METRES,
                    triangles=arrays["faces"],
                    expression_deltas=arrays["expression_deltas"].astype(np.float32) * CENTIMETRES_TO_METRES,
                    expression_names=list(arrays["expression_names"]),
                    landmark_indices=arrays["landmarks68"],
                    triangle_materials=arrays["face_material"],
                    material_names=kinds,
                    vertex_groups=groups,
                    uvs=arrays["uv"],
                    uv_triangles=arrays["faces_uv"],
                    identity_deltas=arrays["identity_deltas"].astype(np.float32) * CENTIMETRES_TO_METRES,
                )
            except KeyError as err:
                raise ValueError(f"{path}: missing array or unknown material {err}") from None
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from None
        return model
