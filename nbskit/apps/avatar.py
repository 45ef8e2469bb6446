"""From a user's video to a drivable head in one call: track, train, evaluate, render.

OUT/
  subject/          the tracked subject folder (hands stored as ignore masks)
  run/              the training run (checkpoints, log, metrics_test.json)
  orbit.mp4         novel views around the head
  reenactment.mp4   the head driven by a synthetic person's expressions and head motion
  gallery.png       the expression bases (neutral | basis | change)
  mesh.ply          a coloured mesh (and mesh.html, a viewer)
  summary.json      where everything is and how good it is (also printed)

Each step leaves its output in OUT and is skipped when it is already there, so an interrupted
call continues where it stopped (training resumes from its last checkpoint).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nbskit.tracking.video import VideoError

DEFAULT_FRAME_BUDGET = 300  # frames kept from a long clip, spread evenly in time
MIN_FACE_FRAMES = 20  # fewer frames with a face and there is not enough to train on
TRACK_SIZE = 256  # crop side: the cpu preset trains at 128, the gpu one at up to 512
TEST_FRAMES = 10
DRIVER_SEED = 1
DRIVER_FRAMES = 50
SUMMARY_FILE = "summary.json"
STEPS = ("decode", "track", "train", "evaluate", "renders")


@dataclass
class FaceReport:
    """Which decoded frames hold a face: kept [N] bool, and how many frames showed two or more."""

    kept: np.ndarray
    several_faces: int

    def dropped_spans(self, times: np.ndarray) -> list[list[float]]:
        """[start, end] seconds of each run of frames without a face."""
        spans, start = [], None
        for index, keep in enumerate(self.kept):
            if not keep and start is None:
                start = index
            if (keep or index == len(self.kept) - 1) and start is not None:
                end = index - 1 if keep else index
                spans.append([round(float(times[start]), 2), round(float(times[end]), 2)])
                start = None
        return spans


@dataclass
class Progress:
    """One progress bar over the whole call; steps advance it by their share."""

    bar: tqdm = field(default=None)
    shares: dict = field(default_factory=lambda: {"decode": 5, "track": 20, "train": 60, "evaluate": 5,
                                                   "renders": 10})

    def __post_init__(self):
        if self.bar is None:
            self.bar = tqdm(total=sum(self.shares.values()), desc="avatar", unit="%", dynamic_ncols=True)

    def start(self, step: str) -> None:
        self.bar.set_description(f"avatar: {step}")

    def advance(self, step: str, fraction: float = 1.0) -> None:
        """Move the bar to ``fraction`` of ``step`` (steps before it count as done)."""
        done = sum(share for name, share in self.shares.items() if STEPS.index(name) < STEPS.index(step))
        self.bar.n = done + fraction * self.shares[step]
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def faces_in(frames: np.ndarray) -> FaceReport:
    """Detect faces in every frame; frames without one are to be dropped."""
    from nbskit.tracking.landmarks import detect_faces

    faces = detect_faces(frames, progress=False)
    return FaceReport(np.array([len(f) > 0 for f in faces]), int(sum(len(f) > 1 for f in faces)))


def decode(video: Path, frame_budget: int):
    """(Clip, FaceReport) with frames without a face removed from the clip; clear errors for bad input."""
    from nbskit.tracking.video import read_clip

    clip = read_clip(video, frame_budget)
    faces = faces_in(clip.frames)
    if not faces.kept.any():
        raise VideoError(f"{video}: no face was found in any of {len(clip.frames)} frames")
    if faces.kept.sum() < MIN_FACE_FRAMES:
        raise VideoError(f"{video}: too short: {int(faces.kept.sum())} frames with a face (of {clip.source_frames} "
                         f"in the file); a head needs at least {MIN_FACE_FRAMES}, a few seconds of video")
    return clip, faces


def track(clip, faces: FaceReport, out: Path, video: Path, hands: bool) -> dict:
    """Track the frames with a face into OUT/subject; returns the tracking numbers."""
    from nbskit.tracking.track_command import track_frames

    kept = clip.frames[faces.kept]
    result = track_frames(kept, clip.fps, out / "subject", str(video), test_frames=TEST_FRAMES, size=TRACK_SIZE,
                          progress=False, test_split="spread", hands=hands)
    return {"face_fraction": result.face_fraction, "mean_reprojection_px": result.mean_reprojection_px,
            "hand_frames": result.hand_frames}


def train(out: Path, preset: str, overrides: list[str], progress: Progress) -> Path:
    """Train (or resume) OUT/run on OUT/subject; returns the run folder."""
    from nbskit.data.subject import Subject
    from nbskit.train import Trainer, make_config

    run_dir = out / "run"
    config = make_config(preset, overrides)
    trainer = Trainer(Subject.load(out / "subject"), config, run_dir, progress=False)
    trainer.resume()

    def advance(record: dict) -> None:
        progress.advance("train", record["step"] / config.total_steps)

    trainer.fit(callback=advance)
    return run_dir


def driver_subject(out: Path, model_name: str) -> Path | None:
    """A short synthetic person with the same blendshape model (for the reenactment), or None
    when the subject was tracked with a model the synthesiser cannot render."""
    from nbskit.data.synthetic import synthesize_subject
    from nbskit.data.synthetic.presets import SynthPreset

    if model_name not in ("ict", "procedural"):
        return None
    root = out / "driver"
    if not (root / "transforms.json").is_file():
        synthesize_subject(root, SynthPreset("driver", 128, DRIVER_FRAMES, model_name, 128), seed=DRIVER_SEED,
                           model=model_name, progress=False)
    return root


def renders(out: Path, run_dir: Path) -> dict:
    """Orbit, reenactment, basis gallery and mesh of the trained run; returns {label: path}."""
    from nbskit.apps import gallery, reenact, render, video
    from nbskit.apps.head_mesh import head_mesh
    from nbskit.data.subject import Subject
    from nbskit.geometry.mesh import export_mesh, mesh_figure
    from nbskit.train.run import load_run

    trained = load_run(run_dir)
    paths = {"orbit": video.write_video(render.render_orbit(trained, progress=False), out / "orbit.mp4")}
    driver = driver_subject(out, trained.subject.extra.get("tracking", {}).get("model", ""))
    if driver is not None:
        frames = reenact.reenact(trained, Subject.load(driver), progress=False)
        paths["reenactment"] = video.write_video(frames, out / "reenactment.mp4")
    paths["basis gallery"] = video.write_image(gallery.basis_gallery(trained, progress=False), out / "gallery.png")
    try:
        mesh = head_mesh(trained, progress=False)
    except ValueError as err:  # a field trained too briefly may have no surface at the default level
        paths["mesh"] = f"skipped: {err}"
    else:
        mesh_figure(mesh, "nbskit avatar").write_html(str(out / "mesh.html"))
        paths["mesh"] = export_mesh(mesh, out / "mesh.ply")
    return {label: str(path) for label, path in paths.items()}


def load_summary(out: Path) -> dict:
    path = out / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def save_summary(out: Path, summary: dict) -> None:
    from nbskit.data.subject import atomic_write_bytes

    atomic_write_bytes(out / SUMMARY_FILE, (json.dumps(summary, indent=1) + "\n").encode())


def make_avatar(video: str | Path, out: str | Path, preset: str | None = None, overrides: list[str] | None = None,
                frame_budget: int = DEFAULT_FRAME_BUDGET, hands: bool = True, show_progress: bool = True) -> dict:
    """Run every step not yet done in OUT (see module docstring); returns the summary."""
    import torch

    video, out = Path(video), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = load_summary(out)
    summary.setdefault("video", str(video.resolve()))
    summary["preset"] = preset = preset or summary.get("preset") or ("gpu" if torch.cuda.is_available() else "cpu")
    progress = Progress() if show_progress else Progress(bar=tqdm(disable=True))
    try:
        if not (out / "subject" / "transforms.json").is_file():
            progress.start("decode")
            clip, faces = decode(video, frame_budget)
            summary["frames"] = {"in_file": clip.source_frames, "decoded": len(clip.frames),
                                 "rotation_degrees": clip.rotation, "fps": round(clip.fps, 3),
                                 "tracked": int(faces.kept.sum()), "dropped_without_face": int((~faces.kept).sum()),
                                 "dropped_spans_s": faces.dropped_spans(clip.times),
                                 "frames_with_several_faces": faces.several_faces}
            progress.advance("decode")
            progress.start("track")
            summary["tracking"] = track(clip, faces, out, video, hands)
            save_summary(out, summary)
        progress.advance("track")
        progress.start("train")
        run_dir = train(out, preset, list(overrides or []), progress)
        progress.start("evaluate")
        summary["test"] = evaluate(run_dir)
        progress.advance("evaluate")
        progress.start("renders")
        summary["outputs"] = {"subject": str(out / "subject"), "run": str(run_dir),
                              "test metrics": str(run_dir / "metrics_test.json"), **renders(out, run_dir)}
        progress.advance("renders")
    finally:
        progress.close()
        save_summary(out, summary)
    return summary


def evaluate(run_dir: Path) -> dict:
    """Mean test metrics of the run, written to its metrics_test.json: whole image, head and visible
    head as tracked, and the right half's PSNR as tracked and test-time refined (``nbskit.train.test_time``)."""
    from nbskit.train.evaluate import evaluate_run, write_metrics
    from nbskit.train.run import load_run

    result = evaluate_run(load_run(run_dir), "test", progress=False, test_time_refine=True)
    write_metrics(run_dir, result)
    return {"frames": result["frames"], "test_time_fit": result["test_time"]["fit"],
            **{key: round(value, 3) for key, value in result["mean"].items()}}


