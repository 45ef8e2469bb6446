"""Hostile but honest use of the command line: every expected failure ends with one clear line on
stderr, no traceback, a non-zero exit, and every file that existed before byte-identical after.

The classes follow the guarantees in docs/guarantees.md: bad options, missing or corrupt files,
mismatched resume, overwrite attempts, a malicious checkpoint, a diverging run, Ctrl-C, and a
subject folder that moved. Commands run through ``nbskit.cli.main`` in-process (fast); the Ctrl-C
case runs a real process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nbskit.cli import main
from nbskit.train.checkpoint import CHECKPOINT_FILE, CONFIG_FILE, load_checkpoint
from tests.subject_factory import INTRINSICS, write_tiny_subject

REPO = Path(__file__).resolve().parents[1]
SIZE = dataclasses.replace(INTRINSICS, width=16, height=12, cx=8.0, cy=6.0)  # >= the 11-pixel SSIM window
# A run of a few seconds: every stage, grid updates, patches; no perceptual network to load.
TINY = ["total_steps=4", "stage2_start=2", "stage3_start=3", "checkpoint_interval=2", "eval_interval=4",
        "log_interval=1", "max_image_size=0", "rays_per_frame=16", "patch_size=4", "grid_resolution=8",
        "grid_update_interval=2", "grid_warmup_steps=2", "perceptual_weight=0", "log2_table_size=8"]


def sets(*overrides: str) -> list[str]:
    return [item for override in overrides for item in ("--set", override)]


def train_args(subject: Path, out: Path, *extra: str, overrides=TINY) -> list[str]:
    return ["train", str(subject), "--preset", "cpu-smoke", "--out", str(out), "--quiet", *sets(*overrides), *extra]


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (folders as '<dir>')."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
            for path in sorted(root.rglob("*"))}


def fails_cleanly(argv: list[str], capsys, root: Path, *expected: str) -> str:
    """Run ``nbskit argv``; assert a one-line error naming ``expected``, exit != 0, nothing under
    ``root`` changed or added. Returns the message."""
    before = snapshot(root)
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse rejects an option: usage + one error line, status 2
        status = exit_.code
    captured = capsys.readouterr()
    assert status not in (0, None), f"exit status {status} for {argv}"
    assert "Traceback" not in captured.err + captured.out
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1, captured.err
    for text in expected:
        assert text in errors[0], f"{text!r} not in {errors[0]!r}"
    assert "unexpected error" not in captured.err
    assert snapshot(root) == before, "a file changed, appeared or vanished"
    return errors[0]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A subject, a second subject, and a finished run of the first."""
    root = tmp_path_factory.mktemp("faults")
    write_tiny_subject(root / "subject", intrinsics=SIZE)
    write_tiny_subject(root / "other", seed=1, intrinsics=SIZE)
    assert main(train_args(root / "subject", root / "run")) == 0
    return root


@pytest.fixture
def space(workspace, tmp_path) -> Path:
    """A private copy of the workspace (its run still names the workspace's subject folder, which has
    the same content)."""
    shutil.copytree(workspace, tmp_path / "w")
    return tmp_path / "w"


# ---------------------------------------------------------------------- bad options
BAD_TRAIN_OPTIONS = [
    (["rays_per_frame=0"], "rays_per_frame"),
    (["march_min_step=0"], "march_min_step"),
    (["learning_rate=nan"], "learning_rate"),
    (["grid_resolution=33"], "grid_resolution"),
    (["grid_resolution=100000"], "grid_resolution"),
    (["total_steps=abc"], "total_steps"),
    (["no_such_key=1"], "no_such_key"),
    (["seed=-1"], "seed"),
    (["patches_per_batch=9"], "patches_per_batch"),
    (["stage2_start=9", "stage3_start=3"], "stage2_start"),
    (["patch_size=64"], "patch_size"),  # larger than the 16x12 subject
]


