"""Every way a subject folder can be broken gives one SubjectError naming file, frame, field."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from subject_factory import write_tiny_subject

from nbskit.data import Subject, SubjectError


@pytest.fixture
def subject_dir(tmp_path):
    root = tmp_path / "subject"
    write_tiny_subject(root)
    return root


def edit_json(root, change):
    path = root / "transforms.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))  # json.dumps writes NaN/Infinity literally, as Python writers do


def expect_error(root, *fragments):
    with pytest.raises(SubjectError) as caught:
        Subject.load(root)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def scale_rotation(data):
    data["frames"][1]["transform_matrix"] = (
        np.array(data["frames"][1]["transform_matrix"]) @ np.diag([1.1, 1, 1, 1])
    ).tolist()


def mirror_camera(data):
    data["frames"][2]["transform_matrix"] = (
        np.array(data["frames"][2]["transform_matrix"]) @ np.diag([-1, 1, 1, 1])
    ).tolist()


def set_key(path, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def delete_key(path):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


JSON_CASES = {
    "missing top-level key": (delete_key(["fl_x"]), ["transforms.json: fl_x", "missing required key"]),
    "missing frame key": (
        delete_key(["frames", 1, "expression"]),
        ["frames[1].expression", "missing required key"],
    ),
    "expression too short": (
        lambda d: d["frames"][2]["expression"].pop(),
        ["frames[2].expression", "expected 3 numbers, got 2"],
    ),
    "expression not numbers": (
        set_key(["frames", 0, "expression"], ["a", 1, 2]),
        ["frames[0].expression", "expected numbers"],
    ),
    "NaN coefficient": (
        set_key(["frames", 3, "expression", 1], math.nan),
        ["frames[3].expression", "expected finite"],
    ),
    "inf in matrix": (
        set_key(["frames", 1, "transform_matrix", 0, 3], math.inf),
        ["frames[1].transform_matrix", "expected finite"],
    ),
    "scaled rotation": (scale_rotation, ["frames[1].transform_matrix", "expected a rigid camera"]),
    "mirrored rotation": (mirror_camera, ["frames[2].transform_matrix", "det R = -1"]),
    "matrix bottom row": (
        set_key(["frames", 0, "transform_matrix", 3, 0], 0.5),
        ["frames[0].transform_matrix", "last row"],
    ),
    "matrix 3x4": (
        lambda d: d["frames"][0]["transform_matrix"].pop(),
        ["frames[0].transform_matrix", "shape [4, 4]"],
    ),
    "empty frame list": (set_key(["frames"], []), ["transforms.json: frames", "non-empty list"]),
    "frames not a list": (set_key(["frames"], {"0": {}}), ["transforms.json: frames", "non-empty list"]),
    "frame not an object": (set_key(["frames", 2], [1, 2]), ["frames[2]", "expected a JSON object"]),
    "no train frames": (
        lambda d: [f.update(split="val") for f in d["frames"]],
        ["transforms.json: frames", "split 'train'"],
    ),
    "duplicate image path": (
        lambda d: d["frames"][3].update(file_path=d["frames"][0]["file_path"]),
        ["frames[3].file_path", "duplicate path 'images/00000.png'", "frames[0].file_path"],
    ),
    "duplicate mask path": (
        lambda d: d["frames"][4].update(mask_path="./" + d["frames"][1]["mask_path"]),
        ["frames[4].mask_path", "duplicate path", "frames[1].mask_path"],
    ),
    "unknown camera convention": (
        set_key(["camera_convention"], "opencv"),
        ["camera_convention", "expected 'opengl'"],
    ),
    "bad split name": (set_key(["frames", 1, "split"], "training"), ["frames[1].split", "expected one of"]),
    "zero width": (set_key(["w"], 0), ["transforms.json: w", "positive integer"]),
    "negative focal": (set_key(["fl_y"], -3.0), ["transforms.json: fl_y", "positive number"]),
    "inverted aabb": (set_key(["aabb"], [[0, 0, 0], [1, -1, 1]]), ["aabb", "min < max"]),
    "repeated expression name": (
        set_key(["expression_names"], ["a", "b", "a"]),
        ["expression_names", "unique"],
    ),
    "inverted mouth box": (
        set_key(["frames", 0, "mouth_box"], [6, 3, 2, 5]),
        ["frames[0].mouth_box", "x0 <= x1"],
    ),
    "depth without scale": (
        set_key(["frames", 0, "depth_path"], "images/00001.png"),
        ["frames[0]", "depth_scale"],
    ),
    "every key missing": (lambda d: (d.clear(), d.update({"x": 1})), ["transforms.json: w", "missing"]),
}


@pytest.mark.parametrize("case", list(JSON_CASES), ids=list(JSON_CASES))
def test_bad_transforms_json(subject_dir, case):
    change, fragments = JSON_CASES[case]
    edit_json(subject_dir, change)
    expect_error(subject_dir, str(subject_dir / "transforms.json"), *fragments)


def test_json_array_instead_of_object(subject_dir):
    (subject_dir / "transforms.json").write_text("[1, 2]")
    expect_error(subject_dir, "transforms.json", "expected a JSON object at the top level, got list")


def test_missing_transforms(tmp_path):
    expect_error(tmp_path, str(tmp_path / "transforms.json"), "not found")


def test_invalid_json(subject_dir):
    text = (subject_dir / "transforms.json").read_text()
    (subject_dir / "transforms.json").write_text(text[: len(text) // 2])
    expect_error(subject_dir, "transforms.json", "invalid JSON at line")


@pytest.mark.parametrize(("folder", "field"), [("images", "file_path"), ("masks", "mask_path")])
def test_missing_pixel_file(subject_dir, folder, field):
    (subject_dir / folder / "00002.png").unlink()
    expect_error(subject_dir, "transforms.json", f"frames[2].{field}", "file not found", "00002.png")


@pytest.mark.parametrize(("folder", "field"), [("images", "file_path"), ("masks", "mask_path")])
def test_pixel_file_size_mismatch(subject_dir, folder, field):
    Image.new("RGB", (9, 6)).save(subject_dir / folder / "00001.png")
    expect_error(subject_dir, f"frames[1].{field}", "w x h = 8 x 6", "got 9 x 6")


def test_unreadable_image(subject_dir):
    (subject_dir / "images" / "00003.png").write_bytes(b"not a png")
    expect_error(subject_dir, "frames[3].file_path", "cannot read image")


def test_background_size_mismatch(subject_dir):
    Image.new("RGB", (8, 7)).save(subject_dir / "background.png")
    expect_error(subject_dir, "background_path", "got 8 x 7")


def test_landmarks_with_wrong_frame_count(subject_dir):
    np.save(subject_dir / "landmarks.npy", np.zeros((2, 5, 2), dtype=np.float32))
    expect_error(subject_dir, "landmarks.npy", "expected shape [N_frames=6, M, 2], got [2, 5, 2]")


def test_landmarks_with_nan(subject_dir):
    landmarks = np.zeros((6, 5, 2), dtype=np.float32)
    landmarks[4, 1, 0] = np.nan
    np.save(subject_dir / "landmarks.npy", landmarks)
    expect_error(subject_dir, "landmarks.npy", "frame 4", "finite")


def test_file_checks_can_be_deferred(subject_dir):
    (subject_dir / "masks" / "00005.png").unlink()
    assert len(Subject.load(subject_dir, check_files=False)) == 6
