"""What the course notebooks share: which subject, which training config, and a reusable trained run.

Notebooks 06–09 all need a trained head. Runs are kept in folders named after their subject and
config, so a notebook run a second time (or another notebook with the same settings) resumes or
reuses the finished run instead of training again.

Smoke mode (CI: two CPU cores, two minutes per notebook) uses the ``tiny`` synthetic subject and a
shortened ``cpu-smoke`` run without stage 3; full mode uses the ``small`` subject and the ``gpu``
preset on a GPU, ``cpu`` otherwise.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nbskit.data.synthetic import SUBJECT_CACHE
from nbskit.train.presets import TrainConfig, make_config
from nbskit.train.run import RUNS_FOLDER, run_folder

SMOKE_SUBJECT = "tiny"
# Stage boundaries and length of the smoke run: stage 3 (patches + perceptual loss) is left out,
# it needs the 60 MB ST-LPIPS weights and adds nothing a two-minute check could see.
SMOKE_OVERRIDES = {
    "total_steps": 100,
    "stage2_start": 50,
    "stage3_start": 100,
    "eval_interval": 100,
    "checkpoint_interval": 100,
}
# Notebooks 06 and 09 time runs of one schedule, evaluated the same way: the run they have in
# common (blend model, expression-aware grid, seeds 0-2) is trained once, by whichever runs first.
TIMED_SCHEDULE = {"total_steps": 300, "stage2_start": 75, "stage3_start": 240}
TIMED_EVALUATIONS = 4  # points on each PSNR-over-time curve after step 0
TIMED_EVAL_FRAMES = 2  # validation frames behind each point (rendering them is most of a run's non-training time)
# A 100-step run is still a faint fog (its peak density x box length is a few units, not hundreds),
# so smoke-mode meshes are cut at a much lower iso-level than a trained head's.
SMOKE_MESH_OPTICAL_DEPTH = 1.0


def course_subject(smoke: bool, cache: Path = SUBJECT_CACHE) -> Path:
    """The synthetic subject of the course (made once and cached): ``tiny`` in smoke mode, else ``small``."""
    from nbskit.data.synthetic import default_subject

    if not smoke:
        return default_subject(cache)
    return default_subject(cache, preset=SMOKE_SUBJECT, model="procedural")


def course_config(smoke: bool, **overrides) -> TrainConfig:
    """The course's training config (see module doc) with ``overrides`` applied on top."""
    if smoke:
        return make_config("cpu-smoke", {**SMOKE_OVERRIDES, **overrides})
    return make_config("gpu" if torch.cuda.is_available() else "cpu", overrides)


def mesh_optical_depth(smoke: bool) -> float:
    """Iso-level (density x box length) for the course's meshes: the library default unless smoke."""
    from nbskit.geometry.mesh import DEFAULT_OPTICAL_DEPTH_PER_BOX

    return SMOKE_MESH_OPTICAL_DEPTH if smoke else DEFAULT_OPTICAL_DEPTH_PER_BOX


@dataclass
class CourseRun:
    """A trained run and how it got there.

    Attributes:
        run: the loaded :class:`~nbskit.train.run.TrainedRun`.
        history: the trainer's history (train records, eval records, seconds per stage).
        trained_now: False when a finished run was found and reused.
    """

    run: object
    history: dict
    trained_now: bool


def train_or_load(
    subject_dir: Path, config: TrainConfig, runs: Path = RUNS_FOLDER, progress: bool = True
) -> CourseRun:
    """Train ``config`` on the subject (resuming what its folder already holds), then load the run."""
    from nbskit.data.subject import Subject
    from nbskit.train.run import load_run
    from nbskit.train.trainer import Trainer

    run_dir = run_folder(subject_dir, config, runs)
    trainer = Trainer(Subject.load(subject_dir), config, run_dir, progress=progress)
    trainer.resume()
    trained_now = trainer.step < config.total_steps
    history = trainer.fit()
    return CourseRun(run=load_run(run_dir), history=history, trained_now=trained_now)


