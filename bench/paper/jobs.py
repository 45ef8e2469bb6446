"""The training runs the paper claims need, as plain values that can be sent to another process.

Each claim lists its runs as :class:`RunSpec` values (subject, preset, config overrides, training
seed; a branch names its parent). ``bench.paper.executors`` trains a list of them, one run per
task, sequentially, in local worker processes or as Ray tasks; the claims then read the finished
runs from their folders. A run depends only on its spec and the code, never on which process or
in which order it was trained, so every way of executing gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunSpec:
    """One training run.

    Attributes:
        subject_dir: the subject folder (absolute path, as a string).
        preset: the training preset; ``overrides`` are applied on top, as sorted (key, value) pairs.
        parent: for a branch, the run whose stage-3 snapshot it continues from (same steps before it).
        code_version: the code version the run belongs to, fixed once by the process that plans
            the runs, so a source file edited while they train cannot send a task elsewhere.
    """

    subject_dir: str
    preset: str
    overrides: tuple[tuple[str, object], ...]
    parent: RunSpec | None
    code_version: str

    def config(self):
        from nbskit.train.presets import make_config

        return make_config(self.preset, dict(self.overrides))

    @property
    def seed(self) -> int:
        return int(dict(self.overrides)["seed"])


def run_spec(profile, subject_dir: Path, seed: int, trend: bool = False, parent: RunSpec | None = None,
             **overrides) -> RunSpec:
    """The spec of a run on ``subject_dir`` with the profile's main (or trend) preset and schedule,
    training seed ``seed`` and ``overrides`` (e.g. model='concatenate')."""
    from bench.provenance import code_version

    preset, schedule = (profile.trend_preset, profile.trend_schedule) if trend else (profile.preset, profile.schedule)
    merged = {**schedule, "seed": seed, **overrides}
    return RunSpec(str(Path(subject_dir).resolve()), preset, tuple(sorted(merged.items())), parent, code_version())


@dataclass(frozen=True)
class Need:
    """A run a claim needs, and whether it reads the run's test-split metrics (computed in the same task)."""

    spec: RunSpec
    evaluate: bool = False


@dataclass(frozen=True)
class Budget:
    """How each run is measured: curve evaluations, frames per evaluation, test frames, torch threads."""

    curve_points: int
    curve_frames: int
    eval_frames: int | None
    threads: int | None


def train_spec(spec: RunSpec, work: str, budget: Budget, evaluate: bool = False, progress: bool = False) -> str:
    """Train ``spec`` (or find it finished) and, if asked, evaluate its test frames; returns the run folder.

    Runs in whatever process executes the task: it sets that process's torch threads first.
    """
    import torch

    from bench.paper.training import branch_at_stage3, load_bench_run, runs_root, train_with_curve

    if budget.threads is not None:
        torch.set_num_threads(budget.threads)
    subject_dir, config, runs = Path(spec.subject_dir), spec.config(), runs_root(work, spec.code_version)
    if spec.parent is None:
        run = train_with_curve(subject_dir, config, runs, budget.curve_points, budget.curve_frames, progress=progress)
    else:
        parent = load_bench_run(Path(train_spec(spec.parent, work, budget, progress=progress)), spec.parent.config())
        run = branch_at_stage3(parent, config, subject_dir, runs, budget.curve_points, budget.curve_frames,
                               progress=progress)
    if evaluate:
        from bench.paper.evaluation import evaluate_test, load_perceptual_metric

        evaluate_test(run.run_dir, load_perceptual_metric(), budget.eval_frames, progress)
    return str(run.run_dir)


def in_waves(needs: list[Need]) -> list[list[Need]]:
    """One Need per distinct run (parents added; evaluated if any claim evaluates it), parents in
    an earlier wave than their branches, each wave in the order first needed."""
    evaluate: dict[RunSpec, bool] = {}
    waves: list[list[RunSpec]] = []

    def depth(spec: RunSpec) -> int:
        return 0 if spec.parent is None else 1 + depth(spec.parent)

    def add(spec: RunSpec, evaluated: bool) -> None:
        if spec.parent is not None:
            add(spec.parent, False)
        if spec not in evaluate:
            level = depth(spec)
            while len(waves) <= level:
                waves.append([])
            waves[level].append(spec)
        evaluate[spec] = evaluate.get(spec, False) or evaluated

    for need in needs:
        add(need.spec, need.evaluate)
    return [[Need(spec, evaluate[spec]) for spec in wave] for wave in waves]
