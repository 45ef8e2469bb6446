"""Write frames as an H.264 mp4 (PyAV, which ships ffmpeg in its wheel) and PNG images, atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from nbskit.train.checkpoint import publish

DEFAULT_FPS = 25


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad to even height and width (yuv420p stores chroma at half resolution) by repeating the edge."""
    height, width = frame.shape[:2]
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def write_video(frames: list[np.ndarray], path: str | Path, fps: int = DEFAULT_FPS) -> Path:
    """Encode uint8 frames [H, W, 3] to ``path`` (.mp4). Needs the ``video`` extra (PyAV)."""
    try:
        import av
    except ImportError as err:
        raise ImportError("writing mp4 needs PyAV: pip install 'nbskit[video]'") from err
    if not frames:
        raise ValueError(f"{path}: no frames to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(handle)
    try:
        with av.open(temporary, mode="w", format="mp4") as container:
            first = _even(frames[0])
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = first.shape[1], first.shape[0]
            stream.pix_fmt = "yuv420p"
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(_even(frame), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        publish(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_image(image: np.ndarray, path: str | Path) -> Path:
    """Save a uint8 [H, W, 3] image (format from the suffix) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        Image.fromarray(image).save(temporary)
        publish(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_images(frames: list[np.ndarray], folder: str | Path, prefix: str = "frame") -> list[Path]:
    """Save frames as ``folder/prefix_00000.png``, ..."""
    return [write_image(frame, Path(folder) / f"{prefix}_{k:05d}.png") for k, frame in enumerate(frames)]
