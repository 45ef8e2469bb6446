"""Pieces of the trainer that need no subject: presets, samplers, losses, checkpoint files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbskit.train import checkpoint, losses, presets, samplers
from nbskit.train.trainer import step_generator


def test_every_preset_is_valid_and_ordered():
    for name in presets.PRESETS:
        config = presets.make_config(name)
        assert config.stage(0) == 1
        assert config.stage(config.total_steps - 1) == 3
        assert config.patch_size <= config.max_image_size or config.max_image_size == 0


def test_overrides_are_typed_and_checked():
    config = presets.make_config("cpu", ["total_steps=50", "stage2_start=10", "stage3_start=20",
                                         "learning_rate=0.01", "grid_policy=neutral", "adam_betas=0.8,0.9"])
    assert (config.total_steps, config.learning_rate, config.grid_policy) == (50, 0.01, "neutral")
    assert config.adam_betas == (0.8, 0.9)
    with pytest.raises(ValueError, match="unknown training config key"):
        presets.make_config("cpu", ["no_such_key=1"])
    with pytest.raises(ValueError, match="grid_policy"):
        presets.make_config("cpu", ["grid_policy=sometimes"])
    with pytest.raises(ValueError, match="stage2_start"):
        presets.make_config("cpu", ["stage2_start=99999"])


def test_stage_plans_are_lists_of_stage_records():
    paper = presets.make_config("cpu", ["total_steps=50", "stage2_start=10", "stage3_start=20"])
    assert [stage.start for stage in paper.stages()] == [0, 10, 20]
    assert [paper.stage(step) for step in (0, 9, 10, 19, 20, 49)] == [1, 1, 2, 2, 3, 3]
    assert [name for name, _ in paper.stages()[0].losses] == ["colour", "mask"]
    assert paper.stages()[2].samplers == ("rays", "patches")
    ablation = presets.make_config("cpu", ["total_steps=50", "stage2_start=10", "stage3_start=20",
                                           "stage_plan=no-patches"])
    assert ablation.stage(49) == 2
    assert all("patches" not in stage.samplers for stage in ablation.stages())
    with pytest.raises(ValueError, match="stage_plan"):
        presets.make_config("cpu", ["stage_plan=no-such-plan"])


def test_a_stage_naming_an_unknown_loss_term_is_refused():
    from nbskit.train.stages import Stage
    from nbskit.train.trainer import checked_plan

    with pytest.raises(ValueError, match="unknown loss terms or samplers.*'colour_l2'"):
        checked_plan([Stage("colour", 0, (("colour_l2", 1.0),))])


def test_model_settings_are_reachable_through_the_config():
    from nbskit.model import NeRFBlendShapeConfig
    from nbskit.train.components import build_model

    aabb, low, high = np.array([[-1.0] * 3, [1.0] * 3]), np.zeros(2), np.ones(2)
    default = build_model(presets.make_config("cpu-smoke"), aabb, low, high).config
    paper = NeRFBlendShapeConfig()
    assert (default.hash_grid.levels, default.density_width, default.density_scale) == (
        paper.hash_grid.levels, paper.density_width, paper.density_scale)
    settings = ["hash_levels=4", "hash_features=2", "density_width=16", "color_width=8", "density_scale=64"]
    config = build_model(presets.make_config("cpu-smoke", settings), aabb, low, high).config
    assert (config.hash_grid.levels, config.hash_grid.features) == (4, 2)
    assert (config.density_width, config.color_width, config.density_scale) == (16, 8, 64.0)
    with pytest.raises(ValueError, match=r"density_width: expected a whole number in \[0, "):
        presets.make_config("cpu", ["density_width=-1"])


def test_config_round_trips_through_json(tmp_path):
    config = presets.make_config("cpu-smoke", ["seed=7"])
    checkpoint.write_json(tmp_path / "c.json", config.to_dict())
    assert presets.TrainConfig.from_dict(checkpoint.read_json(tmp_path / "c.json")) == config


def test_step_generator_depends_only_on_seed_step_stream():
    draw = lambda *key: torch.rand(4, generator=step_generator(*key))
    assert torch.equal(draw(0, 5, 0), draw(0, 5, 0))
    assert not torch.equal(draw(0, 5, 0), draw(0, 6, 0))
    assert not torch.equal(draw(0, 5, 0), draw(0, 5, 1))
    assert not torch.equal(draw(0, 5, 0), draw(1, 5, 0))


def test_random_rays_have_an_explicit_frame_slot_per_ray():
    generator = torch.Generator().manual_seed(0)
    frames = samplers.sample_frames(10, 3, generator)
    batch = samplers.sample_random_rays(frames, width=20, height=10, rays_per_frame=7, generator=generator)
    assert batch.pixels.shape == (3, 7, 2)
    assert batch.pixels[..., 0].max() < 20 and batch.pixels[..., 1].max() < 10 and batch.pixels.min() >= 0
    assert torch.equal(batch.ray_slots, torch.tensor([0] * 7 + [1] * 7 + [2] * 7))


def test_patches_are_square_inside_the_image_and_centred_in_their_box():
    generator = torch.Generator().manual_seed(1)
    width, height, size, count = 64, 48, 8, 400
    face = torch.tensor([[10.0, 5.0, 50.0, 40.0]]).expand(count, 4)
    mouth = torch.tensor([[30.0, 30.0, 40.0, 36.0]]).expand(count, 4)
    batch = samplers.sample_patches(torch.arange(count), face, mouth, size, width, height, 0.5, generator)
    pixels = batch.pixels.reshape(count, size, size, 2)
    assert torch.equal(pixels[:, :, 1:, 0] - pixels[:, :, :-1, 0], torch.ones(count, size, size - 1, dtype=torch.long))
    assert pixels[..., 0].min() >= 0 and pixels[..., 0].max() < width
    assert pixels[..., 1].min() >= 0 and pixels[..., 1].max() < height
    centres = pixels[:, 0, 0].float() + size / 2
    in_mouth = ((centres >= mouth[:, :2] - 1) & (centres <= mouth[:, 2:] + 1)).all(dim=1)
    # About half the patches come from the small mouth box (which a face-box draw rarely hits).
    assert 0.4 < in_mouth.float().mean() < 0.65


def test_patch_that_cannot_fit_is_an_error():
    with pytest.raises(ValueError, match="does not fit"):
        samplers.sample_patches(torch.zeros(1, dtype=torch.long), torch.zeros(1, 4), torch.zeros(1, 4), 32, 16, 16,
                                0.5, torch.Generator())


def test_shrinkage_uses_only_the_expression_bases():
    from nbskit.encoding import BlendedHashGrid, HashGridConfig

    grid = BlendedHashGrid(HashGridConfig(levels=2, log2_table_size=4, finest_resolution=32), 3,
                           np.zeros(3, np.float32), np.ones(3, np.float32))
    with torch.no_grad():
        grid.mean_table.fill_(5.0)
        grid.basis_tables.fill_(-0.25)
    model = torch.nn.Sequential(grid)
    assert float(losses.shrinkage_loss(model).detach()) == pytest.approx(0.25)


def test_json_writes_are_atomic_replacements(tmp_path):
    target = tmp_path / "log.json"
    checkpoint.write_json(target, {"a": 1})
    checkpoint.write_json(target, {"a": 2})
    assert checkpoint.read_json(target) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["log.json"]  # no temporary left behind


def test_ignored_pixels_get_no_error_and_no_gradient():
    import torch

    from nbskit.train import losses

    prediction = torch.rand(4, 3, requires_grad=True)
    target = torch.rand(4, 3)
    visible = torch.tensor([1.0, 0.0, 1.0, 0.5])
    seen = losses.visible_target(prediction, target, visible)
    assert torch.equal(seen[[0, 2]], target[[0, 2]])  # untouched where visible, bit for bit
    losses.l1_loss(prediction, seen).backward()
    assert torch.all(prediction.grad[1] == 0) and torch.all(prediction.grad[0] != 0)
    expected = (visible[:, None] * (prediction - target).abs()).mean()
    assert torch.allclose(losses.l1_loss(prediction, seen), expected)  # the visibility-weighted L1
    patches = torch.rand(2, 5, 5, 3)
    assert losses.visible_target(patches, patches + 1, torch.zeros(2, 5, 5)).equal(patches)