@pytest.mark.parametrize(("overrides", "key"), BAD_TRAIN_OPTIONS, ids=[key for _, key in BAD_TRAIN_OPTIONS])
def test_bad_training_option_is_named_before_any_work(space, capsys, overrides, key):
    fails_cleanly(train_args(space / "subject", space / "new", overrides=TINY + overrides), capsys, space, key)
    assert not (space / "new").exists()


BAD_COMMAND_OPTIONS = [
    (["eval", "{run}", "--max-frames", "0"], "--max-frames"),
    (["eval", "{run}", "--set", "total_steps=5"], "total_steps"),
    (["eval", "{run}", "--set", "test_time_fit=nose"], "test_time_fit"),
    (["render", "{run}", "--out", "{out}", "--views", "0"], "--views"),
    (["render", "{run}", "--out", "{out}", "--fps", "0"], "--fps"),
    (["render", "{run}", "--out", "{out}", "--set", "jawOpen=nan"], "jawOpen=nan"),
    (["render", "{run}", "--out", "{out}", "--set", "noSuchShape=1"], "noSuchShape"),
    (["mesh", "{run}", "--out", "{out}/m.ply", "--resolution", "1"], "--resolution"),
    (["mesh", "{run}", "--out", "{out}/m.ply", "--level", "-1"], "--level"),
    (["mesh", "{run}", "--out", "{out}/m.ply", "--frame", "999"], "--frame"),
    (["mesh", "{run}", "--out", "{out}/m.ply", "--frame", "-1"], "--frame"),
    (["mesh", "{run}", "--out", "{out}/m.stl"], "m.stl"),
    (["track", "{out}/v.mp4", "{out}/s", "--frames", "0"], "--frames"),
    (["track", "{out}/v.mp4", "{out}/s", "--size", "0"], "--size"),
    (["track", "{out}/v.mp4", "{out}/s", "--test-frames", "0"], "--test-frames"),
    (["track", "{out}/v.mp4", "{out}/s", "--val-frames", "-1"], "--val-frames"),
    (["track", "{out}/missing.mp4", "{out}/s"], "missing.mp4"),
    (["synth", "{out}/s", "--seed", "-1"], "--seed"),
]


@pytest.mark.parametrize(("argv", "named"), BAD_COMMAND_OPTIONS, ids=[" ".join(a[:1] + a[3:]) for a, _ in BAD_COMMAND_OPTIONS])
def test_bad_command_option_is_named(space, capsys, argv, named):
    argv = [item.format(run=space / "run", out=space / "out") for item in argv]
    fails_cleanly(argv, capsys, space, named)


# ---------------------------------------------------------------------- missing or corrupt files
def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_info_decodes_every_image(space, capsys):
    truncate(space / "subject" / "images" / "00004.png")
    fails_cleanly(["info", str(space / "subject")], capsys, space, "frames[4].file_path", "00004.png")


def test_info_rejects_a_corrupt_mask(space, capsys):
    mask = space / "subject" / "masks" / "00002.png"
    data = bytearray(mask.read_bytes())
    data[-20:-12] = b"\x00" * 8  # inside the last chunk: a checksum that no longer matches
    mask.write_bytes(bytes(data))
    fails_cleanly(["info", str(space / "subject")], capsys, space, "00002.png")


def test_sixteen_bit_grey_images_are_scaled_not_read_as_white(space):
    from nbskit.data.subject import Subject

    path = space / "subject" / "images" / "00001.png"
    values = np.linspace(0, 65535, SIZE.width * SIZE.height).reshape(SIZE.height, SIZE.width).astype(np.uint16)
    Image.fromarray(values).save(path)
    subject = Subject.load(space / "subject")
    subject.check_pixels()
    image = subject.load_image(1)
    np.testing.assert_allclose(image[..., 0], values / 65535, atol=1e-6)
    assert (image[..., 0] == image[..., 2]).all() and image.min() == 0.0