def mouth_open_frames(
    subject, split: str = "test", name: str = "jawOpen", fraction: float = 0.5
) -> np.ndarray:
    """int64 indices of the ``fraction`` of ``split``'s frames with the largest coefficient ``name``.

    The paper's density-grid ablation (Fig. 13–14) looks at open mouths: the expression the
    neutral-only grid gets wrong, since an open jaw puts matter where the neutral face has none.
    """
    if name not in subject.expression_names:
        raise KeyError(f"{subject.root}: no coefficient named {name!r}")
    indices = subject.indices(split)
    values = subject.expressions(indices)[:, subject.expression_names.index(name)]
    keep = max(1, round(fraction * len(indices)))
    return np.sort(indices[np.argsort(-values, kind="stable")[:keep]])


@torch.no_grad()
def frame_statistics(run, indices, grid=None, split: str = "test") -> dict[str, np.ndarray]:
    """Render frames ``indices`` of ``split`` and measure them: PSNR, samples per ray, seconds per image.

    Args:
        run: a TrainedRun.
        indices: subject frame indices (all in ``split``).
        grid: occupancy grid to march with (default: the run's own); lets one model be rendered
            with another grid policy.

    Returns:
        {'psnr', 'samples_per_ray', 'seconds'}: float arrays [N] (render and ground truth composited
        over the run's background, as in evaluation).
    """
    from nbskit.render import render_image
    from nbskit.train import metrics
    from nbskit.train.dataset import load_frames

    frames = load_frames(run.subject, split, run.config.max_image_size, run.config.background, progress=False)
    rows = {int(index): row for row, index in enumerate(frames.indices)}
    missing = [int(i) for i in indices if int(i) not in rows]
    if missing:
        raise ValueError(f"frames {missing} are not in the {split!r} split of {run.subject.root}")
    device = run.model.aabb.device
    grid = run.occupancy if grid is None else grid
    background = frames.background.to(device)
    stats: dict[str, list[float]] = {"psnr": [], "samples_per_ray": [], "seconds": []}
    for index in indices:
        row = rows[int(index)]
        start = time.perf_counter()
        out = render_image(
            run.model,
            grid,
            frames.intrinsics,
            frames.c2w[row].to(device),
            frames.expressions[row].to(device),
            background,
            run.render_config,
        )
        stats["seconds"].append(time.perf_counter() - start)
        stats["psnr"].append(metrics.psnr(out["rgb"].clamp(0, 1).cpu(), frames.image(row)))
        stats["samples_per_ray"].append(out["num_samples"] / (frames.width * frames.height))
    return {key: np.asarray(values) for key, values in stats.items()}


CURVE_FILE = "psnr_vs_time.json"
SNAPSHOT_FILE = "psnr_vs_time_frames.npy"


def curve_point(trainer, regions) -> tuple[dict[str, float], np.ndarray]:
    """The model's validation PSNR now, mean over the first ``eval_frames`` frames of the trainer's
    evaluation split: whole image ('psnr'), inside each face region ('psnr_mouth', 'psnr_eyes' when
    the subject has 68-point landmarks) and outside them ('psnr_rest'); and those frames' renders,
    uint8 [F, H, W, 3]. ``regions``: a FaceRegions of those frames."""
    from nbskit.apps.render import to_uint8
    from nbskit.train.region_metrics import masked_psnr

    frames, values, renders = trainer.eval_frames, [], []
    for row in range(min(trainer.config.eval_frames, len(frames))):
        prediction, target = trainer.render_frame(frames, row)["rgb"].clamp(0, 1).cpu(), frames.image(row)
        masks = regions.masks(row)
        rest = ~torch.stack(list(masks.values())).any(dim=0)
        values.append({**regions.psnr(prediction, target, row), "psnr_rest": masked_psnr(prediction, target, rest)})
        renders.append(to_uint8(prediction))
    return {key: float(np.nanmean([v[key] for v in values])) for key in values[0]}, np.stack(renders)


