"""Held-out PSNR after a fixed budget of training time: train a preset on a subject for N seconds.

    python -m bench.time_to_psnr SUBJECT --preset paper --budget-s 120 --run-dir RUN --out ttp.json

The issue's GPU target: the ``paper`` preset on the ``paper`` subject reaches a test PSNR of
32 dB within 120 s of training (stretch: 60 s). The training clock counts only ``Trainer.fit``
(chunks of steps, the device synchronised at each end), so one-time costs inside the first steps
(CUDA context, kernel caches) are included, while loading the frames and building the model are
reported apart (``setup_s``) and evaluations between chunks are not counted. Chunk lengths follow
the measured step rate so that evaluations land every ``--eval-every-s`` training seconds and the
run stops within a step or two of the budget.

Reported: the curve (training seconds, step, mean PSNR over the first ``--curve-frames`` test
frames), the mean per-frame PSNR over ``--final-frames`` test frames (default: all) at the end,
the first curve time at or above ``--target-psnr``, and steps/s. The run folder (config,
checkpoint, log) is written after the clock stops, so ``nbskit eval RUN`` and
``python -m bench.render --run RUN`` work on the trained model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from bench.common import (
    DEFAULT_OUT_DIR,
    add_output_arguments,
    apply_thread_setting,
    report,
    run_script,
    synchronize,
)

NEVER = 10**9  # eval/checkpoint interval that the trainer never reaches inside the budget
TABLE_COLUMNS = [("train_s", "train s", ".1f"), ("step", "step", ","), ("psnr", "PSNR dB", ".2f")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", type=Path, help="subject folder")
    parser.add_argument("--preset", default="paper", help="training preset (default paper)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="training config override, repeatable (e.g. max_image_size=64)")
    parser.add_argument("--budget-s", type=float, default=120.0, help="training seconds (default 120)")
    parser.add_argument("--eval-every-s", type=float, default=15.0,
                        help="training seconds between curve points (default 15)")
    parser.add_argument("--curve-frames", type=int, default=8, help="test frames per curve point (default 8)")
    parser.add_argument("--final-frames", type=int, default=None,
                        help="test frames evaluated at the end (default: all)")
    parser.add_argument("--calibration-steps", type=int, default=20,
                        help="steps of the first chunk, which measures the step rate (default 20)")
    parser.add_argument("--target-psnr", type=float, default=32.0, help="dB (default 32, the issue's target)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_OUT_DIR / "time_to_psnr_run",
                        help="run folder written at the end (config, checkpoint, log)")
    parser.add_argument("--progress", action="store_true", help="show the trainer's progress bar")
    add_output_arguments(parser, "time_to_psnr.json")


def mean_psnr(trainer, frames: int) -> float:
    """Mean per-frame PSNR of the first ``frames`` frames of the trainer's held-out split."""
    from nbskit.train import metrics

    rows = range(min(frames, len(trainer.eval_frames)))
    return float(sum(metrics.psnr(trainer.render_frame(trainer.eval_frames, row)["rgb"].cpu().clamp(0, 1),
                                  trainer.eval_frames.image(row)) for row in rows) / len(rows))


class TrainingClock:
    """Runs ``trainer.fit`` in chunks and adds up only their (synchronised) wall time."""

    def __init__(self, trainer, device: torch.device, calibration_steps: int):
        self.trainer, self.device, self.calibration_steps = trainer, device, calibration_steps
        self.seconds = 0.0
        self.steps_per_s: float | None = None

    def run_until(self, clock_target: float) -> None:
        """Train about up to ``clock_target`` training seconds (at least one step)."""
        trainer = self.trainer
        if self.steps_per_s is None:
            steps = self.calibration_steps
        else:
            steps = max(1, round((clock_target - self.seconds) * self.steps_per_s))
        first_step = trainer.step
        synchronize(self.device)
        start = time.perf_counter()
        trainer.fit(until=trainer.step + steps)
        synchronize(self.device)
        elapsed = time.perf_counter() - start
        self.seconds += elapsed
        # The latest chunk's rate: early steps are slower (every ray samples the initial fog).
        self.steps_per_s = (trainer.step - first_step) / max(elapsed, 1e-9)


def first_time_at(curve: list[dict], psnr: float) -> float | None:
    """Training seconds of the first curve point at or above ``psnr`` dB, or None."""
    return next((point["train_s"] for point in curve if point["psnr"] >= psnr), None)


