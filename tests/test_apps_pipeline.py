"""Applications on a briefly trained `tiny` run: frames, orbits, editing, reenactment, gallery, video, mesh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbskit.apps import edit, gallery, reenact, render, video
from nbskit.train.run import load_run

MICRO_RUN = ["total_steps=6", "stage2_start=2", "stage3_start=6", "max_image_size=32", "rays_per_frame=64",
             "grid_resolution=16", "checkpoint_interval=6", "eval_interval=6", "perceptual_weight=0"]


@pytest.fixture(scope="module")
def subjects(tmp_path_factory):
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import synthesize_subject

    root = tmp_path_factory.mktemp("subjects")
    target = synthesize_subject(root / "target", "tiny", seed=0, progress=False)
    driver = synthesize_subject(root / "driver", "tiny", seed=1, progress=False)
    return Subject.load(target), Subject.load(driver)


@pytest.fixture(scope="module")
def trained(subjects, tmp_path_factory):
    from nbskit.train.presets import make_config
    from nbskit.train.trainer import Trainer

    run_dir = tmp_path_factory.mktemp("runs") / "micro"
    Trainer(subjects[0], make_config("cpu-smoke", MICRO_RUN), run_dir, progress=False).fit()
    return load_run(run_dir)


def test_render_frame_has_training_resolution(trained):
    image = render.render_frame(trained, int(trained.subject.indices("test")[0]))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8


def test_orbit_turns_about_the_head_centre(trained):
    cameras = render.orbit_cameras(trained, num_views=8, max_yaw_degrees=20)
    centre = render.head_centre(trained)
    distances = np.linalg.norm(cameras[:, :3, 3] - centre, axis=1)
    np.testing.assert_allclose(distances, distances[0], rtol=1e-5)
    np.testing.assert_allclose(cameras[:, 1, 3], cameras[0, 1, 3], atol=1e-6)  # yaw keeps the height
    np.testing.assert_allclose(cameras[0], trained.subject.frames[int(trained.subject.indices("train")[0])]
                               .transform_matrix, atol=1e-6)  # phase 0 is the reference camera
    for c2w in cameras:
        np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-5)


def test_edit_sets_and_scales_by_name(trained):
    names = trained.expression_names
    base = np.full(len(names), 0.5, np.float32)
    edited = edit.edit_expression(base, names, {names[0]: 0.9}, {names[1]: 0.5})
    assert edited[0] == pytest.approx(0.9) and edited[1] == pytest.approx(0.25)
    assert np.array_equal(edited[2:], base[2:]) and base[0] == 0.5
    with pytest.raises(KeyError, match="unknown expression"):
        edit.edit_expression(base, names, {"noSuchShape": 1.0})


def test_reenactment_clamps_driver_to_the_target_range(trained, subjects):
    driver = subjects[1]
    low, high = trained.expression_range
    driven = reenact.driving_expressions(trained, driver, np.arange(len(driver.frames)))
    assert np.all(driven >= low - 1e-7) and np.all(driven <= high + 1e-7)
    raw = driver.expressions()
    inside = (raw >= low) & (raw <= high)
    np.testing.assert_array_equal(driven[inside], raw[inside])
    frames = reenact.reenact(trained, driver, [0, 1], progress=False)
    assert len(frames) == 2 and frames[0].shape == (32, 32, 3)


def test_gallery_has_neutral_plus_one_tile_per_basis(trained):
    labels, expressions = gallery.basis_expressions(trained)
    low, high = trained.expression_range
    assert labels[0] == gallery.NEUTRAL_LABEL and labels[1:] == trained.expression_names
    np.testing.assert_array_equal(expressions[0], low)
    np.testing.assert_array_equal(np.diag(expressions[1:]), high)
    sheet = gallery.basis_gallery(trained, columns=4, progress=False)
    tiles = len(labels)
    assert sheet.shape == (-(-tiles // 4) * (32 + gallery.CAPTION_HEIGHT), 4 * 32, 3)


def test_video_round_trips_frame_count(tmp_path):
    av = pytest.importorskip("av")
    frames = [np.full((33, 31, 3), k * 20, np.uint8) for k in range(5)]  # odd sizes get padded
    path = video.write_video(frames, tmp_path / "clip.mp4", fps=10)
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == 5 and decoded[0].shape == (34, 32, 3)
    assert abs(float(decoded[3].mean()) - 60) < 3


def median_density(trained, resolution: int) -> float:
    """A barely trained field has no crisp surface yet: a level inside its density range."""
    from nbskit.geometry.mesh import sample_grid

    w = trained.subject.frames[0].expression
    density = sample_grid(lambda x: trained.model.density(x, torch.zeros(len(x), dtype=torch.long),
                                                          torch.as_tensor(w)[None]),
                          trained.subject.aabb, resolution, progress=False)
    return float(np.median(density))


def test_mesh_of_the_trained_head(trained):
    from nbskit.apps.head_mesh import head_mesh

    w = trained.subject.frames[0].expression
    mesh = head_mesh(trained, w, resolution=24, level=median_density(trained, 24), progress=False)
    assert len(mesh.faces) > 0
    assert np.asarray(mesh.visual.vertex_colors).shape == (len(mesh.vertices), 4)


def test_render_command_writes_orbit_video(trained, tmp_path):
    from nbskit.cli import main

    assert main(["render", str(trained.run_dir), "--orbit", "--views", "3", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "orbit.mp4").stat().st_size > 0
    assert len(list((tmp_path / "orbit").glob("*.png"))) == 3


def test_mesh_command_writes_the_mesh_and_its_viewer(trained, tmp_path):
    from nbskit.cli import main

    args = ["mesh", str(trained.run_dir), "--out", str(tmp_path / "head.ply"), "--html", str(tmp_path / "head.html"),
            "--resolution", "24", "--level", str(median_density(trained, 24)), "--frame", "0"]
    assert main(args) == 0
    html = (tmp_path / "head.html").read_text()
    assert "plotly" in html.lower() and "mesh3d" in html.lower()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no temporary left
