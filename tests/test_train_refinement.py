"""Refinement of cameras and coefficients: planted offsets are recovered, exact subjects do not drift,
held-out frames are fitted on their left half only, and refined frames leave the run folder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nbskit.data.subject import Subject
from nbskit.train.presets import make_config
from nbskit.train.refinement import FrameCorrections, refinement_enabled, rigid_motions
from nbskit.train.run import load_run
from nbskit.train.trainer import Trainer

# cpu-smoke on the tiny subject; no perceptual term (its weights are large and irrelevant here).
SMALL = ["perceptual_weight=0", "eval_interval=1000", "seed=5"]
PLANTED_SHIFT = 0.01  # world units (metres): about two pixels sideways on the tiny subject
PLANTED_COEFFICIENT = 0.3
DRIFT_MARGIN_DB = 1.0  # about five standard deviations of the per-seed on − off difference


@pytest.fixture(scope="module")
def tiny_subject(tmp_path_factory):
    from nbskit.data.synthetic import synthesize_subject

    return synthesize_subject(tmp_path_factory.mktemp("subjects") / "tiny", "tiny", seed=0, progress=False)


def train_exact(subject, folder, mode: str):
    config = make_config("cpu-smoke", SMALL + [f"refine={mode}"])
    Trainer(Subject.load(subject), config, folder, progress=False).fit()
    return folder


@pytest.fixture(scope="module")
def exact_off(tiny_subject, tmp_path_factory):
    """A run folder trained on the exact subject with refinement off."""
    return train_exact(tiny_subject, tmp_path_factory.mktemp("runs") / "off", "off")


@pytest.fixture(scope="module")
def exact_runs(tiny_subject, exact_off, tmp_path_factory):
    """{'off', 'on'}: run folders trained on the exact subject with refinement off / on, same seed."""
    return {"off": exact_off, "on": train_exact(tiny_subject, tmp_path_factory.mktemp("runs") / "on", "on")}


def test_zero_correction_is_the_identity_and_rotation_turns_about_the_pivot():
    pivot = torch.tensor([0.1, -0.2, 0.3])
    assert torch.equal(rigid_motions(torch.zeros(2, 6), pivot), torch.eye(4).repeat(2, 1, 1))
    motion = rigid_motions(torch.tensor([[0.0, 0.3, 0.0, 0.0, 0.0, 0.0]]), pivot)[0]
    assert torch.allclose(motion[:3, :3] @ pivot + motion[:3, 3], pivot, atol=1e-6)


def test_corrected_coefficients_stay_inside_the_training_range():
    corrections = FrameCorrections(3, [0.0, -1.0], [1.0, 1.0], [[-1.0] * 3, [1.0] * 3])
    with torch.no_grad():
        corrections.expression[:] = torch.tensor([[5.0, -5.0], [0.1, 0.2], [-3.0, 3.0]])
    w = corrections.expressions(torch.full((3, 2), 0.5), torch.arange(3))
    assert torch.allclose(w, torch.tensor([[1.0, -1.0], [0.6, 0.7], [0.0, 1.0]]))


def test_keyframe_corrections_interpolate_between_keyframes_and_survive_a_checkpoint(tiny_subject):
    from nbskit.train.refinement import corrections_from_state

    subject = Subject.load(tiny_subject)
    frames = len(subject.indices("train"))
    low, high = subject.expression_range()
    shared = FrameCorrections(frames, low, high, subject.aabb, keyframe_interval=4)
    assert len(shared) == frames and shared.camera.shape[0] == -(-(frames - 1) // 4) + 1
    with torch.no_grad():
        shared.camera[:] = torch.arange(shared.camera.shape[0], dtype=torch.float32)[:, None]
        shared.expression[:] = -torch.arange(shared.expression.shape[0], dtype=torch.float32)[:, None]
    rows = torch.arange(frames)
    assert torch.allclose(shared.camera_at(rows)[:, 0], rows / 4.0)  # linear between keyframes, exact on them
    assert torch.allclose(shared.expression_at(rows)[:, -1], -rows / 4.0)
    restored = corrections_from_state({"corrections": shared.state_dict()}, subject)
    assert torch.equal(restored.camera_at(rows), shared.camera_at(rows))
    assert np.array_equal(restored.per_frame()["expression"], shared.per_frame()["expression"])
    single = FrameCorrections(frames, low, high, subject.aabb)  # one correction per frame, as before keyframes
    old_state = {key: value for key, value in single.state_dict().items()
                 if key not in ("frame_count", "keyframe_interval")}
    assert len(corrections_from_state({"corrections": old_state}, subject)) == frames
    with pytest.raises(ValueError, match="at least 1"):
        FrameCorrections(frames, low, high, subject.aabb, keyframe_interval=0)


def test_per_frame_corrections_in_degrees_and_world_units():
    corrections = FrameCorrections(2, [0.0], [1.0], [[0.0] * 3, [2.0, 1.0, 1.0]])  # longest side 2
    with torch.no_grad():
        corrections.camera[1] = torch.tensor([0.0, 0.0, np.radians(3.0), 0.03, 0.04, 0.0])
        corrections.expression[1] = torch.tensor([-0.2])
    frames = corrections.per_frame()
    assert np.allclose(frames["rotation_degrees"], [0.0, 3.0], atol=1e-4)
    assert np.allclose(frames["translation"], [0.0, 0.1], atol=1e-6)  # 2 x |(0.03, 0.04)|
    assert np.allclose(frames["expression"], [[0.0], [-0.2]])
    assert np.isclose(corrections.magnitudes()["rotation_degrees"], 1.5, atol=1e-4)


def test_right_half_psnr_reads_only_the_scored_columns_of_its_region():
    from nbskit.train.test_time import right_half_psnr

    truth = torch.zeros(4, 6, 3)
    rendered = truth.clone()
    rendered[:, :3] = 1.0  # wrong only in the fitted (left) half
    rendered[0, 5] = 0.1  # and in one scored pixel
    assert right_half_psnr(rendered, truth) == pytest.approx(10 * np.log10(12 / 0.01))  # 1 of 12 pixels, MSE 0.01
    region = torch.zeros(4, 6, dtype=torch.bool)
    region[1:, 3:] = True  # leaves the wrong scored pixel out
    assert right_half_psnr(rendered, truth, region) == np.inf
    region[:, :3] = True  # the left half's errors never count
    region[0, 5] = True  # now 10 scored pixels, one of them wrong
    assert right_half_psnr(rendered, truth, region) == pytest.approx(10 * np.log10(10 / 0.01))


def test_auto_refines_tracked_subjects_only(tiny_subject):
    subject = Subject.load(tiny_subject)
    assert not refinement_enabled("auto", subject)
    tracked = dataclasses.replace(subject, extra={"tracking": {"video": "clip.mp4"}})
    assert refinement_enabled("auto", tracked) and not refinement_enabled("off", tracked)
    assert refinement_enabled("on", subject)
    with pytest.raises(ValueError, match="refine must be one of"):
        refinement_enabled("yes", subject)


@pytest.mark.slow
def test_exact_subject_does_not_drift(exact_runs):
    from nbskit.train.evaluate import evaluate_run

    off, on = (load_run(exact_runs[mode], device="cpu") for mode in ("off", "on"))
    assert off.refined is None and on.refined is not None
    psnr = {name: evaluate_run(run, "test", progress=False)["mean"]["psnr"] for name, run in (("off", off), ("on", on))}
    # One seed pair differs by training noise alone: `python -m bench.refinement_drift` measured on − off
    # at −0.06 ± 0.19 dB (−0.34 … +0.17) over seeds 5–9; seed 5 alone has given −0.57 on another machine.
    assert psnr["on"] > psnr["off"] - DRIFT_MARGIN_DB, psnr
    subject = on.subject
    train = subject.indices("train")
    moved = image_motion(on, on.refined[0], subject.camera_to_world(train))
    assert moved.mean() < 1.0, f"exact cameras moved the head box by {moved.mean():.2f} pixels on average"
    assert np.abs(on.refined[1] - subject.expressions(train)).mean() < 0.05


def image_motion(run, cameras: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """[N] mean pixel distance (training resolution) between the head box's corners seen by two cameras per frame."""
    from nbskit.geometry.camera import project_points

    low, high = np.asarray(run.subject.aabb, dtype=np.float64)
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
    matrix = run.intrinsics.matrix()
    return np.array([np.linalg.norm(project_points(corners, matrix, a)[0] - project_points(corners, matrix, b)[0],
                                    axis=-1).mean() for a, b in zip(cameras, reference)])


