"""The course widgets: sliders drive the coefficients and the image, reset restores, gallery clicks render.

Training a run would take a minute, so the fixture builds an untrained NeRFBlendShape with large
random hash tables: its images already depend strongly on every coefficient, which is all the
widgets need to be tested.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

ipywidgets = pytest.importorskip("ipywidgets")

from nbskit.data import SubjectWriter
from nbskit.data.subject import Subject
from nbskit.geometry.camera import look_at
from nbskit.geometry.intrinsics import Intrinsics
from nbskit.viz.widgets import BasisGallery, ComparisonExplorer, ExpressionExplorer, group_expression_names

SIZE = 16
NAMES = ["browInnerUp", "eyeBlink_L", "jawOpen", "mouthSmile_L", "cheekPuff", "noseSneer_L"]
AABB = np.array([[-0.1, -0.1, -0.1], [0.1, 0.1, 0.1]])
TABLE_SCALE = 1.0  # random tables in U(-1, 1): far from the trained U(-1e-4, 1e-4), so w matters a lot
RAW_OUTPUT_STD = 3.0  # spread of the density MLP's outputs: a cloudy head with visible structure
MEDIAN_OPTICAL_DEPTH = 3.0  # density x box length at a typical point: light gets partly through
PROBE_POINTS = 4096
NUM_FRAMES = 4


def raw_density_for(model, optical_depth: float) -> float:
    """The raw density output at which the field's σ x box length equals ``optical_depth``.

    The field computes σ · box length = density_scale · softplus(raw); invert softplus.
    """
    return float(np.log(np.expm1(optical_depth / model.config.density_scale)))


@pytest.fixture(scope="module")
def random_run(tmp_path_factory):
    from nbskit.render import RenderConfig
    from nbskit.train.components import build_model, build_occupancy
    from nbskit.train.presets import make_config
    from nbskit.train.run import TrainedRun

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("subject")
    intrinsics = Intrinsics(
        width=SIZE, height=SIZE, fl_x=SIZE * 1.5, fl_y=SIZE * 1.5, cx=SIZE / 2, cy=SIZE / 2
    )
    with SubjectWriter(root, intrinsics, AABB, NAMES) as writer:
        for i in range(NUM_FRAMES):
            eye = np.array([0.1 * np.sin(i), 0.0, 0.35])
            writer.add_frame(
                np.zeros((SIZE, SIZE, 3)),
                np.ones((SIZE, SIZE)),
                look_at(eye, np.zeros(3)),
                rng.uniform(0, 1, len(NAMES)),
                "train" if i < NUM_FRAMES - 1 else "test",
            )
    subject = Subject.load(root)
    config = make_config("cpu-smoke", {"max_image_size": SIZE})
    low, high = subject.expression_range()
    model = build_model(config, subject.aabb, low, high).eval()
    with torch.no_grad():
        model.grid.mean_table.uniform_(-TABLE_SCALE, TABLE_SCALE)
        model.grid.basis_tables.uniform_(-TABLE_SCALE, TABLE_SCALE)
        # A fresh MLP's outputs barely vary; stretch its last layer so density and colour follow the tables.
        points = (
            torch.rand(PROBE_POINTS, 3) * torch.as_tensor(AABB[1] - AABB[0]).float()
            + torch.as_tensor(AABB[0]).float()
        )
        frame = torch.zeros(PROBE_POINTS, dtype=torch.int64)
        raw = model.density_mlp(
            model.encode(model.normalise(points), frame, model.coefficients(torch.as_tensor(high)))
        )
        output_layer = model.density_mlp[-1]
        output_layer.weight.mul_(RAW_OUTPUT_STD / raw.std(dim=0, keepdim=True).T)
        output_layer.bias.zero_()
        output_layer.bias[0] = raw_density_for(model, MEDIAN_OPTICAL_DEPTH)
    return TrainedRun(
        run_dir=root,
        subject=subject,
        config=config,
        model=model,
        occupancy=build_occupancy(config, subject.aabb),
        step=0,
        render_config=RenderConfig(),
    )


def test_names_are_grouped_by_face_region():
    groups = group_expression_names(NAMES + ["mouthFunnel", "fw_03"])
    assert groups == {"brows": [0], "eyes": [1], "mouth": [3, 6], "jaw": [2], "cheeks": [4], "other": [5, 7]}


def test_slider_changes_expression_and_image(random_run):
    explorer = ExpressionExplorer(random_run, size=SIZE)
    before_image, before_expression, before_png = (
        explorer.image_array.copy(),
        explorer.expression,
        explorer.image.value,
    )
    slider = explorer.sliders["jawOpen"]
    slider.value = slider.max
    index = NAMES.index("jawOpen")
    assert explorer.expression[index] == pytest.approx(slider.max)
    assert np.delete(explorer.expression, index) == pytest.approx(np.delete(before_expression, index))
    assert np.abs(explorer.image_array - before_image).max() > 0.01
    assert explorer.image.value != before_png


def test_camera_slider_changes_image(random_run):
    explorer = ExpressionExplorer(random_run, size=SIZE)
    before = explorer.image_array.copy()
    explorer.yaw.value = 20.0
    assert np.abs(explorer.image_array - before).max() > 0.01


def test_reset_restores_neutral_image_and_coefficients(random_run):
    explorer = ExpressionExplorer(random_run, size=SIZE)
    neutral_image, neutral_expression = explorer.image_array.copy(), explorer.expression
    explorer.randomise()
    explorer.pitch.value = 10.0
    assert np.abs(explorer.expression - neutral_expression).max() > 0
    explorer.reset()
    np.testing.assert_allclose(explorer.expression, neutral_expression, atol=1e-6)
    np.testing.assert_allclose(explorer.image_array, neutral_image, atol=1e-4)


def test_set_expression_renders_once_and_copy_frame(random_run):
    explorer = ExpressionExplorer(random_run, size=SIZE)
    count = explorer.render_count
    explorer.copy_frame(1)
    assert explorer.render_count == count + 1
    expected = np.clip(random_run.subject.expressions([1])[0], *random_run.expression_range)
    np.testing.assert_allclose(explorer.expression, expected, atol=1e-6)


def test_gallery_click_changes_shown_image(random_run):
    gallery = BasisGallery(random_run, size=SIZE)
    first = gallery.image_array.copy()
    gallery.buttons["jawOpen"].click()
    assert gallery.selected == "jawOpen"
    assert gallery.image_array.shape == first.shape
    assert np.abs(gallery.image_array - first).max() > 0.01
    expression = gallery.basis_expression("jawOpen")
    assert expression[NAMES.index("jawOpen")] == pytest.approx(
        random_run.expression_range[1][NAMES.index("jawOpen")]
    )


@pytest.fixture(scope="module")
def other_run(random_run):
    """The random run with other random hash tables: the same subject, a different field."""
    import copy

    run = copy.deepcopy(random_run)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for table in (run.model.grid.mean_table, run.model.grid.basis_tables):
            table.copy_(torch.rand(table.shape, generator=generator) * 2 * TABLE_SCALE - TABLE_SCALE)
    return run


def test_comparison_slider_renders_every_run_side_by_side(random_run, other_run):
    from nbskit.viz.render_view import RunView

    explorer = ComparisonExplorer({"first": random_run, "second": other_run}, size=SIZE)
    assert list(explorer.images) == ["first", "second"]
    before = {label: image.copy() for label, image in explorer.image_arrays.items()}
    assert np.abs(before["first"] - before["second"]).max() > 0.01, "two fields must not look the same"
    count = explorer.render_count
    slider = explorer.sliders["jawOpen"]
    slider.value = slider.max
    assert explorer.render_count == count + 1, "one slider move renders once, every run in it"
    for label, run in (("first", random_run), ("second", other_run)):
        assert np.abs(explorer.image_arrays[label] - before[label]).max() > 0.01, label
        alone = RunView(run, SIZE).render(explorer.expression)
        np.testing.assert_allclose(explorer.image_arrays[label], alone, atol=1e-6, err_msg=label)
    height, width, _ = before["first"].shape
    assert explorer.image_array.shape == (height, 2 * width, 3)
    np.testing.assert_array_equal(explorer.image_array[:, width:], explorer.image_arrays["second"])


def test_comparison_needs_two_runs_with_the_same_expressions_and_size(random_run, other_run):
    import copy
    import dataclasses

    with pytest.raises(ValueError, match="at least two runs"):
        ComparisonExplorer({"only": random_run}, size=SIZE)
    renamed = copy.copy(other_run)
    renamed.subject = dataclasses.replace(other_run.subject, expression_names=[*NAMES[:-1], "tongueOut"])
    with pytest.raises(ValueError, match="'renamed' has expressions"):
        ComparisonExplorer({"random": random_run, "renamed": renamed}, size=SIZE)
    wide = copy.copy(other_run)
    wide.subject = dataclasses.replace(
        other_run.subject, intrinsics=dataclasses.replace(other_run.subject.intrinsics, width=2 * SIZE)
    )
    with pytest.raises(ValueError, match="'wide' renders"):
        ComparisonExplorer({"random": random_run, "wide": wide}, size=SIZE)


@pytest.fixture(scope="module")
def surfaced_run(random_run):
    """The random run with its density raised so that it crosses the mesh iso-level in places."""
    import copy

    from nbskit.geometry.mesh import DEFAULT_OPTICAL_DEPTH_PER_BOX

    run = copy.deepcopy(random_run)
    with torch.no_grad():
        run.model.density_mlp[-1].bias[0] = raw_density_for(run.model, DEFAULT_OPTICAL_DEPTH_PER_BOX)
    return run


def test_mesh_view_follows_explorer(surfaced_run, monkeypatch):
    from nbskit.viz import widgets as viz_widgets

    monkeypatch.setattr(viz_widgets, "MESH_MIN_INTERVAL_S", 0.0)
    explorer = ExpressionExplorer(surfaced_run, size=SIZE)
    view = viz_widgets.MeshView(surfaced_run, resolution=16, explorer=explorer)
    assert view.mesh is not None and len(view.mesh.faces) > 0, view.status.value
    assert len(view.figure.data[0].x) == len(view.mesh.vertices)
    before = np.asarray(view.mesh.vertices).copy()
    explorer.sliders["jawOpen"].value = explorer.sliders["jawOpen"].max
    np.testing.assert_allclose(view.expression, explorer.expression)
    after = np.asarray(view.mesh.vertices)
    assert after.shape != before.shape or np.abs(after - before).max() > 0


def _with_grid(run, resolution: int, keep_half_x: bool):
    """A copy of ``run`` whose grid has ``resolution`` cells per side, only the lower-x half occupied if asked."""
    import copy

    from nbskit.render import OccupancyGrid
    from nbskit.render.occupancy import pack_bits

    run = copy.copy(run)
    run.occupancy = OccupancyGrid(run.subject.aabb, resolution)
    if keep_half_x:
        occupied = torch.zeros(resolution, resolution, resolution, dtype=torch.bool)
        occupied[: resolution // 2] = True
        run.occupancy.bitfield.copy_(pack_bits(occupied))
    return run


def test_display_grid_never_samples_where_the_run_grid_does_not(random_run):
    from nbskit.viz.render_view import display_grid

    run = _with_grid(random_run, 32, keep_half_x=True)
    grid = display_grid(run)
    assert grid.resolution == 32
    assert not (grid.occupied() & ~run.occupancy.occupied()).any()
    assert grid.occupied()[:16].any(), "the random field is dense enough to occupy cells"
    again = display_grid(run)
    assert torch.equal(grid.bitfield, again.bitfield), "the display grid must not change between calls"


def test_display_grid_is_coarsened_on_a_cpu(random_run):
    from nbskit.viz.render_view import CPU_DISPLAY_GRID_RESOLUTION, display_grid

    fine = 2 * CPU_DISPLAY_GRID_RESOLUTION
    run = _with_grid(random_run, fine, keep_half_x=True)
    grid = display_grid(run)
    assert grid.resolution == CPU_DISPLAY_GRID_RESOLUTION
    half = CPU_DISPLAY_GRID_RESOLUTION // 2
    assert not grid.occupied()[half:].any(), "coarse cells whose fine cells are all empty must stay empty"


def test_display_march_step_is_never_finer_than_the_run():
    from nbskit.render import MarchConfig, RenderConfig
    from nbskit.viz.render_view import display_render_config

    config = RenderConfig(march=MarchConfig(min_step=1 / 1024))
    assert display_render_config(config, 64).march.min_step == pytest.approx(1 / 64)
    coarse = RenderConfig(march=MarchConfig(min_step=1 / 16))
    assert display_render_config(coarse, 64).march.min_step == pytest.approx(1 / 16)


def test_view_serves_a_repeated_state_from_its_cache(random_run):
    from nbskit.viz.render_view import RunView

    view = RunView(random_run, SIZE)
    low, high = view.expression_min, view.expression_max
    first = view.render(high, 10.0)
    first[:] = 0  # the caller's copy: must not reach the cache
    view.render(low)
    again = view.render(high, 10.0)
    assert (view.renders, view.cached) == (2, 1)
    assert again.max() > 0
    np.testing.assert_array_equal(again, view.render(high, 10.0))
