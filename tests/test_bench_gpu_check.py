"""The GPU check (bench/gpu_check.sh) and its Python entry points, exercised on the CPU at tiny sizes.

A GPU machine is available rarely and briefly, so a typo or a wrong argument must show up here:
each entry point runs in-process with tiny sizes, the summariser is checked on hand-made step
outputs, and the shell script runs in its dry mode (CPU, tiny sizes) with and without budget.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import gpu_env, gpu_subject, gpu_summary, render, time_to_psnr
from bench.common import run_script

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_check.sh"
ALL_STEPS = ["environment", "build", "parity", "encode", "step", "step_few_samples", "march", "render_random",
             "subject", "time_to_psnr", "render_trained", "run_all"]
# Small enough for seconds per step on two cores; the trainer still marches, blends and updates.
TINY_TRAINING = ["--override", "max_image_size=32", "--override", "rays_per_frame=32", "--override",
                 "march_max_steps=32", "--override", "grid_resolution=16"]
TINY_FRAMES = 12


@pytest.fixture(scope="module")
def tiny_subject(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gpu_check") / "subject"
    assert gpu_subject.main(["--preset", "tiny", "--frames", str(TINY_FRAMES), "--root", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def trained(tiny_subject, tmp_path_factory) -> dict:
    """time_to_psnr on the tiny subject for one second; target 0 dB, which any image reaches."""
    folder = tmp_path_factory.mktemp("ttp")
    argv = [str(tiny_subject), "--preset", "cpu-smoke", *TINY_TRAINING, "--budget-s", "1", "--eval-every-s", "0.5",
            "--curve-frames", "1", "--calibration-steps", "2", "--target-psnr", "0", "--threads", "2", "--device", "cpu",
            "--run-dir", str(folder / "run"), "--out", str(folder / "ttp.json")]
    assert run_script(time_to_psnr.__doc__, time_to_psnr.add_arguments, time_to_psnr.run, argv) == 0
    return {"result": json.loads((folder / "ttp.json").read_text()), "run": folder / "run"}


def test_missing_modules_names_only_the_absent_ones():
    assert gpu_env.missing_modules(["json", "nbskit_surely_absent_module"]) == ["nbskit_surely_absent_module"]


def test_subject_with_fewer_frames_keeps_the_preset_resolution(tiny_subject):
    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import PRESETS

    subject = Subject.load(tiny_subject)
    assert len(subject.frames) == TINY_FRAMES
    assert subject.intrinsics.width == PRESETS["tiny"].resolution
    assert len(subject.indices("test")) == math.ceil(PRESETS["tiny"].test_fraction * TINY_FRAMES)


def test_time_to_psnr_trains_for_the_budget_and_reports_a_consistent_curve(trained, tiny_subject):
    from nbskit.data.subject import Subject

    result = trained["result"]
    curve = result["curve"]
    assert (curve[0]["train_s"], curve[0]["step"]) == (0.0, 0)
    assert all(b["train_s"] > a["train_s"] and b["step"] > a["step"] for a, b in itertools.pairwise(curve))
    assert result["train_s"] >= result["settings"]["budget_s"]  # it stops only once the budget is spent
    assert result["steps"] == curve[-1]["step"]
    assert result["steps_per_s"] == pytest.approx(result["steps"] / result["train_s"])
    split = result["final"]["split"]
    assert split == "val"  # tuning-time numbers never read the test frames when a val split exists
    assert result["final"]["frames"] == len(Subject.load(tiny_subject).indices(split))
    assert math.isfinite(result["final"]["psnr"])
    assert result["target_met"] is True and result["time_to_target_s"] == 0.0  # 0 dB: met before training


def test_the_trained_run_folder_loads_and_renders_at_its_resolution(trained, tmp_path):
    from nbskit.train.run import load_run

    assert load_run(trained["run"], device="cpu").step == trained["result"]["steps"]
    out = tmp_path / "render.json"
    argv = ["--run", str(trained["run"]), "--chunks", "default,frame", "--repeats", "1", "--warmup", "0",
            "--backends", "torch", "--threads", "2", "--out", str(out)]
    assert run_script(render.__doc__, render.add_arguments, render.run, argv) == 0
    rows = json.loads(out.read_text())["rows"]
    width, height = trained["result"]["resolution"]
    assert [row["chunk"] for row in rows] == [render.RenderConfig().chunk_rays, width * height]
    assert {row["size"] for row in rows} == {f"{width}x{height}"}
    assert rows[0]["samples"] == rows[1]["samples"] > 0  # chunking changes the speed, not the image


def test_parity_options_keep_the_cuda_cases_and_stop_a_test_that_runs_too_long(tmp_path):
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(
        "import time\nimport pytest\n\n"
        "@pytest.mark.parametrize('kind', ['cpu', 'cuda'])\ndef test_hangs(kind):\n    time.sleep(60)\n\n"
        "def test_cuda_quick():\n    pass\n"
    )
    environment = {**os.environ, "NBSKIT_TEST_CUDA_ONLY": "1", "NBSKIT_TEST_TIMEOUT_S": "1"}
    completed = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                               cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=50, check=False)
    assert "1 failed, 1 passed, 1 deselected" in completed.stdout, completed.stdout + completed.stderr
    assert "TimeoutError" in completed.stdout and "NBSKIT_TEST_TIMEOUT_S=1" in completed.stdout


def write(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def encode_row(device: str, backend: str, dtype: str, msamples: float, operation: str = "blend+encode") -> dict:
    return {"device": device, "backend": backend, "dtype": dtype, "operation": operation, "pass": "forward+backward",
            "median_ms": 131072 / msamples / 1e3, "msamples_per_s": msamples}


def test_summary_picks_the_best_device_rows_and_judges_the_targets(tmp_path):
    work = tmp_path / "work"
    authors = gpu_summary.AUTHORS_ENCODE_MSAMPLES_PER_S["float32"]
    write(work / "encode.json", {"rows": [
        encode_row("cuda", "torch", "float32", 0.5 * authors),
        encode_row("cuda", "cuda", "float32", 2.5 * authors),
        encode_row("cuda", "cuda", "float32", 9.0 * authors, operation="encode"),  # lookup alone: not the goal
        encode_row("cpu", "cpu", "float32", 5.0 * authors),  # another device: ignored
        {"device": "cuda", "backend": "cuda", "dtype": "float16", "operation": "blend+encode",
         "pass": "forward+backward", "error": "RuntimeError: CUDA error: out of memory"},  # a failed case
    ]})
    step_rows = [{"device": "cuda", "backend": "cuda", "optimizer": name, "forward": 0.1, "backward": 0.2,
                  "optimizer_ms": ms - 0.3, "step": ms, "rows_touched_percent": 90.0}
                 for name, ms in (("adam", 1.4), ("sparse-adam", 0.9))]
    write(work / "step.json", {"rows": step_rows})
    write(work / "render_trained.json", {"scene": "trained", "rows": [
        {"device": "cuda", "backend": name, "size": "512x512", "chunk": 16384, "median_ms": ms, "samples": 10}
        for name, ms in (("torch", 40.0), ("cuda", 8.0))]})
    write(work / "time_to_psnr.json", {"resolution": [512, 512], "steps": 100, "train_s": 120.5, "steps_per_s": 0.83,
                                       "target_met": False, "curve": [], "settings": {"subject": "s", "preset": "paper"},
                                       "final": {"psnr": 31.0, "frames": 200}})
    records = [{"step": "subject", "status": "ok", "rc": 0, "start_s": 5, "seconds": 100},
               {"step": "build", "status": "ok", "rc": 0, "start_s": 2, "seconds": 40},  # overlaps
               {"step": "parity", "status": "ok", "rc": 0, "start_s": 105, "seconds": 30}]  # after it
    (work / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": "par')
    out = tmp_path / "summary.json"
    assert gpu_summary.main(["--work", str(work), "--out", str(out), "--device", "cuda"]) == 0
    summary = json.loads(out.read_text())
    results = summary["results"]
    assert results["encode"]["float32"]["backend"] == "cuda"
    assert results["encode"]["float32"]["vs_authors"] == pytest.approx(2.5)
    assert results["encode"]["float32"]["goal_met"] is True  # 2.5x >= the 2x goal
    assert "float16" not in results["encode"]  # its only case failed: no number, its error kept
    assert "out of memory" in next(row for row in results["encode"]["rows"] if row["dtype"] == "float16")["error"]
    assert results["step"]["best"] == "cuda + sparse-adam" and results["step"]["target_met"] is True
    assert results["render_trained"]["best_median_ms"] == 8.0 and results["render_trained"]["target_met"] is True
    assert results["time_to_psnr"]["final_psnr"] == 31.0 and results["time_to_psnr"]["target_met"] is False
    assert results["march"] == {"missing": "march.json not written"}
    assert summary["steps"] == records  # the torn last line is dropped
    assert summary["steps_during_synthesis"] == ["build"]
    assert summary["card"] == "no GPU"  # environment.json missing: still a summary


def run_check(tmp_path: Path, **settings: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "out"
    environment = {**os.environ, "GPU_CHECK_MODE": "dry", "GPU_CHECK_WORK": str(tmp_path / "work"), "OUT": str(out),
                   "PYTHON": sys.executable, "NBSKIT_NO_COMPILED": "1", "OMP_NUM_THREADS": "2", **settings}
    completed = subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=600,
                               check=False)  # the exit status is asserted by each test, with the output
    summary = json.loads((out / "summary.json").read_text())
    for name in ("gpu_check.log", "logs.tar.gz"):
        assert (out / name).is_file(), name
    return completed, summary


def statuses(summary: dict) -> dict:
    return {record["step"]: record["status"] for record in summary["steps"]}


def test_without_budget_every_step_is_skipped_and_the_summary_still_written(tmp_path):
    completed, summary = run_check(tmp_path, GPU_CHECK_BUDGET_S="0")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert statuses(summary) == {name: "skipped" for name in ALL_STEPS}
    reasons = {record["step"]: record["reason"] for record in summary["steps"]}
    assert "NBSKIT_NO_COMPILED" in reasons["build"]
    assert all("budget" in reasons[name] for name in ("environment", "parity", "encode", "subject", "run_all"))
    assert "no subject" in reasons["time_to_psnr"] and "no trained run" in reasons["render_trained"]


def test_a_synthesis_that_would_leave_too_little_training_time_is_stopped(tmp_path):
    # The interpreter is a wrapper whose synthesis never ends, so the outcome does not hang on how fast
    # this machine synthesises. Budget 96 s: 71 s after the reserve, enough to start the synthesis
    # (needs 60 s), but training (needs 60 s in dry mode) must start by second 11.
    wrapper = tmp_path / "python"
    wrapper.write_text(f"""#!/bin/bash