def planted_subject(source: Subject, out) -> tuple[Subject, dict]:
    """A copy of ``source`` in ``out`` with a known camera offset (a sideways shift along world x)
    on some training frames and a known coefficient offset on others."""
    from nbskit.apps.export_subject_command import write_subject_copy
    from nbskit.train.refinement import rigid_motions

    train = source.indices("train")
    values = source.expressions(train)
    column = int(np.argmax(np.ptp(values, axis=0)))  # the coefficient that varies most
    # Offsets that stay inside the training range, so the field's clamp does not hide them.
    coefficients = [i for i, w in zip(train[6:], values[6:]) if w[column] + PLANTED_COEFFICIENT <= values[:, column].max()]
    cameras, coefficients = train[0:6], coefficients[:6]
    frames = [dataclasses.replace(frame) for frame in source.frames]
    shift = torch.tensor([[0.0, 0.0, 0.0, PLANTED_SHIFT, 0.0, 0.0]])
    motion = rigid_motions(shift, torch.as_tensor(source.aabb, dtype=torch.float32).mean(dim=0))[0].numpy()
    for index in cameras:
        frames[index].transform_matrix = (motion @ frames[index].transform_matrix).astype(np.float32)
    for index in coefficients:
        expression = frames[index].expression.copy()
        expression[column] += PLANTED_COEFFICIENT
        frames[index].expression = expression.astype(np.float32)
    write_subject_copy(source, out, frames)
    assert len(coefficients) >= 3, "too few frames with room for the planted coefficient offset"
    return Subject.load(out), {"cameras": cameras, "coefficients": coefficients, "column": column}


