"""`nbskit demo [--out DIR]`: the whole pipeline on a synthetic head, in one folder.

Synthesises the default subject (cached), trains it (``cpu`` preset, or ``gpu`` with CUDA),
evaluates the held-out frames, and writes a reenactment driven by a second synthetic person, a
novel-view orbit, the basis gallery and a coloured mesh.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from nbskit.data.synthetic import SUBJECT_CACHE

DRIVER_SEED = 1  # a different person and a different performance
DRIVER_FRAMES = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    parser.add_argument("--cache", type=Path, default=SUBJECT_CACHE, help="where synthetic subjects are kept")
    parser.add_argument("--preset", help="training preset (default: gpu with CUDA, else cpu)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training config field (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def driver_subject(cache: Path, target: Path) -> Path:
    """A short second synthetic subject with the target's blendshape model (so coefficients match)."""
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import PRESETS, synthesize_subject

    info = Subject.load(target).extra["synthetic"]
    preset = dataclasses.replace(PRESETS[info["preset"]], name="driver", num_frames=DRIVER_FRAMES)
    root = cache / f"driver_{info['preset']}_{info['model']}_seed{DRIVER_SEED}"
    if not (root / "transforms.json").is_file():
        synthesize_subject(root, preset, seed=DRIVER_SEED, model=info["model"])
    return root


def train_demo_run(subject, config, run_dir: Path, progress: bool) -> None:
    """Train (or finish) the demo's run; an earlier demo run is continued only if it is the same run."""
    from nbskit.train import run_guard
    from nbskit.train.trainer import Trainer

    stored = run_guard.existing_run(run_dir)
    if stored is not None:
        run_guard.check_same_subject(stored, subject, run_dir)
        run_guard.check_unchanged(run_guard.stored_config(stored, run_dir), None, config.to_dict(), run_dir)
    trainer = Trainer(subject, config, run_dir, progress=progress)
    trainer.resume()
    trainer.fit()


def run(args: argparse.Namespace) -> int:
    import torch

    from nbskit.apps import gallery, reenact, render, video
    from nbskit.apps.head_mesh import head_mesh
    from nbskit.data.folders import describe_entries
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import default_subject
    from nbskit.errors import UserError
    from nbskit.geometry.mesh import export_mesh, mesh_figure
    from nbskit.train.evaluate import evaluate_run, format_table, write_metrics
    from nbskit.train.perceptual import load_perceptual
    from nbskit.train.presets import make_config
    from nbskit.train.run import load_run

    clock = time.perf_counter()
    out, progress = args.out, not args.quiet
    preset = args.preset or ("gpu" if torch.cuda.is_available() else "cpu")
    config, run_dir = make_config(preset, args.overrides), out / "run"
    if out.is_dir() and any(out.iterdir()) and not (run_dir / "config.json").is_file():
        raise UserError(f"--out {out} holds files that are not an earlier demo ({describe_entries(out)}); "
                        "choose a new or empty folder")
    print(f"[1/6] synthetic subject (cached in {args.cache})")
    subject_dir = default_subject(args.cache)
    driver_dir = driver_subject(args.cache, subject_dir)
    print(f"[2/6] training with the {preset!r} preset")
    train_demo_run(Subject.load(subject_dir), config, run_dir, progress)
    trained = load_run(run_dir)
    print("[3/6] evaluating the held-out test frames")
    perceptual = load_perceptual()
    if perceptual is not None:
        perceptual.to(trained.model.aabb.device)
    result = evaluate_run(trained, "test", perceptual, progress=progress)
    metrics_path = write_metrics(run_dir, result)
    print(format_table(result))
    print("[4/6] reenactment by a second synthetic person, and a novel-view orbit")
    reenactment = video.write_video(reenact.reenact(trained, Subject.load(driver_dir), progress=progress),
                                    out / "reenactment.mp4")
    orbit = video.write_video(render.render_orbit(trained, progress=progress), out / "orbit.mp4")
    print("[5/6] basis gallery")
    gallery_path = video.write_image(gallery.basis_gallery(trained, progress=progress), out / "gallery.png")
    print("[6/6] mesh")
    outputs = [("subject", subject_dir), ("run folder", run_dir), ("test metrics", metrics_path),
               ("reenactment", reenactment), ("orbit", orbit), ("basis gallery", gallery_path)]
    try:
        mesh = head_mesh(trained, progress=progress)
    except ValueError as err:  # a field trained too briefly may have no surface at the default level
        print(f"mesh skipped: {err} (try `nbskit mesh RUN --level ...`)")
    else:
        viewer = out / "mesh.html"
        mesh_figure(mesh, "nbskit demo head").write_html(str(viewer))
        outputs += [("mesh", export_mesh(mesh, out / "mesh.ply")), ("mesh viewer", viewer)]
    minutes = (time.perf_counter() - clock) / 60
    print(f"\nnbskit demo finished in {minutes:.1f} min; test PSNR {result['mean']['psnr']:.2f} dB")
    for label, path in outputs:
        print(f"  {label:<14} {path}")
    return 0
