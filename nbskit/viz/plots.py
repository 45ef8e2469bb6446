"""Small plotting helpers shared by the widgets and the course notebooks.

Images everywhere are float [H, W, 3] in [0, 1] (numpy or torch) unless said otherwise. PIL is used
for things that must be pixels (a widget's PNG, an image strip saved to disk); plotly for figures
a student hovers over.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

LABEL_HEIGHT = 12  # pixels of the caption band under each tile of an image strip
TILE_GAP = 2  # pixels between tiles
GAP_COLOUR = (255, 255, 255)


def to_float(image) -> np.ndarray:
    """numpy/torch image -> float32 numpy (no rescaling)."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    return np.asarray(image, dtype=np.float32)


def to_uint8(image) -> np.ndarray:
    """[H, W, 3] or [H, W] float in [0, 1] (numpy or torch) -> uint8 numpy array of the same shape."""
    return (np.clip(to_float(image), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def png_bytes(image, scale: int = 1) -> bytes:
    """Encode an image as PNG, enlarged ``scale`` times with nearest-neighbour (crisp pixels)."""
    picture = Image.fromarray(to_uint8(image))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def difference_image(a, b, gain: float = 4.0) -> np.ndarray:
    """Per-pixel colour change |a - b| averaged over channels, amplified by ``gain``, as a grey [H, W, 3].

    Small changes (a basis often moves only a few pixels' worth of colour) stay visible.
    """
    a, b = (to_float(image) for image in (a, b))
    change = np.clip(np.abs(a - b).mean(axis=-1) * gain, 0.0, 1.0)
    return np.repeat(1.0 - change[..., None], 3, axis=-1)  # dark where it changed, white elsewhere


def image_strip(
    images: Sequence, labels: Sequence[str] | None = None, columns: int | None = None, scale: int = 1
) -> Image.Image:
    """Tile same-sized images left to right (wrapping after ``columns``) with optional captions.

    Args:
        images: N images [H, W, 3] in [0, 1].
        labels: N captions drawn under the tiles (None: no caption band).
        columns: tiles per row (default: all in one row).
        scale: nearest-neighbour enlargement of every tile.

    Returns:
        a PIL image (display it in a notebook, or ``.save(path)``).
    """
    tiles = [Image.fromarray(to_uint8(image)) for image in images]
    if not tiles:
        raise ValueError("image_strip: no images given")
    if labels is not None and len(labels) != len(tiles):
        raise ValueError(f"image_strip: {len(tiles)} images but {len(labels)} labels")
    width, height = tiles[0].width * scale, tiles[0].height * scale
    columns = columns or len(tiles)
    rows = -(-len(tiles) // columns)
    caption = LABEL_HEIGHT if labels is not None else 0
    sheet = Image.new(
        "RGB",
        (columns * (width + TILE_GAP) - TILE_GAP, rows * (height + caption + TILE_GAP) - TILE_GAP),
        GAP_COLOUR,
    )
    draw = ImageDraw.Draw(sheet)
    for n, tile in enumerate(tiles):
        if tile.size != tiles[0].size:
            raise ValueError(f"image_strip: image {n} is {tile.size}, expected {tiles[0].size} like image 0")
        x, y = (n % columns) * (width + TILE_GAP), (n // columns) * (height + caption + TILE_GAP)
        sheet.paste(tile.resize((width, height), Image.NEAREST), (x, y))
        if labels is not None:
            draw.text((x + 1, y + height), str(labels[n]), fill=(0, 0, 0))
    return sheet


def image_grid_figure(
    images: Sequence, titles: Sequence[str] | None = None, columns: int = 4, tile_pixels: int = 160
):
    """A plotly figure showing images in a grid (hover shows pixel values).

    Args:
        images: N images [H, W, 3] in [0, 1].
        titles: N subplot titles.
        columns: subplots per row.
        tile_pixels: on-screen size of each subplot.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=list(titles) if titles else None,
        horizontal_spacing=0.01,
        vertical_spacing=0.06,
    )
    for n, image in enumerate(images):
        figure.add_trace(go.Image(z=to_uint8(image)), row=n // columns + 1, col=n % columns + 1)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(
        width=columns * tile_pixels + 40,
        height=rows * (tile_pixels + 30) + 40,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure
