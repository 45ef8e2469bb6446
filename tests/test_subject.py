"""Subject folders: writer -> reader round trip and the reader's accessors."""

from __future__ import annotations

import copy
import json
import pickle
import re

import numpy as np
import pytest
from subject_factory import AABB, INTRINSICS, NAMES, write_tiny_subject

from nbskit.cli import main
from nbskit.data import Subject, SubjectError, SubjectWriter


def test_round_trip_preserves_every_field(tmp_path):
    written = write_tiny_subject(tmp_path / "s")
    subject = Subject.load(tmp_path / "s")

    assert subject.intrinsics == INTRINSICS
    np.testing.assert_allclose(subject.aabb, AABB, rtol=1e-6)
    assert subject.expression_names == NAMES
    assert subject.num_expressions == len(NAMES) and len(subject) == len(written["splits"])
    assert subject.extra == written["extra"]
    for i, frame in enumerate(subject.frames):
        np.testing.assert_allclose(frame.transform_matrix, written["c2w"][i], atol=1e-6)
        np.testing.assert_array_equal(frame.expression, written["expressions"][i])
        assert frame.split == written["splits"][i]
        assert frame.face_box == written["face_boxes"][i]
        assert frame.mouth_box == written["mouth_boxes"][i]
        np.testing.assert_array_equal(subject.load_image(i), written["images"][i] / np.float32(255))
        np.testing.assert_array_equal(subject.load_mask(i), written["masks"][i].astype(np.float32))
    np.testing.assert_array_equal(subject.landmarks(), written["landmarks"])
    np.testing.assert_array_equal(subject.background(), written["background"] / np.float32(255))


def test_pixels_have_documented_types(tmp_path):
    write_tiny_subject(tmp_path / "s")
    subject = Subject.load(tmp_path / "s")
    image, mask = subject.load_image(0), subject.load_mask(0)
    assert image.dtype == np.float32 and image.shape == (INTRINSICS.height, INTRINSICS.width, 3)
    assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_float_images_and_soft_masks_are_quantised(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.random((INTRINSICS.height, INTRINSICS.width, 3))
    alpha = rng.random((INTRINSICS.height, INTRINSICS.width))
    with SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES) as writer:
        writer.add_frame(image, alpha, np.eye(4), np.zeros(len(NAMES)), "train")
    subject = Subject.load(tmp_path / "s")
    assert np.abs(subject.load_image(0) - image).max() <= 0.5 / 255 + 1e-6
    np.testing.assert_array_equal(subject.load_mask(0), (alpha >= 0.5).astype(np.float32))


def test_expression_range_ignores_test_frames(tmp_path):
    written = write_tiny_subject(tmp_path / "s")
    subject_json = tmp_path / "s" / "transforms.json"
    data = json.loads(subject_json.read_text())
    for frame in data["frames"]:
        if frame["split"] == "test":  # far outside anything a training frame holds
            frame["expression"] = [-5.0, 7.0, 100.0]
    subject_json.write_text(json.dumps(data))

    low, high = Subject.load(tmp_path / "s").expression_range()
    train = written["expressions"][[s == "train" for s in written["splits"]]]
    np.testing.assert_array_equal(low, train.min(axis=0))
    np.testing.assert_array_equal(high, train.max(axis=0))


def test_indices_per_split(tmp_path):
    written = write_tiny_subject(tmp_path / "s")
    subject = Subject.load(tmp_path / "s")
    for split in ("train", "val", "test"):
        expected = [i for i, s in enumerate(written["splits"]) if s == split]
        assert subject.indices(split).tolist() == expected
    with pytest.raises(ValueError, match="unknown split"):
        subject.indices("training")


def test_stacked_accessors(tmp_path):
    written = write_tiny_subject(tmp_path / "s")
    subject = Subject.load(tmp_path / "s")
    np.testing.assert_array_equal(subject.expressions(), written["expressions"])
    np.testing.assert_allclose(subject.camera_to_world([1, 3]), written["c2w"][[1, 3]], atol=1e-6)
    k = INTRINSICS
    pixel = subject.intrinsics.matrix() @ np.array([0.5, -0.25, 1.0])
    np.testing.assert_allclose(pixel, [k.fl_x * 0.5 + k.cx, -k.fl_y * 0.25 + k.cy, 1.0], rtol=1e-6)


def test_depth_round_trip_within_half_a_step(tmp_path):
    written = write_tiny_subject(tmp_path / "s", depth=True)
    depth = written["depth"].copy()
    subject = Subject.load(tmp_path / "s")
    assert subject.depth_scale > 0
    for i in range(len(subject)):
        np.testing.assert_allclose(subject.load_depth(i), depth[i], atol=subject.depth_scale / 2 + 1e-7)


def test_depth_zero_marks_no_surface(tmp_path):
    depth = np.full((INTRINSICS.height, INTRINSICS.width), np.inf)
    depth[2, 3] = 0.75
    with SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES) as writer:
        writer.add_frame(np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train", depth=depth)
        writer.add_frame(np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train")
    subject = Subject.load(tmp_path / "s")
    decoded = subject.load_depth(0)
    assert np.count_nonzero(decoded) == 1
    assert decoded[2, 3] == pytest.approx(0.75, abs=subject.depth_scale)
    assert subject.load_depth(1) is None


def test_depth_beyond_the_chosen_range_is_refused(tmp_path):
    near = np.full((INTRINSICS.height, INTRINSICS.width), 1.0)
    with SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES) as writer:
        writer.add_frame(np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train", depth=near)
        with pytest.raises(SubjectError, match=r"frames\[1\]\.depth: expected depth <="):
            writer.add_frame(
                np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train", depth=near * 10
            )


def test_optional_files_absent(tmp_path):
    write_tiny_subject(tmp_path / "s", landmarks=False, background=False)
    subject = Subject.load(tmp_path / "s")
    assert subject.landmarks() is None and subject.background_path is None
    np.testing.assert_array_equal(subject.background(), np.ones((6, 8, 3), dtype=np.float32))
    assert subject.load_depth(0) is None


def test_load_accepts_the_json_path(tmp_path):
    write_tiny_subject(tmp_path / "s")
    assert Subject.load(tmp_path / "s" / "transforms.json").root == tmp_path / "s"


def test_cached_images_are_returned_as_copies(tmp_path):
    write_tiny_subject(tmp_path / "s")
    subject = Subject.load(tmp_path / "s")
    first = subject.load_image(0)
    first[:] = -1.0
    assert subject.load_image(0).min() >= 0.0


def test_subject_pickles_for_data_loader_workers(tmp_path):
    written = write_tiny_subject(tmp_path / "s")
    subject = Subject.load(tmp_path / "s")
    subject.load_image(0)  # fill the cache before pickling
    for clone in (pickle.loads(pickle.dumps(subject)), copy.deepcopy(subject)):
        np.testing.assert_array_equal(clone.load_image(1), written["images"][1] / np.float32(255))
        np.testing.assert_array_equal(clone.expressions(), subject.expressions())


def test_writer_is_deterministic(tmp_path):
    for name in ("a", "b"):
        write_tiny_subject(tmp_path / name, depth=True)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 10
    for relative in files_a:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative


def test_failed_writer_leaves_no_transforms(tmp_path):
    with (
        pytest.raises(RuntimeError, match="simulated"),
        SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES) as writer,
    ):
        writer.add_frame(np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train")
        raise RuntimeError("simulated crash")
    assert not (tmp_path / "s" / "transforms.json").exists()
    with pytest.raises(SubjectError, match="transforms.json: not found"):
        Subject.load(tmp_path / "s")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image": np.zeros((8, 6, 3))}, r"frames\[0\]\.image: expected shape \[6, 8, 3\]"),
        ({"mask": np.zeros((6, 8, 1))}, r"frames\[0\]\.mask: expected shape \[6, 8\]"),
        ({"expression": np.zeros(4)}, r"frames\[0\]\.expression: expected 3 numbers"),
        ({"split": "holdout"}, r"frames\[0\]\.split: expected one of"),
        ({"c2w": np.diag([2.0, 2.0, 2.0, 1.0])}, r"frames\[0\]\.transform_matrix: expected a rigid camera"),
        ({"face_box": (5, 0, 1, 4)}, r"frames\[0\]\.face_box: expected \[x0, y0, x1, y1\]"),
    ],
)
def test_writer_rejects_bad_frames(tmp_path, change, message):
    frame = {
        "image": np.zeros((6, 8, 3)),
        "mask": np.zeros((6, 8)),
        "c2w": np.eye(4),
        "expression": np.zeros(3),
        "split": "train",
    } | change
    with SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES) as writer:
        with pytest.raises(SubjectError, match=message):
            writer.add_frame(**frame)
        assert len(writer) == 0
        writer.add_frame(np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train")


def test_a_refused_frame_leaves_no_trace(tmp_path):
    depth = np.ones((6, 8))
    with SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES) as writer:
        frame = (np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train")
        writer.add_frame(*frame, landmarks=np.zeros((5, 2)), depth=depth)
        with pytest.raises(SubjectError, match=r"frames\[1\]\.depth"):
            writer.add_frame(*frame, landmarks=np.ones((5, 2)), depth=depth * 100)
        with pytest.raises(SubjectError, match=r"frames\[1\]\.landmarks: expected shape \[5, 2\]"):
            writer.add_frame(*frame, landmarks=np.ones((4, 2)), depth=depth)
        writer.add_frame(*frame, landmarks=np.full((5, 2), 2.0), depth=depth)
    subject = Subject.load(tmp_path / "s")
    assert len(subject) == 2 and sorted(p.name for p in (tmp_path / "s" / "images").iterdir()) == [
        "00000.png",
        "00001.png",
    ]
    np.testing.assert_array_equal(subject.landmarks()[:, 0, 0], [0.0, 2.0])


def test_rewriting_a_folder_forgets_the_old_index(tmp_path):
    write_tiny_subject(tmp_path / "s", landmarks=True)
    write_tiny_subject(tmp_path / "s", landmarks=False, seed=1)
    assert Subject.load(tmp_path / "s").landmarks() is None
    with pytest.raises(RuntimeError), SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES):
        raise RuntimeError("crash before any frame")
    assert not (tmp_path / "s" / "transforms.json").exists()


