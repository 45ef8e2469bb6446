"""Do the sample phone clips drift in exposure or white balance? (decides per-frame colour correction)

    python -m bench.colour_drift [--work /tmp/nbskit-colour-drift] [--frames 300]

For each clip (read at run time from its wheel, like `bench.tracking_real`; never stored in the
repository): the mean colour per frame of the skin (the inner half of the face-mesh landmark box:
nose, cheeks, eyes) and of the background (selfie segmentation < 0.1). Reported per region: the
luminance range and the chromaticity ranges (r/g and b/g) over the clip, after a 1-second moving
average (so single-frame noise does not count), as percentages of their mean. A head turning
changes skin shading too, so the background of a still camera is the cleaner witness of
exposure and white-balance changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.common import run_script

DEFAULT_WORK = Path("/tmp/nbskit-colour-drift")
BACKGROUND_BELOW = 0.1  # selfie-segmentation probability under which a pixel is background
LUMA = np.array([0.299, 0.587, 0.114])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for the clips (outside the repo)")
    parser.add_argument("--frames", type=int, default=300, help="read at most this many frames per clip")


def region_means(frames: np.ndarray) -> dict[str, np.ndarray]:
    """{'skin', 'background'}: [N, 3] mean RGB in [0, 1] per frame (NaN where the region is empty)."""
    from nbskit.tracking.landmarks import detect_landmarks, segment_people

    track = detect_landmarks(frames)
    people = segment_people(frames)
    skin, background = np.full((len(frames), 3), np.nan), np.full((len(frames), 3), np.nan)
    for i, frame in enumerate(frames.astype(np.float64) / 255.0):
        still = people[i] < BACKGROUND_BELOW
        if still.any():
            background[i] = frame[still].mean(axis=0)
        if track.found[i]:
            low, high = track.points[i].min(axis=0), track.points[i].max(axis=0)
            centre, half = (low + high) / 2, (high - low) / 4
            x0, y0 = np.floor(centre - half).astype(int)
            x1, y1 = np.ceil(centre + half).astype(int)
            skin[i] = frame[max(y0, 0):y1, max(x0, 0):x1].reshape(-1, 3).mean(axis=0)
    return {"skin": skin, "background": background}


def drift(means: np.ndarray, fps: float) -> dict[str, float]:
    """Ranges (max - min) / mean in percent of luminance, r/g and b/g after a 1-second moving average."""
    valid = means[~np.isnan(means).any(axis=1)]
    window = max(1, round(fps))
    if len(valid) < window:
        return {"frames": len(valid)}
    kernel = np.ones(window) / window
    smooth = np.stack([np.convolve(valid[:, c], kernel, mode="valid") for c in range(3)], axis=1)
    series = {"luminance": smooth @ LUMA, "r/g": smooth[:, 0] / smooth[:, 1], "b/g": smooth[:, 2] / smooth[:, 1]}
    return {"frames": len(valid), **{f"{name} range %": float(100 * np.ptp(values) / values.mean())
                                     for name, values in series.items()}}


def run(args: argparse.Namespace) -> int:
    from nbskit.tracking.video import SAMPLE_CLIPS, VideoError, read_video, sample_clip

    work = args.work.resolve()
    if Path.cwd().resolve() in (work, *work.parents):
        raise SystemExit(f"--work {work} is inside the repository; the clips show real people, use /tmp")
    for name in SAMPLE_CLIPS:
        try:
            frames, fps = read_video(sample_clip(name, work / "clips"), max_frames=args.frames)
        except VideoError as error:
            print(f"{name}: skipped ({error})")
            continue
        for region, means in region_means(frames).items():
            values = ", ".join(f"{key} {value:.1f}" if isinstance(value, float) else f"{key} {value}"
                               for key, value in drift(means, fps).items())
            print(f"{name} ({len(frames)} frames, {fps:.1f} fps) {region}: {values}")
    return 0


if __name__ == "__main__":
    run_script(__doc__, add_arguments, run)