@pytest.fixture(scope="module")
def planted(tiny_subject, tmp_path_factory):
    """(the planted subject, what was planted: see :func:`planted_subject`)."""
    return planted_subject(Subject.load(tiny_subject), tmp_path_factory.mktemp("planted") / "subject")


@pytest.fixture(scope="module")
def planted_training(planted, exact_off):
    """(trainer after 100 refining steps on the planted subject, its subject, what was planted)."""
    subject, planted = planted
    # Start from the field trained on the exact frames, refine from the first step, more frames per step.
    config = make_config("cpu-smoke", SMALL + ["refine=on", "refine_start=0", "refine_warmup_steps=10",
                                               "stage2_start=0", "stage3_start=100", "total_steps=100",
                                               "frames_per_batch=6", "rays_per_frame=96"])
    trainer = Trainer(subject, config, None, progress=False)
    trained = load_run(exact_off, device="cpu")
    trainer.model.load_state_dict(trained.model.state_dict())
    trainer.occupancy.load_state_dict(trained.occupancy.state_dict())
    trainer.fit()
    return trainer, subject, planted


@pytest.mark.slow
def test_training_recovers_a_planted_camera_offset(planted_training):
    trainer, subject, planted = planted_training
    train = list(subject.indices("train"))
    with torch.no_grad():
        rows = [train.index(i) for i in planted["cameras"]]
        length = float(trainer.corrections.length)
        recovered = -length * trainer.corrections.camera[rows, 3].numpy()  # undone by the opposite shift
        unplanted = [r for r in range(len(train)) if r not in rows]
        others = length * trainer.corrections.camera[unplanted, 3].abs()  # same axis, frames without a plant
    assert recovered.mean() > 0.5 * PLANTED_SHIFT, f"recovered {recovered} of a {PLANTED_SHIFT} shift"
    assert float(others.mean()) < 0.5 * recovered.mean(), f"unplanted frames moved {float(others.mean()):.4f}"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="open: while the field trains too, residuals of the planted frames stay within "
                   "the noise of the unplanted ones (+-0.06 of 0 for an offset of 0.3); a frozen field recovers it "
                   "(next test); see docs/tracking.md, Refinement")
