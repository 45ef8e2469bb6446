"""Small camera helpers: rotations, look-at, pinhole projection in nbskit's conventions.

Conventions (docs/architecture.md, “Units and conventions”): cameras are 4x4 camera-to-world matrices with OpenGL axes (x right,
y up, the camera looks down -z). Pixel coordinates are continuous with the centre of pixel
(column i, row j) at (i + 0.5, j + 0.5); rows grow downwards. Depth is *z-depth*: the distance
along the camera's viewing axis (-z), not along the ray.

Everything here is numpy float64 in, float64 out; shapes are in each docstring.
"""

from __future__ import annotations

import numpy as np


def rotation_x(angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about the x axis. Returns [3,3]."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about the y axis. Returns [3,3]."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about the z axis. Returns [3,3]."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head rotation from yaw (about y), pitch (about x) and roll (about z), in radians.

    Applied as ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``: roll first in the head's own frame, then
    pitch (nodding), then yaw (turning), which is how head pose angles are usually reported.
    Returns [3,3].
    """
    return rotation_y(yaw) @ rotation_x(pitch) @ rotation_z(roll)


def rigid(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Pack rotation [3,3] and translation [3] into a 4x4 rigid transform."""
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = translation
    return out


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 1.0, 0.0)) -> np.ndarray:
    """Camera-to-world [4,4] (OpenGL axes) for a camera at ``eye`` [3] looking at ``target`` [3].

    ``up`` [3] is the world direction that should appear upwards in the image; it must not be
    parallel to the viewing direction.
    """
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    backward = eye - target  # the camera looks down its own -z, so +z points back at the eye
    backward /= np.linalg.norm(backward)
    right = np.cross(up, backward)
    norm = np.linalg.norm(right)
    if norm < 1e-9:
        raise ValueError(f"look_at: up {up.tolist()} is parallel to the viewing direction")
    right /= norm
    true_up = np.cross(backward, right)
    return rigid(np.stack([right, true_up, backward], axis=1), eye)


def intrinsics_matrix(fl_x: float, fl_y: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole matrix K [3,3] for focal lengths and principal point in pixels."""
    return np.array([[fl_x, 0.0, cx], [0.0, fl_y, cy], [0.0, 0.0, 1.0]])


def world_to_camera(points: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """Points [N,3] in world space -> [N,3] in OpenGL camera space (camera looks down -z)."""
    rotation, eye = c2w[:3, :3], c2w[:3, 3]
    return (np.asarray(points, dtype=np.float64) - eye) @ rotation


def project_points(points: np.ndarray, K: np.ndarray, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points [N,3] through intrinsics K [3,3] and camera c2w [4,4] (OpenGL).

    Returns (pixels [N,2] as continuous (x, y) with pixel centres at +0.5, z-depth [N]). Points
    behind the camera get a non-positive depth; their pixels are meaningless.
    """
    cam = world_to_camera(points, c2w)
    depth = -cam[:, 2]
    # OpenGL camera: y up, looking down -z; image: y down. Flip both to the OpenCV frame.
    x = K[0, 0] * cam[:, 0] / depth + K[0, 2]
    y = K[1, 1] * (-cam[:, 1]) / depth + K[1, 2]
    return np.stack([x, y], axis=1), depth


def unproject_pixels(pixels: np.ndarray, depth: np.ndarray, K: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """Inverse of ``project_points``: pixels [N,2] with z-depth [N] -> world points [N,3]."""
    pixels = np.asarray(pixels, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    cam = np.stack(
        [
            (pixels[:, 0] - K[0, 2]) / K[0, 0] * depth,
            -(pixels[:, 1] - K[1, 2]) / K[1, 1] * depth,
            -depth,
        ],
        axis=1,
    )
    return cam @ c2w[:3, :3].T + c2w[:3, 3]


def opengl_projection(K: np.ndarray, width: int, height: int, near: float, far: float) -> np.ndarray:
    """OpenGL clip matrix [4,4] equivalent to ``project_points`` with K for a width x height image.

    Row 0 of what OpenGL reads back is the *bottom* image row; flip rows to get image order.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    return np.array(
        [
            [2 * fx / width, 0.0, 1 - 2 * cx / width, 0.0],
            [0.0, 2 * fy / height, 2 * cy / height - 1, 0.0],
            [0.0, 0.0, -(far + near) / (far - near), -2 * far * near / (far - near)],
            [0.0, 0.0, -1.0, 0.0],
        ]
    )


def frustum_corners(K: np.ndarray, width: int, height: int, c2w: np.ndarray, depth: float) -> np.ndarray:
    """World points [5,3] of a camera frustum drawn to z-depth ``depth``: the centre, then the
    image corners (top-left, top-right, bottom-right, bottom-left) at that depth."""
    pixels = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    corners = unproject_pixels(pixels, np.full(4, depth), K, c2w)
    return np.vstack([c2w[:3, 3], corners])
