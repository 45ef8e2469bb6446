"""The basis gallery (paper Fig. 9): the neutral head beside each basis at its training maximum."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

from nbskit.apps.render import render_expression
from nbskit.train.run import TrainedRun

CAPTION_HEIGHT = 14  # pixels of caption strip under each tile (PIL's default bitmap font is ~11 px)
NEUTRAL_LABEL = "neutral"


def basis_expressions(run: TrainedRun) -> tuple[list[str], np.ndarray]:
    """(labels, [K+1, K] expressions): neutral (every w_i at its training minimum, the closest the
    clamp allows to zero), then basis i alone at its training maximum."""
    low, high = run.expression_range
    rows = [low.copy()]
    for i in range(len(low)):
        row = low.copy()
        row[i] = high[i]
        rows.append(row)
    return [NEUTRAL_LABEL, *run.expression_names], np.stack(rows).astype(np.float32)


def tile_grid(images: list[np.ndarray], labels: list[str], columns: int | None = None) -> np.ndarray:
    """uint8 [rows*(H+caption), columns*W, 3]: images [H, W, 3] in a grid, each captioned below."""
    height, width = images[0].shape[:2]
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("RGB", (columns * width, rows * (height + CAPTION_HEIGHT)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (image, label) in enumerate(zip(images, labels)):
        x, y = (k % columns) * width, (k // columns) * (height + CAPTION_HEIGHT)
        sheet.paste(Image.fromarray(image), (x, y))
        draw.text((x + 2, y + height + 1), label[: max(1, width // 6)], fill="black")
    return np.asarray(sheet)


def basis_gallery(run: TrainedRun, c2w=None, columns: int | None = None, progress: bool = True) -> np.ndarray:
    """One uint8 image: neutral + every basis at its training max, seen from ``c2w`` (default: first training camera)."""
    if c2w is None:
        c2w = run.subject.frames[int(run.subject.indices("train")[0])].transform_matrix
    labels, expressions = basis_expressions(run)
    tiles = [render_expression(run, w, c2w) for w in tqdm(expressions, desc="basis gallery", disable=not progress)]
    return tile_grid(tiles, labels, columns)
