"""Compare a reconstructed surface with a reference one: Chamfer distance and normal consistency.

Both surfaces are turned into area-uniform point samples with face normals, and each sample is
matched to its nearest sample on the other surface (a k-d tree). With enough samples this
approximates point-to-surface distances well below the marching-cubes cell size.

A reference may cover more than the part worth scoring (a head mesh has a mouth interior, eyeballs
and a scalp under hair that no photo shows). ``reference_faces`` picks the faces to score; the
reconstruction is then cropped to the samples whose nearest point on the *whole* reference lies on
those faces, so hair or a neck cut elsewhere is neither rewarded nor punished.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

DEFAULT_SAMPLES = 100_000


def surface_samples(vertices: np.ndarray, faces: np.ndarray, count: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area-uniform samples of a triangle mesh.

    Args:
        vertices: [V, 3]; faces: [T, 3] int; count: number of samples.

    Returns:
        points [count, 3], unit face normals [count, 3], index of the face each sample lies on [count].
    """
    corners = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]  # [T, 3, 3]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    doubled_area = np.linalg.norm(cross, axis=1)
    if not doubled_area.sum() > 0:
        raise ValueError("cannot sample a mesh without area")
    face = rng.choice(len(faces), size=count, p=doubled_area / doubled_area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1  # fold the unit square onto the triangle
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    c = corners[face]
    points = c[:, 0] + u[:, None] * (c[:, 1] - c[:, 0]) + v[:, None] * (c[:, 2] - c[:, 0])
    normals = cross[face] / np.maximum(doubled_area[face], np.finfo(np.float64).tiny)[:, None]
    return points, normals, face


def compare_surfaces(predicted_vertices: np.ndarray, predicted_faces: np.ndarray,
                     reference_vertices: np.ndarray, reference_faces: np.ndarray,
                     scored_faces: np.ndarray | None = None, samples: int = DEFAULT_SAMPLES,
                     seed: int = 0, with_samples: bool = False) -> dict:
    """Distances between a predicted and a reference surface (same units as the vertices).

    Args:
        predicted_vertices, predicted_faces: the reconstruction [V, 3], [T, 3].
        reference_vertices, reference_faces: the ground truth [V', 3], [T', 3].
        scored_faces: bool [T'] reference faces to score (default: all).
        samples: points drawn on each surface.
        with_samples: also return ``reference_points`` [n, 3] (the scored reference samples) and
            ``reference_distances`` [n] (each one's distance to the prediction), e.g. for an error map.

    Returns:
        dict: ``accuracy`` (mean distance predicted -> reference, cropped as in the module doc),
        ``completeness`` (mean distance scored reference -> predicted), ``chamfer`` (their mean),
        ``accuracy_median``, ``completeness_median``, ``normal_consistency`` (mean |n_p . n_r| over
        both directions' matches, 1 = parallel), ``predicted_samples_scored`` (fraction kept by the crop).
    """
    rng = np.random.default_rng(seed)
    scored = np.ones(len(reference_faces), bool) if scored_faces is None else np.asarray(scored_faces, bool)
    if scored.shape != (len(reference_faces),) or not scored.any():
        raise ValueError(f"scored_faces must be a non-empty bool mask [{len(reference_faces)}], got shape {scored.shape}")
    reference_points, reference_normals, reference_face = surface_samples(
        reference_vertices, reference_faces, samples, rng)
    predicted_points, predicted_normals, _ = surface_samples(predicted_vertices, predicted_faces, samples, rng)

    # predicted -> reference (all of it), then keep the samples that land on scored faces
    to_reference, nearest_reference = cKDTree(reference_points).query(predicted_points)
    keep = scored[reference_face[nearest_reference]]
    if not keep.any():
        raise ValueError("no predicted sample lies nearest to a scored reference face")
    # scored reference -> predicted
    on_scored = scored[reference_face]
    to_predicted, nearest_predicted = cKDTree(predicted_points).query(reference_points[on_scored])

    forward_dots = np.abs(np.sum(predicted_normals[keep] * reference_normals[nearest_reference[keep]], axis=1))
    backward_dots = np.abs(np.sum(reference_normals[on_scored] * predicted_normals[nearest_predicted], axis=1))
    accuracy, completeness = float(to_reference[keep].mean()), float(to_predicted.mean())
    result = {
        "accuracy": accuracy,
        "completeness": completeness,
        "chamfer": 0.5 * (accuracy + completeness),
        "accuracy_median": float(np.median(to_reference[keep])),
        "completeness_median": float(np.median(to_predicted)),
        "normal_consistency": float(0.5 * (forward_dots.mean() + backward_dots.mean())),
        "predicted_samples_scored": float(keep.mean()),
    }
    if with_samples:
        result.update(reference_points=reference_points[on_scored], reference_distances=to_predicted)
    return result


def faces_within(faces: np.ndarray, vertex_group: np.ndarray, num_vertices: int) -> np.ndarray:
    """bool [T]: faces [T, 3] whose three vertices all belong to ``vertex_group`` (vertex indices)."""
    member = np.zeros(num_vertices, dtype=bool)
    member[np.asarray(vertex_group)] = True
    return member[np.asarray(faces)].all(axis=1)
