"""Camera helpers: rotations, look-at, projection and the OpenGL clip matrix agree."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from nbskit.geometry.camera import (
    euler_to_matrix,
    frustum_corners,
    intrinsics_matrix,
    look_at,
    opengl_projection,
    project_points,
    unproject_pixels,
)

K = intrinsics_matrix(150.0, 140.0, 33.0, 30.0)
WIDTH, HEIGHT = 64, 60


def test_euler_matches_scipy_intrinsic_yxz():
    rng = np.random.default_rng(0)
    for yaw, pitch, roll in rng.uniform(-1.0, 1.0, (5, 3)):
        expected = Rotation.from_euler("YXZ", [yaw, pitch, roll]).as_matrix()
        np.testing.assert_allclose(euler_to_matrix(yaw, pitch, roll), expected, atol=1e-12)


def test_look_at_points_minus_z_at_target_with_up_up():
    eye, target = np.array([0.3, 0.2, 1.0]), np.array([0.0, 0.05, 0.0])
    c2w = look_at(eye, target)
    rotation = c2w[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(c2w[:3, 3], eye)
    forward = -rotation[:, 2]
    np.testing.assert_allclose(forward, (target - eye) / np.linalg.norm(target - eye), atol=1e-12)
    assert rotation[1, 1] > 0  # camera y (image up) has a positive world-y component


def test_look_at_rejects_up_parallel_to_view():
    with pytest.raises(ValueError, match="parallel"):
        look_at([0.0, 1.0, 0.0], [0.0, 0.0, 0.0], up=[0.0, 1.0, 0.0])


def test_target_projects_to_principal_point_and_image_y_grows_down():
    c2w = look_at([0.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    pixels, depth = project_points(np.array([[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.1, 0.0, 0.0]]), K, c2w)
    np.testing.assert_allclose(pixels[0], [K[0, 2], K[1, 2]])
    np.testing.assert_allclose(depth, 1.0)
    assert pixels[1, 1] < K[1, 2]  # world up -> smaller row
    assert pixels[2, 0] > K[0, 2]  # world +x -> larger column for a camera on +z


def test_unproject_inverts_project():
    rng = np.random.default_rng(1)
    c2w = look_at([0.2, -0.1, 0.9], [0.0, 0.0, 0.0])
    points = rng.uniform(-0.1, 0.1, (50, 3))
    pixels, depth = project_points(points, K, c2w)
    np.testing.assert_allclose(unproject_pixels(pixels, depth, K, c2w), points, atol=1e-12)


def test_opengl_projection_agrees_with_project_points():
    rng = np.random.default_rng(2)
    c2w = look_at([0.1, 0.2, 1.0], [0.0, 0.0, 0.0])
    points = rng.uniform(-0.1, 0.1, (20, 3))
    pixels, _ = project_points(points, K, c2w)
    clip = opengl_projection(K, WIDTH, HEIGHT, 0.1, 10.0) @ np.linalg.inv(c2w) @ np.c_[points, np.ones(20)].T
    ndc = clip[:3] / clip[3]
    gl_pixels = np.stack([(ndc[0] + 1) / 2 * WIDTH, (1 - ndc[1]) / 2 * HEIGHT], axis=1)
    np.testing.assert_allclose(gl_pixels, pixels, atol=1e-9)
    assert np.all(np.abs(ndc[2]) < 1)  # inside the clip range


def test_frustum_corners_project_to_the_image_corners():
    c2w = look_at([0.1, 0.3, 1.0], [0.0, 0.0, 0.0])
    corners = frustum_corners(K, WIDTH, HEIGHT, c2w, depth=0.2)
    np.testing.assert_allclose(corners[0], c2w[:3, 3])
    pixels, depth = project_points(corners[1:], K, c2w)
    np.testing.assert_allclose(pixels, [[0, 0], [WIDTH, 0], [WIDTH, HEIGHT], [0, HEIGHT]], atol=1e-9)
    np.testing.assert_allclose(depth, 0.2)