def test_writer_wants_landmarks_for_all_frames_or_none(tmp_path):
    with SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES) as writer:
        writer.add_frame(
            np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train", landmarks=np.zeros((5, 2))
        )
        with pytest.raises(SubjectError, match=r"frames\[1\]\.landmarks: expected landmarks for every frame"):
            writer.add_frame(np.zeros((6, 8, 3)), np.zeros((6, 8)), np.eye(4), np.zeros(3), "train")


def test_writer_checks_its_header_immediately(tmp_path):
    with pytest.raises(SubjectError, match="aabb: expected min < max"):
        SubjectWriter(tmp_path / "s", INTRINSICS, [[0, 0, 0], [1, -1, 1]], NAMES)
    with pytest.raises(SubjectError, match="expression_names: expected unique names"):
        SubjectWriter(tmp_path / "s", INTRINSICS, AABB, ["a", "a"])
    with pytest.raises(SubjectError, match="would overwrite format keys"):
        SubjectWriter(tmp_path / "s", INTRINSICS, AABB, NAMES, extra={"frames": []})


def test_unchecked_load_defers_file_errors_to_first_read(tmp_path):
    write_tiny_subject(tmp_path / "s")
    (tmp_path / "s" / "images" / "00001.png").unlink()
    subject = Subject.load(tmp_path / "s", check_files=False)
    subject.load_image(0)
    with pytest.raises(SubjectError, match=r"frames\[1\]\.file_path: file not found"):
        subject.load_image(1)