def test_training_recovers_a_planted_coefficient_offset(planted_training):
    trainer, subject, planted = planted_training
    train = list(subject.indices("train"))
    with torch.no_grad():
        rows = [train.index(i) for i in planted["coefficients"]]
        residual = trainer.corrections.expression[rows, planted["column"]].numpy()
    assert -residual.mean() > 0.5 * PLANTED_COEFFICIENT, f"residuals {residual} for an offset of {PLANTED_COEFFICIENT}"


@pytest.mark.slow
def test_a_frozen_field_fit_recovers_a_planted_coefficient_offset(planted, exact_off):
    """The coefficient gradient itself is sound: with the field frozen (the test-time fit, coefficients only),
    the planted frames move most of the way back and frames without a plant stay near their values."""
    from nbskit.train.dataset import load_frames
    from nbskit.train.test_time import fit_held_out_frame

    subject, planted = planted
    run = load_run(exact_off, device="cpu")
    run.config.test_time_fit, run.config.test_time_steps = "expression", 60
    frames = load_frames(subject, "train", run.config.max_image_size, run.config.background, progress=False)
    train = list(subject.indices("train"))
    column = planted["column"]

    def residual(index: int) -> float:
        row = train.index(index)
        _, fitted = fit_held_out_frame(run, frames.c2w[row], frames.expressions[row], frames.image(row),
                                       frames.background, seed=row)
        return float(fitted[column] - frames.expressions[row][column])

    recovered = -np.array([residual(index) for index in planted["coefficients"]])
    others = np.array([residual(index) for index in train[-3:]])  # after the planted ones: no plant
    assert (recovered > 0).all() and recovered.mean() > 0.5 * PLANTED_COEFFICIENT, f"recovered {recovered}"
    assert np.abs(others).mean() < 0.5 * recovered.mean(), f"unplanted frames moved {others}"


@pytest.mark.slow
def test_held_out_fit_never_reads_the_scored_half(exact_runs, tiny_subject):
    from nbskit.train.dataset import load_frames
    from nbskit.train.test_time import fit_held_out_frame, fitted_columns

    run = load_run(exact_runs["off"], device="cpu")
    run.config.test_time_steps = 8
    frames = load_frames(run.subject, "test", run.config.max_image_size, run.config.background, progress=False)
    truth = frames.image(0)
    garbage = truth.clone()
    garbage[:, fitted_columns(truth.shape[1]):] = torch.rand(garbage[:, fitted_columns(truth.shape[1]):].shape)
    before = {key: value.clone() for key, value in run.model.state_dict().items()}
    fits = [fit_held_out_frame(run, frames.c2w[0], frames.expressions[0], image, frames.background, seed=1)
            for image in (truth, garbage)]
    assert np.array_equal(fits[0][0], fits[1][0]) and np.array_equal(fits[0][1], fits[1][1])
    assert not np.array_equal(fits[0][0], frames.c2w[0].numpy()), "the fit did not move the camera at all"
    assert all(p.grad is None for p in run.model.parameters()), "the frozen field collected a gradient"
    assert all(torch.equal(before[key], value) for key, value in run.model.state_dict().items())


