"""The refinement-gap summary on hand-made per-seed scores: spreads, shares closed and paired verdicts."""

from __future__ import annotations

import pytest

from bench.refinement_gap import summarise


def row(seed: int, exact: float, off_tracked: float, off_refined: float, on_refined: float) -> dict:
    def scores(as_tracked: float, refined: float) -> dict:
        return {"psnr_right_half_as_tracked": as_tracked, "psnr_right_half_test_time_refined": refined}

    gap = exact - off_tracked
    return {"seed": seed, "gap_db": gap, "closed_test_time_only": (off_refined - off_tracked) / gap,
            "closed_with_training_refinement": (on_refined - off_tracked) / gap,
            "scores": {"exact/off": scores(exact, exact), "perturbed/off": scores(off_tracked, off_refined),
                       "perturbed/on": scores(off_tracked - 0.1, on_refined)}}


def test_refinement_that_helps_in_every_seed_is_an_ordering():
    rows = [row(0, 30.0, 24.0, 25.0, 28.0), row(1, 29.0, 25.0, 25.5, 27.0), row(2, 31.0, 23.0, 24.0, 29.0)]
    summary = summarise(rows)
    assert summary["gap_db"]["mean"] == pytest.approx(6.0)
    assert summary["closed_with_training_refinement"]["per_seed"] == pytest.approx([4 / 6, 0.5, 0.75])
    assert summary["refined_training_minus_plain"]["verdict"] == "higher in every seed"
    assert summary["refined_training_minus_plain"]["per_seed"] == pytest.approx([3.0, 1.5, 5.0])
    assert summary["test_time_fit_minus_as_tracked"]["min"] == pytest.approx(0.5)
    assert any("share closed" in line for line in summary["lines"])


def test_refinement_that_helps_in_some_seeds_only_is_not_distinguishable():
    rows = [row(0, 30.0, 24.0, 25.0, 26.0), row(1, 29.0, 25.0, 25.5, 25.0), row(2, 31.0, 23.0, 24.0, 23.5)]
    summary = summarise(rows)
    assert summary["refined_training_minus_plain"]["verdict"] == "not distinguishable"
    assert summary["refined_training_minus_plain"]["per_seed"] == pytest.approx([1.0, -0.5, -0.5])
