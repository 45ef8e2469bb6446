"""`nbskit import official`: a small folder in the NeRFBlendShape release layout becomes a subject."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from subject_factory import random_rotation

from nbskit.cli import main
from nbskit.data import Subject, SubjectError
from nbskit.data.official import import_official

WIDTH, HEIGHT = 12, 10
NUM_COEFFICIENTS = 46
IMG_IDS = [7, 2, 11, 0, 5, 3, 9]  # deliberately out of order in the JSON
HEAD_BLUE = (0, 0, 255)
NEAR_BLUE = (0, 0, 254)  # one level off: must not count as head
OTHER_CLASS = (255, 0, 0)


def make_official_folder(root, rng):
    """Write the release layout; return per-img_id ground truth (c2w, exp_ori, head mask)."""
    (root / "head_imgs").mkdir(parents=True)
    (root / "parsing").mkdir()
    truth, frames = {}, []
    for img_id in IMG_IDS:
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = random_rotation(rng), rng.normal(scale=0.3, size=3)
        exp_ori = rng.random(NUM_COEFFICIENTS)
        labels = rng.integers(0, 3, size=(HEIGHT, WIDTH))
        parsing = np.array([HEAD_BLUE, NEAR_BLUE, OTHER_CLASS], dtype=np.uint8)[labels]
        Image.fromarray(parsing).save(root / "parsing" / f"{img_id}.png")
        Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(
            root / "head_imgs" / f"{img_id}.jpg"
        )
        frames.append(
            {
                "img_id": img_id,
                "transform_matrix": c2w.tolist(),
                "exp_ori": exp_ori.tolist(),
                "exp": (exp_ori * 0 - 1).tolist(),
            }
        )
        truth[img_id] = (c2w, exp_ori, labels == 0)
    Image.fromarray(np.full((HEIGHT, WIDTH, 3), 90, dtype=np.uint8)).save(root / "bc.jpg")
    (root / "transforms.json").write_text(
        json.dumps({"fx": 14.0, "fy": 13.5, "cx": 6.0, "cy": 5.0, "w": WIDTH, "h": HEIGHT, "frames": frames})
    )
    return truth


@pytest.fixture
def official(tmp_path):
    src = tmp_path / "data" / "id1"
    truth = make_official_folder(src, np.random.default_rng(0))
    return src, truth


def test_import_converts_every_field(official, tmp_path):
    src, truth = official
    report = import_official(src, tmp_path / "out", test_frames=2, progress=False)
    subject = Subject.load(tmp_path / "out")

    ordered = sorted(IMG_IDS)
    assert report.num_train == len(IMG_IDS) - 2 and report.num_test == 2 and not report.notes
    assert [f.split for f in subject.frames] == ["train"] * (len(IMG_IDS) - 2) + ["test"] * 2
    assert subject.expression_names == [f"fw_{i:02d}" for i in range(NUM_COEFFICIENTS)]
    k = subject.intrinsics
    assert (k.width, k.height, k.fl_x, k.fl_y, k.cx, k.cy) == (WIDTH, HEIGHT, 14.0, 13.5, 6.0, 5.0)
    for frame_index, img_id in enumerate(ordered):
        c2w, exp_ori, head = truth[img_id]
        frame = subject.frames[frame_index]
        np.testing.assert_allclose(frame.transform_matrix, c2w, atol=1e-6)
        np.testing.assert_allclose(frame.expression, exp_ori, atol=1e-6)  # exp_ori, never exp
        np.testing.assert_array_equal(subject.load_mask(frame_index), head.astype(np.float32))
        assert subject.path(frame.file_path).samefile(src / "head_imgs" / f"{img_id}.jpg")
        with Image.open(src / "head_imgs" / f"{img_id}.jpg") as original:
            np.testing.assert_array_equal(
                subject.load_image(frame_index), np.asarray(original) / np.float32(255)
            )
        rows, cols = np.nonzero(head)
        assert frame.face_box == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    assert subject.path(subject.background_path).samefile(src / "bc.jpg")


def test_import_copies_no_images(official, tmp_path):
    src, _ = official
    import_official(src, tmp_path / "out", progress=False)
    written = {
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()
    }
    assert written == {f"masks/{i}.png" for i in IMG_IDS} | {"transforms.json"}


def test_default_aabb_is_the_authors_cube(official, tmp_path):
    src, _ = official
    subject = import_official(src, tmp_path / "out", progress=False).subject
    # The authors bound +-0.06 after scaling poses by 0.33 (their --bound and pose scale).
    half = 0.06 / 0.33
    np.testing.assert_allclose(subject.aabb, [[-half] * 3, [half] * 3], rtol=1e-6)


def test_small_folder_clamps_the_test_split_and_says_so(official, tmp_path):
    src, _ = official
    report = import_official(src, tmp_path / "out", progress=False)  # default: 500 test frames
    assert report.num_test == len(IMG_IDS) // 2 and report.num_train == len(IMG_IDS) - len(IMG_IDS) // 2
    assert len(report.notes) == 1 and "instead of 500" in report.notes[0]


def test_output_survives_moving_both_folders_together(official, tmp_path):
    src, _ = official
    import_official(src, tmp_path / "data" / "id1_nbskit", progress=False)
    shutil.copytree(tmp_path / "data", tmp_path / "moved")
    shutil.rmtree(tmp_path / "data")
    subject = Subject.load(tmp_path / "moved" / "id1_nbskit")
    assert subject.load_image(0).shape == (HEIGHT, WIDTH, 3)


def test_command_line(official, tmp_path, capsys):
    src, _ = official
    aabb = ["-0.1", "-0.2", "-0.3", "0.1", "0.2", "0.3"]
    assert (
        main(["import", "official", str(src), str(tmp_path / "out"), "--test-frames", "1", "--aabb", *aabb])
        == 0
    )
    assert f"imported {len(IMG_IDS) - 1} train + 1 test frames" in capsys.readouterr().out
    subject = Subject.load(tmp_path / "out")
    np.testing.assert_allclose(subject.aabb, np.array(aabb, dtype=float).reshape(2, 3), rtol=1e-6)


def edit_source(src, change):
    data = json.loads((src / "transforms.json").read_text())
    change(data)
    (src / "transforms.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda d: d["frames"][3].pop("exp_ori"), ["frames[3].exp_ori", "missing required key"]),
        (lambda d: d["frames"][4]["exp_ori"].pop(), ["frames[4].exp_ori", "expected 46 numbers, got 45"]),
        (lambda d: d.pop("fx"), ["transforms.json: fx", "missing required key"]),
        (lambda d: d["frames"][2].update(img_id=d["frames"][0]["img_id"]), ["frames[2].img_id", "unique"]),
        (lambda d: d["frames"][1].update(img_id="2.jpg"), ["frames[1].img_id", "expected an integer"]),
        (
            lambda d: d["frames"][5]["transform_matrix"][0].__setitem__(0, 3.0),
            ["frames[5].transform_matrix", "rigid"],
        ),
    ],
    ids=["missing exp_ori", "short exp_ori", "missing fx", "duplicate img_id", "img_id not int", "non-rigid"],
)
def test_bad_source_json(official, tmp_path, change, fragments):
    src, _ = official
    edit_source(src, change)
    with pytest.raises(SubjectError) as caught:
        import_official(src, tmp_path / "out", progress=False)
    for fragment in [str(src / "transforms.json"), *fragments]:
        assert fragment in str(caught.value)


def test_missing_parsing_map_is_named(official, tmp_path, capsys):
    src, _ = official
    (src / "parsing" / "5.png").unlink()
    assert main(["import", "official", str(src), str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "frames[4].img_id" in error and "5.png" in error and "not found" in error
