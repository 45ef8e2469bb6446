"""Checks for the values found in a subject's ``transforms.json``.

Every check raises one :class:`SubjectError` whose message says where the bad value is (file,
frame index, field) and what was expected, e.g.
``subject/transforms.json: frames[12].expression: expected 46 numbers, got 45``.
The checks are plain functions of already-parsed JSON values so that the reader and the writer
apply exactly the same rules.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from nbskit.errors import UserError

SPLITS = ("train", "val", "test")
CAMERA_CONVENTION = "opengl"
# A tracked or synthesised camera rotation is orthonormal to float32 round-off; 1e-3 still
# rejects any real scale or shear while tolerating matrices printed with few digits.
RIGID_TOLERANCE = 1e-3


class SubjectError(UserError, ValueError):
    """A subject folder (or a value written into one) breaks the format."""


def location(source: Path | str, frame: int | None = None, field: str | None = None) -> str:
    """``file: frames[i].field`` prefix that every message starts with."""
    where = str(source)
    parts = []
    if frame is not None:
        parts.append(f"frames[{frame}]")
    if field is not None:
        parts.append(field)
    if parts:
        where += ": " + ".".join(parts)
    return where


def fail(source, frame, field, expectation: str) -> SubjectError:
    return SubjectError(f"{location(source, frame, field)}: {expectation}")


def require(mapping: dict, key: str, source, frame: int | None = None):
    """``mapping[key]``, or a SubjectError naming the missing key."""
    if not isinstance(mapping, dict):
        raise fail(source, frame, None, f"expected a JSON object, got {type(mapping).__name__}")
    if key not in mapping:
        raise fail(source, frame, key, "missing required key")
    return mapping[key]


def finite_array(value, shape: tuple[int | None, ...], source, frame: int | None, field: str) -> np.ndarray:
    """Parse a nested list of numbers of a given shape (None: any length); reject NaN/inf. Returns float64."""
    described = "[" + ", ".join("any" if n is None else str(n) for n in shape) + "]"
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(source, frame, field, f"expected numbers of shape {described}") from None
    if array.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, array.shape)):
        if len(shape) == 1 and array.ndim == 1:
            raise fail(source, frame, field, f"expected {shape[0]} numbers, got {array.shape[0]}")
        raise fail(source, frame, field, f"expected shape {described}, got shape {list(array.shape)}")
    if not np.isfinite(array).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise fail(source, frame, field, f"expected finite numbers, found {array[bad]} at index {list(bad)}")
    return array


def positive_int(value, source, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise fail(source, None, field, f"expected a positive integer, got {value!r}")
    return int(value)


def finite_number(value, source, field: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(source, None, field, f"expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise fail(source, None, field, f"expected a positive number, got {value!r}")
    return float(value)


def aabb(value, source) -> np.ndarray:
    """[[x0, y0, z0], [x1, y1, z1]] with min < max on every axis."""
    box = finite_array(value, (2, 3), source, None, "aabb")
    if not (box[0] < box[1]).all():
        raise fail(source, None, "aabb", f"expected min < max on every axis, got {box.tolist()}")
    return box


def expression_names(value, source) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(n, str) and n for n in value):
        raise fail(source, None, "expression_names", "expected a non-empty list of non-empty strings")
    seen = set()
    for name in value:
        if name in seen:
            raise fail(source, None, "expression_names", f"expected unique names, {name!r} repeats")
        seen.add(name)
    return list(value)


def camera_convention(value, source) -> str:
    if value != CAMERA_CONVENTION:
        raise fail(source, None, "camera_convention", f"expected {CAMERA_CONVENTION!r}, got {value!r}")
    return value


def split(value, source, frame: int) -> str:
    if value not in SPLITS:
        raise fail(source, frame, "split", f"expected one of {list(SPLITS)}, got {value!r}")
    return value


def relative_path(value, source, frame: int | None, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise fail(source, frame, field, f"expected a non-empty path string, got {value!r}")
    return value


def rigid_camera_to_world(value, source, frame: int | None, field: str = "transform_matrix") -> np.ndarray:
    """A 4x4 camera-to-world matrix: finite, last row (0,0,0,1), rotation orthonormal with det +1."""
    matrix = finite_array(value, (4, 4), source, frame, field)
    if not np.allclose(matrix[3], (0.0, 0.0, 0.0, 1.0), atol=RIGID_TOLERANCE):
        raise fail(source, frame, field, f"expected last row [0, 0, 0, 1], got {matrix[3].tolist()}")
    rotation = matrix[:3, :3]
    off_orthonormal = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
    determinant = float(np.linalg.det(rotation))
    if off_orthonormal > RIGID_TOLERANCE or abs(determinant - 1.0) > RIGID_TOLERANCE:
        raise fail(
            source,
            frame,
            field,
            "expected a rigid camera (rotation with orthonormal columns and determinant +1, "
            f"tolerance {RIGID_TOLERANCE}); got max |R^T R - I| = {off_orthonormal:.3g}, "
            f"det R = {determinant:.6g}",
        )
    return matrix


def pixel_box(value, source, frame: int, field: str) -> tuple[float, float, float, float] | None:
    """Optional ``[x0, y0, x1, y1]`` in pixels with x0 <= x1 and y0 <= y1."""
    if value is None:
        return None
    box = finite_array(value, (4,), source, frame, field)
    if box[0] > box[2] or box[1] > box[3]:
        raise fail(
            source, frame, field, f"expected [x0, y0, x1, y1] with x0 <= x1, y0 <= y1, got {box.tolist()}"
        )
    return tuple(float(v) for v in box)


def image_size(path: Path, expected_size: tuple[int, int], source, frame: int | None, field: str) -> None:
    """The file exists, is an image, and is ``expected_size`` = (width, height).

    Only the header is read (PIL opens lazily), so checking thousands of frames stays cheap.
    """
    if not path.is_file():
        raise fail(source, frame, field, f"file not found: {path}")
    try:
        with Image.open(path) as image:
            size = image.size
    except (OSError, SyntaxError) as err:
        raise fail(source, frame, field, f"cannot read image {path}: {err}") from None
    if tuple(size) != tuple(expected_size):
        raise fail(
            source,
            frame,
            field,
            f"expected an image of w x h = {expected_size[0]} x {expected_size[1]} (from w/h), "
            f"got {size[0]} x {size[1]} in {path}",
        )


def binary_mask(path: Path, source, frame: int | None, field: str) -> None:
    """The image at ``path`` is 8-bit single-channel with only the values 0 and 255."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            values = np.unique(np.asarray(image)) if mode == "L" else None
    except (OSError, SyntaxError) as err:
        raise fail(source, frame, field, f"cannot read image {path}: {err}") from None
    if mode != "L":
        raise fail(source, frame, field, f"expected an 8-bit single-channel image (mode L), got mode {mode} in {path}")
    stray = [int(v) for v in values if v not in (0, 255)]
    if stray:
        raise fail(source, frame, field, f"expected only the values 0 and 255, found {stray[:5]} in {path}")
