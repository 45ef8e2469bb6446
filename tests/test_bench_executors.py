"""bench.paper.executors: the same two tiny runs trained in this process, in two local worker
processes and as two tasks of a local Ray give the same numbers (only the timings may differ)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from bench.paper import executors
from bench.paper.jobs import Budget, Need, in_waves, run_spec
from bench.paper.profiles import PROFILES
from bench.paper.training import CURVE_FILE, finished_run, synthetic_subject
from nbskit.train.checkpoint import load_checkpoint

TOY = PROFILES["toy"]
BUDGET = Budget(curve_points=2, curve_frames=1, eval_frames=2, threads=1)
MEASURED = ("step", "psnr", "psnr_mouth", "psnr_eyes")  # curve keys that must agree; times may not


@pytest.fixture(scope="module")
def subject_dir(tmp_path_factory) -> Path:
    return synthetic_subject(TOY.trend_subject, tmp_path_factory.mktemp("subjects"))


def two_runs(subject_dir: Path) -> list[Need]:
    return [Need(run_spec(TOY, subject_dir, seed, trend=True)) for seed in (0, 1)]


def execute(needs: list[Need], work: Path, workers: int = 1, ray: str | None = None) -> list[dict]:
    args = argparse.Namespace(work=work, workers=workers, ray=ray, progress=False)
    executors.execute(needs, args, BUDGET)
    results = []
    for need in needs:
        run = finished_run(need.spec, work)
        assert (run.run_dir / CURVE_FILE).is_file()
        results.append({"curve": [{key: point.get(key) for key in MEASURED} for point in run.curve],
                        "model": load_checkpoint(run.run_dir)["model"]})
    return results


def assert_same(a: list[dict], b: list[dict]) -> None:
    for first, second in zip(a, b, strict=True):
        assert first["curve"] == second["curve"]
        assert first["model"].keys() == second["model"].keys()
        for key in first["model"]:
            assert torch.equal(first["model"][key], second["model"][key]), key


@pytest.fixture(scope="module")
def sequential(subject_dir, tmp_path_factory) -> list[dict]:
    return execute(two_runs(subject_dir), tmp_path_factory.mktemp("sequential"))


def test_the_two_seeds_differ(sequential):
    assert sequential[0]["curve"] != sequential[1]["curve"]


@pytest.mark.slow
def test_local_worker_processes_match_the_sequential_run(sequential, subject_dir, tmp_path):
    assert_same(execute(two_runs(subject_dir), tmp_path, workers=2), sequential)


@pytest.mark.slow
def test_a_local_ray_matches_the_sequential_run(sequential, subject_dir, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is the optional 'distributed' extra")
    try:
        assert_same(execute(two_runs(subject_dir), tmp_path, ray=executors.LOCAL_RAY), sequential)
    finally:
        ray.shutdown()


def test_branches_wait_for_their_parents_and_runs_are_merged(subject_dir):
    parent = run_spec(TOY, subject_dir, 0)
    branch = run_spec(TOY, subject_dir, 0, parent=parent, perceptual_weight=0.0)
    waves = in_waves([Need(branch, evaluate=True), Need(parent), Need(parent, evaluate=True)])
    assert waves == [[Need(parent, evaluate=True)], [Need(branch, evaluate=True)]]
