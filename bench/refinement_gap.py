"""How much of a tracking error does refinement close? A synthetic subject with perturbed cameras and coefficients.

    python -m bench.refinement_gap [--work /tmp/nbskit-refinement-gap] [--seeds 0 1 2] [--subject tiny]
                                   [--preset cpu-smoke] [--set KEY=VALUE ...]

A cheap stand-in for tracking error: every frame's camera of a synthetic subject is moved by a
random turn about the head box's centre (axis uniform, angle ~ |N(0, --degrees)|) and a random
shift (N(0, --shift) per axis, world units), and every coefficient gets N(0, --coefficient-noise),
clipped to the exact training range; the images stay exact. Three runs per seed, same preset and
seed: exact subject (refinement off), perturbed (off), perturbed (on). Each is scored on the test
frames' right half (their left half is what the test-time fit sees): *as tracked* with the
(perturbed) test cameras and coefficients, and *test-time refined*. The gap is exact − perturbed/off
as tracked; the share closed is (perturbed/on test-time refined − perturbed/off as tracked) / gap.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from bench.common import run_script, write_results
from bench.paper.seeds import across_seeds, format_difference, paired_difference

DEFAULT_WORK = Path("/tmp/nbskit-refinement-gap")
VARIANTS = (("exact", "off"), ("perturbed", "off"), ("perturbed", "on"))
DEFAULT_OVERRIDES = ["perceptual_weight=0", "frames_per_batch=8", "rays_per_frame=96", "stage2_start=100",
                     "stage3_start=250", "total_steps=300", "eval_interval=1000", "checkpoint_interval=100"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for subjects and runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="subject and training seeds")
    parser.add_argument("--subject", default="tiny", help="synthetic subject preset (tiny, small, paper)")
    parser.add_argument("--preset", default="cpu-smoke", help="training preset")
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY=VALUE",
                        help=f"training overrides (default: {' '.join(DEFAULT_OVERRIDES)})")
    parser.add_argument("--degrees", type=float, default=1.5, help="camera turn noise (degrees)")
    parser.add_argument("--shift", type=float, default=0.003, help="camera shift noise per axis (world units)")
    parser.add_argument("--coefficient-noise", type=float, default=0.1, help="coefficient noise")


def perturbed_frames(subject, seed: int, degrees: float, shift: float, noise: float) -> list:
    """The subject's frames with random camera motions about the head box's centre and noisy coefficients."""
    from nbskit.train.refinement import rigid_motions

    rng = np.random.default_rng(seed + 1000)
    count = len(subject.frames)
    axes = rng.normal(size=(count, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    turns = axes * np.radians(np.abs(rng.normal(0.0, degrees, size=(count, 1))))
    corrections = torch.from_numpy(np.concatenate([turns, rng.normal(0.0, shift, size=(count, 3))], 1)).float()
    motions = rigid_motions(corrections, torch.as_tensor(subject.aabb, dtype=torch.float32).mean(dim=0)).numpy()
    low, high = subject.expression_range()
    frames = []
    for frame, motion in zip(subject.frames, motions):
        expression = np.clip(frame.expression + rng.normal(0.0, noise, size=frame.expression.shape), low, high)
        frames.append(dataclasses.replace(frame, transform_matrix=(motion @ frame.transform_matrix).astype(np.float32),
                                          expression=expression.astype(np.float32)))
    return frames


def prepare_subjects(args: argparse.Namespace, seed: int) -> dict[str, Path]:
    from nbskit.apps.export_subject_command import write_subject_copy
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import synthesize_subject

    exact = args.work / f"subject_{args.subject}_{seed}"
    if not (exact / "transforms.json").is_file():
        synthesize_subject(exact, args.subject, seed=seed, progress=False)
    perturbed = args.work / f"subject_{args.subject}_{seed}_perturbed"
    if not (perturbed / "transforms.json").is_file():
        source = Subject.load(exact)
        frames = perturbed_frames(source, seed, args.degrees, args.shift, args.coefficient_noise)
        write_subject_copy(source, perturbed, frames, extra={**source.extra, "perturbed": {
            "degrees": args.degrees, "shift": args.shift, "coefficient_noise": args.coefficient_noise}})
    return {"exact": exact, "perturbed": perturbed}


def train_and_score(subject: Path, run_dir: Path, preset: str, overrides: list[str]) -> dict:
    """Train (or reuse) a run and return its test metrics with test-time refinement."""
    from nbskit.data.subject import Subject
    from nbskit.train.evaluate import evaluate_run
    from nbskit.train.presets import make_config
    from nbskit.train.run import load_run
    from nbskit.train.trainer import Trainer

    config = make_config(preset, overrides)
    trainer = Trainer(Subject.load(subject), config, run_dir, progress=False)
    trainer.resume()
    trainer.fit()
    return evaluate_run(load_run(run_dir, device="cpu"), "test", progress=False, test_time_refine=True)["mean"]


def summarise(rows: list[dict]) -> dict:
    """Spread over seeds of the gap and the shares closed, and the paired test-time refined differences."""
    def right_half(row: dict, variant: str, protocol: str) -> float:
        return row["scores"][variant][f"psnr_right_half_{protocol}"]

    refined_on = [right_half(row, "perturbed/on", "test_time_refined") for row in rows]
    refined_off = [right_half(row, "perturbed/off", "test_time_refined") for row in rows]
    as_tracked_off = [right_half(row, "perturbed/off", "as_tracked") for row in rows]
    result = {"gap_db": across_seeds([row["gap_db"] for row in rows]),
              "closed_test_time_only": across_seeds([row["closed_test_time_only"] for row in rows]),
              "closed_with_training_refinement": across_seeds([row["closed_with_training_refinement"] for row in rows]),
              "refined_training_minus_plain": paired_difference(refined_on, refined_off),
              "test_time_fit_minus_as_tracked": paired_difference(refined_off, as_tracked_off)}
    spread = {key: f"{value['mean']:.2f} ± {value['std']:.2f}" for key, value in result.items() if "mean" in value}
    result["lines"] = [
        (f"over seeds {[row['seed'] for row in rows]}: gap {spread['gap_db']} dB; share closed by the test-time fit "
         f"alone {spread['closed_test_time_only']}, with refinement in training {spread['closed_with_training_refinement']}"),
        "right half, test-time refined, refinement in training minus none: "
        + format_difference(result["refined_training_minus_plain"]),
        "right half, no refinement in training, test-time fit minus as tracked: "
        + format_difference(result["test_time_fit_minus_as_tracked"])]
    return result


def run(args: argparse.Namespace) -> int:
    overrides = DEFAULT_OVERRIDES if args.overrides is None else args.overrides
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        subjects = prepare_subjects(args, seed)
        scores = {}
        for data, refine in VARIANTS:
            run_dir = args.work / f"run_{args.subject}_{seed}_{data}_{refine}"
            scores[data, refine] = train_and_score(subjects[data], run_dir, args.preset,
                                                   overrides + [f"seed={seed}", f"refine={refine}"])
            mean = scores[data, refine]
            print(f"seed {seed} {data:9s} refine {refine:3s}: whole image as tracked {mean['psnr']:.2f} dB, "
                  f"right half as tracked {mean['psnr_right_half_as_tracked']:.2f} dB, "
                  f"right half test-time refined {mean['psnr_right_half_test_time_refined']:.2f} dB", flush=True)
        target = scores["exact", "off"]["psnr_right_half_as_tracked"]
        start = scores["perturbed", "off"]["psnr_right_half_as_tracked"]
        closed = {key: (scores[key]["psnr_right_half_test_time_refined"] - start) / (target - start)
                  for key in (("perturbed", "off"), ("perturbed", "on"))}
        rows.append({"seed": seed, "gap_db": target - start, "closed_test_time_only": closed["perturbed", "off"],
                     "closed_with_training_refinement": closed["perturbed", "on"],
                     "scores": {f"{d}/{r}": s for (d, r), s in scores.items()}})
        print(f"seed {seed}: gap {target - start:.2f} dB; share closed: test-time fit alone "
              f"{closed['perturbed', 'off']:.2f}, with refinement in training {closed['perturbed', 'on']:.2f}",
              flush=True)
    summary = summarise(rows)
    for line in summary["lines"]:
        print(line)
    print(f"wrote {write_results(args.work / 'results.json', {'overrides': overrides, 'rows': rows, **summary})}")
    return 0


if __name__ == "__main__":
    run_script(__doc__, add_arguments, run)
