"""End to end on the synthetic `tiny` subject: train via the CLI, SIGKILL, resume bit-exactly, evaluate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nbskit.train.checkpoint import CHECKPOINT_FILE, LOG_FILE, TEST_METRICS_FILE, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
TOTAL_STEPS = 24
KILL_AFTER_STEP = 8  # kill once a checkpoint at or after this step exists (and before the end)
# A deliberately tiny run: every stage, grid updates, patches and the perceptual term all happen.
OVERRIDES = [f"total_steps={TOTAL_STEPS}", "stage2_start=6", "stage3_start=16", "checkpoint_interval=4",
             "eval_interval=24", "log_interval=4", "max_image_size=32", "rays_per_frame=64", "patch_size=24",
             "grid_resolution=16", "grid_update_interval=4", "grid_warmup_steps=8", "seed=3"]


@pytest.fixture(scope="module")
def tiny_subject(tmp_path_factory) -> Path:
    from nbskit.data.synthetic import synthesize_subject

    return synthesize_subject(tmp_path_factory.mktemp("subjects") / "tiny", "tiny", seed=0, progress=False)


def nbskit(*args: str) -> list[str]:
    return [sys.executable, "-m", "nbskit", *args]


def train_command(subject: Path, out: Path, *extra: str) -> list[str]:
    return nbskit("train", str(subject), "--preset", "cpu-smoke", "--out", str(out), "--quiet",
                  *[item for override in OVERRIDES for item in ("--set", override)], *extra)


def environment() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def logged_step(run: Path) -> int:
    try:
        return json.loads((run / LOG_FILE).read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return -1


def assert_perceptual_term_ran(history: dict) -> None:
    """The run found a perceptual network and every logged stage-3 step has a positive perceptual term."""
    assert history["perceptual"], "no perceptual network was loaded for stage 3"
    stage3 = [record for record in history["train"] if record["stage"] == 3]
    assert stage3 and all(record.get("perceptual", 0) > 0 for record in stage3), stage3


@pytest.mark.slow
@pytest.mark.parametrize("refine, keyframes", [("off", 1), ("on", 1), ("on", 3)])
def test_sigkill_then_resume_equals_uninterrupted_run(tiny_subject, tmp_path, perceptual_network, refine, keyframes):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    options = ("--set", f"refine={refine}", "--set", "test_time_steps=4", "--set", f"refine_keyframe_interval={keyframes}")
    subprocess.run(train_command(tiny_subject, straight, *options), check=True, env=environment(), timeout=300)

    process = subprocess.Popen(train_command(tiny_subject, interrupted, *options), env=environment())
    deadline = time.monotonic() + 300
    while logged_step(interrupted) < KILL_AFTER_STEP and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = load_checkpoint(interrupted)["step"]
    assert KILL_AFTER_STEP <= killed_at < TOTAL_STEPS

    subprocess.run(train_command(tiny_subject, interrupted, "--resume"), check=True, env=environment(), timeout=300)
    a, b = load_checkpoint(straight), load_checkpoint(interrupted)
    assert a["step"] == b["step"] == TOTAL_STEPS
    parts = {"model": a["model"], "grid": a["grid"]}
    if refine == "on":  # refinement starts at stage 2 (step 6), before the kill
        parts["corrections"] = a["refinement"]["corrections"]
        assert a["refinement"]["corrections"]["camera"].abs().sum() > 0, "refinement never moved a camera"
    else:
        assert a["refinement"] is None and b["refinement"] is None
    for name, values in parts.items():
        other = b["refinement"]["corrections"] if name == "corrections" else b[name]
        for key in values:
            assert torch.equal(values[key], other[key]), f"{name}.{key} differs after resume"
    assert a["history"]["eval"] == b["history"]["eval"]
    assert [r["loss"] for r in a["history"]["train"]] == [r["loss"] for r in b["history"]["train"]]
    assert_perceptual_term_ran(a["history"])

    test_time = ["--test-time-refine", "--set", "test_time_steps=2"] if refine == "on" else []
    subprocess.run(nbskit("eval", str(straight), "--no-perceptual", *test_time), check=True, env=environment(),
                   timeout=300)
    result = json.loads((straight / TEST_METRICS_FILE).read_text())
    assert result["split"] == "test" and result["frames"] == 6
    assert "composited over" in result["background"]
    labelled = {f"psnr_right_half{region}_{protocol}" for region in ("", "_head_visible")
                for protocol in ("as_tracked", "test_time_refined")} | {"expression_change"}
    assert set(result["mean"]) == ({"mse", "l1", "psnr", "ssim", "psnr_head", "psnr_head_visible"}
                                   | (labelled if test_time else set()))
    assert ("test-time refined" in result["protocol"]) == bool(test_time) and "as tracked" in result["protocol"]
    assert result.get("test_time", {}).get("steps") == (2 if test_time else None)  # --set reached the fit
    assert result["mean"]["psnr_head"] == result["mean"]["psnr_head_visible"]  # nothing is ignored
    if test_time:  # scored over a region of the right half, not all of it
        assert result["mean"]["psnr_right_half_head_visible_as_tracked"] != result["mean"]["psnr_right_half_as_tracked"]
    assert 0 < result["mean"]["ssim"] <= 1 and result["mean"]["psnr"] > 5


def test_checkpoint_holds_everything_needed_to_resume(tiny_subject, tmp_path):
    from nbskit.data.subject import Subject
    from nbskit.train.presets import make_config
    from nbskit.train.trainer import Trainer

    config = make_config("cpu-smoke", OVERRIDES + ["checkpoint_interval=2", "perceptual_weight=0"])
    trainer = Trainer(Subject.load(tiny_subject), config, tmp_path / "run", progress=False)
    trainer.fit(until=2)
    state = load_checkpoint(tmp_path / "run")
    assert set(state) == {"step", "model", "optimizer", "grid", "refinement", "rng", "history"}
    assert state["step"] == 2 and set(state["rng"]) == {"torch", "numpy", "python"}
    assert state["optimizer"]["state"], "Adam moments must be saved"
    assert not list((tmp_path / "run" / CHECKPOINT_FILE).parent.glob(".*")), "temporary file left behind"


def test_frames_are_resized_and_composited_over_the_background(tiny_subject):
    import numpy as np

    from nbskit.data.subject import Subject
    from nbskit.train.dataset import load_frames

    subject = Subject.load(tiny_subject)
    native = load_frames(subject, "test", 0, "subject", progress=False)
    half = load_frames(subject, "test", subject.intrinsics.width // 2, "white", progress=False)
    assert half.intrinsics.fl_x == subject.intrinsics.fl_x / 2 and half.intrinsics.cx == subject.intrinsics.cx / 2
    row, index = 0, int(native.indices[0])
    image, mask = subject.load_image(index), subject.load_mask(index)
    expected = mask[..., None] * image + (1 - mask[..., None]) * subject.background()
    np.testing.assert_allclose(native.image(row).numpy(), expected, atol=0.5 / 255 + 1e-6)
    outside = half.masks[row] == 0
    assert outside.any() and bool((half.images[row][outside] == 255).all()), "white background outside the head"
