"""Subject folders: the native on-disk format every part of nbskit reads and writes.

A subject folder holds one monocular video, already tracked::

    SUBJECT/
      transforms.json    intrinsics, aabb, expression names, camera convention, frames
      images/00000.png   RGB frames (any path relative to SUBJECT, or absolute, is allowed)
      masks/00000.png    head masks, 8-bit, 0 = background, 255 = head
      background.png     optional static background (else white)
      landmarks.npy      optional float32 [N_frames, M, 2] pixel positions (x, y)
      depth/00000.png    optional 16-bit depth; value * depth_scale = depth (0 = no surface)
      ignore/00000.png   optional 8-bit: 255 = pixel to leave out of training (a hand in front of
                         the face), 0 = use it; frames without one ignore nothing

``transforms.json`` keys: ``w, h, fl_x, fl_y, cx, cy`` (pixels), ``aabb`` ([[min xyz], [max xyz]],
world units), ``expression_names`` (K names), ``camera_convention`` ("opengl"),
optional ``background_path`` and ``depth_scale``, and ``frames``: a list of objects with
``file_path``, ``mask_path``, ``transform_matrix`` (4x4 camera-to-world, OpenGL axes: x right,
y up, camera looks down -z), ``expression`` (K numbers), ``split`` ("train" | "val" | "test"),
and optionally ``face_box`` / ``mouth_box`` ([x0, y0, x1, y1] pixels), ``depth_path`` and
``ignore_path``.
Any other top-level key is kept in :attr:`Subject.extra` (e.g. how a synthetic subject was made).
"""

from __future__ import annotations

import functools
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from nbskit.data import pixels, validate
from nbskit.data.validate import SPLITS, SubjectError
from nbskit.geometry.intrinsics import Intrinsics

__all__ = ["SPLITS", "FrameRecord", "Subject", "SubjectError", "SubjectWriter"]

TRANSFORMS_FILE = "transforms.json"
LANDMARKS_FILE = "landmarks.npy"
BACKGROUND_FILE = "background.png"
IMAGES_DIR = "images"
MASKS_DIR = "masks"
DEPTH_DIR = "depth"
IGNORE_DIR = "ignore"
# Decoded frames kept per subject. Random-ray training touches every frame, so a large cache
# would only hold memory; a small one makes notebooks that revisit a few frames instant.
IMAGE_CACHE_SIZE = 32
MASK_THRESHOLD = 0.5
MASK_ON = 255
DEPTH_MAX_CODE = 65535  # largest value of a 16-bit PNG
# When the writer picks the depth quantum itself, the first frame's farthest surface maps to
# 1/DEPTH_HEADROOM of the 16-bit range, leaving room for later frames seen from farther away.
DEPTH_HEADROOM = 4.0
INTRINSICS_KEYS = ("w", "h", "fl_x", "fl_y", "cx", "cy")
HEADER_KEYS = ("aabb", "expression_names", "camera_convention", "background_path", "depth_scale")
FORMAT_KEYS = frozenset((*INTRINSICS_KEYS, *HEADER_KEYS, "frames"))


@dataclass(eq=False)
class FrameRecord:
    """One frame. Paths are relative to the subject root (or absolute).

    transform_matrix: float32 [4, 4] camera-to-world, OpenGL axes.
    expression: float32 [K] coefficients.
    face_box, mouth_box: optional (x0, y0, x1, y1) pixels, used by the patch sampler.
    depth_path: optional 16-bit PNG, see :meth:`Subject.load_depth`.
    ignore_path: optional 8-bit PNG of pixels to leave out of training, see :meth:`Subject.load_ignore`.
    """

    file_path: str
    mask_path: str
    transform_matrix: np.ndarray
    expression: np.ndarray
    split: str
    face_box: tuple[float, float, float, float] | None = None
    mouth_box: tuple[float, float, float, float] | None = None
    depth_path: str | None = None
    ignore_path: str | None = None


