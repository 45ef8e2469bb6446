"""Blendshape models: the interface contract, conventions (metres, +z face, subject's left = +x),
the ICT loader's search order and errors, and the offline behaviour of `nbskit assets ict`."""

import io
import json
import urllib.error
import zipfile

import numpy as np
import pytest
import torch

from nbskit.cli import main
from nbskit.data.synthetic.renderer import vertex_normals
from nbskit.face import assets_command, ict
from nbskit.face.blendshape import NUM_LANDMARKS
from nbskit.face.ict import ICTFaceModel
from nbskit.face.procedural import ProceduralHead

REQUIRED_PROCEDURAL = [
    "jawOpen", "eyeBlink_L", "eyeBlink_R", "mouthSmile_L", "mouthSmile_R", "mouthPucker",
    "browInnerUp", "browDown_L", "browDown_R", "cheekPuff",
]  # fmt: skip
CHIN, UPPER_LIP_TOP, LOWER_LIP_BOTTOM, MOUTH_CORNER_R, MOUTH_CORNER_L = 8, 51, 57, 48, 54


@pytest.fixture(scope="module")
def procedural():
    return ProceduralHead()


@pytest.fixture(scope="module")
def ict_model(ict_npz):
    return ICTFaceModel.load(ict_npz)


@pytest.fixture(params=["procedural", "ict"])
def model(request):
    return request.getfixturevalue("procedural" if request.param == "procedural" else "ict_model")


def test_interface_shapes(model):
    v, k = model.num_vertices, model.num_expressions
    assert model.neutral.shape == (v, 3) and model.neutral.dtype == np.float32
    assert model.expression_deltas.shape == (k, v, 3)
    assert len(model.expression_names) == k == len(set(model.expression_names))
    assert model.landmark_indices.shape == (NUM_LANDMARKS,)
    assert len(set(model.landmark_indices.tolist())) >= 60  # inner-lip pairs may coincide
    assert model.corner_uvs().shape == (len(model.triangles), 3, 2)
    for name, ids in model.vertex_groups.items():
        assert ids.size and ids.min() >= 0 and ids.max() < v, name


def test_head_in_metres_near_origin_facing_plus_z(model):
    extent = model.neutral.max(axis=0) - model.neutral.min(axis=0)
    assert 0.12 < extent[0] < 0.5 and 0.15 < extent[1] < 0.6  # a head, in metres
    landmarks = model.neutral[model.landmark_indices]
    assert np.linalg.norm(landmarks.mean(axis=0)) < 0.15
    nose_tip = landmarks[30]
    assert nose_tip[2] == pytest.approx(landmarks[:, 2].max(), abs=0.01)  # the nose points to +z
    assert landmarks[CHIN, 1] < landmarks[30, 1] < landmarks[27, 1]  # y up: chin < nose < bridge
    assert landmarks[0, 0] < 0 < landmarks[16, 0]  # Multi-PIE 0 is the subject's right (-x)


def test_left_expressions_act_on_plus_x(model):
    for name in ("eyeBlink_L", "mouthSmile_L"):
        moved = np.linalg.norm(model.expression_deltas[model.expression_index(name)], axis=1)
        x = model.neutral[:, 0]
        assert moved[x > 0].sum() > 5 * moved[x < 0].sum(), name


def test_vertices_numpy_and_torch_agree_and_batch(model):
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (3, model.num_expressions)).astype(np.float32)
    batch = model.vertices(w)
    assert batch.shape == (3, model.num_vertices, 3)
    expected = model.neutral + np.tensordot(w[1], model.expression_deltas, axes=1)
    np.testing.assert_allclose(batch[1], expected, atol=1e-5)
    as_torch = model.vertices(torch.from_numpy(w))
    assert isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch.numpy(), batch, atol=1e-5)
    with pytest.raises(ValueError, match="coefficients"):
        model.vertices(np.zeros(model.num_expressions + 1))


def test_procedural_has_the_semantic_blendshapes(procedural):
    assert set(REQUIRED_PROCEDURAL) <= set(procedural.expression_names)
    assert len(procedural.expression_names) >= 12
    assert procedural.num_vertices < 20000  # modest, so rendering stays fast


def test_procedural_jaw_open_and_smile_move_the_right_landmarks(procedural):
    def landmarks_with(name):
        w = np.zeros(procedural.num_expressions, np.float32)
        w[procedural.expression_index(name)] = 1.0
        return procedural.vertices(w)[procedural.landmark_indices]

    rest = procedural.neutral[procedural.landmark_indices]
    jaw = landmarks_with("jawOpen")
    assert jaw[CHIN, 1] < rest[CHIN, 1] - 0.01
    assert jaw[LOWER_LIP_BOTTOM, 1] < rest[LOWER_LIP_BOTTOM, 1] - 0.01
    assert abs(jaw[UPPER_LIP_TOP, 1] - rest[UPPER_LIP_TOP, 1]) < 0.002
    smile = landmarks_with("mouthSmile_L")
    assert smile[MOUTH_CORNER_L, 1] > rest[MOUTH_CORNER_L, 1] + 0.003
    assert abs(smile[MOUTH_CORNER_R, 1] - rest[MOUTH_CORNER_R, 1]) < 0.001


