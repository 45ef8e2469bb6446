"""nbskit.train: staged training, checkpoints, evaluation and metrics (docs/architecture.md, “Training”).

- :func:`make_config` / :data:`PRESETS` — one :class:`TrainConfig` per run (`cpu-smoke`, `cpu`, `gpu`, `paper`).
- :class:`Trainer` — B frames x R rays per step, three stages, occupancy updates, atomic checkpoints,
  bit-exact resume.
- :func:`load_run` / :class:`TrainedRun` — a run folder back as a renderable model.
- :func:`evaluate_run` — MSE, L1, PSNR, SSIM and ST-LPIPS (or LPIPS) on held-out frames.
"""

from .evaluate import evaluate_run, format_table
from .presets import PRESETS, TrainConfig, make_config
from .run import TrainedRun, load_run
from .trainer import Trainer

__all__ = ["PRESETS", "TrainConfig", "TrainedRun", "Trainer", "evaluate_run", "format_table", "load_run",
           "make_config"]
