"""Training stages as data: when each stage starts, which loss terms it sums with which weights, and
which pixel samplers feed it.

A *plan* is a list of :class:`Stage` records ordered by ``start``; the trainer runs, at each step,
the last stage that has started. Plans are built from a config (their boundaries and weights are
config fields, so presets and ``--set`` reach them) and named in :data:`STAGE_PLANS`: the paper's
three stages, and ablations of them. Loss-term names are keys of
:data:`nbskit.train.losses.LOSS_TERMS`, sampler names keys of :data:`nbskit.train.samplers.SAMPLERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Names of the paper's stages; they also key the per-stage timings in a run's history.
STAGE_NAMES = ("stage1: colour + mask", "stage2: colour", "stage3: colour + patches")


@dataclass(frozen=True)
class Stage:
    """One stage of a plan.

    Attributes:
        name: label in logs and in the history's per-stage timings.
        start: first (0-based) step of the stage; it runs until the next stage starts.
        losses: (term, weight) pairs, summed in this order.
        samplers: pixel samplers whose batches one step renders together; ``"rays"`` comes first.
    """

    name: str
    start: int
    losses: tuple[tuple[str, float], ...]
    samplers: tuple[str, ...] = ("rays",)

    def __post_init__(self):
        if not self.samplers or self.samplers[0] != "rays":
            raise ValueError(f"stage {self.name!r}: samplers must start with 'rays', got {self.samplers}")


def _regularisers(config) -> tuple[tuple[str, float], ...]:
    """Terms every stage adds after its own: the shrinkage of the bases, when it has a weight."""
    return (("shrinkage", config.shrinkage_weight),) if config.shrinkage_weight > 0 else ()


def paper_plan(config) -> list[Stage]:
    """The paper's schedule: colour + mask, then colour alone, then colour + patch L1 + perceptual."""
    colour = ("colour", config.colour_weight)
    extra = _regularisers(config)
    return [
        Stage(STAGE_NAMES[0], 0, (colour, ("mask", config.mask_weight), *extra)),
        Stage(STAGE_NAMES[1], config.stage2_start, (colour, *extra)),
        Stage(STAGE_NAMES[2], config.stage3_start,
              (colour, ("patch_l1", config.patch_l1_weight), ("perceptual", config.perceptual_weight), *extra),
              ("rays", "patches")),
    ]


def no_patches_plan(config) -> list[Stage]:
    """Ablation: the paper's first two stages, the second running to the end (no patch stage)."""
    return paper_plan(config)[:2]


# name -> plan builder (config -> [Stage]); ``TrainConfig.stage_plan`` picks one.
STAGE_PLANS: dict[str, Callable[..., list[Stage]]] = {
    "paper": paper_plan,
    "no-patches": no_patches_plan,
}


def stage_at(plan: list[Stage], step: int) -> tuple[int, Stage]:
    """(1-based number, record) of the stage that runs at 0-based ``step``: the last one started."""
    number = max(index for index, stage in enumerate(plan) if stage.start <= step or index == 0)
    return number + 1, plan[number]