@dataclass(eq=False)
class Subject:
    """A validated subject folder; images are decoded lazily (small LRU cache)."""

    root: Path
    intrinsics: Intrinsics
    aabb: np.ndarray  # float32 [2, 3]: world min corner, max corner
    expression_names: list[str]
    frames: list[FrameRecord]
    background_path: str | None = None
    depth_scale: float | None = None  # world units per 16-bit depth step
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root)
        self._attach_caches()

    def _attach_caches(self) -> None:
        self._read_rgb = functools.lru_cache(maxsize=IMAGE_CACHE_SIZE)(self._decode_rgb)
        self._read_mask = functools.lru_cache(maxsize=IMAGE_CACHE_SIZE)(self._decode_mask)

    # Caches are per process: data-loader workers and deep copies start with empty ones.
    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key not in ("_read_rgb", "_read_mask")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._attach_caches()

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def load(cls, root: str | os.PathLike, check_files: bool = True) -> Subject:
        """Read and validate ``root/transforms.json`` (``root`` may also be that file).

        With ``check_files`` every image, mask, depth map and the background must exist and
        match ``w`` x ``h`` (PNG/JPEG headers only; nothing is decoded). Raises SubjectError.
        """
        root = Path(root)
        if root.name == TRANSFORMS_FILE and root.is_file():
            root = root.parent
        source = root / TRANSFORMS_FILE
        if not source.is_file():
            raise SubjectError(f"{source}: not found (a subject folder needs {TRANSFORMS_FILE})")
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise SubjectError(
                f"{source}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
            ) from None
        except UnicodeDecodeError as err:
            raise SubjectError(f"{source}: not UTF-8 text ({err.reason})") from None
        subject = cls.from_transforms(data, root)
        if check_files:
            subject.check_files()
        subject._check_landmarks()
        return subject

    @classmethod
    def from_transforms(cls, data: dict, root: str | os.PathLike) -> Subject:
        """Build a Subject from the parsed ``transforms.json`` object, validating every value."""
        root = Path(root)
        source = root / TRANSFORMS_FILE
        header = _parse_header(data, source)
        raw_frames = validate.require(data, "frames", source)
        if not isinstance(raw_frames, list) or not raw_frames:
            raise validate.fail(source, None, "frames", "expected a non-empty list of frames")
        num_expressions = len(header["expression_names"])
        frames = [_parse_frame(raw, index, num_expressions, source) for index, raw in enumerate(raw_frames)]
        _check_frame_set(frames, root, source, header["depth_scale"])
        return cls(root=root, frames=frames, **header)

    def to_transforms(self) -> dict:
        """The JSON object :meth:`from_transforms` reads back."""
        k = self.intrinsics
        data = {
            "w": int(k.width),
            "h": int(k.height),
            "fl_x": float(k.fl_x),
            "fl_y": float(k.fl_y),
            "cx": float(k.cx),
            "cy": float(k.cy),
            "aabb": np.asarray(self.aabb, dtype=np.float32).tolist(),
            "expression_names": list(self.expression_names),
            "camera_convention": validate.CAMERA_CONVENTION,
        }
        if self.background_path is not None:
            data["background_path"] = self.background_path
        if self.depth_scale is not None:
            data["depth_scale"] = float(self.depth_scale)
        data.update(self.extra)
        data["frames"] = [_frame_to_json(frame) for frame in self.frames]
        return data

    def save_transforms(self) -> Path:
        """Validate, then write ``root/transforms.json`` atomically. Returns its path."""
        data = self.to_transforms()
        Subject.from_transforms(json.loads(json.dumps(data)), self.root)
        path = self.root / TRANSFORMS_FILE
        atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode("utf-8"))
        return path

    def check_files(self) -> None:
        """Every referenced file exists and has the subject's resolution (headers only)."""
        source = self.root / TRANSFORMS_FILE
        size = (self.intrinsics.width, self.intrinsics.height)
        if self.background_path is not None:
            validate.image_size(self.path(self.background_path), size, source, None, "background_path")
        for index, frame in enumerate(self.frames):
            validate.image_size(self.path(frame.file_path), size, source, index, "file_path")
            validate.image_size(self.path(frame.mask_path), size, source, index, "mask_path")
            for optional in ("depth_path", "ignore_path"):
                if getattr(frame, optional) is not None:
                    validate.image_size(self.path(getattr(frame, optional)), size, source, index, optional)

    def check_pixels(self) -> None:
        """Decode every image, mask, depth map and the background as training would (slow: every
        pixel is read). Raises SubjectError naming the first file that is truncated, corrupt or of
        an unsupported kind."""
        if self.background_path is not None:
            self._decode_rgb(self.background_path, None, "background_path")
        for index, frame in enumerate(self.frames):
            self._decode_rgb(frame.file_path, index, "file_path")
            self._decode_mask(frame.mask_path, index)
            if frame.depth_path is not None:
                self.load_depth(index)
            if frame.ignore_path is not None:  # 8-bit grey, only 0 and 255
                validate.binary_mask(self.path(frame.ignore_path), self.root / TRANSFORMS_FILE, index, "ignore_path")

    def _check_landmarks(self) -> None:
        path = self.root / LANDMARKS_FILE
        if not path.is_file():
            return
        try:
            landmarks = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise SubjectError(f"{path}: cannot read as a .npy array: {err}") from None
        if landmarks.ndim != 3 or landmarks.shape[0] != len(self.frames) or landmarks.shape[2] != 2:
            raise SubjectError(
                f"{path}: expected shape [N_frames={len(self.frames)}, M, 2], got {list(landmarks.shape)}"
            )
        finite = np.isfinite(landmarks).all(axis=(1, 2))
        if not finite.all():
            raise SubjectError(f"{path}: frame {int(np.argmin(finite))}: expected finite landmark positions")

    # ------------------------------------------------------------------ frames and coefficients
    def __len__(self) -> int:
        return len(self.frames)

    @property
    def num_expressions(self) -> int:
        """K, the number of expression coefficients per frame."""
        return len(self.expression_names)

    def path(self, relative: str) -> Path:
        """Absolute location of a path stored in transforms.json."""
        return self.root / relative

    def indices(self, split: str) -> np.ndarray:
        """int64 [n] indices of the frames in ``split``, in file order."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
        return np.array([i for i, frame in enumerate(self.frames) if frame.split == split], dtype=np.int64)

    def expressions(self, indices=None) -> np.ndarray:
        """float32 [n, K] coefficients of the given frames (all frames by default)."""
        chosen = range(len(self.frames)) if indices is None else indices
        return np.stack([self.frames[int(i)].expression for i in chosen]).astype(np.float32)

    def camera_to_world(self, indices=None) -> np.ndarray:
        """float32 [n, 4, 4] camera-to-world matrices of the given frames (all by default)."""
        chosen = range(len(self.frames)) if indices is None else indices
        return np.stack([self.frames[int(i)].transform_matrix for i in chosen]).astype(np.float32)

    def expression_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(min [K], max [K]) float32 over the training frames only (test frames never leak in)."""
        train = self.expressions(self.indices("train"))
        return train.min(axis=0), train.max(axis=0)

    # ------------------------------------------------------------------ pixels
    def load_image(self, index: int) -> np.ndarray:
        """float32 [H, W, 3] in [0, 1]."""
        return self._read_rgb(self.frames[index].file_path, index, "file_path").copy()

    def load_mask(self, index: int) -> np.ndarray:
        """float32 [H, W] in {0, 1} (1 = head)."""
        return self._read_mask(self.frames[index].mask_path, index).copy()

    def load_ignore(self, index: int) -> np.ndarray:
        """float32 [H, W] in {0, 1}: 1 where the frame's pixels are to be left out (all 0 without a mask)."""
        frame = self.frames[index]
        if frame.ignore_path is None:
            return np.zeros((self.intrinsics.height, self.intrinsics.width), dtype=np.float32)
        values = pixels.read_grey(self.path(frame.ignore_path), self._size, self.root / TRANSFORMS_FILE, index,
                                  "ignore_path")
        return (values >= MASK_THRESHOLD).astype(np.float32)

    @property
    def has_ignore(self) -> bool:
        """Whether any frame has an ignore mask."""
        return any(frame.ignore_path is not None for frame in self.frames)

    def background(self) -> np.ndarray:
        """float32 [H, W, 3] in [0, 1]; white when the subject has no background image."""
        if self.background_path is None:
            return np.ones((self.intrinsics.height, self.intrinsics.width, 3), dtype=np.float32)
        return self._read_rgb(self.background_path, None, "background_path").copy()

    def landmarks(self) -> np.ndarray | None:
        """float32 [N_frames, M, 2] pixel positions (x, y), or None without landmarks.npy."""
        path = self.root / LANDMARKS_FILE
        return np.load(path).astype(np.float32) if path.is_file() else None

    def load_depth(self, index: int) -> np.ndarray | None:
        """float32 [H, W] depth along the camera's viewing axis (world units; 0 = no surface).

        None if this frame has no depth map.
        """
        frame = self.frames[index]
        if frame.depth_path is None:
            return None
        codes = pixels.read_codes16(self.path(frame.depth_path), self._size, self.root / TRANSFORMS_FILE, index,
                                    "depth_path")
        return (codes.astype(np.float64) * self.depth_scale).astype(np.float32)

    def _decode_rgb(self, relative: str, index: int | None, field: str) -> np.ndarray:
        return pixels.read_rgb(self.path(relative), self._size, self.root / TRANSFORMS_FILE, index, field)

    def _decode_mask(self, relative: str, index: int) -> np.ndarray:
        values = pixels.read_grey(self.path(relative), self._size, self.root / TRANSFORMS_FILE, index, "mask_path")
        return (values >= MASK_THRESHOLD).astype(np.float32)

    @property
    def _size(self) -> tuple[int, int]:
        return self.intrinsics.width, self.intrinsics.height

    # ------------------------------------------------------------------ summary
    def describe(self) -> str:
        """A readable multi-line summary (what ``nbskit info`` prints)."""
        k = self.intrinsics
        counts = ", ".join(f"{split} {len(self.indices(split))}" for split in SPLITS)
        low, high = self.expression_range()
        landmarks = self.landmarks()
        has_depth = sum(frame.depth_path is not None for frame in self.frames)
        has_ignore = sum(frame.ignore_path is not None for frame in self.frames)
        lines = [
            f"subject     {self.root}",
            f"frames      {len(self.frames)} ({counts})",
            f"resolution  {k.width} x {k.height} px",
            f"intrinsics  fl_x {k.fl_x:.3f}  fl_y {k.fl_y:.3f}  cx {k.cx:.3f}  cy {k.cy:.3f}",
            f"aabb        min {_vector(self.aabb[0])}  max {_vector(self.aabb[1])}",
            f"background  {self.background_path or 'none (white)'}",
            f"landmarks   {'none' if landmarks is None else f'{landmarks.shape[1]} per frame'}",
            f"depth       {has_depth} of {len(self.frames)} frames",
            f"ignore      {has_ignore} of {len(self.frames)} frames have pixels left out of training",
            f"K           {self.num_expressions} expressions; training range [min, max]:",
        ]
        width = max(len(name) for name in self.expression_names)
        lines += [
            f"  {name:<{width}}  [{lo:+.4f}, {hi:+.4f}]"
            for name, lo, hi in zip(self.expression_names, low, high)
        ]
        for key, value in self.extra.items():
            lines.append(f"{key:<11} {json.dumps(value)[:100]}")
        return "\n".join(lines)


