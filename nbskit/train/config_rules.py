"""The type and range of every training config field, checked before any work starts.

A bad value raises :class:`ConfigError` naming the field, e.g.
``rays_per_frame: expected a whole number in [1, 1048576], got 0``; the command line adds which
option it came from.
"""

from __future__ import annotations

import math

from nbskit.errors import UserError
from nbskit.model import MODEL_KINDS
from nbskit.render.occupancy import POLICIES
from nbskit.train.dataset import BACKGROUND_COLOURS
from nbskit.train.refinement import REFINE_MODES, TEST_TIME_FITS
from nbskit.train.stages import STAGE_PLANS
from nbskit.train.table_optimizer import TABLE_OPTIMIZERS


class ConfigError(UserError, ValueError):
    """A training config value of the wrong type or out of range (the message names the field)."""


def whole(low: int, high: int):
    return ("int", low, high)


def real(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False):
    return ("float", low, high, low_open, high_open)


def choice(*options: str):
    return ("choice", options)


# field -> rule. Limits are what the code can run at all, not what is sensible (the presets are).
FIELD_RULES: dict[str, tuple] = {
    "preset": ("str",),
    "seed": whole(0, 2**32 - 1),  # numpy's global seed range
    "model": choice(*MODEL_KINDS),
    "max_image_size": whole(0, 16384),
    "background": choice("subject", *BACKGROUND_COLOURS),
    "log2_table_size": whole(1, 24),
    # model settings: 0 keeps the model's own default (nbskit.model.config)
    "hash_levels": whole(0, 64),
    "hash_features": whole(0, 64),
    "density_width": whole(0, 4096),
    "color_width": whole(0, 4096),
    "density_scale": real(0.0),
    "frames_per_batch": whole(1, 4096),
    "rays_per_frame": whole(1, 2**20),
    "patch_size": whole(1, 1024),
    "patches_per_batch": whole(0, 4096),
    "mouth_patch_probability": real(0.0, 1.0),
    "stage_plan": choice(*STAGE_PLANS),
    "stage2_start": whole(0, 2**40),
    "stage3_start": whole(0, 2**40),
    "total_steps": whole(1, 2**40),
    "colour_weight": real(0.0),
    "mask_weight": real(0.0),
    "patch_l1_weight": real(0.0),
    "perceptual_weight": real(0.0),
    "shrinkage_weight": real(0.0),
    "learning_rate": real(0.0, low_open=True),
    "adam_betas": ("pair", real(0.0, 1.0, high_open=True)),
    "adam_eps": real(0.0),
    "table_optimizer": choice(*TABLE_OPTIMIZERS),
    "mlp_weight_decay": real(0.0),
    "refine": choice(*REFINE_MODES),
    "refine_start": whole(-1, 2**40),  # -1: stage2_start
    "refine_warmup_steps": whole(0, 2**40),
    "refine_camera_lr": real(0.0),
    "refine_expression_lr": real(0.0),
    "refine_gradient_resolution": whole(0, 2**20),  # 0: the image side
    "refine_camera_prior": real(0.0),
    "refine_expression_prior": real(0.0),
    "refine_keyframe_interval": whole(1, 2**20),
    "test_time_steps": whole(0, 2**20),
    "test_time_rays": whole(1, 2**20),
    "test_time_fit": choice(*TEST_TIME_FITS),
    "test_time_lr_scale": real(0.0),
    "march_min_step": real(0.0, 1.0, low_open=True),
    "march_cone_angle": real(0.0),
    "march_max_steps": whole(1, 65536),
    "grid_policy": choice(*POLICIES),
    "grid_resolution": whole(2, 1024),
    "grid_update_interval": whole(1, 2**40),
    "grid_warmup_steps": whole(0, 2**40),
    "eval_interval": whole(1, 2**40),
    "eval_frames": whole(1, 4096),
    "checkpoint_interval": whole(1, 2**40),
    "log_interval": whole(1, 2**40),
}


def rule_problem(value, rule: tuple) -> str | None:
    """What is wrong with ``value`` under ``rule`` ('expected ..., got ...'), or None."""
    kind = rule[0]
    if kind == "str":
        return None if isinstance(value, str) and value else f"expected a non-empty string, got {value!r}"
    if kind == "choice":
        return None if value in rule[1] else f"expected one of {', '.join(rule[1])}, got {value!r}"
    if kind == "int":
        low, high = rule[1:]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"expected a whole number in [{low}, {high}], got {value!r}"
        return None
    if kind == "float":
        return _real_problem(value, *rule[1:])
    if kind == "pair":
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            return f"expected two numbers (a,b), got {value!r}"
        problems = [_real_problem(item, *rule[1][1:]) for item in value]
        return next((problem for problem in problems if problem), None)
    raise AssertionError(f"unknown rule {rule!r}")


def _real_problem(value, low: float, high: float, low_open: bool, high_open: bool) -> str | None:
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"expected a finite number in {interval}, got {value!r}"
    if value < low or value > high or (low_open and value == low) or (high_open and value == high):
        return f"expected a number in {interval}, got {value!r}"
    return None


def check_value(name: str, value) -> None:
    """One field's value against its rule (ConfigError naming it); the rules between fields are not checked."""
    problem = rule_problem(value, FIELD_RULES[name])
    if problem:
        raise ConfigError(f"{name}: {problem}")


def check_fields(config) -> None:
    """Every field of a TrainConfig against FIELD_RULES, then the rules between fields."""
    for name in FIELD_RULES:
        check_value(name, getattr(config, name))
    if not config.stage2_start <= config.stage3_start <= config.total_steps:
        raise ConfigError("stage2_start, stage3_start, total_steps: expected stage2_start <= stage3_start <= "
                          f"total_steps, got {config.stage2_start}, {config.stage3_start}, {config.total_steps}")
    if config.patches_per_batch > config.frames_per_batch:
        raise ConfigError(f"patches_per_batch: expected at most frames_per_batch ({config.frames_per_batch}), "
                          f"got {config.patches_per_batch}")
    if config.grid_resolution % 2:
        raise ConfigError(f"grid_resolution: expected an even number (so R^3 cells fill whole bytes of the "
                          "occupancy bitfield), "
                          f"got {config.grid_resolution}")