MISSING_OR_CORRUPT = [
    ("info on a missing folder", lambda s: ["info", str(s / "nowhere")], "nowhere"),
    ("render a folder that is no run", lambda s: ["render", str(s / "subject"), "--out", str(s / "o")], "config.json"),
    ("eval with broken config.json", lambda s: (s / "run" / CONFIG_FILE).write_text("{") and
     ["eval", str(s / "run")], "config.json"),
    ("render with a truncated checkpoint", lambda s: truncate(s / "run" / CHECKPOINT_FILE) or
     ["render", str(s / "run"), "--out", str(s / "o")], "last.pt"),
    ("mesh with a missing checkpoint", lambda s: (s / "run" / CHECKPOINT_FILE).unlink() or
     ["mesh", str(s / "run"), "--out", str(s / "m.ply")], "last.pt"),
    ("train on a subject with a missing mask", lambda s: (s / "subject" / "masks" / "00003.png").unlink() or
     train_args(s / "subject", s / "new"), "frames[3].mask_path"),
    ("render --drive a missing subject", lambda s: ["render", str(s / "run"), "--out", str(s / "o"), "--drive",
                                                    str(s / "nowhere")], "nowhere"),
]


@pytest.mark.parametrize(("label", "make", "named"), MISSING_OR_CORRUPT, ids=[case[0] for case in MISSING_OR_CORRUPT])
def test_missing_or_corrupt_file_is_named(space, capsys, label, make, named):
    argv = make(space)
    fails_cleanly(argv, capsys, space, named)


# ---------------------------------------------------------------------- resume and overwrite
def test_resume_refuses_another_subject(space, capsys):
    fails_cleanly(train_args(space / "other", space / "run", "--resume"), capsys, space, "different subject")


@pytest.mark.parametrize(("extra", "field"), [
    (sets("total_steps=8"), "total_steps"),
    (["--seed", "5"], "seed"),
    (["--grid", "none"], "grid_policy"),
])
def test_resume_refuses_changed_options_naming_the_field(space, capsys, extra, field):
    fails_cleanly(train_args(space / "subject", space / "run", "--resume", *extra), capsys, space, field)


def test_resume_with_a_changed_preset_is_named(space, capsys):
    argv = train_args(space / "subject", space / "run", "--resume")
    argv[argv.index("cpu-smoke")] = "cpu"
    fails_cleanly(argv, capsys, space, "preset")


def test_resume_with_the_same_options_continues(space, capsys):
    assert main(train_args(space / "subject", space / "run", "--resume")) == 0
    assert "done: step 4" in capsys.readouterr().out
    # without --preset and with one option repeated: the stored config, nothing re-derived from a preset
    assert main(["train", str(space / "subject"), "--out", str(space / "run"), "--resume", "--quiet",
                 *sets("total_steps=4")]) == 0
    assert "done: step 4" in capsys.readouterr().out


def test_overwrite_that_fails_keeps_the_old_run(space, capsys):
    truncate(space / "subject" / "images" / "00000.png")
    fails_cleanly(train_args(space / "subject", space / "run", "--overwrite"), capsys, space, "00000.png")


OVERWRITES = [
    ("train over a finished run", lambda s: train_args(s / "subject", s / "run"), "--overwrite"),
    ("train into a folder of other files", lambda s: (s / "notes").mkdir() or (s / "notes" / "a.txt").write_text("x")
     and train_args(s / "subject", s / "notes"), "a.txt"),
    ("train --overwrite into a folder of other files", lambda s: train_args(s / "subject", s / "other", "--overwrite"),
     "not an nbskit run"),
    ("train --out a file", lambda s: train_args(s / "subject", s / "run" / CONFIG_FILE), "is a file"),
    ("import official OUT == SRC", lambda s: ["import", "official", str(s / "other"), str(s / "other")], "source"),
    ("import official into a subject", lambda s: ["import", "official", str(s / "other"), str(s / "subject")],
     "already holds"),
    ("synth into a subject", lambda s: ["synth", str(s / "subject")], "already holds"),
    ("track into a subject", lambda s: ["track", str(s / "v.mp4"), str(s / "subject")], "already holds"),
    ("render over an orbit", lambda s: ["render", str(s / "run"), "--views", "2", "--out", str(s / "renders")],
     "--overwrite"),
    ("mesh over a file", lambda s: ["mesh", str(s / "run"), "--out", str(s / "subject" / "transforms.json")], ".ply"),
    ("mesh over a mesh", lambda s: (s / "m.ply").write_text("mine") and
     ["mesh", str(s / "run"), "--out", str(s / "m.ply")], "--overwrite"),
]


