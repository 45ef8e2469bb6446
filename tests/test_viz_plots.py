"""Plot helpers and course helpers that need no trained model: image tiling, camera orbits, frame choice."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nbskit.data import SubjectWriter
from nbskit.data.subject import Subject
from nbskit.geometry.intrinsics import Intrinsics
from nbskit.train.run import run_folder
from nbskit.viz.course import course_config, mouth_open_frames
from nbskit.viz.plots import LABEL_HEIGHT, TILE_GAP, difference_image, image_strip, png_bytes, to_uint8
from nbskit.viz.render_view import orbit_camera


def test_image_strip_layout_and_pixels():
    rng = np.random.default_rng(0)
    images = [rng.random((5, 7, 3)).astype(np.float32) for _ in range(5)]
    sheet = np.asarray(image_strip(images, labels=list("abcde"), columns=3, scale=2))
    tile_w, tile_h = 7 * 2, 5 * 2
    assert sheet.shape == (2 * (tile_h + LABEL_HEIGHT) + TILE_GAP, 3 * tile_w + 2 * TILE_GAP, 3)
    # Tile 4 sits in row 1, column 1; nearest-neighbour scaling repeats each pixel twice.
    y0, x0 = tile_h + LABEL_HEIGHT + TILE_GAP, tile_w + TILE_GAP
    np.testing.assert_array_equal(sheet[y0 : y0 + tile_h : 2, x0 : x0 + tile_w : 2], to_uint8(images[4]))


def test_image_strip_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="labels"):
        image_strip([np.zeros((2, 2, 3))], labels=["a", "b"])
    with pytest.raises(ValueError, match="image 1"):
        image_strip([np.zeros((2, 2, 3)), np.zeros((3, 2, 3))])


def test_png_round_trip_and_difference():
    image = np.linspace(0, 1, 4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(image, scale=3))))
    assert decoded.shape == (12, 18, 3)
    np.testing.assert_array_equal(decoded[::3, ::3], to_uint8(image))
    changed = image.copy()
    changed[1, 2] += 0.1
    diff = difference_image(changed, image, gain=5.0)
    assert diff[1, 2, 0] == pytest.approx(0.5, abs=1e-5)  # 1 - 0.1 * 5
    assert np.all(np.delete(diff.reshape(-1, 3), 1 * 6 + 2, axis=0) == 1.0)


def test_orbit_camera_keeps_distance_and_looks_at_centre():
    from nbskit.geometry.camera import look_at

    centre = np.array([0.1, -0.2, 0.05])
    base = look_at(centre + [0.0, 0.0, 0.6], centre)
    for yaw, pitch in [(0, 0), (25, 0), (0, -15), (-30, 20)]:
        camera = orbit_camera(base, centre, yaw, pitch)
        np.testing.assert_allclose(np.linalg.norm(camera[:3, 3] - centre), 0.6, atol=1e-9)
        to_centre = (centre - camera[:3, 3]) / 0.6
        np.testing.assert_allclose(-camera[:3, 2], to_centre, atol=1e-9)  # still looking at the centre
        np.testing.assert_allclose(camera[:3, :3].T @ camera[:3, :3], np.eye(3), atol=1e-9)
    yawed = orbit_camera(base, centre, 90, 0)[:3, 3] - centre
    np.testing.assert_allclose(yawed, [0.6, 0.0, 0.0], atol=1e-9)  # +z swung about y by 90° lands on +x
    raised = orbit_camera(base, centre, 0, 30)[:3, 3] - centre
    assert raised[1] > 0  # positive pitch looks down from above


def test_mouth_open_frames_picks_largest_jaw_in_split(tmp_path):
    names = ["jawOpen", "eyeBlink_L"]
    jaw = [0.9, 0.1, 0.5, 0.8, 0.3, 0.7]
    splits = ["train", "train", "test", "test", "test", "test"]
    intrinsics = Intrinsics(width=4, height=4, fl_x=4, fl_y=4, cx=2, cy=2)
    with SubjectWriter(tmp_path, intrinsics, np.array([[-1.0] * 3, [1.0] * 3]), names) as writer:
        for value, split in zip(jaw, splits):
            writer.add_frame(np.zeros((4, 4, 3)), np.ones((4, 4)), np.eye(4), [value, 0.0], split)
    subject = Subject.load(tmp_path)
    assert mouth_open_frames(subject, "test", fraction=0.5).tolist() == [3, 5]  # jaw 0.8 and 0.7
    assert mouth_open_frames(subject, "test", fraction=0.0).tolist() == [3]  # at least one frame
    with pytest.raises(KeyError, match="mouthSmile"):
        mouth_open_frames(subject, "test", name="mouthSmile")


def test_run_folders_differ_by_setting():
    expression, neutral = course_config(True), course_config(True, grid_policy="neutral")
    assert run_folder("subj", expression) == run_folder("subj", course_config(True))
    assert run_folder("subj", expression) != run_folder("subj", neutral)
    assert "neutral" in run_folder("subj", neutral).name
