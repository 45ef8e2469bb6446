"""The linear blendshape head model interface shared by tracking and synthetic subjects.

A model is a neutral mesh plus linear offsets::

    vertices(w, identity) = neutral + sum_k w_k * expression_deltas[k] + sum_i identity_i * identity_deltas[i]

Units are metres; the neutral head sits near the origin, looks towards +z, with y up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

# Surface kinds a model labels its triangles with (``material_names`` entries); the synthetic
# painter colours by kind and the renderer skips ``helper`` surfaces.
SURFACE_KINDS = ("skin", "mouth_interior", "teeth", "sclera", "iris", "eyelashes", "helper")

NUM_LANDMARKS = 68  # Multi-PIE 68-point order


class BlendshapeModel(ABC):
    """A linear blendshape head model (see module docstring).

    Attributes:
        neutral: [V,3] float32, metres.
        triangles: [T,3] int64 vertex indices.
        expression_deltas: [K,V,3] float32, metres.
        expression_names: K ARKit-style names (``jawOpen``, ``eyeBlink_L``, ...).
        landmark_indices: [68] int64 vertex index of each Multi-PIE landmark.
        uvs: [U,2] float32 texture coordinates or None. Each material's charts lie in one unit
            tile (the tile may be offset by whole numbers, UDIM style).
        uv_triangles: [T,3] int64 indices into ``uvs`` per triangle corner, or None when ``uvs``
            are per vertex (U == V) and ``triangles`` index them.
        identity_deltas: [I,V,3] float32 or None.
        vertex_groups: name -> int64 vertex indices ('face', 'mouth_interior', 'teeth', 'eyes', ...).
        triangle_materials: [T] int64 index into ``material_names``.
        material_names: one entry of ``SURFACE_KINDS`` per material.
    """

    def __init__(
        self,
        neutral: np.ndarray,
        triangles: np.ndarray,
        expression_deltas: np.ndarray,
        expression_names: list[str],
        landmark_indices: np.ndarray,
        triangle_materials: np.ndarray,
        material_names: list[str],
        vertex_groups: dict[str, np.ndarray],
        uvs: np.ndarray | None = None,
        uv_triangles: np.ndarray | None = None,
        identity_deltas: np.ndarray | None = None,
    ):
        self.neutral = np.ascontiguousarray(neutral, dtype=np.float32)
        self.triangles = np.ascontiguousarray(triangles, dtype=np.int64)
        self.expression_deltas = np.ascontiguousarray(expression_deltas, dtype=np.float32)
        self.expression_names = [str(n) for n in expression_names]
        self.landmark_indices = np.asarray(landmark_indices, dtype=np.int64)
        self.triangle_materials = np.asarray(triangle_materials, dtype=np.int64)
        self.material_names = [str(n) for n in material_names]
        self.vertex_groups = {k: np.asarray(v, dtype=np.int64) for k, v in vertex_groups.items()}
        self.uvs = None if uvs is None else np.asarray(uvs, dtype=np.float32)
        self.uv_triangles = None if uv_triangles is None else np.asarray(uv_triangles, dtype=np.int64)
        self.identity_deltas = None if identity_deltas is None else np.asarray(identity_deltas, np.float32)
        self._check()

    @property
    @abstractmethod
    def name(self) -> str:
        """Short identifier stored with synthetic subjects (e.g. ``'ict'``, ``'procedural'``)."""

    @property
    def num_vertices(self) -> int:
        return self.neutral.shape[0]

    @property
    def num_expressions(self) -> int:
        return self.expression_deltas.shape[0]

    @property
    def num_identities(self) -> int:
        return 0 if self.identity_deltas is None else self.identity_deltas.shape[0]

    def expression_index(self, name: str) -> int:
        """Index of a named expression; KeyError listing the known names if absent."""
        try:
            return self.expression_names.index(name)
        except ValueError:
            raise KeyError(f"{self.name}: no expression {name!r}; known: {self.expression_names}") from None

    def vertices(self, expression, identity=None):
        """Deformed vertices for coefficients ``expression`` [K] or [B,K] (numpy or torch).

        ``identity`` is [I] or [B,I] (same batch layout) or None for the generic head.
        Returns [V,3] or [B,V,3], float32, of the same array type (and torch device) as the input.
        """
        if type(expression).__module__.startswith("torch"):  # torch stays optional to import here
            import torch

            like = expression

            def convert(array):
                return torch.from_numpy(array).to(device=like.device, dtype=like.dtype)

            def combine(w, deltas):
                return torch.einsum("...k,kvc->...vc", w, deltas)

        else:
            expression = np.asarray(expression, dtype=np.float32)

            def convert(array):
                return array

            def combine(w, deltas):
                return np.einsum("...k,kvc->...vc", np.asarray(w, dtype=np.float32), deltas)

        if expression.shape[-1] != self.num_expressions:
            raise ValueError(
                f"{self.name}: expression has {expression.shape[-1]} coefficients, expected {self.num_expressions}"
            )
        out = convert(self.neutral) + combine(expression, convert(self.expression_deltas))
        if identity is not None:
            if self.identity_deltas is None:
                raise ValueError(f"{self.name}: this model has no identity modes")
            out = out + combine(identity, convert(self.identity_deltas))
        return out

    def corner_uvs(self) -> np.ndarray | None:
        """Texture coordinates per triangle corner, [T,3,2], or None without UVs."""
        if self.uvs is None:
            return None
        index = self.triangles if self.uv_triangles is None else self.uv_triangles
        return self.uvs[index]

    def _check(self) -> None:
        v, t = self.num_vertices, self.triangles.shape[0]
        problems = []
        if self.neutral.shape != (v, 3):
            problems.append(f"neutral has shape {self.neutral.shape}, expected [V,3]")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3 or self.triangles.max() >= v:
            problems.append("triangles must be [T,3] indices below V")
        if self.expression_deltas.shape[1:] != (v, 3):
            problems.append(f"expression_deltas has shape {self.expression_deltas.shape}, expected [K,{v},3]")
        if len(self.expression_names) != self.num_expressions:
            problems.append("expression_names and expression_deltas disagree on K")
        if self.landmark_indices.shape != (NUM_LANDMARKS,) or self.landmark_indices.max() >= v:
            problems.append(f"landmark_indices must be [{NUM_LANDMARKS}] vertex indices")
        if self.triangle_materials.shape != (t,) or self.triangle_materials.max() >= len(self.material_names):
            problems.append("triangle_materials must be [T] indices into material_names")
        unknown = set(self.material_names) - set(SURFACE_KINDS)
        if unknown:
            problems.append(f"material_names {sorted(unknown)} are not among {SURFACE_KINDS}")
        if self.uvs is not None and self.uv_triangles is None and self.uvs.shape[0] != v:
            problems.append("per-vertex uvs must have one row per vertex")
        if self.identity_deltas is not None and self.identity_deltas.shape[1:] != (v, 3):
            problems.append("identity_deltas must be [I,V,3]")
        if problems:
            raise ValueError(f"{type(self).__name__}: " + "; ".join(problems))
