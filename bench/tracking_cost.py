"""What tracking costs a trained head: the same preset and seed on an exact and a tracked subject.

    python -m bench.tracking_cost [--seeds 1,2] [--frames 80] [--resolution 256] [--preset cpu]
                                  [--work /tmp/nbskit-tracking-cost] [--set KEY=VALUE] [--evaluate-only]

Per seed: render a synthetic ICT subject (exact cameras and coefficients), write its frames as an
H.264 video, `nbskit track` that video (the tracker sees only pixels), then train the same preset
and training seed on (a) the exact subject and (b) the tracked one, both over a white background.
Both are scored against the same ground truth: the rendered frames and masks of the exact subject,
cut by the tracker's crop and resized to the training resolution. The exact run renders through
the crop (its intrinsics shifted and scaled), the tracked run from its own cameras and
coefficients (as tracked, the paper's protocol). Scores: whole-image PSNR and PSNR inside the true
head mask, on the test frames (the clip's last ones, held out by both) and on training frames
spread through the clip. The tracking gap is exact minus tracked.

Refinement: the tracked subject is trained with refinement (its default) and once more without it.
On the test frames the right half of each image is scored too, for both tracked runs after the
test-time fit on the truth's left half (``nbskit.train.test_time``). The share of the right-half
gap (exact − tracked without refinement, as tracked) closed by the fit alone and by refinement in
training followed by the fit is what refinement is meant to close. Steps already done in WORK
are reused, so an interrupted run continues.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.common import add_output_arguments, apply_thread_setting, report, run_script

DEFAULT_WORK = Path("/tmp/nbskit-tracking-cost")
TRAIN_SAMPLE = 10  # training frames scored per run, evenly spaced
TEST_FRACTION = 0.1  # the synthetic subject's last frames are its test split; tracking holds out the same
FPS = 25
SPLITS = ("test", "train")
# (name, run folder, extra overrides): the tracked subject is trained with refinement (its default)
# and without it ("plain"), so the share of the gap refinement closes can be measured.
RUNS = (("exact", "run_exact", []), ("tracked", "run_tracked", []), ("plain", "run_tracked_no_refinement", ["refine=off"]))
COLUMNS = [("seed", "seed", ""), ("split", "split", ""),
           ("exact_psnr", "exact PSNR", ".2f"), ("tracked_psnr", "tracked PSNR", ".2f"), ("gap_psnr", "gap", ".2f"),
           ("exact_psnr_mask", "exact in-mask", ".2f"), ("tracked_psnr_mask", "tracked in-mask", ".2f"),
           ("gap_psnr_mask", "gap in-mask", ".2f"),
           ("exact_psnr_right", "exact right", ".2f"), ("plain_psnr_right", "no refinement right", ".2f"),
           ("plain_psnr_right_fitted", "no refinement, fitted", ".2f"),
           ("tracked_psnr_right_fitted", "refined, fitted", ".2f"), ("closed_fit_only", "closed: fit", ".2f"),
           ("closed_refined", "closed: refined + fit", ".2f")]
GAP_KEYS = ("gap_psnr", "gap_psnr_mask", "gap_right", "closed_fit_only", "closed_refined")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", default="1,2", help="synthetic subjects (comma-separated seeds, default 1,2)")
    parser.add_argument("--frames", type=int, default=80, help="frames per synthetic clip (default 80)")
    parser.add_argument("--resolution", type=int, default=256, help="rendered frame size (default 256)")
    parser.add_argument("--preset", default="cpu", help="training preset (default cpu: 128 px)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="training config override (repeatable)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for subjects, videos and runs")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="no synthesis, tracking or training: score the runs' last checkpoints (same step)")
    add_output_arguments(parser, "tracking_cost.json")


def synthetic_clip(work: Path, seed: int, frames: int, resolution: int) -> tuple[Path, Path]:
    """(exact subject folder, its frames as an mp4), rendered once per seed."""
    from nbskit.apps.video import write_video
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import synthesize_subject
    from nbskit.data.synthetic.presets import SynthPreset

    exact, video = work / "exact", work / "clip.mp4"
    if not (exact / "transforms.json").is_file():
        preset = SynthPreset("tracking-cost", resolution, frames, "ict", 256, TEST_FRACTION)
        synthesize_subject(exact, preset, seed=seed, model="ict", progress=False)
    if not video.is_file():
        subject = Subject.load(exact)
        write_video([np.round(subject.load_image(i) * 255).astype(np.uint8) for i in range(len(subject))], video, FPS)
    return exact, video


def tracked_subject(work: Path, video: Path, exact) -> Path:
    """`nbskit track` of the clip, holding out as many last frames as the exact subject does."""
    from nbskit.tracking.track_command import track_video

    out = work / "tracked"
    if not (out / "transforms.json").is_file():
        track_video(video, out, test_frames=len(exact.indices("test")), size=exact.intrinsics.width, model="ict",
                    progress=False)
    return out


def trained(subject_root: Path, run_dir: Path, preset: str, overrides: list[str]):
    """Train (or finish training) a run with a white background; returns the TrainedRun."""
    from nbskit.data.subject import Subject
    from nbskit.train import Trainer, load_run, make_config

    config = make_config(preset, ["background=white", *overrides])
    trainer = Trainer(Subject.load(subject_root), config, run_dir, progress=False, device="cpu")
    trainer.resume()
    if trainer.step < config.total_steps:
        trainer.fit()
    return load_run(run_dir, device="cpu")


def cropped_intrinsics(intrinsics, crop):
    """The intrinsics of an image cut by a SquareCrop (x0, y0, side -> size pixels)."""
    from nbskit.geometry.intrinsics import Intrinsics

    scale = crop.size / crop.side
    return Intrinsics(crop.size, crop.size, intrinsics.fl_x * scale, intrinsics.fl_y * scale,
                      (intrinsics.cx - crop.x0) * scale, (intrinsics.cy - crop.y0) * scale)


def scored_frames(exact, tracked, split: str) -> np.ndarray:
    """Frame indices scored for a split: every test frame, or TRAIN_SAMPLE training frames spread out."""
    indices = exact.indices(split)
    if split == "train":
        indices = indices[np.unique(np.linspace(0, len(indices) - 1, TRAIN_SAMPLE).astype(int))]
    assert all(tracked.frames[i].split == split for i in indices), "exact and tracked splits disagree"
    return indices


def ground_truth(exact, index: int, crop) -> tuple[np.ndarray, np.ndarray]:
    """The exact frame over white and its mask, cut by the tracker's crop: float [S,S,3], bool [S,S]."""
    mask = exact.load_mask(index)[..., None]
    image = mask * exact.load_image(index) + (1 - mask)
    pixels = np.round(np.concatenate([image, mask], -1) * 255).astype(np.uint8)
    cut = crop.apply(pixels[None])[0].astype(np.float32) / 255
    return cut[..., :3], cut[..., 3] > 0.5