def timed_training(
    subject_dir: Path,
    config: TrainConfig,
    evaluations: int = 6,
    runs: Path = RUNS_FOLDER,
    progress: bool = True,
) -> list[dict]:
    """Train in ``evaluations`` equal chunks, evaluating after each; returns the PSNR-vs-time curve.

    Only the training steps are timed (evaluation renders and checkpoint writes are not training
    cost, and a blended model's checkpoint is far larger than the baseline's). The curve and the
    renders behind each of its points (see :func:`curve_snapshots`) are stored in the run folder
    and returned from there when the run is already finished, so re-running a notebook, or another
    notebook with the same config and ``evaluations``, does not retrain.

    Returns:
        [{'step', 'seconds' (cumulative training wall-clock), 'cpu_seconds' (process CPU time, all
        threads), 'psnr', 'psnr_mouth', 'psnr_eyes', 'psnr_rest' (validation, dB; see
        :func:`curve_point`)}, ...]: ``evaluations + 1`` points, the first at step 0.

    Raises:
        ValueError: the run folder holds a curve measured with another number of evaluations.
    """
    from nbskit.data.subject import Subject
    from nbskit.train.checkpoint import read_json, write_json
    from nbskit.train.region_metrics import FaceRegions
    from nbskit.train.trainer import Trainer

    run_dir = run_folder(subject_dir, config, runs)
    if (run_dir / CURVE_FILE).is_file():
        curve = read_json(run_dir / CURVE_FILE)
        if len(curve) != evaluations + 1:
            raise ValueError(f"{run_dir} holds this config's run timed with {len(curve) - 1} evaluations, not "
                             f"{evaluations}: ask for {len(curve) - 1}, or pass another runs folder")
        return curve
    subject = Subject.load(subject_dir)
    trainer = Trainer(subject, config, run_dir, progress=progress)
    regions = FaceRegions(subject, trainer.eval_frames)
    snapshots = []

    def measure(wall: float, cpu: float) -> dict:
        point, renders = curve_point(trainer, regions)
        snapshots.append(renders)
        return {"step": trainer.step, "seconds": wall, "cpu_seconds": cpu, **point}

    curve = [measure(0.0, 0.0)]
    for until in np.linspace(0, config.total_steps, evaluations + 1)[1:].round().astype(int):
        trainer.fit(until=int(until))
        curve.append(measure(*trainer.training_seconds()))
    temporary = run_dir / f"{SNAPSHOT_FILE}.tmp"
    with open(temporary, "wb") as handle:
        np.save(handle, np.stack(snapshots))
    os.replace(temporary, run_dir / SNAPSHOT_FILE)
    write_json(run_dir / CURVE_FILE, curve)  # last: its presence means the run and its snapshots are complete
    return curve


def curve_snapshots(subject_dir: Path, config: TrainConfig, row: int, runs: Path = RUNS_FOLDER) -> np.ndarray:
    """uint8 [P, H, W, 3]: evaluation frame ``row``'s render at each point of :func:`timed_training`'s curve."""
    snapshots = np.load(run_folder(subject_dir, config, runs) / SNAPSHOT_FILE)
    if not 0 <= row < snapshots.shape[1]:
        raise IndexError(f"row {row}: the curve rendered evaluation frames 0..{snapshots.shape[1] - 1}")
    return snapshots[:, row]


def value_at_cpu_time(curve: list[dict], key: str, cpu_seconds: float) -> float:
    """A curve's ``key`` (e.g. 'psnr') at ``cpu_seconds`` of training, linearly interpolated between points."""
    return float(np.interp(cpu_seconds, [p["cpu_seconds"] for p in curve], [p[key] for p in curve]))


MIN_SEEDS_FOR_ORDERING = 3


def ordering_verdict(differences, first: str, second: str) -> str:
    """What paired differences ``first - second`` (one per seed) allow one to say.

    An ordering needs at least :data:`MIN_SEEDS_FOR_ORDERING` seeds that all agree on its sign;
    otherwise the two are not distinguishable (the spread covers zero).
    """
    differences = np.asarray(differences, dtype=float)
    if len(differences) < MIN_SEEDS_FOR_ORDERING:
        return f"only {len(differences)} seeds: no ordering stated"
    if differences.min() > 0:
        return f"{first} ahead on every seed"
    if differences.max() < 0:
        return f"{second} ahead on every seed"
    return "not distinguishable (the spread covers zero)"
