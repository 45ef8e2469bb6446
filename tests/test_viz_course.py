"""What the course notebooks use to state orderings: paired seeds and curves read at equal CPU time."""

from __future__ import annotations

import pytest

from nbskit.viz.course import MIN_SEEDS_FOR_ORDERING, ordering_verdict, value_at_cpu_time


def test_an_ordering_needs_enough_seeds_that_agree():
    assert ordering_verdict([0.5, 0.2, 0.1], "blend", "concatenate") == "blend ahead on every seed"
    assert ordering_verdict([-0.5, -0.2, -0.1], "blend", "concatenate") == "concatenate ahead on every seed"
    assert ordering_verdict([0.5, -0.2, 0.1], "blend", "concatenate").startswith("not distinguishable")
    assert ordering_verdict([0.0, 0.3, 0.4], "blend", "concatenate").startswith("not distinguishable")
    too_few = [1.0] * (MIN_SEEDS_FOR_ORDERING - 1)
    assert ordering_verdict(too_few, "blend", "concatenate").startswith(f"only {len(too_few)} seeds")


def test_curve_read_at_cpu_time_interpolates_between_points():
    curve = [{"cpu_seconds": 0.0, "psnr": 10.0}, {"cpu_seconds": 2.0, "psnr": 20.0}, {"cpu_seconds": 4.0, "psnr": 22.0}]
    assert value_at_cpu_time(curve, "psnr", 1.0) == pytest.approx(15.0)
    assert value_at_cpu_time(curve, "psnr", 3.0) == pytest.approx(21.0)
    assert value_at_cpu_time(curve, "psnr", 4.0) == pytest.approx(22.0)