def render_scores(rgb, truth, head) -> dict:
    """Whole-image, in-mask and right-half PSNR of one render ([H, W, 3]) against the truth."""
    import torch

    from nbskit.train.region_metrics import masked_psnr
    from nbskit.train.test_time import right_half_psnr

    rgb = rgb.clamp(0, 1)
    return {"psnr": masked_psnr(rgb, truth, torch.ones_like(head)), "psnr_mask": masked_psnr(rgb, truth, head),
            "psnr_right": right_half_psnr(rgb, truth)}


def score_runs(runs: dict, indices: np.ndarray, crop_at_size, test_time: bool) -> dict:
    """Mean scores of every run (``RUNS``) over ``indices`` against the exact truth: ``{run}_psnr``,
    ``{run}_psnr_mask``, ``{run}_psnr_right`` (the right half) and, with ``test_time``, the tracked runs'
    right half after the test-time fit on the truth's left half (``{run}_psnr_right_fitted``)."""
    import torch

    from nbskit.train.test_time import fit_held_out_frame, right_half_psnr

    exact = runs["exact"].subject
    white = torch.ones(crop_at_size.size, crop_at_size.size, 3)
    values: dict[str, list[float]] = {}
    for index in indices:
        truth, head = (torch.from_numpy(array) for array in ground_truth(exact, int(index), crop_at_size))
        for name, run in runs.items():
            c2w, w = run.subject.camera_to_world([index])[0], run.subject.expressions([index])[0]
            # the exact run renders its exact cameras through the tracker's crop
            intrinsics = cropped_intrinsics(exact.intrinsics, crop_at_size) if name == "exact" else run.intrinsics
            scores = render_scores(run.render(c2w, w, intrinsics, white)["rgb"], truth, head)
            if test_time and name != "exact":
                c2w, w = fit_held_out_frame(run, c2w, w, truth, white, seed=int(index))
                scores["psnr_right_fitted"] = right_half_psnr(run.render(c2w, w, intrinsics, white)["rgb"], truth)
            for key, value in scores.items():
                values.setdefault(f"{name}_{key}", []).append(value)
    return {key: float(np.mean(items)) for key, items in values.items()}


