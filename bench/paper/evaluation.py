"""Test-split metrics of a bench run, computed once per checkpoint and summarised as mean and std.

The result is cached as the run's ``metrics_test.json`` (the file ``nbskit eval`` writes), so Table 2
and Fig. 12, which both report the blend run, evaluate it once.
"""

from __future__ import annotations

from pathlib import Path

from bench.paper.output import mean_and_std


def load_perceptual_metric():
    """The perceptual network of ``nbskit.train.perceptual`` (None if missing), on the GPU when there is one."""
    import torch

    from nbskit.train.perceptual import load_perceptual

    perceptual = load_perceptual()
    if perceptual is not None and torch.cuda.is_available():
        perceptual = perceptual.cuda()
    return perceptual


def evaluate_test(run_dir: Path, perceptual, max_frames: int | None, progress: bool = False) -> dict:
    """``nbskit.train.evaluate_run`` on the test split of a run (cached, see module doc).

    A subject whose cameras and coefficients are estimates (a tracked clip: what turns refinement
    on by default) is also scored test-time refined, as ``nbskit eval --test-time-refine`` does.
    """
    from nbskit.train.checkpoint import TEST_METRICS_FILE, read_json
    from nbskit.train.evaluate import evaluate_run, write_metrics
    from nbskit.train.refinement import refinement_enabled
    from nbskit.train.run import load_run

    run = load_run(run_dir)
    available = len(run.subject.indices("test"))
    frames = available if max_frames is None else min(max_frames, available)
    label = getattr(perceptual, "label", None)
    test_time_refine = refinement_enabled("auto", run.subject)
    path = Path(run_dir) / TEST_METRICS_FILE
    if path.is_file():
        cached = read_json(path)
        if ((cached["step"], cached["frames"], cached["perceptual_metric"], "test_time" in cached)
                == (run.step, frames, label, test_time_refine)):
            return cached
    result = evaluate_run(run, "test", perceptual, max_frames, progress=progress, test_time_refine=test_time_refine)
    write_metrics(Path(run_dir), result)
    return result


def statistics(result: dict) -> dict:
    """{'mean': {metric: value}, 'std': {metric: sample std}} over the frames of an evaluation."""
    names = [key for key in result["per_frame"][0] if key != "frame"]
    pairs = {name: mean_and_std([frame[name] for frame in result["per_frame"]]) for name in names}
    return {"mean": {n: p[0] for n, p in pairs.items()}, "std": {n: p[1] for n, p in pairs.items()}}
