"""Does refinement cost an exact subject anything? The same runs with refinement off and on, over seeds.

    python -m bench.refinement_drift [--work /tmp/nbskit-refinement-drift] [--seeds 5 6 7 8 9]
                                     [--subject tiny] [--preset cpu-smoke] [--set KEY=VALUE ...]

An exact synthetic subject (subject seed 0) has nothing for refinement to correct, so refinement on
should score like refinement off. A single pair of runs does not say how close "like" is: turning
refinement on changes the optimisation's path, and training seeds alone move the test PSNR. This
trains both settings per training seed and prints each seed's test PSNR (as tracked, whole image),
the paired difference on − off and its spread, which is what the no-drift test's margin rests on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.common import run_script, write_results
from bench.paper.seeds import format_difference, paired_difference

DEFAULT_WORK = Path("/tmp/nbskit-refinement-drift")
DEFAULT_OVERRIDES = ["perceptual_weight=0", "eval_interval=1000"]  # as tests/test_train_refinement.py
MODES = ("off", "on")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for the subject and the runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8, 9], help="training seeds")
    parser.add_argument("--subject", default="tiny", help="synthetic subject preset (tiny, small, paper)")
    parser.add_argument("--preset", default="cpu-smoke", help="training preset")
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY=VALUE",
                        help=f"training overrides (default: {' '.join(DEFAULT_OVERRIDES)})")


def trained_psnr(subject: Path, run_dir: Path, preset: str, overrides: list[str]) -> float:
    """Train (or reuse) a run and return its mean test PSNR as tracked."""
    from nbskit.data.subject import Subject
    from nbskit.train.evaluate import evaluate_run
    from nbskit.train.presets import make_config
    from nbskit.train.run import load_run
    from nbskit.train.trainer import Trainer

    trainer = Trainer(Subject.load(subject), make_config(preset, overrides), run_dir, progress=False)
    trainer.resume()
    trainer.fit()
    return evaluate_run(load_run(run_dir, device="cpu"), "test", progress=False)["mean"]["psnr"]


def run(args: argparse.Namespace) -> int:
    from nbskit.data.synthetic import synthesize_subject

    overrides = DEFAULT_OVERRIDES if args.overrides is None else args.overrides
    subject = args.work / f"subject_{args.subject}_0"
    if not (subject / "transforms.json").is_file():
        synthesize_subject(subject, args.subject, seed=0, progress=False)
    rows = []
    for seed in args.seeds:
        psnr = {mode: trained_psnr(subject, args.work / f"run_{seed}_{mode}", args.preset,
                                overrides + [f"seed={seed}", f"refine={mode}"]) for mode in MODES}
        rows.append({"seed": seed, **{f"psnr_{mode}": value for mode, value in psnr.items()}})
        print(f"seed {seed}: test PSNR off {psnr['off']:.2f} dB, on {psnr['on']:.2f} dB, "
              f"on − off {psnr['on'] - psnr['off']:+.2f} dB", flush=True)
    difference = paired_difference([row["psnr_on"] for row in rows], [row["psnr_off"] for row in rows])
    print(f"on − off over seeds {args.seeds}: {format_difference(difference)} dB")
    path = write_results(args.work / "results.json", {"overrides": overrides, "rows": rows, "on_minus_off": difference})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(__doc__, add_arguments, run))
