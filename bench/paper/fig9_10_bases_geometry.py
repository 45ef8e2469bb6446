"""Paper Fig. 9 and 10: the learned bases against the mesh blendshapes, and the geometry against the truth.

    python -m bench.paper.fig9_10_bases_geometry --profile quick
    python -m bench.paper.fig9_10_bases_geometry --profile gpu

Needs a synthetic subject (its blendshape model is the ground truth). Uses the blend run of Table 2
with the first training seed: these figures compare the model with the truth, not two variants, so
they make no ordering claim that would need several seeds.

- Fig. 9: the basis gallery (neutral = every coefficient at its training minimum, then one basis at
  its training maximum) rendered by the trained model and by the synthetic subject's own mesh
  renderer with exactly the same coefficients and camera; PSNR between the two per basis. Shown:
  the ``gallery_bases`` bases with the widest training range.
- Fig. 10: marching cubes of the density (``nbskit.apps.head_mesh``) at the neutral expression and
  at the test frame with the most open mouth, against the ground-truth mesh: Chamfer distance in mm
  and normal consistency, scored on the face skin (``nbskit.geometry.compare``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.common import run_script
from bench.paper import output
from bench.paper.fig8_speed import model_specs
from bench.paper.jobs import Need
from bench.paper.training import finished_run

CLAIM = "fig9_10_bases_geometry"
MILLIMETRES_PER_METRE = 1000.0  # synthetic subjects are in metres
FACE_GROUP, SKIN_MATERIAL, HIDDEN_MATERIAL = "face", "skin", "helper"
ERROR_MAP_POINTS = 20_000  # reference samples drawn in each error-map panel
ERROR_MAP_MAX_MM = 10.0  # colour scale of the error map


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)


def needs(profile, args) -> list[Need]:
    """The first seed's blend run."""
    return [Need(model_specs(profile, args)[0]["blend"])]


def widest_bases(run, count: int) -> list[int]:
    """Indices of the ``count`` coefficients with the widest training range (ties: name order)."""
    low, high = run.expression_range
    return sorted(np.argsort(-(high - low), kind="stable")[:count].tolist())


def basis_comparison(run, scene, count: int, progress: bool) -> tuple[np.ndarray, list[dict]]:
    """(uint8 image: row 1 the model's bases, row 2 the mesh's; per-basis PSNR rows)."""
    import torch

    from nbskit.apps.gallery import basis_expressions, tile_grid
    from nbskit.apps.render import render_expression, to_uint8
    from nbskit.train import metrics
    from nbskit.train.dataset import resize

    labels, expressions = basis_expressions(run)
    chosen = [0] + [1 + i for i in widest_bases(run, count)]  # row 0 is the neutral expression
    c2w = run.subject.frames[int(run.subject.indices("train")[0])].transform_matrix
    size = run.intrinsics
    learned, meshes, rows = [], [], []
    for k in chosen:
        model_image = render_expression(run, expressions[k], c2w)
        truth = resize(scene.render(expressions[k], c2w).over(scene.background), size.width, size.height).numpy()
        mesh_image = to_uint8(truth)
        learned.append(model_image)
        meshes.append(mesh_image)
        rows.append({"basis": labels[k], "psnr_vs_mesh": metrics.psnr(torch.from_numpy(model_image / 255.0),
                                                                      torch.from_numpy(mesh_image / 255.0))})
    sheet = tile_grid(learned + meshes, [f"{r['basis']}" for r in rows] + ["mesh"] * len(rows), columns=len(rows))
    return sheet, rows


def geometry(run, scene, expression: np.ndarray, profile) -> dict:
    """Chamfer (mm) and normal consistency of the model's mesh at ``expression`` vs the ground truth."""
    from nbskit.apps.head_mesh import head_mesh

    box_length = float(np.max(run.subject.aabb[1] - run.subject.aabb[0]))
    level = None if profile.mesh_optical_depth is None else profile.mesh_optical_depth / box_length
    try:
        mesh = head_mesh(run, expression, profile.mesh_resolution, level, progress=False)
    except ValueError as error:  # an undertrained field may have no surface at the iso-level
        return {"error": str(error)}
    return {**score_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), scene, expression,
                         profile.surface_samples), "mesh_vertices": len(mesh.vertices)}


def sampling_floor(scene, expression: np.ndarray, samples: int) -> float:
    """Chamfer (mm) of the ground truth against itself: what sampling alone adds to every Chamfer value."""
    head = scene.head
    shown = np.asarray(head.material_names)[head.triangle_materials] != HIDDEN_MATERIAL
    return score_mesh(scene.vertices(expression), head.triangles[shown], scene, expression, samples)["chamfer_mm"]