def test_procedural_skin_faces_outwards(procedural):
    face = procedural.vertex_groups["face"]
    normals = vertex_normals(procedural.neutral.astype(np.float64), procedural.triangles)[face]
    outward = procedural.neutral[face] - procedural.neutral[face].mean(axis=0)
    assert np.mean(np.sum(normals * outward, axis=1) > 0) > 0.9


def test_ict_is_scaled_to_metres_and_hides_helper_shells(ict_model, ict_npz):
    with np.load(ict_npz) as raw:
        np.testing.assert_allclose(ict_model.neutral, raw["neutral"] * 0.01, rtol=1e-6)
    helper = [i for i, kind in enumerate(ict_model.material_names) if kind == "helper"]
    helper_vertices = np.unique(ict_model.triangles[np.isin(ict_model.triangle_materials, helper)])
    lo, hi = ict.ICT_VERTEX_RANGES["helper"]
    assert helper_vertices.min() >= lo and helper_vertices.max() < hi
    assert ict_model.num_identities == 20


def test_ict_search_order_env_var_then_bundled(monkeypatch, tmp_path, ict_npz):
    monkeypatch.delenv(ict.ICT_ENV_VAR, raising=False)
    assert ict.find_ict() == ict_npz  # the repository's copy, found with no configuration
    other = tmp_path / "elsewhere" / ict.ICT_FILENAME
    other.parent.mkdir()
    other.write_bytes(ict_npz.read_bytes())
    monkeypatch.setenv(ict.ICT_ENV_VAR, str(other))
    assert ict.find_ict() == other  # the environment variable comes before the bundled copy
    missing = tmp_path / "nowhere.npz"
    assert ict.find_ict(missing) is None  # an explicit path is never replaced by another location


def test_ict_missing_error_lists_places_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(ict.ICT_ENV_VAR, str(tmp_path / "env.npz"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ict, "BUNDLED_ICT_DIR", tmp_path / "checkout" / "data")
    with pytest.raises(FileNotFoundError) as caught:
        ICTFaceModel.load()
    message = str(caught.value)
    assert "nbskit assets ict" in message
    for place in ict.ict_search_paths():
        assert str(place) in message


def test_assets_ict_fails_clearly_offline(monkeypatch, tmp_path, capsys):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(assets_command.urllib.request, "urlopen", unreachable)
    out = tmp_path / "ict.npz"
    assert main(["assets", "ict", "--out", str(out)]) == 1
    message = capsys.readouterr().err
    assert "could not download" in message and "offline" in message and "NBSKIT_ICT" in message
    assert "Traceback" not in message
    assert not out.exists()


def _obj(positions, with_faces):
    lines = [f"v {x} {y} {z}" for x, y, z in positions]
    if with_faces:
        lines += ["vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1", "usemtl M_Face", "f 1/1 2/2 3/3 4/4"]
    return "\n".join(lines)


def test_repack_of_a_miniature_upstream_archive():
    """Two triangles from one quad; deltas = shape - neutral; landmarks found by key."""
    rng = np.random.default_rng(0)
    neutral = rng.uniform(-1, 1, (4, 3)).round(4)
    shapes = {name: neutral + rng.uniform(-0.1, 0.1, (4, 3)).round(4) for name in ["jawOpen", "eyeBlink_L"]}
    shapes |= {f"identity{i:03d}": neutral + i * 0.01 for i in range(assets_command.NUM_IDENTITIES)}
    indices = {"expressions": ["jawOpen", "eyeBlink_L"], "multi_pie_68_landmarks": [0] * 68,
               "rigid_landmark_idx": [0] * 9, "idx_to_fitting_verts": [0, 1]}  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ICT-FaceKit-master/FaceXModel/generic_neutral_mesh.obj", _obj(neutral, True))
        archive.writestr("ICT-FaceKit-master/FaceXModel/vertex_indices.json", json.dumps(indices))
        for name, positions in shapes.items():
            archive.writestr(f"ICT-FaceKit-master/FaceXModel/{name}.obj", _obj(positions, False))
    arrays = assets_command.repack(zipfile.ZipFile(buffer))
    np.testing.assert_array_equal(arrays["faces"], [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_array_equal(arrays["faces_uv"], [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_allclose(arrays["expression_deltas"][0], shapes["jawOpen"] - neutral, atol=1e-3)
    assert arrays["identity_deltas"].shape == (assets_command.NUM_IDENTITIES, 4, 3)
    assert arrays["landmarks68"].shape == (68,) and list(arrays["material_names"]) == ["M_Face"]
