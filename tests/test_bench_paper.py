"""The paper benchmarks (bench/paper) at toy size: every claim runs and writes sane JSON and small PNGs.

One module-scoped ``run_all --profile toy`` (a few training steps on the ``tiny`` subject, two
training seeds) feeds every test; no result number is asserted, only structure, finiteness,
internal consistency and that every result names the code and machine that produced it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.paper import results_page, run_all
from bench.paper.output import MAX_PNG_BYTES
from bench.paper.profiles import PROFILES
from bench.paper.training import CURVE_FILE, synthetic_subject

TOY = PROFILES["toy"]
SEEDS = list(range(TOY.seeds))
PROVENANCE = ("git_commit", "git_dirty", "code_version", "command", "machine")
PNG_FILES = ("fig8_speed.png", "table2.png", "fig12_perceptual.png", "fig13_grid.png", "fig9_bases.png",
             "fig10_geometry.png")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    parser = argparse.ArgumentParser()
    run_all.add_arguments(parser)
    args = parser.parse_args(["--profile", "toy", "--out", str(root / "out"), "--work", str(root / "work")])
    return {"code": run_all.run(args), "out": root / "out", "work": root / "work"}


def load(toy, name: str) -> dict:
    return json.loads((toy["out"] / f"{name}.json").read_text())


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_every_claim_runs_and_is_summarised(toy):
    summary = load(toy, "run_all")
    assert [c["claim"] for c in summary["claims"]] == list(run_all.CLAIMS)
    assert [c.get("error") for c in summary["claims"]] == [None] * len(run_all.CLAIMS)
    assert toy["code"] == 0
    assert all(finite(c["wall_s"]) and c["cpu_s"] >= 0 for c in summary["claims"])
    text = (toy["out"] / run_all.SUMMARY_FILE).read_text()
    for claim in run_all.CLAIMS:
        assert f"## {claim}" in text
        result = load(toy, claim)
        assert result["profile"] == "toy" and result["seeds"] == SEEDS
        assert all(result[key] is not None for key in PROVENANCE), claim
    assert summary["seeds"] == SEEDS and summary["training"]["wall_s"] > 0
    assert all(summary[key] is not None for key in PROVENANCE)


def test_figures_are_small_pngs(toy):
    for name in PNG_FILES:
        path = toy["out"] / name
        assert path.stat().st_size < MAX_PNG_BYTES, name
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 16


def test_fig8_curves_cover_the_run_with_growing_times(toy):
    result = load(toy, "fig8_speed")
    assert len(result["curves"]) == len(SEEDS) and result["curves"][0] != result["curves"][1]
    assert all(set(per_seed) == {"blend", "concatenate"} for per_seed in result["curves"])
    for curve in [curve for per_seed in result["curves"] for curve in per_seed.values()]:
        steps = [point["step"] for point in curve]
        assert steps[0] == 0 and steps[-1] == TOY.schedule["total_steps"] and steps == sorted(set(steps))
        assert np.all(np.diff([point["cpu_s"] for point in curve]) > 0)
        assert np.all(np.diff([point["wall_s"] for point in curve]) > 0)
        # the tiny subject has 68-point landmarks, so the eye region is measured too
        assert all(finite(point[key]) for point in curve for key in ("psnr", "psnr_mouth", "psnr_eyes"))
    for key, per_seed in result["psnr_at_equal_cpu_time"].items():
        assert len(per_seed) == len(SEEDS) and all(finite(v) for values in per_seed for v in values.values())
        difference = result["blend_minus_concatenate_db"][key]
        expected = [values["blend"] - values["concatenate"] for values in per_seed]
        assert difference["per_seed"] == pytest.approx(expected) and difference["seeds"] == len(SEEDS)
        assert difference["verdict"].startswith("too few seeds")  # two seeds order nothing


def test_table2_reports_mean_and_std_per_model_on_the_shared_runs(toy):
    result = load(toy, "table2")
    assert sorted((row["model"], row["seed"]) for row in result["rows"]) == sorted(
        (model, seed) for model in ("blend", "concatenate") for seed in SEEDS)
    runs = load(toy, "fig8_speed")["runs"]
    for row in result["rows"]:
        assert row["run"] == runs[row["seed"]][row["model"]]  # Fig. 8 trained it, Table 2 reused it
        assert row["frames"] == TOY.eval_frames
        assert {"mse", "l1", "psnr", "ssim"} <= set(row["mean"]) == set(row["std"])
        assert all(finite(v) for v in row["mean"].values()) and all(v >= 0 for v in row["std"].values())
    summary = result["summaries"][0]
    for name, difference in summary["blend_minus_concatenate"].items():
        by_seed = {(row["model"], row["seed"]): row["mean"][name] for row in result["rows"]}
        assert difference["per_seed"] == pytest.approx([by_seed["blend", s] - by_seed["concatenate", s] for s in SEEDS])
    assert result["paper"]["values"]["ours"]["psnr"][0] > 0  # the paper's own row is printed beside ours


def test_fig12_branch_shares_everything_before_stage3(toy, perceptual_network):
    result = load(toy, "fig12_perceptual")
    for seed in SEEDS:
        variants = {v["variant"]: v for v in result["variants"] if v["seed"] == seed}
        assert variants["with"]["perceptual_weight"] > 0 and variants["without"]["perceptual_weight"] == 0
        # the comparison is only about the perceptual term if it really ran in "with" and not in "without"
        assert variants["with"]["perceptual_term_ran"] and not variants["without"]["perceptual_term_ran"]
        curves = {name: json.loads((Path(v["run"]) / CURVE_FILE).read_text()) for name, v in variants.items()}
        start = TOY.schedule["stage3_start"]
        before = [[p for p in curve if p["step"] <= start] for curve in curves.values()]
        assert before[0] == before[1] and before[0][-1]["step"] == start
        assert curves["without"][-1]["step"] == TOY.schedule["total_steps"]
    assert set(result["with_minus_without"]) == set(result["variants"][0]["mean"])


def test_fig13_has_every_grid_policy(toy):
    result = load(toy, "fig13_grid")
    rows = result["rows"]
    assert [(row["seed"], row["policy"]) for row in rows] == [
        (seed, policy) for seed in SEEDS for policy in ("expression", "neutral", "none")]
    assert set(result["expression_minus"]) == {"neutral", "none"}
    for row in rows:
        assert row["samples_per_ray"] > 0 and row["cpu_s_per_step"] > 0 and finite(row["psnr"])
        assert 0 < row["occupied_fraction"] <= 1


def test_fig9_10_scores_each_basis_and_expression(toy):
    result = load(toy, "fig9_10_bases_geometry")
    assert len(result["bases"]) == TOY.gallery_bases + 1 and result["bases"][0]["basis"] == "neutral"
    assert all(finite(b["psnr_vs_mesh"]) for b in result["bases"])
    assert result["sampling_floor_chamfer_mm"] >= 0
    assert len(result["geometry"]) == 2
    for case in result["geometry"].values():  # a few-step field may have no surface yet
        assert "error" in case or (finite(case["chamfer_mm"]) and 0 <= case["normal_consistency"] <= 1)


def test_ground_truth_mesh_scores_near_zero_against_itself(toy):
    from bench.paper.fig9_10_bases_geometry import HIDDEN_MATERIAL, sampling_floor, score_mesh
    from nbskit.data.synthetic import SyntheticScene

    scene = SyntheticScene.from_subject(synthetic_subject(TOY.subject, toy["work"]))
    samples = 20_000
    try:
        head = scene.head
        expression = np.zeros(head.num_expressions, np.float32)
        shown = np.asarray(head.material_names)[head.triangle_materials] != HIDDEN_MATERIAL
        vertices, faces = scene.vertices(expression), head.triangles[shown]
        result = score_mesh(vertices, faces, scene, expression, samples)
        floor = sampling_floor(scene, expression, samples)
    finally:
        scene.release()
    corners = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1).sum()
    spacing_mm = 1000.0 * math.sqrt(area / samples)  # mean gap between independent samples is below this
    assert 0 < result["chamfer_mm"] < spacing_mm and math.isclose(floor, result["chamfer_mm"])
    assert result["normal_consistency"] > 0.9
    points, distances = result["error_map"]
    assert points.shape == (len(distances), 3)


def tracked_copy(source: Path, out: Path) -> Path:
    """``source`` as a tracked clip would be: no 'synthetic' tag, and an ignore box on every other frame."""
    from nbskit.data.subject import Subject, SubjectWriter

    subject = Subject.load(source)
    extra = {key: value for key, value in subject.extra.items() if key != "synthetic"}
    with SubjectWriter(out, subject.intrinsics, subject.aabb, subject.expression_names,
                       background=subject.background(), extra=extra) as writer:
        for index, frame in enumerate(subject.frames):
            mask = subject.load_mask(index)
            ignore = np.zeros(mask.shape, dtype=bool)
            ignore[: mask.shape[0] // 4] = index % 2 == 0  # a band over the top of the head
            writer.add_frame(subject.load_image(index), mask, frame.transform_matrix, frame.expression, frame.split,
                             face_box=frame.face_box, mouth_box=frame.mouth_box, ignore=ignore)
    return out


def test_table2_scores_a_tracked_clip_test_time_refined_with_and_without_its_masks(toy, tmp_path):
    from bench.paper import table2
    from nbskit.train.run import load_run

    clip = tracked_copy(synthetic_subject(TOY.subject, toy["work"]), tmp_path / "clip")
    parser = argparse.ArgumentParser()
    table2.add_arguments(parser)
    args = parser.parse_args(["--profile", "toy", "--out", str(tmp_path / "out"), "--work", str(toy["work"]),
                              "--real", str(clip)])
    assert table2.run(args) == 0
    result = json.loads((tmp_path / "out" / "table2.json").read_text())
    subjects = [summary["subject"] for summary in result["summaries"]]
    assert subjects == [f"synthetic {TOY.subject}", "real clip", "real clip, no masks in training"]
    runs = load(toy, "fig8_speed")["runs"]
    fitted = {"psnr_right_half_as_tracked", "psnr_right_half_test_time_refined"}
    for row in result["rows"]:
        if row["subject"].startswith("synthetic"):
            assert row["run"] == runs[row["seed"]][row["model"]] and not fitted & set(row["mean"])
        else:
            assert fitted <= set(row["mean"]) and all(finite(row["mean"][name]) for name in fitted)
            trained_on = load_run(row["run"], device="cpu").subject
            masked = [frame.ignore_path is not None for frame in trained_on.frames if frame.split == "train"]
            assert any(masked) == (row["subject"] == "real clip")  # the copy trains without the masks...
            test_masked = [frame.ignore_path is not None for frame in trained_on.frames if frame.split == "test"]
            assert any(test_masked)  # ...and is scored on the same visible pixels
    for summary in result["summaries"][1:]:  # a real clip after the synthetic subject keeps its own metrics
        assert fitted <= set(summary["blend_minus_concatenate"]) and fitted <= set(summary["models"]["blend"])
    text = table2.markdown(result)
    assert "PSNR_RIGHT_HALF_TEST_TIME_REFINED" in text and "| real clip, no masks in training | blend |" in text
    assert "| real clip | blend: masks − no masks in training, per seed |" in text
    by_seed = {(r["subject"], r["model"], r["seed"]): r["mean"]["psnr"] for r in result["rows"]}
    for clip, model, differences in table2.masks_minus_no_masks(result["rows"], ["psnr"]):
        paired = [by_seed[(clip, model, s)] - by_seed[(clip + table2.NO_MASKS, model, s)] for s in result["seeds"]]
        assert clip == "real clip" and math.isclose(differences["psnr"]["mean"], float(np.mean(paired)), abs_tol=1e-9)
    page = argparse.ArgumentParser()
    results_page.add_arguments(page)
    results_page.run(page.parse_args([str(toy["out"]), "--docs", str(tmp_path / "docs"),
                                      "--real", str(tmp_path / "out"), "--real", str(tmp_path / "out")]))
    written = (tmp_path / "docs" / "results.md").read_text()
    real_section = written[written.index("tracked real clips (clip)"):]
    assert f"Commit `{result['git_commit']}`" in real_section and text in real_section
    assert real_section.count("tracked real clips (clip)") == 2  # one section per --real folder
    assert all((tmp_path / "docs" / "img" / name).is_file() for name in ("paper_table2_real.png", "paper_table2_real_2.png"))
    args = parser.parse_args(["--profile", "toy", "--out", str(tmp_path / "only"), "--work", str(toy["work"]),
                              "--real-only"])
    with pytest.raises(SystemExit, match="needs at least one --real"):
        table2.run(args)


def test_clips_in_folders_of_the_same_name_never_share_a_run(tmp_path):
    from bench.paper.training import run_directory
    from nbskit.train.presets import make_config

    config = make_config("cpu-smoke")
    first, second = tmp_path / "a" / "subject", tmp_path / "b" / "subject"
    for folder, width in ((first, 64), (second, 96)):
        folder.mkdir(parents=True)
        (folder / "transforms.json").write_text(json.dumps({"w": width}))
    assert run_directory(first, config, tmp_path / "runs") != run_directory(second, config, tmp_path / "runs")
    assert run_directory(first, config, tmp_path / "runs") == run_directory(first, config, tmp_path / "runs")
