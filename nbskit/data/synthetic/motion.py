"""Motion of a synthetic "talking head": expression coefficient tracks and head pose tracks.

Tracks are sums of a few sinusoids with random periods and phases, normalised by the sum of
their amplitudes, so they are smooth and provably stay inside their stated bounds. Expression
events (blinks, smiles, jaw openings, brow raises) are raised-cosine bumps laid over a low
background activity of every coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_WAVES = 4
BACKGROUND_ACTIVITY = 0.18  # the largest coefficient value of the smooth background motion


@dataclass(frozen=True)
class EventKind:
    """A kind of expression event: which coefficients it drives and how."""

    names: tuple[str, ...]  # every model coefficient with one of these names is driven
    frames_between: int  # mean spacing between events
    duration: tuple[int, int]  # min/max length in frames
    peak: tuple[float, float]  # min/max peak coefficient


# Names cover both ARKit/ICT spellings (browInnerUp vs browInnerUp_L/_R).
EVENTS = {
    "blink": EventKind(("eyeBlink_L", "eyeBlink_R"), 45, (5, 8), (0.9, 1.0)),
    "smile": EventKind(("mouthSmile_L", "mouthSmile_R"), 90, (25, 60), (0.5, 1.0)),
    "jaw": EventKind(("jawOpen",), 25, (6, 18), (0.3, 0.9)),
    "brows": EventKind(
        ("browInnerUp", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R"),
        80,
        (20, 45),
        (0.5, 1.0),
    ),
}


@dataclass(frozen=True)
class PoseRange:
    """Largest head rotation (degrees) and translation (metres) of the head pose tracks."""

    yaw: float = 25.0
    pitch: float = 15.0
    roll: float = 5.0
    translation: float = 0.01


def smooth_tracks(
    rng: np.random.Generator, num_frames: int, num_tracks: int, period: tuple[float, float]
) -> np.ndarray:
    """[num_frames, num_tracks] smooth signals in [-1, 1] (periods in frames within ``period``)."""
    t = np.arange(num_frames)[:, None, None]
    periods = rng.uniform(*period, size=(1, num_tracks, NUM_WAVES))
    phases = rng.uniform(0.0, 2 * np.pi, size=(1, num_tracks, NUM_WAVES))
    amplitudes = rng.uniform(0.2, 1.0, size=(1, num_tracks, NUM_WAVES))
    waves = amplitudes * np.sin(2 * np.pi * t / periods + phases)
    return waves.sum(axis=2) / amplitudes.sum(axis=2)


def _bump(num_frames: int, start: int, duration: int) -> np.ndarray:
    """Raised cosine of ``duration`` frames starting at ``start`` (peak 1), zero elsewhere."""
    t = np.arange(num_frames) - start
    inside = (t >= 0) & (t <= duration)
    return np.where(inside, 0.5 - 0.5 * np.cos(2 * np.pi * np.clip(t, 0, duration) / max(duration, 1)), 0.0)


def expression_tracks(rng: np.random.Generator, names: list[str], num_frames: int) -> np.ndarray:
    """Coefficient tracks [num_frames, K] in [0, 1]: background motion plus events.

    Every event kind present in the model happens at least once, even in a short clip.
    """
    levels = rng.uniform(0.0, BACKGROUND_ACTIVITY, size=len(names))
    background = levels * 0.5 * (1.0 + smooth_tracks(rng, num_frames, len(names), (30.0, 150.0)))
    tracks = background
    for kind in EVENTS.values():
        columns = [i for i, n in enumerate(names) if n in kind.names]
        if not columns:
            continue
        count = max(1, num_frames // kind.frames_between)
        starts = np.sort(rng.integers(0, max(1, num_frames - kind.duration[1]), size=count))
        for start in starts:
            duration = int(rng.integers(kind.duration[0], kind.duration[1] + 1))
            bump = rng.uniform(*kind.peak) * _bump(num_frames, int(start), duration)
            tracks[:, columns] = np.maximum(tracks[:, columns], bump[:, None])
    return np.clip(tracks, 0.0, 1.0).astype(np.float32)


def pose_tracks(
    rng: np.random.Generator, num_frames: int, pose: PoseRange = PoseRange()
) -> tuple[np.ndarray, np.ndarray]:
    """Head rotation angles [num_frames, 3] (yaw, pitch, roll; radians) and translations [num_frames, 3]."""
    period = (min(60.0, num_frames), max(90.0, num_frames * 0.8))
    angles = smooth_tracks(rng, num_frames, 3, period) * np.deg2rad([pose.yaw, pose.pitch, pose.roll])
    translation = smooth_tracks(rng, num_frames, 3, period) * pose.translation
    return angles, translation
