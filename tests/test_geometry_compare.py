"""Surface comparison (nbskit.geometry.compare): distances checked on spheres with known gaps."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from nbskit.geometry.compare import compare_surfaces, faces_within, surface_samples

SAMPLES = 20_000


def sphere(radius: float, centre=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    mesh.apply_translation(centre)
    return mesh


def test_samples_lie_on_the_surface_with_outward_normals():
    mesh = sphere(2.0)
    points, normals, faces = surface_samples(mesh.vertices, mesh.faces, 5000, np.random.default_rng(0))
    # an icosphere's flat faces sit slightly inside the circumscribed sphere
    assert np.all(np.linalg.norm(points, axis=1) <= 2.0 + 1e-9)
    assert np.all(np.linalg.norm(points, axis=1) > 1.98)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert np.mean(np.sum(normals * points, axis=1) > 0) == 1.0
    assert faces.min() >= 0 and faces.max() < len(mesh.faces)


def test_concentric_spheres_are_their_radius_gap_apart():
    gap = 0.05
    inner, outer = sphere(1.0), sphere(1.0 + gap)
    result = compare_surfaces(outer.vertices, outer.faces, inner.vertices, inner.faces, samples=SAMPLES)
    spacing = np.sqrt(4 * np.pi / SAMPLES)  # mean distance between samples on the unit sphere
    for key in ("accuracy", "completeness", "chamfer"):
        assert gap <= result[key] < gap + spacing
    assert result["normal_consistency"] > 0.99
    assert result["predicted_samples_scored"] == 1.0
    detailed = compare_surfaces(outer.vertices, outer.faces, inner.vertices, inner.faces, samples=SAMPLES,
                                with_samples=True)
    assert detailed["reference_points"].shape == (SAMPLES, 3)
    assert np.isclose(detailed["reference_distances"].mean(), result["completeness"])


def test_crop_ignores_extra_surface_beside_unscored_faces():
    reference = sphere(1.0)
    scored = reference.triangles_center[:, 1] > 0  # upper hemisphere only
    blob = sphere(0.2, centre=(0.0, -1.5, 0.0))  # extra surface next to the lower hemisphere
    predicted = trimesh.util.concatenate([sphere(1.0), blob])
    plain = compare_surfaces(sphere(1.0).vertices, sphere(1.0).faces, reference.vertices, reference.faces,
                             scored, samples=SAMPLES)
    cropped = compare_surfaces(predicted.vertices, predicted.faces, reference.vertices, reference.faces,
                               scored, samples=SAMPLES)
    unscored = compare_surfaces(predicted.vertices, predicted.faces, reference.vertices, reference.faces,
                                samples=SAMPLES)
    assert cropped["accuracy"] < 2 * plain["accuracy"] + 1e-3
    assert unscored["accuracy"] > cropped["accuracy"] + 0.01  # without the crop the blob counts
    assert cropped["predicted_samples_scored"] < 0.5 + 0.05


def test_faces_within_and_bad_masks():
    faces = np.array([[0, 1, 2], [1, 2, 3]])
    assert faces_within(faces, np.array([0, 1, 2]), 4).tolist() == [True, False]
    mesh = sphere(1.0)
    with pytest.raises(ValueError, match="scored_faces"):
        compare_surfaces(mesh.vertices, mesh.faces, mesh.vertices, mesh.faces,
                         np.zeros(len(mesh.faces), bool), samples=100)
