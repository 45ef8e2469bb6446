"""Synthetic subjects: determinism, and ground truth that agrees with what was rendered."""

import filecmp

import numpy as np
import pytest
from scipy import ndimage

from nbskit.data.subject import Subject
from nbskit.data.synthetic import PRESETS, SyntheticScene, SynthPreset, synthesize_subject
from nbskit.data.synthetic.albedo import textured_mesh
from nbskit.data.synthetic.generate import MASK_THRESHOLD
from nbskit.geometry.camera import project_points, unproject_pixels

REPROJECTION_TOLERANCE_PX = 0.5
DEPTH_TOLERANCE_M = 5e-4  # 16-bit depth quantum is 3e-5 m; leave room for float32 rasterisation
FRAMES_TO_CHECK = (0, 17, 41, 59)


def distance_to_mesh(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Distance of points [N,3] to the nearest triangle whose interior they project into."""
    a, b, c = (vertices[triangles[:, k]].astype(np.float64) for k in range(3))
    normal = np.cross(b - a, c - a)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-20)
    best = np.full(len(points), np.inf)
    for i, p in enumerate(points):
        height = np.einsum("tc,tc->t", p - a, normal)
        foot = p - height[:, None] * normal
        # Barycentric sign tests on the foot point (with a small slack for shared edges).
        inside = np.ones(len(a), bool)
        for u, v in ((a, b), (b, c), (c, a)):
            inside &= np.einsum("tc,tc->t", np.cross(v - u, foot - u), normal) >= -1e-9
        if inside.any():
            best[i] = np.abs(height[inside]).min()
    return best


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return synthesize_subject(tmp_path_factory.mktemp("tiny") / "subject", "tiny", seed=3, progress=False)


@pytest.fixture(scope="module")
def tiny_scene(tiny):
    scene = SyntheticScene.from_subject(tiny)
    yield scene
    scene.release()


def _all_files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_same_bytes(tiny, tmp_path):
    again = synthesize_subject(tmp_path / "again", "tiny", seed=3, progress=False)
    files = _all_files(tiny)
    assert files == _all_files(again)
    assert len(files) > 3 * PRESETS["tiny"].num_frames  # images, masks, depth
    _, mismatch, errors = filecmp.cmpfiles(tiny, again, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors


def test_a_different_seed_changes_the_video(tiny, tmp_path):
    other = synthesize_subject(tmp_path / "other", PRESETS["tiny"], seed=4, progress=False)
    a, b = Subject.load(tiny), Subject.load(other)
    assert not np.allclose(a.load_image(0), b.load_image(0))


def test_layout_splits_and_extra(tiny):
    subject = Subject.load(tiny)
    preset = PRESETS["tiny"]
    assert len(subject.frames) == preset.num_frames
    test, val = subject.indices("test"), subject.indices("val")
    assert len(test) == int(np.ceil(preset.test_fraction * preset.num_frames))
    assert len(val) == int(np.ceil(preset.val_fraction * preset.num_frames)) > 0
    # train | val | test in time order
    np.testing.assert_array_equal(np.concatenate([val, test]),
                                  np.arange(preset.num_frames - len(val) - len(test), preset.num_frames))
    assert len(subject.indices("train")) == preset.num_frames - len(val) - len(test)
    info = subject.extra["synthetic"]
    assert info["model"] == "procedural" and info["seed"] == 3 and info["preset"] == "tiny"
    assert np.asarray(info["head_to_world"]).shape == (4, 4)
    assert (tiny / "background.png").is_file()
    expressions = subject.expressions()
    assert expressions.min() >= 0 and expressions.max() <= 1
    blink = subject.expression_names.index("eyeBlink_L")
    assert expressions[:, blink].max() > 0.8  # at least one blink happened


def test_head_pose_stays_within_the_stated_ranges(tiny):
    subject = Subject.load(tiny)
    forward = -subject.camera_to_world()[:, :3, 2]  # viewing direction in head space
    yaw = np.degrees(np.arctan2(-forward[:, 0], -forward[:, 2]))
    pitch = np.degrees(np.arcsin(np.clip(forward[:, 1], -1, 1)))
    assert np.abs(yaw).max() <= 25.5 and np.abs(pitch).max() <= 15.5
    assert np.ptp(yaw) > 5  # the head does move


def test_mask_is_thresholded_rendered_alpha(tiny, tiny_scene):
    subject = Subject.load(tiny)
    for i in FRAMES_TO_CHECK:
        frame = subject.frames[i]
        rendered = tiny_scene.render(frame.expression, frame.transform_matrix.astype(np.float64))
        np.testing.assert_array_equal(subject.load_mask(i) > 0.5, rendered.alpha > MASK_THRESHOLD)
        image = rendered.over(subject.background())
        assert np.abs(subject.load_image(i) - image).max() <= 0.5 / 255 + 1e-6  # 8-bit rounding only


def test_hair_reaches_beyond_the_mesh(tiny):
    subject = Subject.load(tiny)
    hair_only = [(subject.load_mask(i) > 0.5) & (subject.load_depth(i) <= 0) for i in FRAMES_TO_CHECK]
    assert all(h.sum() > 0 for h in hair_only)


def test_landmarks_reproject_and_fall_on_the_face(tiny, tiny_scene):
    subject = Subject.load(tiny)
    stored = subject.landmarks()
    K = subject.intrinsics.matrix()
    for i in FRAMES_TO_CHECK:
        frame = subject.frames[i]
        points = tiny_scene.vertices(frame.expression)[tiny_scene.head.landmark_indices]
        pixels, depth = project_points(points, K, frame.transform_matrix.astype(np.float64))
        assert np.abs(pixels - stored[i]).max() <= REPROJECTION_TOLERANCE_PX
        assert np.all(depth > 0)
        # Landmarks are surface points, so they project inside the head's silhouette; points on
        # the silhouette itself (the jaw line of a turned head) may fall in a boundary pixel whose
        # coverage is just under the mask threshold, hence one pixel of slack.
        mask = subject.load_mask(i) > 0.5
        columns, rows = np.floor(stored[i]).astype(int).T
        assert ndimage.binary_dilation(mask)[rows, columns].all()
        assert mask[rows, columns].mean() >= 0.9
        x0, y0, x1, y1 = frame.face_box
        assert np.all((stored[i] >= [x0, y0]) & (stored[i] <= [x1, y1]))


def test_depth_unprojects_onto_the_mesh(tiny, tiny_scene):
    subject = Subject.load(tiny)
    K = subject.intrinsics.matrix()
    drawn = textured_mesh(tiny_scene.head).model_triangles
    for i in FRAMES_TO_CHECK[:2]:
        frame = subject.frames[i]
        depth = subject.load_depth(i)
        rows, columns = np.nonzero(depth > 0)
        pixels = np.stack([columns + 0.5, rows + 0.5], axis=1)
        c2w = frame.transform_matrix.astype(np.float64)
        points = unproject_pixels(pixels, depth[rows, columns], K, c2w)
        chosen = np.random.default_rng(i).choice(len(points), size=min(300, len(points)), replace=False)
        distance = distance_to_mesh(points[chosen], tiny_scene.vertices(frame.expression), drawn)
        assert len(points) > 500
        assert np.quantile(distance, 0.99) < DEPTH_TOLERANCE_M


def test_ict_subject(ict_npz, tmp_path, monkeypatch):
    monkeypatch.setenv("NBSKIT_ICT", str(ict_npz))
    preset = SynthPreset("ict-test", resolution=48, num_frames=4, model="ict", atlas_slot=64)
    root = synthesize_subject(tmp_path / "ict", preset, seed=1, progress=False)
    subject = Subject.load(root)
    assert subject.num_expressions == 53 and subject.extra["synthetic"]["model"] == "ict"
    assert len(subject.extra["synthetic"]["identity"]) == 20
    scene = SyntheticScene.from_subject(root)
    try:
        frame = subject.frames[2]
        points = scene.vertices(frame.expression)[scene.head.landmark_indices]
        pixels, _ = project_points(
            points, subject.intrinsics.matrix(), frame.transform_matrix.astype(np.float64)
        )
        assert np.abs(pixels - subject.landmarks()[2]).max() <= REPROJECTION_TOLERANCE_PX
        rendered = scene.render(frame.expression, frame.transform_matrix.astype(np.float64))
        np.testing.assert_array_equal(subject.load_mask(2) > 0.5, rendered.alpha > MASK_THRESHOLD)
    finally:
        scene.release()


def test_unknown_preset_and_model_are_named():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        synthesize_subject("/nonexistent", "huge")
    with pytest.raises(ValueError, match="unknown head model 'flame'"):
        synthesize_subject("/nonexistent", "tiny", model="flame")


def test_default_subject_is_made_once_and_reused(tmp_path, monkeypatch):
    from nbskit.data.synthetic import generate

    calls = []

    def fake_synthesize(out, preset, seed, model):
        calls.append((preset, model))
        out.mkdir(parents=True)
        (out / "transforms.json").write_text("{}")
        return out

    monkeypatch.setattr(generate, "synthesize_subject", fake_synthesize)
    first = generate.default_subject(tmp_path)
    assert generate.default_subject(tmp_path) == first
    assert len(calls) == 1 and calls[0][0] == "small"
    assert first.name.endswith(f"_v{generate.GENERATOR_VERSION}")  # subjects of older generators are not reused
