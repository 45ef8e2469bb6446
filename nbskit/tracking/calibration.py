"""Measure where MediaPipe puts its landmarks relative to the paired model vertices, on synthetic
subjects whose meshes and poses are exact, and ship the result in the correspondence table.

A landmark's vertex is the nearest one on renders of the *mean* face (see `correspondence`). On
other people MediaPipe's point sits off that vertex, by ~1.6 px RMS over a clip of 256-pixel ICT
renders, as large as what a person's face shape itself moves the landmarks. Per subject, the
static part is one head-frame offset per landmark (least squares over the subject's frames
through the projection's Jacobian; a small ridge keeps the depth component, which near-frontal
views barely see, near zero). Over many subjects:

- `offsets`, their mean, is the same for everyone (~1.2 px: the landmark's definition differs
  from its vertex's); the fit adds it to the vertex;
- `bias_modes`, the main directions in which they vary from person to person, each scaled by its
  standard deviation; the fit gives every clip free coefficients on them with a N(0,1) prior, so a
  person's bias along them is not mistaken for face shape (the bias is correlated across the
  face: on 40 people, 5 directions held two thirds of its variance).

    python -m nbskit.tracking.calibration [--first-seed 300] [--subjects 80] [--frames 40]

rewrites `correspondence_tables/<model>.json` in place (about 5 minutes on 2 cores). The seeds must
stay apart from those the tracking benchmark, docs and tests evaluate on (1-8, 3, 140-151, 200-211).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from nbskit.tracking.correspondence import TABLE_DIR, Correspondence

RIDGE = 1e-3  # relative to the mean curvature of the least-squares problem
RENDER_SIZE = 256  # pixels: the tracking benchmark's synthetic subjects
FIRST_SEED, SUBJECTS, FRAMES = 300, 80, 40
MAX_BIAS_MODES = 30  # stored; the fit uses the first FitConfig.bias_modes (20) of them


def projection_jacobian(head_to_camera: np.ndarray, camera_matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """d pixel / d head-frame point [N,P,2,3] at points [N,P,3], for poses [N,4,4] (OpenCV) and intrinsics [3,3]."""
    rotation = head_to_camera[:, :3, :3]
    camera = np.einsum("nij,npj->npi", rotation, points) + head_to_camera[:, None, :3, 3]
    x, y, z = camera[..., 0], camera[..., 1], camera[..., 2]
    focal = camera_matrix[0, 0]
    d_pixel_d_camera = np.zeros(camera.shape[:2] + (2, 3))
    d_pixel_d_camera[..., 0, 0] = d_pixel_d_camera[..., 1, 1] = focal / z
    d_pixel_d_camera[..., 0, 2] = -focal * x / z**2
    d_pixel_d_camera[..., 1, 2] = -focal * y / z**2
    return d_pixel_d_camera @ rotation[:, None]


def subject_offsets(pairing: Correspondence, truth, track) -> np.ndarray:
    """Head-frame offsets [L,3] (metres) that best move one subject's paired vertices onto its
    landmarks over its frames (pairing: vertices only, no offsets; track: a LandmarkTrack)."""
    vertices = pairing.landmark_points(truth.vertices().astype(np.float64))
    found = track.found
    if not found.any():
        raise ValueError(f"subject of seed {truth.seed}: MediaPipe found no face in any frame")
    residual = track.points[found][:, pairing.landmarks] - truth.project_points(vertices)[found]  # [N,L,2]
    jacobian = projection_jacobian(truth.head_to_camera, truth.camera_matrix, vertices)[found]
    normal = np.einsum("npca,npcb->pab", jacobian, jacobian)
    right = np.einsum("npca,npc->pa", jacobian, residual)
    ridge = RIDGE * np.trace(normal, axis1=1, axis2=2).mean() / 3
    return np.linalg.solve(normal + ridge * np.eye(3), right[..., None])[..., 0]


def calibrate_landmarks(correspondence: Correspondence, subjects, max_modes: int = MAX_BIAS_MODES) -> Correspondence:
    """The correspondence with `offsets` [L,3] and `bias_modes` [M,L,3] measured on subjects.

    subjects: iterable of (SyntheticTruth, LandmarkTrack); the correspondence's own offsets and
    modes are ignored. M = min(max_modes, subjects - 1).
    """
    pairing = Correspondence(correspondence.landmarks, correspondence.vertices, correspondence.iris_landmarks,
                             correspondence.iris_vertices)
    per_subject = np.stack([subject_offsets(pairing, truth, track) for truth, track in subjects])  # [S,L,3]
    offsets = per_subject.mean(axis=0)
    deviations = (per_subject - offsets).reshape(len(per_subject), -1)
    count = min(max_modes, len(per_subject) - 1)
    _, singular, directions = np.linalg.svd(deviations, full_matrices=False)
    spread = singular[:count, None] / np.sqrt(max(len(per_subject) - 1, 1))  # standard deviation per mode
    modes = (directions[:count] * spread).reshape(count, *offsets.shape)
    return Correspondence(pairing.landmarks, pairing.vertices, pairing.iris_landmarks, pairing.iris_vertices,
                          offsets, modes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ict")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED)
    parser.add_argument("--subjects", type=int, default=SUBJECTS)
    parser.add_argument("--frames", type=int, default=FRAMES)
    args = parser.parse_args(argv)

    from nbskit.data.synthetic.generate import resolve_model
    from nbskit.data.synthetic.presets import PRESETS
    from nbskit.tracking.evaluation import synthetic_tracks

    model = resolve_model(args.model, PRESETS["tiny"])
    table = TABLE_DIR / f"{model.name}.json"
    if not table.is_file():
        raise SystemExit(f"{table}: no correspondence table to calibrate for model {model.name!r}")
    correspondence = Correspondence.load(table, model.num_vertices)
    seeds = range(args.first_seed, args.first_seed + args.subjects)
    with tempfile.TemporaryDirectory(prefix="nbskit-calibration-") as work:
        subjects = synthetic_tracks(seeds, args.frames, RENDER_SIZE, Path(work), model.name)
        calibrated = calibrate_landmarks(correspondence, subjects)
    calibrated.save(table, model.name, model.num_vertices)
    rms_mm = lambda array: 1000 * np.sqrt((array**2).sum(-1).mean())
    print(f"wrote {table}: {len(calibrated.offsets)} offsets (RMS {rms_mm(calibrated.offsets):.2f} mm), "
          f"{len(calibrated.bias_modes)} bias modes (RMS {rms_mm(calibrated.bias_modes):.2f} mm)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
