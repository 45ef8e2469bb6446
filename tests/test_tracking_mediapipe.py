"""The whole landmark path on synthetic ICT subjects: renders -> MediaPipe -> fit, against the truth.

On the benchmark's eight subjects (`python -m bench.tracking` prints the same numbers per subject;
seeds 1-8, apart from the 300-379 the shipped landmark offsets and bias modes were calibrated on):
the tracking targets, as means over the subjects (face shape 2.59 mm, rotation 2.45 deg measured;
over 32 people 2.70 mm and 2.08 deg, docs/tracking.md), and a face shape clearly better than the
mean face's (the same fit with the identity pinned by its prior: 3.08 mm). Skips when mediapipe is
not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mediapipe")
pytestmark = pytest.mark.slow  # eight 40-frame subjects, each fitted twice: about a minute

SEEDS = range(1, 9)
FRAMES, RESOLUTION = 40, 256
MEAN_FACE_BIAS_PX = 100.0  # an identity prior this strong keeps the identity at the mean face


@pytest.fixture(scope="module")
def accuracy(ict_npz, tmp_path_factory):
    import torch

    from nbskit.tracking.correspondence import correspondence_for
    from nbskit.tracking.evaluation import fit_accuracy, synthetic_tracks
    from nbskit.tracking.fit import FitConfig, fit_landmarks

    torch.set_num_threads(2)
    configs = {"fit": FitConfig(), "mean_face": FitConfig(landmark_bias_px=MEAN_FACE_BIAS_PX)}
    rows = {name: [] for name in configs}
    for truth, track in synthetic_tracks(SEEDS, FRAMES, RESOLUTION, tmp_path_factory.mktemp("mediapipe"), progress=False):
        correspondence = correspondence_for(truth.model)
        for name, config in configs.items():
            fit = fit_landmarks(truth.model, correspondence, track.with_depths(), track.found, truth.image_size,
                                config, progress=False)
            rows[name].append({"detection_rate": track.detection_rate, **fit_accuracy(truth, fit)})
    return {name: {key: np.array([row[key] for row in table]) for key in table[0]} for name, table in rows.items()}


def test_mediapipe_finds_every_face(accuracy):
    assert accuracy["fit"]["detection_rate"].min() == 1.0


def test_mediapipe_path_pose_within_target(accuracy):
    fit = accuracy["fit"]
    assert fit["rotation_deg"].mean() <= 3.0, fit["rotation_deg"]
    assert fit["reprojection_px"].mean() <= 1.0, fit["reprojection_px"]


def test_mediapipe_path_face_shape_within_target_and_beats_the_mean_face(accuracy):
    fit, mean_face = accuracy["fit"], accuracy["mean_face"]
    assert fit["shape_mm"].mean() <= 3.0, fit["shape_mm"]
    assert fit["shape_mm"].mean() < mean_face["shape_mm"].mean() - 0.2, (fit["shape_mm"], mean_face["shape_mm"])
    assert fit["mesh_mm"].mean() < mean_face["mesh_mm"].mean(), (fit["mesh_mm"], mean_face["mesh_mm"])


@pytest.mark.parametrize("shape", ["jawOpen", "eyeBlink", "mouthSmile"])
def test_mediapipe_path_tracks_key_shapes(accuracy, shape):
    assert accuracy["fit"][shape].mean() >= 0.8, accuracy["fit"][shape]