def score_mesh(vertices: np.ndarray, faces: np.ndarray, scene, expression: np.ndarray, samples: int) -> dict:
    """``compare_surfaces`` against the scene's mesh at ``expression``, scored on the face skin, in mm.

    The result also holds ``error_map``: (scored truth samples [n, 3], their distance to the mesh in mm [n]).
    """
    from nbskit.geometry.compare import compare_surfaces, faces_within

    head = scene.head
    material = np.asarray(head.material_names)[head.triangle_materials]
    shown = material != HIDDEN_MATERIAL
    truth_faces = head.triangles[shown]
    scored = (faces_within(truth_faces, head.vertex_groups[FACE_GROUP], len(head.neutral))
              & (material[shown] == SKIN_MATERIAL))
    result = compare_surfaces(vertices, faces, scene.vertices(expression), truth_faces, scored, samples=samples,
                              with_samples=True)
    points, distances = result.pop("reference_points"), result.pop("reference_distances")
    for key in ("accuracy", "completeness", "chamfer", "accuracy_median", "completeness_median"):
        result[f"{key}_mm"] = result.pop(key) * MILLIMETRES_PER_METRE
    result["error_map"] = (points, distances * MILLIMETRES_PER_METRE)
    return result


def plot_error_maps(cases: dict[str, dict], path):
    """Front view of the scored ground-truth samples, coloured by distance to the model's surface."""
    figure, axes = output.new_figure(len(cases), width_per_panel=2.8, height=3.0)
    for axis, (label, case) in zip(axes, cases.items()):
        axis.set_axis_off()
        if "error_map" not in case:
            axis.set_title(f"{label}: no surface", fontsize=8)
            continue
        points, distances = case["error_map"]
        pick = np.random.default_rng(0).permutation(len(points))[:ERROR_MAP_POINTS]
        order = pick[np.argsort(points[pick, 2])]  # far to near: the front of the face is drawn last
        image = axis.scatter(points[order, 0], points[order, 1], c=distances[order], s=1, cmap="magma_r",
                             vmin=0.0, vmax=ERROR_MAP_MAX_MM, rasterized=True)
        axis.set_aspect("equal")
        axis.set_title(f"{label}: Chamfer {case['chamfer_mm']:.1f} mm", fontsize=8)
    if any("error_map" in case for case in cases.values()):
        figure.colorbar(image, ax=list(axes), shrink=0.8, label="truth → model (mm)")
    return output.save_figure(figure, path)


def run(args: argparse.Namespace) -> int:
    from nbskit.data.synthetic import SyntheticScene
    from nbskit.train.run import load_run
    from nbskit.viz.course import mouth_open_frames

    profile = output.setup(args)
    wanted = needs(profile, args)
    output.prepare(profile, args, wanted)
    bench_run = finished_run(wanted[0].spec, args.work)
    subject_dir = wanted[0].spec.subject_dir
    run = load_run(bench_run.run_dir)
    scene = SyntheticScene.from_subject(subject_dir)
    try:
        sheet, bases = basis_comparison(run, scene, profile.gallery_bases, args.progress)
        opened = int(mouth_open_frames(run.subject, "test", fraction=0.0)[0])  # the single most open mouth
        expressions = {"neutral": run.expression_range[0], f"test frame {opened}": run.subject.frames[opened].expression}
        cases = {label: geometry(run, scene, np.asarray(w, np.float32), profile) for label, w in expressions.items()}
        floor = sampling_floor(scene, run.expression_range[0], profile.surface_samples)
    finally:
        scene.release()
    output.save_image(sheet, args.out / "fig9_bases.png")
    plot_error_maps(cases, args.out / "fig10_geometry.png")
    for case in cases.values():
        case.pop("error_map", None)
    result = output.write_result(args, CLAIM, {
        "subject": profile.subject, "run": str(bench_run.run_dir), "seed": wanted[0].spec.seed,
        "bases": bases, "geometry": cases,
        "mesh_resolution": profile.mesh_resolution, "surface_samples": profile.surface_samples,
        "sampling_floor_chamfer_mm": floor,
        "scored_region": f"ground-truth triangles of material '{SKIN_MATERIAL}' inside vertex group '{FACE_GROUP}'",
        "images": {"fig9": "fig9_bases.png", "fig10": "fig10_geometry.png"},
    })
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    bases = output.markdown_table(["basis", "PSNR model vs mesh dB"],
                                  [[b["basis"], b["psnr_vs_mesh"]] for b in result["bases"]])
    rows = []
    for label, case in result["geometry"].items():
        if "error" in case:
            rows.append([label, case["error"], "", "", "", ""])
        else:
            rows.append([label, case["chamfer_mm"], case["accuracy_mm"], case["completeness_mm"],
                         case["normal_consistency"], case["predicted_samples_scored"]])
    geometry_table = output.markdown_table(
        ["expression", "Chamfer mm", "accuracy mm", "completeness mm", "normal consistency", "model samples scored"],
        rows)
    floor = f"Chamfer of the ground truth against itself (sampling floor): {result['sampling_floor_chamfer_mm']:.2f} mm"
    return f"{bases}\n\n{geometry_table}\n\n{floor}"


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
