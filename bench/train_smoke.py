"""Training targets: time and test PSNR of a preset on a synthetic subject (prints a table, writes JSON).

    python -m bench.train_smoke                                 # cpu-smoke on tiny (target: <= 60 s, >= 20 dB)
    python -m bench.train_smoke --subject small --preset cpu    # the demo's training (target: >= 27 dB)
    python -m bench.train_smoke --subject paper --preset paper  # on a GPU

Threads default to 2 on a CPU, the size of the machine the CPU targets are stated for.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

import torch

from bench.common import (
    TARGET_MACHINE_THREADS,
    add_output_arguments,
    apply_thread_setting,
    report,
    run_script,
    time_call,
)

TABLE_COLUMNS = [
    ("preset", "preset", ""),
    ("subject", "subject", ""),
    ("steps", "steps", "d"),
    ("train_seconds", "train s", ".1f"),
    ("cpu_seconds", "CPU s", ".1f"),
    ("test_psnr", "PSNR dB", ".2f"),
    ("test_ssim", "SSIM", ".3f"),
    ("peak_rss_gib", "peak GiB", ".2f"),
    ("target_seconds", "target s", ".0f"),
    ("target_psnr", "target dB", ".0f"),
]
TARGETS = {  # (preset, subject) -> (max training seconds, min test PSNR dB), from the project's issue
    ("cpu-smoke", "tiny"): (60.0, 20.0),
    ("cpu", "small"): (600.0, 27.0),
    ("paper", "paper"): (120.0, 32.0),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="cpu-smoke")
    parser.add_argument("--subject", default="tiny", help="synthetic subject preset (tiny, small, paper)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    add_output_arguments(parser, "train_smoke.json", default_threads=TARGET_MACHINE_THREADS)
    parser.add_argument(
        "--work", type=Path, help="keep the subject and run here (default: a temporary folder)"
    )


def run(args: argparse.Namespace) -> int:
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import synthesize_subject
    from nbskit.train.evaluate import evaluate_run
    from nbskit.train.presets import make_config
    from nbskit.train.run import load_run
    from nbskit.train.trainer import Trainer

    apply_thread_setting(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="nbskit-bench-"))
    subject_dir = work / f"subject_{args.subject}"
    if not (subject_dir / "transforms.json").is_file():
        synthesize_subject(subject_dir, args.subject, seed=0, progress=False)
    subject = Subject.load(subject_dir)
    config = make_config(args.preset, args.overrides)
    trainer = Trainer(subject, config, work / f"run_{args.preset}", progress=sys.stderr.isatty())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # CPU seconds / threads approximates the wall time on an idle machine of that many cores.
    timing = time_call(trainer.fit, device, warmup=0, repeats=1)
    result = evaluate_run(load_run(trainer.run_dir), "test", progress=False)
    peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    limit_seconds, min_psnr = TARGETS.get((args.preset, args.subject), (None, None))
    row = {
        "preset": args.preset,
        "subject": args.subject,
        "steps": config.total_steps,
        "train_seconds": timing.median,
        "cpu_seconds": timing.median_cpu,
        "test_psnr": result["mean"]["psnr"],
        "test_ssim": result["mean"]["ssim"],
        "peak_rss_gib": peak_rss_gib,
        "target_seconds": limit_seconds,
        "target_psnr": min_psnr,
    }
    stage_seconds = trainer.history["seconds_per_stage"]
    payload = {
        "result": row,
        "stage_seconds": stage_seconds,
        "config": config.to_dict(),
        "background": result["background"],
    }
    notes = [f"{result['background']}; seconds per stage: {stage_seconds}"]
    report(args.out, [row], TABLE_COLUMNS, payload, notes=notes)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
