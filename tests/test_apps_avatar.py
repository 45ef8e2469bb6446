"""`nbskit avatar`: reading phone clips (rotation, variable frame rate, long clips), clear errors for
bad input, and a smoke run from a synthetic video to renders, resumed."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

pytest.importorskip("av")

IDENTITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
# a track matrix that tells players to turn the picture 90 degrees clockwise (a portrait phone clip)
CLOCKWISE_MATRIX = struct.pack(">9I", 0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000)


def write_clip(frames, path, fps: int = 25):
    from nbskit.apps.video import write_video

    return write_video([np.asarray(frame, np.uint8) for frame in frames], path, fps)


def test_portrait_clip_is_turned_upright(tmp_path):
    from nbskit.tracking.video import read_clip

    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :16] = (255, 0, 0)  # the left quarter is red
    path = write_clip([frame] * 4, tmp_path / "landscape.mp4")
    data = path.read_bytes()
    at = data.rindex(IDENTITY_MATRIX)  # the track header's matrix (the movie header has one before it)
    (tmp_path / "portrait.mp4").write_bytes(data[:at] + CLOCKWISE_MATRIX + data[at + len(IDENTITY_MATRIX):])
    clip = read_clip(tmp_path / "portrait.mp4", 10)
    assert clip.rotation == -90 and clip.frames.shape == (4, 64, 32, 3)
    red = clip.frames[0, ..., 0] > 128
    assert red[:12].all() and not red[20:].any()  # turned clockwise: the left edge is now the top


def test_frames_are_chosen_evenly_in_time_not_in_count():
    from nbskit.tracking.video import evenly_in_time

    times = np.concatenate([np.linspace(0, 1, 100, endpoint=False), np.linspace(1, 10, 10)])  # fast, then slow
    chosen = evenly_in_time(times, 11)
    assert np.allclose(times[chosen], np.arange(11))  # one per second, not 11 of the first second
    assert (evenly_in_time(times[:5], 10) == np.arange(5)).all()


def test_long_clip_is_subsampled_to_the_budget(tmp_path):
    from nbskit.tracking.video import read_clip

    frames = [np.full((16, 16, 3), 4 * i, np.uint8) for i in range(40)]
    clip = read_clip(write_clip(frames, tmp_path / "long.mp4", fps=20), 8)
    assert len(clip.frames) == 8 and clip.source_frames == 40
    assert abs(clip.times[-1] - 39 / 20) < 1e-6 and abs(clip.fps - 7 / (39 / 20)) < 1e-6
    assert (np.diff(clip.frames[:, 0, 0, 0].astype(int)) > 0).all()  # later frames, in order


def test_dropped_spans_report_the_seconds_without_a_face():
    from nbskit.apps.avatar import FaceReport

    kept = np.array([1, 1, 0, 0, 1, 0], bool)
    assert FaceReport(kept, 0).dropped_spans(np.arange(6) * 0.5) == [[1.0, 1.5], [2.5, 2.5]]


def test_undecodable_file_is_a_clear_error(tmp_path):
    from nbskit.apps.avatar import make_avatar
    from nbskit.tracking.video import VideoError

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError, match="broken.mp4: cannot read video"):
        make_avatar(broken, tmp_path / "out", show_progress=False)


@pytest.fixture(scope="module")
def face_frames(ict_npz, tmp_path_factory):
    """uint8 [40, 192, 192, 3]: a synthetic ICT person turning and talking."""
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import synthesize_subject
    from nbskit.data.synthetic.presets import SynthPreset

    root = synthesize_subject(tmp_path_factory.mktemp("avatar") / "person", SynthPreset("avatar-test", 192, 40, "ict", 64),
                              seed=4, model="ict", progress=False)
    subject = Subject.load(root)
    return np.stack([np.round(subject.load_image(i) * 255).astype(np.uint8) for i in range(len(subject))])


def test_video_without_a_face_is_a_clear_error(tmp_path):
    pytest.importorskip("mediapipe")
    from nbskit.apps.avatar import make_avatar
    from nbskit.tracking.video import VideoError

    ramp = np.linspace(40, 220, 64)[None, :, None] * np.ones((64, 1, 3))  # a plain wall, slowly brightening
    video = write_clip([ramp + 1.0 * i for i in range(30)], tmp_path / "wall.mp4")
    with pytest.raises(VideoError, match="no face was found"):
        make_avatar(video, tmp_path / "out", show_progress=False)


def test_too_short_clip_is_a_clear_error(face_frames, tmp_path):
    pytest.importorskip("mediapipe")
    from nbskit.apps.avatar import make_avatar
    from nbskit.tracking.video import VideoError

    video = write_clip(face_frames[:6], tmp_path / "short.mp4")
    with pytest.raises(VideoError, match="too short: 6 frames with a face"):
        make_avatar(video, tmp_path / "out", show_progress=False)


def test_largest_of_two_faces_comes_first(face_frames):
    pytest.importorskip("mediapipe")
    import cv2

    from nbskit.tracking.landmarks import detect_faces

    canvas = np.full((192, 320, 3), 128, np.uint8)
    canvas[:, :192] = face_frames[0]
    canvas[48:144, 208:304] = cv2.resize(face_frames[0], (96, 96), interpolation=cv2.INTER_AREA)
    boxes = detect_faces(canvas[None], progress=False)[0]
    assert len(boxes) == 2
    assert boxes[0][2] <= 192 and boxes[1][0] >= 192  # the big face (left) first, then the small copy


@pytest.mark.slow
def test_avatar_smoke_run_reports_dropped_frames_and_resumes(face_frames, tmp_path):
    pytest.importorskip("mediapipe")
    from nbskit.apps.avatar import make_avatar, summary_text

    frames = face_frames.copy()
    frames[10:14] = 90  # the face leaves the picture for four frames
    video = write_clip(frames, tmp_path / "clip.mp4")
    out = tmp_path / "avatar"
    overrides = ["total_steps=40", "stage2_start=10", "stage3_start=30", "perceptual_weight=0",
                 "checkpoint_interval=20", "eval_interval=40", "max_image_size=64", "test_time_steps=5"]
    summary = make_avatar(video, out, "cpu-smoke", overrides, frame_budget=40, show_progress=False)
    assert summary["frames"]["decoded"] == 40 and summary["frames"]["dropped_without_face"] == 4
    assert summary["frames"]["tracked"] == 36
    assert json.loads((out / "summary.json").read_text())["test"] == summary["test"]
    for label in ("orbit", "reenactment", "basis gallery"):
        assert (tmp_path / summary["outputs"][label]).stat().st_size > 0, label
    assert "4 frames without a face" in summary_text(summary)
    assert "test-time refined" in summary_text(summary) and "psnr_right_half_test_time_refined" in summary["test"]
    subject_written = (out / "subject" / "transforms.json").stat().st_mtime_ns
    again = make_avatar(video, out, "cpu-smoke", overrides, frame_budget=40, show_progress=False)
    assert (out / "subject" / "transforms.json").stat().st_mtime_ns == subject_written  # tracking not redone
    assert again["test"] == summary["test"] and again["frames"] == summary["frames"]