@pytest.mark.parametrize(("label", "make", "named"), OVERWRITES, ids=[case[0] for case in OVERWRITES])
def test_nothing_is_overwritten(space, capsys, label, make, named):
    (space / "renders" / "orbit").mkdir(parents=True)
    (space / "renders" / "orbit.mp4").write_bytes(b"an orbit I made")
    fails_cleanly(make(space), capsys, space, named)


def test_overwrite_replaces_only_the_run_files(space, capsys):
    (space / "run" / "my_notes.txt").write_text("keep me")
    assert main(train_args(space / "subject", space / "run", "--overwrite", overrides=TINY + ["seed=7"])) == 0
    assert json.loads((space / "run" / CONFIG_FILE).read_text())["train"]["seed"] == 7
    assert (space / "run" / "my_notes.txt").read_text() == "keep me"


# ---------------------------------------------------------------------- loading a run never runs code
class WritesAFile:
    """Unpickling this calls exec(): what a hostile checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def plant(path: Path, marker: Path) -> None:
    torch.save({"format": "nbskit-checkpoint/2", "state": WritesAFile(marker), "tensors": {}}, path)


def test_the_planted_checkpoint_would_run_code(tmp_path):
    """The trap is real: an unsafe load of the same kind of file does write the marker."""
    marker = tmp_path / "ran.txt"
    plant(tmp_path / "trap.pt", marker)
    torch.load(tmp_path / "trap.pt", weights_only=False)
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("command", ["render", "eval", "mesh", "train --resume"])
def test_malicious_checkpoint_is_refused_by_every_loader(space, capsys, command):
    marker = space.parent / "ran.txt"
    plant(space / "run" / CHECKPOINT_FILE, marker)
    argv = {
        "render": ["render", str(space / "run"), "--out", str(space / "o")],
        "eval": ["eval", str(space / "run"), "--no-perceptual"],
        "mesh": ["mesh", str(space / "run"), "--out", str(space / "m.ply")],
        "train --resume": train_args(space / "subject", space / "run", "--resume"),
    }[command]
    fails_cleanly(argv, capsys, space, "refused to load", "last.pt")
    assert not marker.exists()


# ---------------------------------------------------------------------- divergence
def test_nan_loss_stops_with_an_error_not_done(space, capsys):
    before = snapshot(space / "subject")
    status = main(train_args(space / "subject", space / "diverged", overrides=TINY + ["learning_rate=1e30"]))
    captured = capsys.readouterr()
    assert status == 1 and "done" not in captured.out and "Traceback" not in captured.err
    assert "training diverged: the loss is nan" in captured.err
    assert snapshot(space / "subject") == before


# ---------------------------------------------------------------------- a moved subject
def test_a_moved_subject_still_renders_and_meshes_and_eval_asks_for_it(space, capsys):
    assert main(train_args(space / "subject", space / "run", "--overwrite")) == 0  # a run of this copy
    shutil.move(space / "subject", space / "moved")
    assert main(["render", str(space / "run"), "--views", "2", "--out", str(space / "o")]) == 0
    assert "using the copy of its metadata" in capsys.readouterr().err
    mesh = ["mesh", str(space / "run"), "--out", str(space / "m.ply"), "--resolution", "16", "--level"]
    assert main([*mesh, "1e-9"]) == 1  # a four-step field is nearly uniform: read its density range
    low, high = re.search(r"density ranges over \[([^,]+), ([^\]]+)\]", capsys.readouterr().err).groups()
    assert main([*mesh, str((float(low) + float(high)) / 2)]) == 0
    assert (space / "m.ply").stat().st_size > 0
    fails_cleanly(["eval", str(space / "run"), "--no-perceptual"], capsys, space, "--subject")
    fails_cleanly(["eval", str(space / "run"), "--subject", str(space / "other")], capsys, space, "not the subject")
    assert main(["eval", str(space / "run"), "--no-perceptual", "--subject", str(space / "moved")]) == 0


# ---------------------------------------------------------------------- the error path itself
def test_debug_shows_the_traceback_of_an_expected_error(space, capsys, monkeypatch):
    monkeypatch.setenv("NBSKIT_DEBUG", "1")
    assert main(["info", str(space / "nowhere")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_an_unexpected_error_asks_for_a_report(space, capsys, monkeypatch):
    import nbskit.data.info_command as info

    monkeypatch.setattr(info.Subject, "load", lambda *a, **k: 1 / 0)
    assert main(["info", str(space / "subject")]) == 1
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "please report it" in err


# ---------------------------------------------------------------------- Ctrl-C
def run_process(argv: list[str]) -> subprocess.Popen:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "nbskit", *argv], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_saves_the_current_step_and_resume_is_bit_exact(workspace, tmp_path):
    steps = 150
    long = [*TINY, f"total_steps={steps}", "stage2_start=40", "stage3_start=100", "checkpoint_interval=1000",
            "eval_interval=1000", "log_interval=7"]
    process = run_process(train_args(workspace / "subject", tmp_path / "cut", overrides=long))
    deadline = time.monotonic() + 120
    while not (tmp_path / "cut" / CONFIG_FILE).is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # config.json is written when the first step starts
    time.sleep(0.5)  # a few steps in, long before the end (no checkpoint is due before it)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "checkpoint saved at step" in out
    cut = load_checkpoint(tmp_path / "cut")
    assert 0 < cut["step"] < steps and f"step {cut['step']}" in out

    rest = run_process(train_args(workspace / "subject", tmp_path / "cut", "--resume", overrides=long))
    assert rest.wait(timeout=300) == 0, rest.stderr.read()
    straight = run_process(train_args(workspace / "subject", tmp_path / "straight", overrides=long))
    assert straight.wait(timeout=300) == 0, straight.stderr.read()
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "cut")
    assert a["step"] == b["step"] == steps
    for part in ("model", "grid"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs after Ctrl-C and resume"
    assert [r["loss"] for r in a["history"]["train"]] == [r["loss"] for r in b["history"]["train"]]


def test_checkpoint_round_trips_every_kind_of_state(tmp_path):
    """Tensors, arrays, tuples, int dict keys and NaN survive the weights_only format exactly."""
    from nbskit.train.tensor_tree import flatten, unflatten

    state = {"a": torch.arange(3), 0: {"b": (1, 2.5, float("nan"))}, "c": [None, True, "x"],
             "d": np.arange(4, dtype=np.uint32), "__tensor__": 1}
    back = unflatten(*flatten(state))
    assert torch.equal(back["a"], state["a"]) and back["d"].dtype == np.uint32
    assert (back["d"] == state["d"]).all() and back["c"] == state["c"] and back["__tensor__"] == 1
    assert back[0]["b"][:2] == (1, 2.5) and np.isnan(back[0]["b"][2]) and isinstance(back[0]["b"], tuple)


def test_every_config_field_has_a_rule():
    from nbskit.train.config_rules import FIELD_RULES
    from nbskit.train.presets import TrainConfig

    assert set(FIELD_RULES) == {field.name for field in dataclasses.fields(TrainConfig)}
