"""Results tied to code: source hashes, git state, result headers; seed statistics of the paper benchmarks."""

from __future__ import annotations

import json
import subprocess

import pytest

from bench import provenance
from bench.common import write_results
from bench.paper.seeds import NOT_DISTINGUISHABLE, paired_difference


def test_code_version_follows_the_sources_and_nothing_else(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "docs.md").write_text("notes\n")
    before = provenance.code_version.__wrapped__(tmp_path, ("pkg",))
    (tmp_path / "docs.md").write_text("other notes\n")
    assert provenance.code_version.__wrapped__(tmp_path, ("pkg",)) == before
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert provenance.code_version.__wrapped__(tmp_path, ("pkg",)) != before


def test_git_state_reports_commit_and_dirty_flag(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-qm", "first")
    clean = provenance.git_state(tmp_path)
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] is False
    (tmp_path / "a.txt").write_text("b")
    assert provenance.git_state(tmp_path)["git_dirty"] is True
    assert provenance.git_state(tmp_path / "not-a-repo") == {"git_commit": None, "git_dirty": None}


def test_every_result_file_starts_with_code_and_machine(tmp_path):
    path = write_results(tmp_path / "r.json", {"value": 1}, command="python -m bench.x --flag")
    result = json.loads(path.read_text())
    assert result["command"] == "python -m bench.x --flag" and result["value"] == 1
    assert result["code_version"] == provenance.code_version() and "cpu_model" in result["machine"]
    assert {"git_commit", "git_dirty"} <= set(result)


@pytest.mark.parametrize("a, b, verdict", [
    ([1.0, 2.0, 3.0], [0.5, 1.5, 2.9], "higher in every seed"),
    ([1.0, 2.0, 3.0], [1.5, 2.5, 3.1], "lower in every seed"),
    ([1.0, 2.0, 3.0], [0.5, 2.5, 2.9], NOT_DISTINGUISHABLE),
    ([1.0, 2.0], [0.5, 1.5], "too few seeds (< 3)"),
])
def test_paired_difference_orders_only_when_every_seed_agrees(a, b, verdict):
    result = paired_difference(a, b)
    assert result["verdict"] == verdict and result["seeds"] == len(a)
    assert result["per_seed"] == pytest.approx([x - y for x, y in zip(a, b)])
    assert result["min"] <= result["mean"] <= result["max"]


def test_paired_difference_needs_paired_values():
    with pytest.raises(ValueError, match="same, non-zero number of seeds"):
        paired_difference([1.0, 2.0], [1.0])
