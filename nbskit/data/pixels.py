"""Decoding a subject's images, masks and depth maps: the one reader that training and
``nbskit info`` share, so a file that validates is a file that trains.

8-bit images of any PIL colour mode (grey, palette, RGBA, ...) are converted to RGB or grey;
16-bit grey images are scaled by 1/65535 (PIL's own conversion would clip them to white);
floating-point images are rejected. A truncated or corrupt file raises SubjectError with its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from nbskit.data import validate

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")  # PIL opens a 16-bit grey PNG as one of these
SIXTEEN_BIT_MAX = 65535
UNSUPPORTED_MODES = ("F",)


def _decoded(path: Path, size: tuple[int, int], source, frame: int | None, field: str) -> Image.Image:
    """The fully decoded image at ``path`` (which must be ``size`` = (w, h))."""
    validate.image_size(path, size, source, frame, field)
    try:
        with Image.open(path) as image:
            image.load()  # decodes every row: truncation and bad checksums surface here
            return image.copy()
    except (OSError, SyntaxError, ValueError) as err:
        raise validate.fail(source, frame, field, f"cannot decode image {path} (truncated or corrupt?): {err}") from None


def _sixteen_bit_values(image: Image.Image, path: Path, source, frame: int | None, field: str) -> np.ndarray:
    """uint16 [H, W] of a 16-bit grey image (PIL mode 'I' may hold wider values: rejected)."""
    values = np.asarray(image).astype(np.int64)
    if values.min(initial=0) < 0 or values.max(initial=0) > SIXTEEN_BIT_MAX:
        raise validate.fail(source, frame, field, f"{path}: expected 16-bit pixel values, found "
                            f"values in [{values.min()}, {values.max()}]")
    return values.astype(np.uint16)


def _sixteen_bit_unit(image: Image.Image, path: Path, source, frame: int | None, field: str) -> np.ndarray:
    """float32 [H, W] in [0, 1] from a 16-bit grey image."""
    return (_sixteen_bit_values(image, path, source, frame, field) / SIXTEEN_BIT_MAX).astype(np.float32)


def _check_mode(image: Image.Image, path: Path, source, frame: int | None, field: str) -> None:
    if image.mode in UNSUPPORTED_MODES:
        raise validate.fail(source, frame, field, f"{path}: floating-point images are not supported; "
                            "expected an 8- or 16-bit RGB or grey image")


def read_rgb(path: Path, size: tuple[int, int], source, frame: int | None, field: str) -> np.ndarray:
    """float32 [H, W, 3] in [0, 1]."""
    image = _decoded(path, size, source, frame, field)
    _check_mode(image, path, source, frame, field)
    if image.mode in SIXTEEN_BIT_MODES:
        return np.repeat(_sixteen_bit_unit(image, path, source, frame, field)[..., None], 3, axis=-1)
    return np.asarray(image.convert("RGB")).astype(np.float32) / 255.0


def read_grey(path: Path, size: tuple[int, int], source, frame: int | None, field: str) -> np.ndarray:
    """float32 [H, W] in [0, 1] (colour images by luminance)."""
    image = _decoded(path, size, source, frame, field)
    _check_mode(image, path, source, frame, field)
    if image.mode in SIXTEEN_BIT_MODES:
        return _sixteen_bit_unit(image, path, source, frame, field)
    return np.asarray(image.convert("L")).astype(np.float32) / 255.0


def read_codes16(path: Path, size: tuple[int, int], source, frame: int | None, field: str) -> np.ndarray:
    """uint16 [H, W] raw values of a 16-bit grey image (depth codes)."""
    image = _decoded(path, size, source, frame, field)
    if image.mode not in SIXTEEN_BIT_MODES:
        raise validate.fail(source, frame, field, f"{path}: expected a 16-bit grey PNG, got PIL mode {image.mode!r}")
    return _sixteen_bit_values(image, path, source, frame, field)
