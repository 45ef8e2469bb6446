"""Tracking report: per-frame reprojection error (JSON), mesh overlay video (mp4), coefficient curves (HTML)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from nbskit.tracking.fit import FitResult

OVERLAY_COLOUR = (80, 255, 120)  # RGB of the drawn mesh edges
LANDMARK_COLOUR = (255, 60, 60)
MAX_OVERLAY_EDGES = 6000  # a subsample keeps the overlay readable and fast to draw


def write_error_json(path: Path, fit: FitResult, found: np.ndarray) -> None:
    """Per-frame mean landmark reprojection error (pixels; null without a face) and summary."""
    errors = [None if not ok else float(e) for e, ok in zip(fit.reprojection_error, found)]
    payload = {
        "reprojection_error_px": errors,
        "mean_reprojection_error_px": float(np.nanmean(fit.reprojection_error)),
        "face_found_fraction": float(found.mean()),
        "focal_px": fit.focal,
        "final_loss_terms": fit.final_terms,
    }
    _atomic_write_text(path, json.dumps(payload, indent=1))


def overlay_frames(frames: np.ndarray, vertex_pixels: np.ndarray, triangles: np.ndarray,
                   landmarks: np.ndarray | None = None) -> np.ndarray:
    """Draw mesh edges (a fixed subsample) and landmarks over frames [N,H,W,3] uint8 -> same shape.

    vertex_pixels [N,V,2], triangles [T,3] (the visible part you want drawn), landmarks [N,M,2].
    """
    import cv2

    edges = np.unique(np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]]]), axis=1), axis=0)
    edges = edges[np.linspace(0, len(edges) - 1, min(MAX_OVERLAY_EDGES, len(edges))).astype(int)]
    out = frames.copy()
    for i in range(len(frames)):
        lines = np.round(vertex_pixels[i][edges]).astype(np.int32)
        cv2.polylines(out[i], list(lines), False, OVERLAY_COLOUR, 1, cv2.LINE_AA)
        if landmarks is not None:
            for x, y in np.round(landmarks[i]).astype(int):
                cv2.circle(out[i], (int(x), int(y)), 1, LANDMARK_COLOUR, -1)
    return out


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """H.264 mp4 of frames [N,H,W,3] uint8 (sides made even, as yuv420p requires)."""
    import av

    height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    temporary = path.with_name(path.stem + ".part.mp4")
    with av.open(str(temporary), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="rgb24")
            container.mux(stream.encode(image))
        container.mux(stream.encode(None))
    os.replace(temporary, path)


def coefficient_figure(expression: np.ndarray, names: list[str], reprojection_error: np.ndarray):
    """Plotly figure: the coefficient curves that ever exceed 0.05, and the reprojection error."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25],
                           subplot_titles=("expression coefficients", "mean reprojection error (px)"))
    for k in np.flatnonzero(expression.max(axis=0) > 0.05):
        figure.add_trace(go.Scatter(y=expression[:, k], name=names[k], mode="lines"), row=1, col=1)
    figure.add_trace(go.Scatter(y=reprojection_error, name="reprojection", mode="lines"), row=2, col=1)
    figure.update_xaxes(title_text="frame", row=2, col=1)
    figure.update_layout(height=700)
    return figure


def write_report(directory: Path, fit: FitResult, found: np.ndarray, names: list[str], overlay: np.ndarray,
                 fps: float) -> dict[str, Path]:
    """Write reprojection.json, overlay.mp4 and coefficients.html into directory; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"errors": directory / "reprojection.json", "overlay": directory / "overlay.mp4",
             "curves": directory / "coefficients.html"}
    write_error_json(paths["errors"], fit, found)
    write_video(paths["overlay"], overlay, fps)
    html = coefficient_figure(fit.expression, names, fit.reprojection_error).to_html(include_plotlyjs="cdn")
    _atomic_write_text(paths["curves"], html)
    return paths


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