def test_info_command_prints_the_summary(tmp_path, capsys):
    written = write_tiny_subject(tmp_path / "s")
    assert main(["info", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    counts = {split: written["splits"].count(split) for split in ("train", "val", "test")}
    assert (
        f"frames      {len(written['splits'])} (train {counts['train']}, val {counts['val']}, test {counts['test']})"
        in out
    )
    assert f"{INTRINSICS.width} x {INTRINSICS.height} px" in out
    assert f"K           {len(NAMES)} expressions" in out
    train = written["expressions"][[s == "train" for s in written["splits"]]]
    for name, low, high in zip(NAMES, train.min(axis=0), train.max(axis=0)):
        assert re.search(rf"{name} +{re.escape(f'[{low:+.4f}, {high:+.4f}]')}", out), name
    assert "landmarks   5 per frame" in out


def test_info_command_fails_with_the_validation_message(tmp_path, capsys):
    write_tiny_subject(tmp_path / "s")
    (tmp_path / "s" / "masks" / "00003.png").unlink()
    assert main(["info", str(tmp_path / "s")]) == 1
    captured = capsys.readouterr()
    assert "frames[3].mask_path: file not found" in captured.err and captured.out == ""


def test_absolute_paths_are_allowed(tmp_path):
    written = write_tiny_subject(tmp_path / "s")
    elsewhere = tmp_path / "elsewhere.png"
    (tmp_path / "s" / "images" / "00002.png").rename(elsewhere)
    data = json.loads((tmp_path / "s" / "transforms.json").read_text())
    data["frames"][2]["file_path"] = str(elsewhere)
    (tmp_path / "s" / "transforms.json").write_text(json.dumps(data))
    subject = Subject.load(tmp_path / "s")
    np.testing.assert_array_equal(subject.load_image(2), written["images"][2] / np.float32(255))


def ignore_subject(root):
    """A tiny subject whose frame 1 ignores the left half; frame 0 has an all-zero mask (no file)."""
    from nbskit.data import SubjectWriter

    ignore = np.zeros((INTRINSICS.height, INTRINSICS.width), bool)
    ignore[:, : INTRINSICS.width // 2] = True
    with SubjectWriter(root, INTRINSICS, np.array([[-1, -1, -1], [1, 1, 1.0]]), NAMES) as writer:
        for index, mask in enumerate((np.zeros_like(ignore), ignore)):
            writer.add_frame(np.zeros((INTRINSICS.height, INTRINSICS.width, 3)), np.ones_like(ignore), np.eye(4),
                             np.zeros(len(NAMES)), "train", ignore=mask)
    return ignore


def test_ignore_masks_round_trip_and_are_optional(tmp_path):
    ignore = ignore_subject(tmp_path / "s")
    subject = Subject.load(tmp_path / "s")
    assert subject.frames[0].ignore_path is None and subject.frames[1].ignore_path == "ignore/00001.png"
    assert subject.has_ignore and not subject.load_ignore(0).any()
    np.testing.assert_array_equal(subject.load_ignore(1), ignore.astype(np.float32))
    assert "ignore      1 of 2 frames" in subject.describe()


@pytest.mark.parametrize("bad, message", [
    (np.full((INTRINSICS.height, INTRINSICS.width), 128, np.uint8), r"expected only the values 0 and 255, found \[128\]"),
    (np.zeros((INTRINSICS.height, INTRINSICS.width + 1), np.uint8), r"expected an image of w x h"),
    (np.zeros((INTRINSICS.height, INTRINSICS.width, 3), np.uint8), r"expected an 8-bit single-channel image"),
])
def test_info_command_checks_ignore_masks(tmp_path, capsys, bad, message):
    from PIL import Image

    ignore_subject(tmp_path / "s")
    Image.fromarray(bad).save(tmp_path / "s" / "ignore" / "00001.png")
    assert main(["info", str(tmp_path / "s")]) == 1
    error = capsys.readouterr().err
    assert "frames[1].ignore_path" in error and "ignore/00001.png" in error and re.search(message, error), error
