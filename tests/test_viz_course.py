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


def test_timed_runs_are_shared_when_the_plan_matches_and_refused_when_it_does_not(tmp_path):
    from nbskit.data.synthetic import synthesize_subject
    from nbskit.train.presets import make_config
    from nbskit.train.run import run_folder
    from nbskit.viz.course import CURVE_FILE, curve_snapshots, timed_training

    subject = synthesize_subject(tmp_path / "tiny", "tiny", seed=0, progress=False)
    config = make_config("cpu-smoke", ["total_steps=4", "stage2_start=2", "stage3_start=4", "eval_interval=1000",
                                       "eval_frames=2", "max_image_size=32", "rays_per_frame=32", "checkpoint_interval=4",
                                       "grid_warmup_steps=1000"])
    runs = tmp_path / "runs"
    curve = timed_training(subject, config, evaluations=2, runs=runs, progress=False)
    assert [point["step"] for point in curve] == [0, 2, 4]
    snapshots = curve_snapshots(subject, config, 1, runs=runs)
    assert snapshots.shape == (3, 32, 32, 3) and snapshots.dtype.name == "uint8"
    assert not (snapshots[0] == snapshots[-1]).all()  # training changed the render

    stored = (run_folder(subject, config, runs) / CURVE_FILE).stat().st_mtime_ns
    assert timed_training(subject, config, evaluations=2, runs=runs, progress=False) == curve  # reused, not retrained
    assert (run_folder(subject, config, runs) / CURVE_FILE).stat().st_mtime_ns == stored
    with pytest.raises(ValueError, match="timed with 2 evaluations, not 3"):
        timed_training(subject, config, evaluations=3, runs=runs, progress=False)
    with pytest.raises(IndexError, match="frames 0..1"):
        curve_snapshots(subject, config, 2, runs=runs)
