"""Build the pieces of a run from its config: the field, the occupancy grid and the optimiser."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from nbskit.train.presets import TrainConfig


def build_model(config: TrainConfig, aabb: np.ndarray, expression_min: np.ndarray, expression_max: np.ndarray):
    """NeRFBlendShape (``config.model == 'blend'``) or the concatenate baseline, with the preset's table size."""
    from nbskit.model import ConcatenateBaseline, ConcatenateConfig, NeRFBlendShape, NeRFBlendShapeConfig

    field_class, config_class = {
        "blend": (NeRFBlendShape, NeRFBlendShapeConfig),
        "concatenate": (ConcatenateBaseline, ConcatenateConfig),
    }[config.model]
    field_config = config_class()
    field_config = dataclasses.replace(
        field_config, hash_grid=dataclasses.replace(field_config.hash_grid, log2_table_size=config.log2_table_size)
    )
    return field_class(field_config, aabb, expression_min, expression_max)


def build_grid(config: TrainConfig, aabb: np.ndarray):
    from nbskit.render import OccupancyGrid

    return OccupancyGrid(aabb, resolution=config.grid_resolution, policy=config.grid_policy)


def is_table_parameter(module: torch.nn.Module) -> bool:
    """Hash tables live in ``nbskit.encoding`` modules; everything else is an MLP weight."""
    return type(module).__module__.startswith("nbskit.encoding")


TABLE_OPTIMIZERS = ("adam", "sparse-adam")


def build_optimizer(model: torch.nn.Module, config: TrainConfig):
    """Adam (docs/architecture.md, “Training”) with a small weight decay on the MLPs only (never on the hash tables).

    ``config.table_optimizer == "sparse-adam"`` updates the tables with :class:`RowSparseAdam`
    (only rows that received gradient) and the MLPs with torch Adam, stepped together as one
    :class:`CombinedOptimizer`; ``"adam"`` is one torch Adam over everything.
    """
    from nbskit.train.table_optimizer import CombinedOptimizer, RowSparseAdam

    if config.table_optimizer not in TABLE_OPTIMIZERS:
        raise ValueError(f"table_optimizer must be one of {TABLE_OPTIMIZERS}, got {config.table_optimizer!r}")
    table_ids = {id(p) for m in model.modules() if is_table_parameter(m) for p in m.parameters(recurse=False)}
    tables = [p for p in model.parameters() if id(p) in table_ids]
    mlps = [p for p in model.parameters() if id(p) not in table_ids]
    adam = {"lr": config.learning_rate, "betas": config.adam_betas, "eps": config.adam_eps}
    mlp_group = {"params": mlps, "weight_decay": config.mlp_weight_decay}
    # fused: one multi-threaded kernel per step instead of ~10 passes over the tables (CPU and CUDA;
    # 10x less CPU time for the paper-size tables); same update up to rounding.
    if config.table_optimizer == "adam":
        return torch.optim.Adam([{"params": tables, "weight_decay": 0.0}, mlp_group], **adam, fused=True)
    mlp_adam = torch.optim.Adam([mlp_group], **adam, fused=True)
    return CombinedOptimizer({"tables": RowSparseAdam(tables, **adam), "mlps": mlp_adam})


def build_render_config(config: TrainConfig):
    """The renderer settings of a run (marching step sizes from the preset)."""
    from nbskit.render import MarchConfig, RenderConfig

    return RenderConfig(march=MarchConfig(cone_angle=config.march_cone_angle, min_step=config.march_min_step,
                                          max_steps=config.march_max_steps))