@pytest.mark.slow
def test_held_out_fit_moves_only_what_test_time_fit_names(exact_runs):
    from nbskit.train.dataset import load_frames
    from nbskit.train.test_time import held_out_fit

    run = load_run(exact_runs["off"], device="cpu")
    run.config.test_time_steps = 5
    frames = load_frames(run.subject, "test", run.config.max_image_size, run.config.background, progress=False)
    c2w, w = frames.c2w[0].numpy(), frames.expressions[0].numpy()
    w = w + 0.3 * (w < 0.5)  # room to move inside the training range in the direction the fit may take
    ends = {}
    for fit, scale in (("camera+expression", 1.0), ("camera", 1.0), ("expression", 1.0), ("camera+expression", 0.0)):
        run.config.test_time_fit, run.config.test_time_lr_scale = fit, scale
        steps = list(held_out_fit(run, c2w, w, frames.image(0), frames.background, seed=2))
        assert [taken for taken, _, _ in steps] == list(range(6))
        assert np.array_equal(steps[0][1], c2w.astype(np.float32))  # step 0: the tracked values
        ends[fit, scale] = steps[-1][1:]
    moved = {key: (not np.allclose(end[0], c2w, atol=1e-7), not np.allclose(end[1], np.clip(w, *run.expression_range),
                                                                           atol=1e-7))
             for key, end in ends.items()}
    assert moved == {("camera+expression", 1.0): (True, True), ("camera", 1.0): (True, False),
                     ("expression", 1.0): (False, True), ("camera+expression", 0.0): (False, False)}


@pytest.mark.slow
def test_the_test_time_tuning_bench_scores_as_evaluation_does(exact_off):
    from bench.test_time_fit import AS_TRACKED, score_run, summarise
    from nbskit.train.evaluate import evaluate_run

    run = load_run(exact_off, device="cpu")
    run.config.test_time_steps, run.config.test_time_fit = 3, "camera+expression"
    evaluated = evaluate_run(run, "test", max_frames=2, progress=False, test_time_refine=True)["per_frame"]
    scores = score_run(exact_off, "test", [1, 3], ["camera+expression", "expression"], [0.0, 1.0], max_frames=2,
                       progress=False)
    assert set(scores) == {AS_TRACKED} | {(fit, scale, steps) for fit in ("camera+expression", "expression")
                                          for scale in (0.0, 1.0) for steps in (1, 3)}
    for name, key in (("as_tracked", AS_TRACKED), ("test_time_refined", ("camera+expression", 1.0, 3))):
        for region, values in (("right_half", scores[key]["right_half"]),
                               ("right_half_head_visible", scores[key]["right_half_head_visible"])):
            assert values == pytest.approx([frame[f"psnr_{region}_{name}"] for frame in evaluated], rel=1e-9)
    assert scores["expression", 0.0, 3] == scores[AS_TRACKED]  # nothing moves at learning rate zero
    rows = {(row["fit"], row["lr_scale"], row["steps"]): row for row in summarise([scores, scores])}
    assert rows["expression", 0.0, 3]["right_half_minus_as_tracked"]["mean"] == 0.0


@pytest.mark.slow
def test_refined_frames_reach_render_and_export(exact_runs, tmp_path):
    from nbskit.apps.export_subject_command import export_refined_subject
    from nbskit.apps.render import render_frame
    from nbskit.train.refinement import REFINED_FRAMES_FILE

    run = load_run(exact_runs["on"], device="cpu")
    assert (exact_runs["on"] / REFINED_FRAMES_FILE).is_file()
    export_refined_subject(exact_runs["on"], tmp_path / "exported")
    exported = Subject.load(tmp_path / "exported")
    train, test = run.subject.indices("train"), run.subject.indices("test")
    assert np.array_equal(exported.camera_to_world(train), run.refined[0])
    assert np.array_equal(exported.expressions(train), run.refined[1])
    assert np.array_equal(exported.camera_to_world(test), run.subject.camera_to_world(test))
    assert np.array_equal(exported.load_image(int(train[0])), run.subject.load_image(int(train[0])))
    assert exported.extra["refined_by"]["step"] == run.step
    index = int(train[0])
    c2w, w = run.frame_camera_and_expression(index)
    assert np.array_equal(c2w, run.refined[0][0]) and np.array_equal(w, run.refined[1][0])
    assert render_frame(run, index).shape == (run.intrinsics.height, run.intrinsics.width, 3)
    with pytest.raises(FileExistsError):
        export_refined_subject(exact_runs["on"], tmp_path / "exported")
    with pytest.raises(ValueError, match="did not refine"):
        export_refined_subject(exact_runs["off"], tmp_path / "other")
