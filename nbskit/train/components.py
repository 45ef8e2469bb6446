"""Build the pieces of a run from its config: the field, the occupancy grid and the optimiser."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from nbskit.model import MODEL_KINDS
from nbskit.render import MarchConfig, OccupancyGrid, RenderConfig
from nbskit.train.presets import TrainConfig
from nbskit.train.table_optimizer import TABLE_OPTIMIZERS

# A TrainConfig field ``hash_<name>`` sets HashGridConfig.<name>; one named like a field-config field
# sets that field. 0 (the TrainConfig default) keeps the model's own value.
HASH_GRID_PREFIX = "hash_"


def build_model(config: TrainConfig, aabb: np.ndarray, expression_min: np.ndarray, expression_max: np.ndarray):
    """The field named by ``config.model`` (:data:`nbskit.model.MODEL_KINDS`) with the config's table
    size and any field settings it sets (levels, features, MLP widths, density scale)."""
    field_class, config_class = MODEL_KINDS[config.model]
    field_config = config_class()
    grid = {"log2_table_size": config.log2_table_size, **_settings(config, field_config.hash_grid, HASH_GRID_PREFIX)}
    field_config = dataclasses.replace(
        field_config, hash_grid=dataclasses.replace(field_config.hash_grid, **grid), **_settings(config, field_config)
    )
    return field_class(field_config, aabb, expression_min, expression_max)


def _settings(config: TrainConfig, target, prefix: str = "") -> dict:
    """{field of the dataclass ``target``: value} for each TrainConfig field ``prefix + name`` that is set (non-zero)."""
    values = {field.name: getattr(config, prefix + field.name, 0) for field in dataclasses.fields(target)}
    return {name: value for name, value in values.items() if value}


def build_occupancy(config: TrainConfig, aabb: np.ndarray) -> OccupancyGrid:
    """The run's occupancy grid (policy, resolution from the config) over ``aabb``."""
    return OccupancyGrid(aabb, resolution=config.grid_resolution, policy=config.grid_policy)


def is_table_parameter(module: torch.nn.Module) -> bool:
    """Hash tables live in ``nbskit.encoding`` modules; everything else is an MLP weight."""
    return type(module).__module__.startswith("nbskit.encoding")


def build_optimizer(model: torch.nn.Module, config: TrainConfig):
    """Adam (docs/architecture.md, “Training”) with a small weight decay on the MLPs only (never on the hash tables).

    ``config.table_optimizer`` names the builder in
    :data:`nbskit.train.table_optimizer.TABLE_OPTIMIZERS`: ``"adam"`` is one torch Adam over
    everything; ``"sparse-adam"`` updates the tables with RowSparseAdam (only rows that received
    gradient) and the MLPs with torch Adam, stepped together as one CombinedOptimizer.
    """
    if config.table_optimizer not in TABLE_OPTIMIZERS:
        raise ValueError(
            f"table_optimizer must be one of {tuple(TABLE_OPTIMIZERS)}, got {config.table_optimizer!r}"
        )
    table_ids = {id(p) for m in model.modules() if is_table_parameter(m) for p in m.parameters(recurse=False)}
    tables = [p for p in model.parameters() if id(p) in table_ids]
    mlps = [p for p in model.parameters() if id(p) not in table_ids]
    adam = {"lr": config.learning_rate, "betas": config.adam_betas, "eps": config.adam_eps}
    mlp_group = {"params": mlps, "weight_decay": config.mlp_weight_decay}
    return TABLE_OPTIMIZERS[config.table_optimizer](tables, mlp_group, adam)


def build_render_config(config: TrainConfig):
    """The renderer settings of a run (marching step sizes from the preset)."""
    return RenderConfig(march=MarchConfig(cone_angle=config.march_cone_angle, min_step=config.march_min_step,
                                          max_steps=config.march_max_steps))
