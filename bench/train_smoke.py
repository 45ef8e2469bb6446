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
import time
from pathlib import Path

import torch

from bench.common import DEFAULT_OUT_DIR, describe_machine_line, format_table, machine_description, write_json

TARGETS = {  # (preset, subject) -> (max training seconds, min test PSNR dB), from the project's issue
    ("cpu-smoke", "tiny"): (60.0, 20.0),
    ("cpu", "small"): (600.0, 27.0),
    ("paper", "paper"): (120.0, 32.0),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="cpu-smoke")
    parser.add_argument("--subject", default="tiny", help="synthetic subject preset (tiny, small, paper)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR / "train_smoke.json", help="JSON results file")
    parser.add_argument("--work", type=Path, help="keep the subject and run here (default: a temporary folder)")


def run(args: argparse.Namespace) -> int:
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import synthesize_subject
    from nbskit.train.evaluate import evaluate_run
    from nbskit.train.presets import make_config
    from nbskit.train.run import load_run
    from nbskit.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="nbskit-bench-"))
    subject_dir = work / f"subject_{args.subject}"
    if not (subject_dir / "transforms.json").is_file():
        synthesize_subject(subject_dir, args.subject, seed=0, progress=False)
    subject = Subject.load(subject_dir)
    config = make_config(args.preset, args.overrides)
    trainer = Trainer(subject, config, work / f"run_{args.preset}", progress=sys.stderr.isatty())
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - start
    # CPU seconds / threads approximates the wall time on an idle machine of that many cores.
    cpu_seconds = time.process_time() - cpu_start
    result = evaluate_run(load_run(trainer.run_dir), "test", progress=False)
    peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    limit_seconds, min_psnr = TARGETS.get((args.preset, args.subject), (None, None))
    row = {
        "preset": args.preset, "subject": args.subject, "steps": config.total_steps,
        "train_seconds": train_seconds, "cpu_seconds": cpu_seconds, "test_psnr": result["mean"]["psnr"], "test_ssim": result["mean"]["ssim"],
        "peak_rss_gib": peak_rss_gib, "target_seconds": limit_seconds, "target_psnr": min_psnr,
    }
    machine = machine_description()
    print(format_table([row], [("preset", "preset", ""), ("subject", "subject", ""), ("steps", "steps", "d"),
                               ("train_seconds", "train s", ".1f"), ("cpu_seconds", "CPU s", ".1f"),
                               ("test_psnr", "PSNR dB", ".2f"),
                               ("test_ssim", "SSIM", ".3f"), ("peak_rss_gib", "peak GiB", ".2f"),
                               ("target_seconds", "target s", ".0f"), ("target_psnr", "target dB", ".0f")]))
    print(describe_machine_line(machine))
    print(f"{result['background']}; seconds per stage: {trainer.history['seconds_per_stage']}")
    write_json(args.out, {"machine": machine, "result": row, "stage_seconds": trainer.history["seconds_per_stage"],
                          "config": config.to_dict(), "background": result["background"]})
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