def gaps(means: dict) -> dict:
    """The tracking gap (exact − tracked) over the whole image and in the mask and, where the right
    halves were fitted, the share of the right-half gap of the run trained without refinement that the
    test-time fit closes alone (``closed_fit_only``) and after refinement in training (``closed_refined``)."""
    result = {"gap_psnr": means["exact_psnr"] - means["tracked_psnr"],
              "gap_psnr_mask": means["exact_psnr_mask"] - means["tracked_psnr_mask"]}
    if "plain_psnr_right_fitted" in means:
        start = means["plain_psnr_right"]
        gap = means["exact_psnr_right"] - start
        result.update(gap_right=gap, closed_fit_only=(means["plain_psnr_right_fitted"] - start) / gap,
                      closed_refined=(means["tracked_psnr_right_fitted"] - start) / gap)
    return result


def seed_rows(work: Path, seed: int, args: argparse.Namespace) -> list[dict]:
    """One row per split for one synthetic subject."""
    from nbskit.data.subject import Subject
    from nbskit.tracking.video import SquareCrop
    from nbskit.train import load_run

    if args.evaluate_only:
        runs = {name: load_run(work / folder, device="cpu") for name, folder, _ in RUNS}
        if len({run.step for run in runs.values()}) > 1:
            raise SystemExit(f"{work}: the runs stopped at different steps ({[run.step for run in runs.values()]})")
        tracked_root = work / "tracked"
    else:
        work.mkdir(parents=True, exist_ok=True)
        exact_root, video = synthetic_clip(work, seed, args.frames, args.resolution)
        tracked_root = tracked_subject(work, video, Subject.load(exact_root))
        subjects = {"exact": exact_root, "tracked": tracked_root, "plain": tracked_root}
        runs = {name: trained(subjects[name], work / folder, args.preset, args.overrides + refine)
                for name, folder, refine in RUNS}
    x0, y0, side = Subject.load(tracked_root).extra["tracking"]["crop"]
    crop = SquareCrop(x0, y0, side, runs["tracked"].intrinsics.width)  # the tracker's cut at the training size
    rows = []
    for split in SPLITS:
        indices = scored_frames(runs["exact"].subject, runs["tracked"].subject, split)
        means = score_runs(runs, indices, crop, test_time=split == "test")
        rows.append({"seed": seed, "split": split, "frames": len(indices), "step": runs["exact"].step,
                     **means, **gaps(means)})
    (work / "rows.json").write_text(json.dumps(rows, indent=1))
    return rows


def spread_rows(rows: list[dict]) -> list[dict]:
    """Per split: the mean over seeds and the range (min..max) of each gap."""
    summary = []
    for split in SPLITS:
        chosen = [row for row in rows if row["split"] == split]
        keys = [key for key in chosen[0] if key not in ("seed", "split", "frames", "step")]
        mean = {"seed": "mean", "split": split, **{key: float(np.mean([r[key] for r in chosen])) for key in keys}}
        summary.append(mean)
        for bound, pick in (("min", min), ("max", max)):
            summary.append({"seed": bound, "split": split,
                            **{key: pick(r[key] for r in chosen) for key in GAP_KEYS if key in chosen[0]}})
    return summary


def run(args: argparse.Namespace) -> int:
    apply_thread_setting(args.threads)
    seeds = [int(part) for part in args.seeds.split(",")]
    work = args.work.resolve()
    rows = [row for seed in seeds for row in seed_rows(work / f"seed{seed}", seed, args)]
    settings = {"seeds": seeds, "frames": args.frames, "resolution": args.resolution, "preset": args.preset,
                "overrides": args.overrides, "background": "white", "train_frames_scored": TRAIN_SAMPLE}
    report(args.out, rows + spread_rows(rows), COLUMNS, {"settings": settings, "rows": rows,
                                                          "summary": spread_rows(rows)},
           benchmark="tracking_cost", heading="tracking gap: exact minus tracked subject, same preset and seed",
           notes=["PSNR in dB against the exact renders cut by the tracker's crop; in-mask: inside the true head mask"])
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(__doc__, add_arguments, run))