def summary_text(summary: dict) -> str:
    """The summary as lines a person reads: what was kept, how good, where things are."""
    frames, tracking, test = summary["frames"], summary["tracking"], summary["test"]
    lines = [f"video        {summary['video']}",
             (f"frames       {frames['tracked']} tracked of {frames['decoded']} decoded ({frames['in_file']} in the "
             f"file, {frames['fps']:.1f} per second kept, rotated {frames['rotation_degrees']} degrees)")]
    if frames["dropped_without_face"]:
        spans = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in frames["dropped_spans_s"])
        lines.append(f"dropped      {frames['dropped_without_face']} frames without a face ({spans})")
    if frames["frames_with_several_faces"]:
        lines.append(f"faces        two or more faces in {frames['frames_with_several_faces']} frames: "
                     "the largest one was tracked")
    lines += [(f"tracking     face mesh in {tracking['face_fraction']:.0%} of frames, reprojection "
              f"{tracking['mean_reprojection_px']:.2f} px, a hand left out of training in {tracking['hand_frames']} frames"),
              (f"quality      {test['frames']} held-out frames ({summary['preset']} preset): PSNR {test['psnr']:.2f} dB "
              f"whole image, {test['psnr_head']:.2f} dB on the head, {test['psnr_head_visible']:.2f} dB on its "
              f"visible part, SSIM {test['ssim']:.3f} (as tracked)"),
              (f"             right half of each held-out frame: {test['psnr_right_half_as_tracked']:.2f} dB as tracked, "
              f"{test['psnr_right_half_test_time_refined']:.2f} dB test-time refined ({test['test_time_fit']} fitted "
              "on the left half)")]
    lines += [f"{label:<12} {path}" for label, path in summary["outputs"].items()]
    return "\n".join(lines)
