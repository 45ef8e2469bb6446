"""The tracking-cost summary on hand-made scores: the gaps, and the share of the gap refinement closes."""

from __future__ import annotations

import pytest

from bench.tracking_cost import gaps, spread_rows


def means(exact: float, tracked: float, plain: float, plain_fitted: float | None, refined_fitted: float | None) -> dict:
    values = {"exact_psnr": exact, "tracked_psnr": tracked, "exact_psnr_mask": exact - 3, "tracked_psnr_mask": tracked - 4,
              "exact_psnr_right": exact, "plain_psnr_right": plain}
    if plain_fitted is not None:
        values.update(plain_psnr_right_fitted=plain_fitted, tracked_psnr_right_fitted=refined_fitted)
    return values


def test_shares_closed_are_measured_from_the_run_trained_without_refinement():
    result = gaps(means(exact=30.0, tracked=22.0, plain=20.0, plain_fitted=22.5, refined_fitted=25.0))
    assert result["gap_psnr"] == pytest.approx(8.0) and result["gap_psnr_mask"] == pytest.approx(9.0)
    assert result["gap_right"] == pytest.approx(10.0)
    assert result["closed_fit_only"] == pytest.approx(0.25) and result["closed_refined"] == pytest.approx(0.5)


def test_training_frames_have_no_fitted_halves_and_the_summary_keeps_them_apart():
    train = gaps(means(exact=30.0, tracked=24.0, plain=23.0, plain_fitted=None, refined_fitted=None))
    assert set(train) == {"gap_psnr", "gap_psnr_mask"}
    rows = [{"seed": seed, "split": split, "frames": 8, "step": 10, **values, **gaps(values)}
            for seed, (test_fitted, refined) in ((1, (22.0, 24.0)), (2, (21.0, 27.0)))
            for split, values in (("test", means(30.0, 22.0, 20.0, test_fitted, refined)),
                                  ("train", means(30.0, 24.0, 23.0, None, None)))]
    summary = {(row["seed"], row["split"]): row for row in spread_rows(rows)}
    assert summary["mean", "test"]["closed_refined"] == pytest.approx(0.55)
    assert summary["min", "test"]["closed_fit_only"] == pytest.approx(0.1)
    assert summary["max", "test"]["closed_refined"] == pytest.approx(0.7)
    assert "closed_refined" not in summary["mean", "train"] and "closed_refined" not in summary["max", "train"]