if [ "$1" = -m ] && [ "$2" = bench.gpu_subject ]; then exec sleep 600; fi
exec {sys.executable} "$@"
""")
    wrapper.chmod(0o755)
    completed, summary = run_check(tmp_path, GPU_CHECK_STEPS="subject,time_to_psnr", GPU_CHECK_BUDGET_S="96",
                                   PYTHON=str(wrapper))
    assert completed.returncode == 1, completed.stdout + completed.stderr  # a stopped step counts as failed
    records = {record["step"]: record for record in summary["steps"]}
    assert records["subject"]["status"] in ("failed", "timeout")
    assert "stopped after" in records["subject"]["reason"]
    assert records["time_to_psnr"]["status"] == "skipped" and "no subject" in records["time_to_psnr"]["reason"]


@pytest.mark.slow
def test_dry_run_of_the_benchmarks_beside_the_background_synthesis(tmp_path):
    chosen = ["environment", "parity", "encode", "step", "march", "render_random", "subject"]
    completed, summary = run_check(tmp_path, GPU_CHECK_STEPS=",".join(chosen))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert statuses(summary) == {name: "ok" if name in chosen else "skipped" for name in ALL_STEPS}
    results = summary["results"]
    for name in ("encode", "step", "march", "render_random", "subject"):
        assert "missing" not in results[name], (name, results[name])
    assert results["encode"]["float32"]["backend"] == "torch"  # NBSKIT_NO_COMPILED: the reference only
    assert "environment" not in summary["steps_during_synthesis"]  # it runs before the synthesis starts
    assert summary["headline"][0].startswith("parity:") and summary["mode"] == "dry"
    assert completed.stdout.rstrip().endswith(summary["headline"][-1])  # the headline ends the output


@pytest.mark.slow
def test_dry_run_of_training_on_the_fallback_subject_and_its_frame_time(tmp_path, tiny_subject):
    completed, summary = run_check(tmp_path, GPU_CHECK_STEPS="time_to_psnr,render_trained",
                                   GPU_CHECK_FALLBACK_SUBJECT=str(tiny_subject))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert statuses(summary)["time_to_psnr"] == statuses(summary)["render_trained"] == "ok"
    assert summary["results"]["time_to_psnr"]["subject"] == str(tiny_subject)
    assert summary["results"]["render_trained"]["size"] == "{}x{}".format(*summary["results"]["time_to_psnr"]["resolution"])
    assert "fallback" in (tmp_path / "out" / "gpu_check.log").read_text()


@pytest.mark.slow
def test_dry_run_of_the_whole_script_in_its_order(tmp_path):
    """Every step, compiled CPU core included, in the order that puts the targets first (about 15
    minutes on two loaded cores, most of it run_all)."""
    completed, summary = run_check(tmp_path, NBSKIT_NO_COMPILED="0")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert [record["step"] for record in summary["steps"]] == [
        "environment", "build", "parity", "encode", "subject", "time_to_psnr", "render_trained", "step",
        "step_few_samples", "march", "render_random", "run_all"]
    assert statuses(summary) == {name: "ok" for name in ALL_STEPS}
    encode_rows = json.loads((tmp_path / "work" / "encode.json").read_text())["rows"]
    assert {row["backend"] for row in encode_rows} == {"torch", "cpu"} and all("error" not in r for r in encode_rows)