def save_run(trainer, run_dir: Path) -> None:
    """Write the run folder (config, checkpoint, log) of the trained model."""
    # The trainer was built without a folder so that fit() wrote no checkpoint inside the clock.
    trainer.run_dir = Path(run_dir)
    trainer.write_config()
    trainer.save()
    trainer.write_log()


def run(args: argparse.Namespace) -> int:
    from nbskit.data.subject import Subject
    from nbskit.train.presets import make_config, parse_override
    from nbskit.train.trainer import Trainer

    apply_thread_setting(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    overrides = {"eval_interval": NEVER, "checkpoint_interval": NEVER, "total_steps": NEVER,
                 **dict(parse_override(item) for item in args.override)}
    config = make_config(args.preset, overrides)
    setup_start = time.perf_counter()
    subject = Subject.load(args.subject)
    trainer = Trainer(subject, config, run_dir=None, progress=args.progress, device=str(device))
    if trainer.eval_split != "test":
        print(f"note: {args.subject} has a val split; PSNR is measured on it, not on test", file=sys.stderr)
    setup_s = time.perf_counter() - setup_start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    clock = TrainingClock(trainer, device, args.calibration_steps)
    curve = [{"train_s": 0.0, "step": 0, "psnr": mean_psnr(trainer, args.curve_frames)}]
    next_point = args.eval_every_s
    while clock.seconds < args.budget_s:
        target = min(next_point, args.budget_s)
        clock.run_until(target)
        if clock.seconds >= target:  # else the chunk fell short (the rate changed): train on first
            curve.append({"train_s": clock.seconds, "step": trainer.step, "psnr": mean_psnr(trainer, args.curve_frames)})
            while next_point <= clock.seconds:
                next_point += args.eval_every_s

    final_frames = len(trainer.eval_frames) if args.final_frames is None else min(args.final_frames,
                                                                                  len(trainer.eval_frames))
    eval_start = time.perf_counter()
    final_psnr = mean_psnr(trainer, final_frames)
    final_eval_s = time.perf_counter() - eval_start
    peak_memory = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    save_run(trainer, args.run_dir)

    reached = first_time_at(curve, args.target_psnr)
    verdict = "met" if final_psnr >= args.target_psnr else "NOT met"
    notes = [
        (f"{trainer.step} steps in {clock.seconds:.1f} s of training ({trainer.step / clock.seconds:.1f} steps/s); "
         f"setup {setup_s:.1f} s"),
        (f"final: mean PSNR {final_psnr:.2f} dB over {final_frames} {trainer.eval_split} frames "
         f"({final_eval_s:.1f} s to render them)"),
        f"target: {args.target_psnr:g} dB within {args.budget_s:g} s -> {verdict}"
        + (f" (curve first reached it at {reached:.1f} s)" if reached is not None else ""),
    ]
    payload = {
        "settings": {"subject": str(args.subject), "preset": args.preset, "overrides": overrides,
                     "budget_s": args.budget_s, "eval_every_s": args.eval_every_s, "curve_frames": args.curve_frames,
                     "target_psnr": args.target_psnr, "device": str(device), "config": config.to_dict()},
        "subject_frames": {"train": len(trainer.train_frames), trainer.eval_split: len(trainer.eval_frames)},
        "resolution": [trainer.train_frames.width, trainer.train_frames.height],
        "setup_s": setup_s,
        "curve": curve,
        "train_s": clock.seconds,
        "steps": trainer.step,
        "steps_per_s": trainer.step / clock.seconds,
        "final": {"split": trainer.eval_split, "frames": final_frames, "psnr": final_psnr, "eval_s": final_eval_s},
        "time_to_target_s": reached,
        "target_met": final_psnr >= args.target_psnr,
        "peak_gpu_memory_mib": peak_memory,
        "last_train_record": trainer.history["train"][-1] if trainer.history["train"] else None,
        "run_dir": str(args.run_dir),
    }
    heading = (f"time to PSNR: preset {args.preset} on {args.subject} ({trainer.train_frames.width}x"
               f"{trainer.train_frames.height}), {args.budget_s:g} s of training on {device}")
    report(args.out, curve, TABLE_COLUMNS, payload, benchmark="time_to_psnr", heading=heading, notes=notes)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