class SubjectWriter:
    """Streams frames into a new subject folder; ``transforms.json`` is written on close.

    Images, masks and depth maps go to disk as frames arrive, so memory stays flat for long
    videos. If the ``with`` block raises, no ``transforms.json`` is written and the folder stays
    unloadable rather than silently partial.

    depth_scale: world units per 16-bit depth step. None picks it from the first depth map so that
    its farthest surface uses 1/DEPTH_HEADROOM of the range.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        intrinsics: Intrinsics,
        aabb,
        expression_names: list[str],
        background: np.ndarray | None = None,
        extra: dict | None = None,
        *,
        depth_scale: float | None = None,
    ):
        self.root = Path(root)
        self._source = self.root / TRANSFORMS_FILE
        clashes = sorted(FORMAT_KEYS & set(extra or {}))
        if clashes:
            raise SubjectError(f"{self._source}: extra keys {clashes} would overwrite format keys")
        subject = Subject(
            self.root, intrinsics, np.asarray(aabb), list(expression_names), [], extra=dict(extra or {})
        )
        # Validate the header now, not at close, so a wrong argument fails before hours of work.
        self._subject = Subject(self.root, frames=[], **_parse_header(subject.to_transforms(), self._source))
        if depth_scale is not None:
            depth_scale = validate.finite_number(depth_scale, self._source, "depth_scale", positive=True)
        self._depth_scale = depth_scale
        self._landmarks: list[np.ndarray] = []
        self._closed = False
        # Rewriting a folder: drop the old index first, so a crash mid-way leaves an unloadable
        # folder instead of an old transforms.json over new pixels (or stale landmarks).
        for stale in (TRANSFORMS_FILE, LANDMARKS_FILE):
            (self.root / stale).unlink(missing_ok=True)
        for folder in (IMAGES_DIR, MASKS_DIR):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        if background is not None:
            pixels = _as_rgb8(background, self._image_shape, self._source, None, "background")
            save_png(self.root / BACKGROUND_FILE, pixels)
            self._subject.background_path = BACKGROUND_FILE

    @property
    def _image_shape(self) -> tuple[int, int]:
        return self._subject.intrinsics.height, self._subject.intrinsics.width

    def __len__(self) -> int:
        return len(self._subject.frames)

    def add_frame(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        c2w: np.ndarray,
        expression: np.ndarray,
        split: str,
        face_box=None,
        mouth_box=None,
        landmarks: np.ndarray | None = None,
        depth: np.ndarray | None = None,
        ignore: np.ndarray | None = None,
    ) -> int:
        """Write one frame's pixels and remember its record. Returns the frame index.

        image: [H, W, 3] float in [0, 1] or uint8.  mask: [H, W] bool/float/uint8 (>= half = head).
        c2w: [4, 4] rigid camera-to-world (OpenGL).  expression: [K].  split: train/val/test.
        landmarks: [M, 2] pixels (all frames or none).  depth: [H, W] along the viewing axis,
        non-finite or <= 0 where there is no surface.  ignore: [H, W] like ``mask``, pixels to leave
        out of training (no file is written when none is set).
        """
        if self._closed:
            raise RuntimeError(f"SubjectWriter for {self.root} is already closed")
        index = len(self._subject.frames)
        source, k = self._source, self._subject.num_expressions
        rgb8 = _as_rgb8(image, self._image_shape, source, index, "image")
        mask8 = _as_mask8(mask, self._image_shape, source, index)
        matrix = validate.rigid_camera_to_world(c2w, source, index)
        coefficients = validate.finite_array(expression, (k,), source, index, "expression")
        record = FrameRecord(
            file_path=f"{IMAGES_DIR}/{index:05d}.png",
            mask_path=f"{MASKS_DIR}/{index:05d}.png",
            transform_matrix=matrix.astype(np.float32),
            expression=coefficients.astype(np.float32),
            split=validate.split(split, source, index),
            face_box=validate.pixel_box(face_box, source, index, "face_box"),
            mouth_box=validate.pixel_box(mouth_box, source, index, "mouth_box"),
        )
        if index > 0 and (landmarks is not None) != bool(self._landmarks):
            raise validate.fail(source, index, "landmarks", "expected landmarks for every frame or for none")
        if landmarks is not None:
            num_points = self._landmarks[0].shape[0] if self._landmarks else None  # M is set by frame 0
            landmarks = validate.finite_array(landmarks, (num_points, 2), source, index, "landmarks")
        depth_codes = None if depth is None else self._depth_codes(depth, index)
        ignore8 = None if ignore is None else _as_mask8(ignore, self._image_shape, source, index, "ignore")

        # Everything is checked: only now touch the disk and the frame list.
        if ignore8 is not None and ignore8.any():
            record.ignore_path = f"{IGNORE_DIR}/{index:05d}.png"
            save_png(self.root / record.ignore_path, ignore8)
        if depth_codes is not None:
            record.depth_path = f"{DEPTH_DIR}/{index:05d}.png"
            save_png(self.root / record.depth_path, depth_codes)
        save_png(self.root / record.file_path, rgb8)
        save_png(self.root / record.mask_path, mask8)
        if landmarks is not None:
            self._landmarks.append(landmarks.astype(np.float32))
        self._subject.frames.append(record)
        return index

    def _depth_codes(self, depth: np.ndarray, index: int) -> np.ndarray:
        """uint16 [H, W] codes = round(depth / depth_scale); 0 marks no surface."""
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != self._image_shape:
            raise validate.fail(
                self._source,
                index,
                "depth",
                f"expected shape {list(self._image_shape)}, got {list(depth.shape)}",
            )
        surface = np.isfinite(depth) & (depth > 0)
        if not surface.any():
            return np.zeros(depth.shape, dtype=np.uint16)
        if self._depth_scale is None:
            self._depth_scale = DEPTH_HEADROOM * float(depth[surface].max()) / DEPTH_MAX_CODE
        codes = np.where(surface, np.round(np.where(surface, depth, 0.0) / self._depth_scale), 0.0)
        if codes.max() > DEPTH_MAX_CODE:
            raise validate.fail(
                self._source,
                index,
                "depth",
                f"expected depth <= {DEPTH_MAX_CODE * self._depth_scale:.6g} (depth_scale {self._depth_scale:.6g}); "
                f"got {float(depth[surface].max()):.6g}; pass a larger depth_scale to SubjectWriter",
            )
        # Surfaces closer than half a step would round to the "no surface" code 0.
        return np.where(surface, np.maximum(codes, 1), 0).astype(np.uint16)

    def close(self) -> Path:
        """Validate and write transforms.json (+ landmarks.npy). Returns the subject root."""
        if self._closed:
            return self.root
        subject = self._subject
        if any(frame.depth_path is not None for frame in subject.frames):
            # None here means every depth map was empty (all codes 0): any scale decodes them.
            subject.depth_scale = 1.0 if self._depth_scale is None else self._depth_scale
        if self._landmarks:
            buffer = io.BytesIO()
            np.save(buffer, np.stack(self._landmarks).astype(np.float32), allow_pickle=False)
            atomic_write_bytes(self.root / LANDMARKS_FILE, buffer.getvalue())
        subject.save_transforms()
        self._closed = True
        return self.root

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()


# ---------------------------------------------------------------------- helpers
def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temporary sibling, then rename over ``path`` (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(payload)
    os.replace(temporary, path)


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Atomically save uint8 [H, W], uint8 [H, W, 3] or uint16 [H, W] as PNG (deterministic bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def _as_rgb8(image, shape: tuple[int, int], source, index, field: str) -> np.ndarray:
    """float [0, 1] or uint8 [H, W, 3] -> uint8 [H, W, 3]."""
    image = np.asarray(image)
    if image.shape != (*shape, 3):
        raise validate.fail(
            source, index, field, f"expected shape {[*shape, 3]} (h, w, 3), got {list(image.shape)}"
        )
    if image.dtype == np.uint8:
        return image
    if not np.isfinite(image).all():
        raise validate.fail(source, index, field, "expected finite pixel values")
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _as_mask8(mask, shape: tuple[int, int], source, index, field: str = "mask") -> np.ndarray:
    """bool, float [0, 1] or uint8 [H, W] -> uint8 {0, 255}."""
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise validate.fail(
            source, index, field, f"expected shape {list(shape)} (h, w), got {list(mask.shape)}"
        )
    values = mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else mask.astype(np.float32)
    return np.where(values >= MASK_THRESHOLD, MASK_ON, 0).astype(np.uint8)


def _vector(values) -> str:
    return "[" + ", ".join(f"{float(v):+.4f}" for v in values) + "]"


def parse_intrinsics(get, source: Path, focal_keys: tuple[str, str] = ("fl_x", "fl_y")) -> Intrinsics:
    """Validated intrinsics from a transforms.json object read through ``get(key)``.

    ``focal_keys`` names the focal-length fields: ("fl_x", "fl_y") natively, ("fx", "fy") in the
    original authors' layout.
    """
    fx_key, fy_key = focal_keys
    return Intrinsics(
        width=validate.positive_int(get("w"), source, "w"),
        height=validate.positive_int(get("h"), source, "h"),
        fl_x=validate.finite_number(get(fx_key), source, fx_key, positive=True),
        fl_y=validate.finite_number(get(fy_key), source, fy_key, positive=True),
        cx=validate.finite_number(get("cx"), source, "cx"),
        cy=validate.finite_number(get("cy"), source, "cy"),
    )


def _parse_header(data: dict, source: Path) -> dict:
    """Validated Subject fields (all but root and frames) from a transforms.json object."""
    if not isinstance(data, dict):
        raise SubjectError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
    get = functools.partial(validate.require, data, source=source)
    intrinsics = parse_intrinsics(get, source)
    validate.camera_convention(get("camera_convention"), source)
    background_path = data.get("background_path")
    if background_path is not None:
        validate.relative_path(background_path, source, None, "background_path")
    depth_scale = data.get("depth_scale")
    if depth_scale is not None:
        depth_scale = validate.finite_number(depth_scale, source, "depth_scale", positive=True)
    return {
        "intrinsics": intrinsics,
        "aabb": validate.aabb(get("aabb"), source).astype(np.float32),
        "expression_names": validate.expression_names(get("expression_names"), source),
        "background_path": background_path,
        "depth_scale": depth_scale,
        "extra": {key: value for key, value in data.items() if key not in FORMAT_KEYS},
    }


def _parse_frame(raw, index: int, num_expressions: int, source: Path) -> FrameRecord:
    get = functools.partial(validate.require, raw, source=source, frame=index)
    optional = {key: raw.get(key) if isinstance(raw, dict) else None for key in ("depth_path", "ignore_path")}
    optional = {key: None if value is None else validate.relative_path(value, source, index, key)
                for key, value in optional.items()}
    return FrameRecord(
        file_path=validate.relative_path(get("file_path"), source, index, "file_path"),
        mask_path=validate.relative_path(get("mask_path"), source, index, "mask_path"),
        transform_matrix=validate.rigid_camera_to_world(get("transform_matrix"), source, index).astype(
            np.float32
        ),
        expression=validate.finite_array(
            get("expression"), (num_expressions,), source, index, "expression"
        ).astype(np.float32),
        split=validate.split(get("split"), source, index),
        face_box=validate.pixel_box(raw.get("face_box"), source, index, "face_box"),
        mouth_box=validate.pixel_box(raw.get("mouth_box"), source, index, "mouth_box"),
        **optional,
    )


def _frame_to_json(frame: FrameRecord) -> dict:
    entry = {
        "file_path": frame.file_path,
        "mask_path": frame.mask_path,
        "transform_matrix": np.asarray(frame.transform_matrix, dtype=np.float32).tolist(),
        "expression": np.asarray(frame.expression, dtype=np.float32).tolist(),
        "split": frame.split,
    }
    optional = {"face_box": frame.face_box, "mouth_box": frame.mouth_box, "depth_path": frame.depth_path,
                "ignore_path": frame.ignore_path}
    for key, value in optional.items():
        if value is not None:
            entry[key] = [float(v) for v in value] if key.endswith("_box") else value
    return entry


def _check_frame_set(frames: list[FrameRecord], root: Path, source: Path, depth_scale: float | None) -> None:
    """Rules across frames: a training frame exists, no file is used twice, depth has a scale."""
    if not any(frame.split == "train" for frame in frames):
        raise validate.fail(
            source, None, "frames", "expected at least one frame with split 'train', found none"
        )
    owner: dict[str, tuple[int, str]] = {}
    for index, frame in enumerate(frames):
        for field_name in ("file_path", "mask_path", "depth_path", "ignore_path"):
            relative = getattr(frame, field_name)
            if relative is None:
                continue
            key = os.path.normpath(root / relative)
            if key in owner:
                first_index, first_field = owner[key]
                raise validate.fail(
                    source,
                    index,
                    field_name,
                    f"duplicate path {relative!r} (already used by frames[{first_index}].{first_field})",
                )
            owner[key] = (index, field_name)
        if frame.depth_path is not None and depth_scale is None:
            raise validate.fail(
                source, index, "depth_path", "a depth map needs the top-level key 'depth_scale'"
            )
