"""Training configuration: one dataclass, four presets, and ``key=value`` overrides.

The schedule follows docs/architecture.md, “Training” (the paper and the authors' code): stage 1 adds a mask loss,
stage 2 is colour only, stage 3 adds 32x32 patches with an L1 and a perceptual term (the stage
records are built in :mod:`nbskit.train.stages` from the fields below). Presets scale image
resolution, hash-table size, batch and stage lengths to the machine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nbskit.train.config_rules import ConfigError, check_fields
from nbskit.train.stages import STAGE_PLANS, Stage, stage_at


@dataclass
class TrainConfig:
    """Everything a run needs besides the subject. Stored in the run folder as JSON."""

    preset: str = "cpu"
    seed: int = 0
    model: str = "blend"  # a key of nbskit.model.MODEL_KINDS: 'blend' (NeRFBlendShape) or 'concatenate' (baseline)
    # data
    max_image_size: int = 128  # longest image side used for training/eval (0: native resolution)
    background: str = "subject"  # 'subject' (its background.png, white if none), 'white' or 'black'
    # field (the settings below log2_table_size: 0 keeps the model's own default)
    log2_table_size: int = 14
    hash_levels: int = 0
    hash_features: int = 0
    density_width: int = 0
    color_width: int = 0
    density_scale: float = 0.0
    # batch: B frames x R rays per frame (+ one patch per frame in stage 3)
    frames_per_batch: int = 2
    rays_per_frame: int = 1024
    patch_size: int = 32
    patches_per_batch: int = 2
    mouth_patch_probability: float = 0.5
    # schedule (steps are global; a stage ends where the next begins); the plan names the stages
    stage_plan: str = "paper"  # a key of nbskit.train.stages.STAGE_PLANS
    stage2_start: int = 4000
    stage3_start: int = 20000
    total_steps: int = 25000
    # losses
    colour_weight: float = 1.0
    mask_weight: float = 1.0
    patch_l1_weight: float = 0.1
    perceptual_weight: float = 0.1
    shrinkage_weight: float = 0.0  # mean |h_i| over the expression tables (authors: 1); 0 disables
    # optimiser
    learning_rate: float = 1e-3
    adam_betas: tuple[float, float] = (0.9, 0.99)
    adam_eps: float = 1e-15
    # "adam": fused torch Adam on every table entry; "sparse-adam": lazy Adam on the table rows
    # that received gradient (nbskit/train/table_optimizer.py). A cpu-preset step touches ~89% of
    # the rows at T = 2^14, so dense fused Adam is as fast and stays the default.
    table_optimizer: str = "adam"
    mlp_weight_decay: float = 1e-6
    # refinement of each training frame's camera and coefficients (nbskit/train/refinement.py)
    refine: str = "auto"  # 'auto': on for tracked subjects, off for synthetic ones (exact); 'on'; 'off'
    refine_start: int = -1  # first refining step (-1: stage2_start, once the density has settled)
    refine_warmup_steps: int = 100  # learning rates ramp up linearly over these steps
    refine_camera_lr: float = 1e-3  # radians and head-box lengths per step
    refine_expression_lr: float = 5e-3
    refine_gradient_resolution: int = 0  # finest hash level (grid resolution) that moves cameras; 0: image side
    refine_camera_prior: float = 1e-2  # weight of the mean squared camera correction (radians, box lengths)
    refine_expression_prior: float = 1e-3  # weight of the mean squared coefficient residual
    refine_keyframe_interval: int = 1  # >1: corrections on every k-th training frame, interpolated between
    # test-time refinement of a held-out frame (field frozen; fitted on the left half of the image)
    # (defaults tuned on validation frames with bench/test_time_fit.py: fitting coefficients on one half
    # overfitted it and lowered the other; the camera alone raised it, most at about 30 steps)
    test_time_steps: int = 30
    test_time_rays: int = 1024
    test_time_fit: str = "camera"  # what the fit moves: a key of nbskit.train.refinement.TEST_TIME_FITS
    test_time_lr_scale: float = 1.0  # times refine_camera_lr and refine_expression_lr
    # ray marching (steps relative to the aabb diagonal; coarser steps are much cheaper on a CPU)
    march_min_step: float = 1.0 / 1024
    march_cone_angle: float = 1.0 / 256
    march_max_steps: int = 1024
    # occupancy grid
    grid_policy: str = "expression"  # a key of nbskit.render.occupancy.POLICIES: 'expression' (Eq. 9), 'neutral', 'none'
    grid_resolution: int = 128
    grid_update_interval: int = 16
    grid_warmup_steps: int = 256  # before this step, updates evaluate every cell (instant-ngp)
    # bookkeeping
    eval_interval: int = 1000
    eval_frames: int = 2  # held-out frames rendered at each periodic evaluation
    checkpoint_interval: int = 500
    log_interval: int = 25

    def stages(self) -> list[Stage]:
        """The stage records of this run, in order (see :mod:`nbskit.train.stages`)."""
        return STAGE_PLANS[self.stage_plan](self)

    def stage(self, step: int) -> int:
        """Stage number (1-based, in the plan) of a 0-based step."""
        return stage_at(self.stages(), step)[0]

    def refine_start_step(self) -> int:
        """The first step that refines cameras and coefficients (when refinement is on)."""
        return self.stage2_start if self.refine_start < 0 else self.refine_start

    def validate(self) -> None:
        """Raise ConfigError naming the first field of the wrong type or out of range
        (nbskit.train.config_rules)."""
        check_fields(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training config keys {unknown}")
        config = cls(**data)
        if isinstance(config.adam_betas, list):
            config.adam_betas = tuple(config.adam_betas)
        return config


PRESETS: dict[str, dict] = {
    # seconds on two CPU cores on the 'tiny' subject: a pipeline check, not a good model
    "cpu-smoke": {"max_image_size": 64, "log2_table_size": 12, "frames_per_batch": 2, "rays_per_frame": 192,
                  "march_min_step": 1 / 64, "march_cone_angle": 0.0, "march_max_steps": 128,
                  "patch_size": 24, "patches_per_batch": 1, "stage2_start": 60, "stage3_start": 120, "total_steps": 150,
                  "grid_resolution": 32, "grid_update_interval": 8, "grid_warmup_steps": 32, "eval_interval": 150,
                  "eval_frames": 1, "checkpoint_interval": 75, "log_interval": 10},
    # minutes on two CPU cores (what `nbskit demo` uses without a GPU)
    "cpu": {"max_image_size": 128, "log2_table_size": 14, "frames_per_batch": 2, "rays_per_frame": 256,
            "march_min_step": 1 / 128, "march_cone_angle": 0.0, "march_max_steps": 256,
            "patch_size": 32, "patches_per_batch": 1, "stage2_start": 200, "stage3_start": 700, "total_steps": 800,
            "grid_resolution": 32, "grid_update_interval": 32, "grid_warmup_steps": 64, "eval_interval": 400,
            "eval_frames": 1, "checkpoint_interval": 200, "log_interval": 25},
    # a GPU in about two minutes
    "gpu": {"max_image_size": 512, "log2_table_size": 14, "frames_per_batch": 2, "rays_per_frame": 2048,
                "patch_size": 32, "patches_per_batch": 2, "stage2_start": 1000, "stage3_start": 5000, "total_steps": 6000,
                "grid_resolution": 128, "grid_update_interval": 16, "grid_warmup_steps": 256, "eval_interval": 2000,
                "eval_frames": 2, "checkpoint_interval": 1000, "log_interval": 50},
    # the paper / authors' schedule
    "paper": {"max_image_size": 0, "log2_table_size": 14, "frames_per_batch": 2, "rays_per_frame": 1024,
                  "patch_size": 32, "patches_per_batch": 2, "stage2_start": 4000, "stage3_start": 20000, "total_steps": 25000,
                  "grid_resolution": 128, "grid_update_interval": 16, "grid_warmup_steps": 256, "eval_interval": 5000,
                  "eval_frames": 4, "checkpoint_interval": 2000, "log_interval": 100, "shrinkage_weight": 1.0},
}


def parse_override(text: str) -> tuple[str, object]:
    """'key=value' -> (key, value) with the value converted to the field's type (ConfigError if it cannot be)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE")
    key, raw = text.split("=", 1)
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"preset"}
    if key not in fields:
        raise ConfigError(f"--set {key}: unknown training config key; known: {', '.join(sorted(fields))}")
    default = getattr(TrainConfig(), key)
    try:
        if isinstance(default, bool):
            return key, {"true": True, "false": False}[raw.lower()]
        if isinstance(default, tuple):
            return key, tuple(type(default[0])(part) for part in raw.split(","))
        return key, type(default)(raw)
    except (ValueError, KeyError):
        kind = {bool: "true or false", int: "a whole number", float: "a number",
                tuple: "numbers separated by commas"}.get(type(default), "text")
        raise ConfigError(f"--set {key}={raw}: expected {kind}") from None


def make_config(preset: str = "cpu", overrides: dict | list[str] | None = None) -> TrainConfig:
    """The preset's config with ``overrides`` (a dict or ``['key=value', ...]``) applied, validated."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    values = dict(PRESETS[preset])
    if isinstance(overrides, list):
        overrides = dict(parse_override(item) for item in overrides)
    values.update(overrides or {})
    config = TrainConfig(preset=preset, **values)
    config.validate()
    return config
