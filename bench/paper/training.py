"""Training runs shared by the paper benchmarks: synthetic subjects, timed runs with PSNR curves, branches.

Every run is trained in chunks through the public ``Trainer``; after each chunk the held-out PSNR
(whole image, mouth box, eye boxes) is measured on a few frames. Only the chunks are timed, both
as wall clock and as this process's CPU time (all threads): on a shared machine the wall clock is
inflated by other jobs, the CPU time much less.

Run folders are named after the subject (its folder name and a hash of its transforms.json, so two
clips in folders of the same name never share a run) and the whole config
(``nbskit.train.run.run_folder``) inside a folder named after the code version
(``bench.provenance.code_version``), so two claims that need the same run (Table 2 and Fig. 8 both
train blend and concatenate) share it — the second finds ``paper_curve.json`` and trains nothing —
while a change to the code never reuses a run, or the metrics cached beside it, made by other code.
Synthetic subjects are keyed the same way by the code that makes them. Every run also keeps its
checkpoint from the start of stage 3, from which Fig. 12 branches a run without the perceptual loss.
The curves are measured on the subject's validation frames when it has them
(``Trainer.eval_frames``); test frames are left for the reported numbers.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import write_json
from bench.provenance import code_version
from nbskit.train.checkpoint import CHECKPOINT_FILE
from nbskit.train.presets import TrainConfig

CURVE_FILE = "paper_curve.json"
SNAPSHOT_NAME = "step_{step}.pt"  # under checkpoints/
SUBJECT_SEED = 0
SUBJECT_HASH_CHARS = 8
# What a synthetic subject depends on: its generator, the subject format, head models and cameras.
SUBJECT_CODE_PATHS = ("nbskit/data", "nbskit/face", "nbskit/geometry", "data")


@dataclass
class BenchRun:
    """A finished run and its curve.

    Attributes:
        run_dir: the run folder (load it with ``nbskit.train.load_run``).
        config: its training config.
        curve: [{'step', 'cpu_s', 'wall_s' (cumulative training time), 'psnr', 'psnr_mouth',
            'psnr_eyes' (when the subject has 68-point landmarks)}], step 0 first.
    """

    run_dir: Path
    config: TrainConfig
    curve: list[dict]

    @property
    def cpu_seconds_per_step(self) -> float:
        last = self.curve[-1]
        return last["cpu_s"] / max(last["step"], 1)

    @property
    def wall_seconds_per_step(self) -> float:
        last = self.curve[-1]
        return last["wall_s"] / max(last["step"], 1)


def synthetic_subject(preset: str, work: Path) -> Path:
    """``work/subjects/synthetic_<preset>_seed0_<code version>``, synthesised on first use (same
    bytes every time for the same code)."""
    from nbskit.data.synthetic import synthesize_subject

    version = code_version(paths=SUBJECT_CODE_PATHS)
    root = Path(work) / "subjects" / f"synthetic_{preset}_seed{SUBJECT_SEED}_{version}"
    if not (root / "transforms.json").is_file():  # written last: its presence means complete
        synthesize_subject(root, preset, seed=SUBJECT_SEED, progress=False)
    return root


def runs_root(work: Path, version: str) -> Path:
    """``work/runs/<code version>``: the runs made by one version of the code."""
    return Path(work) / "runs" / version


def run_directory(subject_dir: Path, config: TrainConfig, runs: Path) -> Path:
    """``runs/<subject>_<preset>_<model>_<policy>_<config hash>_<subject hash>`` (``runs`` from
    ``runs_root``; the subject hash is :func:`nbskit.train.run_guard.subject_fingerprint`'s)."""
    from nbskit.train.run import run_folder
    from nbskit.train.run_guard import subject_fingerprint

    folder = run_folder(subject_dir, config, runs)
    return folder.with_name(f"{folder.name}_{subject_fingerprint(subject_dir)[:SUBJECT_HASH_CHARS]}")


def finished_run(spec, work: Path) -> BenchRun:
    """The run of a ``bench.paper.jobs.RunSpec`` that ``bench.paper.executors`` has trained."""
    config = spec.config()
    return load_bench_run(run_directory(Path(spec.subject_dir), config, runs_root(work, spec.code_version)), config)


def load_bench_run(run_dir: Path, config: TrainConfig) -> BenchRun:
    """A finished run (its curve file written) back as a BenchRun."""
    from nbskit.train.checkpoint import read_json

    return BenchRun(Path(run_dir), config, read_json(Path(run_dir) / CURVE_FILE))


def evaluation_steps(config: TrainConfig, points: int) -> list[int]:
    """``points`` steps spread evenly over the run, the last one being ``total_steps``."""
    return sorted({int(s) for s in np.linspace(0, config.total_steps, points + 1)[1:].round()})


def measure(trainer, regions, frames: int) -> dict:
    """Mean PSNR (whole image and each face region) over the first ``frames`` held-out frames."""
    rows = range(min(frames, len(trainer.eval_frames)))
    values = [regions.psnr(trainer.render_frame(trainer.eval_frames, row)["rgb"].cpu().clamp(0, 1),
                           trainer.eval_frames.image(row), row) for row in rows]
    return {key: float(np.nanmean([v[key] for v in values])) for key in values[0]}


def train_with_curve(subject_dir: Path, config: TrainConfig, runs: Path, curve_points: int, curve_frames: int,
                     start_from: Path | None = None, start_curve: list[dict] | None = None,
                     progress: bool = False) -> BenchRun:
    """Train ``config`` on the subject (or reuse the finished run) and return it with its curve.

    Args:
        runs: the folder of this code version's runs (``runs_root``).
        start_from: a checkpoint file to continue from (a branch); ``start_curve`` is the curve up to it.
        progress: tqdm bars of the trainer.
    """
    from nbskit.data.subject import Subject
    from nbskit.train.region_metrics import FaceRegions
    from nbskit.train.trainer import Trainer

    run_dir = run_directory(subject_dir, config, runs)
    if (run_dir / CURVE_FILE).is_file():
        return load_bench_run(run_dir, config)
    subject = Subject.load(subject_dir)
    trainer = Trainer(subject, config, run_dir, progress=progress)
    regions = FaceRegions(subject, trainer.eval_frames)
    if start_from is not None:
        (run_dir / CHECKPOINT_FILE).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(start_from, run_dir / CHECKPOINT_FILE)
        trainer.resume()
        curve = [dict(point) for point in start_curve or [] if point["step"] <= trainer.step]
        if not curve or curve[-1]["step"] != trainer.step:
            raise ValueError(f"{start_from}: the curve given does not reach step {trainer.step}")
    else:
        curve = [{"step": 0, "cpu_s": 0.0, "wall_s": 0.0, **measure(trainer, regions, curve_frames)}]
    cpu, wall = curve[-1]["cpu_s"], curve[-1]["wall_s"]
    snapshot = config.stage3_start
    # The snapshot step is measured too, so a branch's curve continues with the right times.
    evaluations = set(evaluation_steps(config, curve_points)) | {snapshot}
    for until in sorted(s for s in evaluations if s > trainer.step):
        wall_before, cpu_before = trainer.training_seconds()  # steps only: no evaluation or checkpoint writes
        trainer.fit(until=until)
        wall_after, cpu_after = trainer.training_seconds()
        wall += wall_after - wall_before
        cpu += cpu_after - cpu_before
        if until == snapshot:
            shutil.copyfile(run_dir / CHECKPOINT_FILE, snapshot_path(run_dir, snapshot))
        curve.append({"step": trainer.step, "cpu_s": cpu, "wall_s": wall,
                      **measure(trainer, regions, curve_frames)})
    write_json(run_dir / CURVE_FILE, curve)
    return BenchRun(run_dir, config, curve)


def snapshot_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / Path(CHECKPOINT_FILE).parent / SNAPSHOT_NAME.format(step=step)


def branch_at_stage3(parent: BenchRun, child_config: TrainConfig, subject_dir: Path, runs: Path,
                     curve_points: int, curve_frames: int, progress: bool = False) -> BenchRun:
    """``child_config`` trained from the parent's checkpoint at the start of stage 3 (same steps before it).

    The two configs must agree on everything that shapes the first ``stage3_start`` steps.
    """
    if child_config.stage3_start != parent.config.stage3_start:
        raise ValueError(f"a branch must start stage 3 where its parent does ({parent.config.stage3_start}), "
                         f"got {child_config.stage3_start}")
    snapshot = snapshot_path(parent.run_dir, parent.config.stage3_start)
    if not snapshot.is_file():
        raise FileNotFoundError(f"{snapshot} not found: the parent run was not trained by bench.paper")
    return train_with_curve(subject_dir, child_config, runs, curve_points, curve_frames,
                            start_from=snapshot, start_curve=parent.curve, progress=progress)
