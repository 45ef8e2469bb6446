"""Measure where MediaPipe puts its landmarks relative to the paired model vertices, on synthetic
subjects whose meshes and poses are exact, and ship the result as the table's `offsets`.

A landmark's vertex is the nearest one on renders of the *mean* face (see `correspondence`). Over
many people, MediaPipe's point sits off that vertex by a vector that is partly the same for
everyone: ~1.2 px of the ~1.6 px RMS static landmark bias on 256-pixel ICT renders, the rest
depending on the person. The common part is a property of the pairing, not of the person, so it is
measured once, as one head-frame offset per landmark (least squares over all frames of all
subjects through the projection's Jacobian; a small ridge keeps the depth component, which
near-frontal views barely see, near zero), and the fit adds it to the vertex.

    python -m nbskit.tracking.calibration [--first-seed 100] [--subjects 40] [--frames 40]

rewrites `correspondence_tables/<model>.json` in place (about 3 minutes on 2 cores). The seeds must
stay apart from those the tracking benchmark and tests evaluate on (1-8 and 3).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from nbskit.tracking.correspondence import TABLE_DIR, Correspondence

RIDGE = 1e-3  # relative to the mean curvature of the least-squares problem
RENDER_SIZE = 256  # pixels: the tracking benchmark's synthetic subjects
FIRST_SEED, SUBJECTS, FRAMES = 100, 40, 40


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


def calibrate_offsets(correspondence: Correspondence, subjects) -> np.ndarray:
    """Offsets [L,3] (metres, head frame) that best move the paired vertices onto the landmarks.

    subjects: iterable of (SyntheticTruth, LandmarkTrack); the correspondence's own offsets are
    ignored (the result replaces them).
    """
    pairing = Correspondence(correspondence.landmarks, correspondence.vertices, correspondence.iris_landmarks,
                             correspondence.iris_vertices)
    count = len(pairing.landmarks)
    normal = np.zeros((count, 3, 3))
    right = np.zeros((count, 3))
    for truth, track in subjects:
        points, found = track.points, track.found
        vertices = pairing.landmark_points(truth.vertices().astype(np.float64))
        residual = points[:, pairing.landmarks, :2] - truth.project_points(vertices)  # [N,L,2]
        jacobian = projection_jacobian(truth.head_to_camera, truth.camera_matrix, vertices)[found]
        normal += np.einsum("npca,npcb->pab", jacobian, jacobian)
        right += np.einsum("npca,npc->pa", jacobian, residual[found])
    if not normal.any():
        raise ValueError("calibrate_offsets: no subject had a frame with landmarks")
    ridge = RIDGE * np.trace(normal, axis1=1, axis2=2).mean() / 3
    return np.linalg.solve(normal + ridge * np.eye(3), right[..., None])[..., 0]


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
        offsets = calibrate_offsets(correspondence, subjects)
    calibrated = Correspondence(correspondence.landmarks, correspondence.vertices, correspondence.iris_landmarks,
                                correspondence.iris_vertices, offsets)
    calibrated.save(table, model.name, model.num_vertices)
    print(f"wrote {table}: {len(offsets)} offsets, RMS {1000 * np.sqrt((offsets**2).sum(-1).mean()):.2f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
