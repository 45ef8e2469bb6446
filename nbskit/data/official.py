"""Import a subject released with NeRFBlendShape (Gao et al. 2022) into a subject folder.

The released layout::

    SRC/transforms.json   {"fx", "fy", "cx", "cy", "w", "h", "frames": [{"img_id", "transform_matrix",
                           "exp_ori" (46 FaceWarehouse activations), "exp" (unused)}, ...]}
    SRC/head_imgs/<img_id>.jpg   the head over the static background
    SRC/parsing/<img_id>.png     face parsing; the head (face + hair) is exactly RGB (0, 0, 255)
    SRC/bc.jpg                   the static background

Frames are ordered by ``img_id``; the last ``test_frames`` (500 in the paper) are the test split.
Images are not copied: the new ``transforms.json`` points at them (relative to OUT when possible).
Only the masks, which the native format needs as binary images, are written into ``OUT/masks/``.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from nbskit.data import validate
from nbskit.data.subject import (
    MASK_ON,
    MASKS_DIR,
    TRANSFORMS_FILE,
    FrameRecord,
    Subject,
    SubjectError,
    parse_intrinsics,
    save_png,
)
from nbskit.geometry.intrinsics import Intrinsics

HEAD_IMAGES_DIR = "head_imgs"
PARSING_DIR = "parsing"
BACKGROUND_FILE = "bc.jpg"
HEAD_PARSING_RGB = (0, 0, 255)
PAPER_TEST_FRAMES = 500
# Never hold out more than this share of a (small) folder, so training keeps most frames.
MAX_TEST_FRACTION = 0.5

# The authors' loader multiplies camera translations by 0.33 before training (the instant-ngp
# rescaling) and bounds the scene by the cube [-0.06, 0.06]^3 in that rescaled space (its
# `--bound` default). Their axis permutation maps that origin-centred cube onto itself, so in the
# dataset's own units the head box is the cube of half-size 0.06 / 0.33 around the origin.
OFFICIAL_POSE_SCALE = 0.33
OFFICIAL_BOUND = 0.06
OFFICIAL_HALF_SIZE = OFFICIAL_BOUND / OFFICIAL_POSE_SCALE
DEFAULT_AABB = ((-OFFICIAL_HALF_SIZE,) * 3, (OFFICIAL_HALF_SIZE,) * 3)


@dataclass
class ImportReport:
    """What an import produced, and anything the user should know about how it was done."""

    subject: Subject
    num_train: int
    num_test: int
    notes: list[str] = field(default_factory=list)


def expression_names(count: int) -> list[str]:
    """FaceWarehouse expression indices as names: fw_00, fw_01, ..."""
    return [f"fw_{i:02d}" for i in range(count)]


def choose_test_count(num_frames: int, test_frames: int) -> tuple[int, str | None]:
    """How many trailing frames to hold out, and a note if ``test_frames`` had to be reduced."""
    if test_frames < 0:
        raise ValueError(f"test_frames must be >= 0, got {test_frames}")
    limit = int(num_frames * MAX_TEST_FRACTION)
    if test_frames <= limit:
        return test_frames, None
    note = (
        f"only {num_frames} frames: holding out the last {limit} as test instead of {test_frames} "
        f"(at most {MAX_TEST_FRACTION:.0%} of the frames)"
    )
    return limit, note


def head_mask(parsing_rgb: np.ndarray) -> np.ndarray:
    """uint8 [H, W] in {0, 255} from a parsing map [H, W, 3]: head where the colour is exactly (0, 0, 255)."""
    return np.where((parsing_rgb == HEAD_PARSING_RGB).all(axis=-1), MASK_ON, 0).astype(np.uint8)


def import_official(
    src: str | os.PathLike,
    out: str | os.PathLike,
    test_frames: int = PAPER_TEST_FRAMES,
    aabb=DEFAULT_AABB,
    progress: bool = True,
) -> ImportReport:
    """Convert a released NeRFBlendShape subject at ``src`` into a subject folder at ``out``.

    src: the folder (or its transforms.json). aabb: [2, 3] world box, in the dataset's units.
    Raises SubjectError naming the source file, frame and field on bad input.
    """
    src_json = Path(src).resolve()
    if src_json.is_dir():
        src_json = src_json / TRANSFORMS_FILE
    src_root, out = src_json.parent, Path(out).resolve()
    if out == src_root:
        raise SubjectError(f"{out}: the output folder is the released folder itself; its {TRANSFORMS_FILE} "
                           "would be overwritten. Choose a new folder")
    data = _read_json(src_json)
    get = functools.partial(validate.require, data, source=src_json)
    intrinsics = parse_intrinsics(get, src_json, focal_keys=("fx", "fy"))
    raw_frames = get("frames")
    if not isinstance(raw_frames, list) or not raw_frames:
        raise validate.fail(src_json, None, "frames", "expected a non-empty list of frames")
    first_coefficients = validate.require(raw_frames[0], "exp_ori", src_json, 0)
    if not isinstance(first_coefficients, list) or not first_coefficients:
        raise validate.fail(src_json, 0, "exp_ori", "expected a non-empty list of coefficients")
    num_expressions = len(first_coefficients)
    order = _order_by_img_id(raw_frames, src_json)
    num_test, note = choose_test_count(len(raw_frames), test_frames)
    notes = [note] if note else []

    frames = []
    for position, index in enumerate(tqdm(order, desc="import masks", unit="frame", disable=not progress)):
        split = "test" if position >= len(order) - num_test else "train"
        frames.append(
            _convert_frame(raw_frames[index], index, split, num_expressions, src_json, out, intrinsics)
        )

    background = src_root / BACKGROUND_FILE
    if not background.is_file():
        notes.append(f"no {BACKGROUND_FILE} in {src_root}: training will composite over white")
    subject = Subject(
        root=out,
        intrinsics=intrinsics,
        aabb=np.asarray(aabb, dtype=np.float32),
        expression_names=expression_names(num_expressions),
        frames=frames,
        background_path=_path_from(out, background) if background.is_file() else None,
        extra={"imported_from": str(src_root), "importer": "nbskit.data.official"},
    )
    subject.save_transforms()
    return ImportReport(Subject.load(out), len(order) - num_test, num_test, notes)


def _convert_frame(
    raw: dict, index: int, split: str, num_expressions: int, src_json: Path, out: Path, intrinsics: Intrinsics
) -> FrameRecord:
    """Check one released frame, write its mask into ``out``, and describe it as a FrameRecord."""
    img_id = _img_id(raw, src_json, index)
    c2w = validate.rigid_camera_to_world(
        validate.require(raw, "transform_matrix", src_json, index), src_json, index
    )
    coefficients = validate.require(raw, "exp_ori", src_json, index)
    coefficients = validate.finite_array(coefficients, (num_expressions,), src_json, index, "exp_ori")
    image_path = src_json.parent / HEAD_IMAGES_DIR / f"{img_id}.jpg"
    parsing_path = src_json.parent / PARSING_DIR / f"{img_id}.png"
    size = (intrinsics.width, intrinsics.height)
    validate.image_size(image_path, size, src_json, index, "img_id")
    validate.image_size(parsing_path, size, src_json, index, "img_id")
    with Image.open(parsing_path) as parsing:
        mask = head_mask(np.asarray(parsing.convert("RGB")))
    mask_path = f"{MASKS_DIR}/{img_id}.png"
    save_png(out / mask_path, mask)
    return FrameRecord(
        file_path=_path_from(out, image_path),
        mask_path=mask_path,
        transform_matrix=c2w.astype(np.float32),
        expression=coefficients.astype(np.float32),
        split=split,
        face_box=_bounding_box(mask),
    )


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise SubjectError(f"{path}: not found (expected the released transforms.json)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SubjectError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None


def _order_by_img_id(raw_frames: list, source: Path) -> list[int]:
    """Frame indices sorted by img_id; each img_id must be a distinct integer."""
    seen: dict[int, int] = {}
    for index, raw in enumerate(raw_frames):
        img_id = _img_id(raw, source, index)
        if img_id in seen:
            raise validate.fail(
                source, index, "img_id", f"expected unique ids, {img_id} is also frames[{seen[img_id]}]"
            )
        seen[img_id] = index
    return [seen[img_id] for img_id in sorted(seen)]


def _img_id(raw, source: Path, index: int) -> int:
    value = validate.require(raw, "img_id", source, index)
    if isinstance(value, bool) or not isinstance(value, int):
        raise validate.fail(source, index, "img_id", f"expected an integer, got {value!r}")
    return value


def _path_from(out: Path, target: Path) -> str:
    """``target`` relative to ``out`` (portable when both move together), else absolute."""
    try:
        return Path(os.path.relpath(target, out)).as_posix()
    except ValueError:  # on Windows, different drives have no relative path
        return str(target)


def _bounding_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Pixel box (x0, y0, x1, y1) around the head mask; the patch sampler draws patches in it."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)
