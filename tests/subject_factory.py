"""Tiny random subject folders for tests, written with the real SubjectWriter.

Returns the arrays it wrote, so a test can compare what it reads back against an independent copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nbskit.data import SubjectWriter
from nbskit.geometry.intrinsics import Intrinsics

WIDTH, HEIGHT = 8, 6
NAMES = ["jawOpen", "eyeBlink_L", "mouthSmile_R"]
AABB = np.array([[-0.2, -0.25, -0.2], [0.2, 0.2, 0.15]])
INTRINSICS = Intrinsics(width=WIDTH, height=HEIGHT, fl_x=9.5, fl_y=9.0, cx=4.0, cy=3.25)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform-ish random proper rotation [3, 3] from the QR decomposition of a Gaussian matrix."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def write_tiny_subject(
    root: Path,
    splits: tuple[str, ...] = ("train", "train", "val", "train", "test", "test"),
    seed: int = 0,
    landmarks: bool = True,
    depth: bool = False,
    background: bool = True,
    intrinsics: Intrinsics = INTRINSICS,
) -> dict:
    """Write a random subject at ``root`` (``intrinsics`` sets the image size); returns what was written."""
    rng = np.random.default_rng(seed)
    n = len(splits)
    width, height = intrinsics.width, intrinsics.height
    written = {
        "images": rng.integers(0, 256, size=(n, height, width, 3), dtype=np.uint8),
        "masks": rng.random((n, height, width)) > 0.5,
        "c2w": np.tile(np.eye(4), (n, 1, 1)),
        "expressions": rng.random((n, len(NAMES))).astype(np.float32),
        "splits": list(splits),
        "face_boxes": [(1.0, 0.5, 7.0, 5.5)] * n,
        "mouth_boxes": [None if i % 2 else (2.0, 3.0, 6.0, 5.0) for i in range(n)],
        "landmarks": (rng.random((n, 5, 2)) * [width, height]).astype(np.float32) if landmarks else None,
        "depth": rng.uniform(0.5, 1.5, size=(n, height, width)) if depth else None,
        "background": rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8) if background else None,
        "extra": {"generator": "tests", "seed": seed},
    }
    for i in range(n):
        written["c2w"][i, :3, :3] = random_rotation(rng)
        written["c2w"][i, :3, 3] = rng.normal(size=3)
    with SubjectWriter(
        root, intrinsics, AABB, NAMES, background=written["background"], extra=written["extra"]
    ) as writer:
        for i in range(n):
            writer.add_frame(
                written["images"][i],
                written["masks"][i],
                written["c2w"][i],
                written["expressions"][i],
                splits[i],
                face_box=written["face_boxes"][i],
                mouth_box=written["mouth_boxes"][i],
                landmarks=None if written["landmarks"] is None else written["landmarks"][i],
                depth=None if written["depth"] is None else written["depth"][i],
            )
    return written
