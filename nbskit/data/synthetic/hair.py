"""A hair volume: stacked offset shells over the scalp with a strand texture and alpha.

Hair is what a mesh blendshape model cannot explain (the NeRF must model it). The
shells are rigid in head space (they do not follow expressions), semi-transparent and fuzzy at
the hairline, so masks and colours around the head are not a mesh silhouette.

The scalp is found from the model's landmarks: skin above a hairline plane that runs from above
the brows at the front down to the nape at the back.
"""

from __future__ import annotations

import numpy as np

from nbskit.data.synthetic.renderer import HairShells, vertex_normals
from nbskit.face.blendshape import BlendshapeModel

SHELL_OFFSETS = tuple(0.0025 * (i + 1) for i in range(6))  # metres above the scalp, inner shell first
LAYER_STRAND_SHIFT = 0.318  # u offset between shell layers (irrational-ish, avoids repeats)
HAIRLINE_ABOVE_BROWS = 0.035  # metres from the highest brow landmark up to the front hairline
NAPE_BELOW_EYES = 0.045  # metres from the eye landmarks down to the hairline at the back
HAIRLINE_FADE = 0.012  # metres over which hair density fades in above the hairline
TEXTURE_SIZE = (256, 512)  # (rows along strands, columns around the head)
STRAND_COLUMNS_PER_STRAND = 2


def hair_density(points: np.ndarray, model: BlendshapeModel, neutral: np.ndarray) -> np.ndarray:
    """Hair coverage in [0,1] at points [N,3] near the head ``neutral`` [V,3]: 0 below the hairline."""
    landmarks = neutral[model.landmark_indices].astype(np.float64)
    brows = landmarks[17:27]
    front_z, back_z = brows[:, 2].max(), neutral[:, 2].min()
    front_y = brows[:, 1].max() + HAIRLINE_ABOVE_BROWS
    back_y = landmarks[36:48, 1].mean() - NAPE_BELOW_EYES
    # The hairline stays high over the crown and drops towards the nape (quadratic in depth).
    along = np.clip((front_z - points[:, 2]) / (front_z - back_z), 0.0, 1.0)
    hairline = front_y + (back_y - front_y) * along**2
    return np.clip((points[:, 1] - hairline) / HAIRLINE_FADE, 0.0, 1.0)


def hair_shells(model: BlendshapeModel, neutral: np.ndarray, centre: np.ndarray) -> HairShells:
    """Triangle soup of the shells over the scalp, with the hairline fade as per-corner opacity.

    u is the azimuth around the vertical axis through ``centre`` [3]; v runs from the crown (0)
    down; strands in the texture run along v.
    """
    skin_materials = [i for i, kind in enumerate(model.material_names) if kind == "skin"]
    skin_triangles = model.triangles[np.isin(model.triangle_materials, skin_materials)]
    neutral = neutral.astype(np.float64)
    density = hair_density(neutral, model, neutral)
    scalp = skin_triangles[(density[skin_triangles] > 0).any(axis=1)]
    normals = vertex_normals(neutral, model.triangles)

    offset = neutral - centre
    azimuth = np.arctan2(offset[:, 0], -offset[:, 2]) / (2 * np.pi) + 0.5  # seam at the face
    polar = np.arccos(np.clip(offset[:, 1] / np.linalg.norm(offset, axis=1), -1.0, 1.0)) / np.pi
    corner_u = azimuth[scalp]
    # A triangle straddling the seam gets u continued past 1 (the texture repeats in u).
    wraps = corner_u.max(axis=1, keepdims=True) - corner_u > 0.5
    corner_u = np.where(wraps, corner_u + 1.0, corner_u)
    uvs = np.stack([corner_u, polar[scalp]], axis=-1).reshape(-1, 2)

    layers = len(SHELL_OFFSETS)
    return HairShells(
        positions=np.concatenate(
            [(neutral + lift * normals)[scalp].reshape(-1, 3) for lift in SHELL_OFFSETS]
        ),
        normals=np.tile(normals[scalp].reshape(-1, 3), (layers, 1)),
        # Each layer reads other strands (the texture repeats in u), so their tips do not line up.
        uvs=np.concatenate([uvs + [LAYER_STRAND_SHIFT * i, 0.0] for i in range(layers)]),
        # Outer layers start further above the hairline, so the hair thins out gradually there.
        opacity=np.concatenate([density[scalp].reshape(-1) ** (1 + i) for i in range(layers)]),
    )


def strand_texture(colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGBA uint8 [rows, columns, 4] of strands running along rows (v), wrapping in columns (u).

    Each strand has its own brightness and ends somewhere along v, so the shells look like
    strands with gaps instead of a painted helmet.
    """
    rows, columns = TEXTURE_SIZE
    strands = columns // STRAND_COLUMNS_PER_STRAND
    brightness = rng.uniform(0.6, 1.4, strands)
    length = rng.uniform(0.55, 1.0, strands)  # where along v each strand ends
    coverage = rng.uniform(0.55, 1.0, strands)
    v = (np.arange(rows) + 0.5) / rows
    per_strand = np.repeat(np.arange(strands), STRAND_COLUMNS_PER_STRAND)
    wiggle = 0.04 * np.sin(v[:, None] * rng.uniform(6, 14) + rng.uniform(0, 2 * np.pi, strands)[per_strand])
    tip = np.clip((length[per_strand] - v[:, None] + wiggle) / 0.05, 0.0, 1.0)
    alpha = coverage[per_strand] * tip
    rgb = colour * brightness[per_strand][None, :, None] * (0.85 + 0.15 * v)[:, None, None]
    pixels = np.concatenate([np.broadcast_to(rgb, (rows, columns, 3)), alpha[..., None]], axis=-1)
    return np.round(np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8)
