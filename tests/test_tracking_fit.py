"""The fit against a synthetic ICT subject with exact landmarks (projected ground-truth vertices)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbskit.tracking.fit import FitConfig, fit_landmarks

pytestmark = pytest.mark.slow  # ~70 s of CPU: renders a subject and runs a full fit

NUM_FRAMES = 12
RESOLUTION = 128


@pytest.fixture(scope="module")
def truth(ict_npz, tmp_path_factory):
    from nbskit.data.synthetic.generate import synthesize_subject
    from nbskit.data.synthetic.presets import SynthPreset
    from nbskit.tracking.evaluation import SyntheticTruth

    root = tmp_path_factory.mktemp("synthetic") / "ict"
    synthesize_subject(root, SynthPreset("tracking-test", RESOLUTION, NUM_FRAMES, "ict", 64), seed=3, model="ict",
                       progress=False)
    return SyntheticTruth.load(root)


@pytest.fixture(scope="module")
def exact_fit(truth):
    from nbskit.tracking.correspondence import correspondence_for

    torch.set_num_threads(2)
    correspondence = correspondence_for(truth.model)
    points = truth.exact_landmarks(correspondence)
    # the focal length is given: this checks the optimiser; the focal search is benchmarked in bench/tracking.py
    config = FitConfig(focal=float(truth.camera_matrix[0, 0]), rigid_iterations=100, iterations=300, polish_steps=5)
    fit = fit_landmarks(truth.model, correspondence, points, np.ones(NUM_FRAMES, bool), truth.image_size, config,
                        progress=False)
    return fit


def test_exact_landmarks_reproject_and_pose(truth, exact_fit):
    from nbskit.tracking.evaluation import rotation_error_deg

    assert np.nanmean(exact_fit.reprojection_error) <= 0.5
    assert rotation_error_deg(truth, exact_fit).mean() <= 3.0


def test_exact_landmarks_track_key_shapes(truth, exact_fit):
    from nbskit.tracking.evaluation import shape_correlations

    correlations = shape_correlations(truth, exact_fit)
    assert set(correlations) == {"jawOpen", "eyeBlink", "mouthSmile"}
    assert min(correlations.values()) >= 0.8, correlations


@pytest.mark.xfail(strict=True, reason="known gap: with the synthetic telephoto camera (18 degree field of view) "
                   "depth and rotation trade off (bas-relief); the fit reaches ~5 mm, the target is 1 mm")
def test_exact_landmarks_mesh_error_within_1mm(truth, exact_fit):
    from nbskit.tracking.evaluation import mesh_error_mm

    assert mesh_error_mm(truth, exact_fit) <= 1.0
