"""Paper Table 2: self-reenactment on held-out frames, NeRFBlendShape (blend) vs the concatenate baseline.

    python -m bench.paper.table2 --profile quick                      # small synthetic subject, 2 CPU cores
    python -m bench.paper.table2 --profile gpu                        # paper synthetic subject, one GPU
    python -m bench.paper.table2 --profile quick --real SUBJECT_DIR   # adds rows for a tracked real clip
    python -m bench.paper.table2 --profile quick --real-only --real A --real B --seeds 3   # real clips only

MSE, L1, PSNR, SSIM and the perceptual distance (LPIPS, or ST-LPIPS offline) of every test frame.
Both models use the same preset and schedule and are trained once per training seed (``--seeds``);
their run folders are shared with Fig. 8. Per seed and model: mean and standard deviation over
the test frames. Per model: mean ± std over seeds of those means. Per metric: the paired
difference blend − concatenate over seeds (``bench.paper.seeds``). The paper's Table 2 values
(its method, and NerFACE, a concatenate-style model) are printed beside ours.

A real clip (``--real``, a subject folder from ``nbskit track``; repeatable) is scored as the
evaluation scores tracked subjects: whole-image metrics as tracked, and the right half of each
test frame as tracked and test-time refined (``nbskit.train.test_time``). A clip with occluder
(ignore) masks is also trained from a copy whose training frames have none; its test frames keep
theirs, so both are scored on the same visible head pixels.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

from bench.common import run_script
from bench.paper import output, seeds
from bench.paper.evaluation import evaluate_test, load_perceptual_metric, statistics
from bench.paper.fig8_speed import model_specs
from bench.paper.jobs import Need, run_spec
from bench.paper.paper_values import TABLE2, TABLE2_SOURCE
from bench.paper.training import finished_run
from nbskit.model import MODEL_KINDS

CLAIM = "table2"
MODELS = tuple(MODEL_KINDS)
NO_MASKS = ", no masks in training"  # label suffix of a clip's copy trained without its ignore masks
PLOTTED_METRICS = ("psnr", "ssim")  # plus the perceptual metric when there is one


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)
    add_real_arguments(parser)


def add_real_arguments(parser: argparse.ArgumentParser) -> None:
    """``--real`` (repeatable) and ``--real-only``; ``run_all`` passes them on to Table 2."""
    parser.add_argument("--real", type=Path, action="append", default=[], metavar="SUBJECT_DIR",
                        help="Table 2: also train and evaluate both models on this tracked subject folder "
                             "(from `nbskit track`; repeatable); one with ignore masks also without them")
    parser.add_argument("--real-only", action="store_true",
                        help="Table 2: leave the synthetic subject out (rows for the --real clips only)")


def real_subjects(folders: list[Path], work: Path) -> list[tuple[str, Path]]:
    """(label, subject folder) per tracked clip, and for a clip with ignore masks on training frames
    its copy without them (made once in ``work``)."""
    from nbskit.data.subject import Subject

    subjects = []
    for folder in folders:
        subject = Subject.load(folder)
        subjects.append((f"real {subject.root.name}", subject.root.resolve()))
        if any(frame.ignore_path for frame in subject.frames if frame.split == "train"):
            subjects.append((f"real {subject.root.name}{NO_MASKS}", without_training_masks(subject, work)))
    return subjects


def without_training_masks(subject, work: Path) -> Path:
    """``work/subjects/<name>_no_masks_in_training``: ``subject`` with its training frames' ignore masks
    dropped (test frames keep theirs). Written under a temporary name and renamed when complete."""
    from nbskit.apps.export_subject_command import write_subject_copy

    out = (Path(work) / "subjects" / f"{subject.root.name}_no_masks_in_training").resolve()
    if not (out / "transforms.json").is_file():
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        frames = [dataclasses.replace(frame, ignore_path=None) if frame.split == "train" else frame
                  for frame in subject.frames]
        write_subject_copy(subject, partial, frames)
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    return out


def subject_specs(profile, args) -> list[tuple[str, list[dict]]]:
    """(label, per-seed {model: spec}) for the synthetic subject (unless ``--real-only``) and the real ones."""
    subjects = [] if args.real_only else [(f"synthetic {profile.subject}", model_specs(profile, args))]
    for label, folder in real_subjects(args.real, args.work):
        subjects.append((label, [{model: run_spec(profile, folder, seed, model=model) for model in MODELS}
                                 for seed in args.seeds]))
    if not subjects:
        raise SystemExit("table2: --real-only needs at least one --real SUBJECT_DIR")
    return subjects


def needs(profile, args) -> list[Need]:
    return [Need(spec, evaluate=True) for _, per_seed in subject_specs(profile, args)
            for specs in per_seed for spec in specs.values()]


def evaluate_model(spec, label: str, profile, args, perceptual) -> dict:
    """One row per run: its test frames' metrics, mean/std over the frames."""
    run = finished_run(spec, args.work)
    result = evaluate_test(run.run_dir, perceptual, profile.eval_frames, args.progress)
    return {
        "subject": label, "model": run.config.model, "seed": spec.seed, "run": str(run.run_dir),
        "steps": run.config.total_steps,
        "frames": result["frames"], "resolution": result["resolution"], "background": result["background"],
        **statistics(result),
        "train_cpu_s": run.curve[-1]["cpu_s"], "train_wall_s": run.curve[-1]["wall_s"],
    }


def plot(rows: list[dict], metrics: list[str], path: Path) -> Path:
    """One panel per metric: per subject and model, each seed's mean over the test frames (dots)
    and their mean ± std over seeds (bar)."""
    figure, axes = output.new_figure(len(metrics), width_per_panel=2.6)
    groups = sorted({(row["subject"], row["model"]) for row in rows}, key=lambda g: (g[0], MODELS.index(g[1])))
    for axis, name in zip(axes, metrics):
        for x, (subject, model) in enumerate(groups):
            values = [row["mean"][name] for row in rows if (row["subject"], row["model"]) == (subject, model)]
            spread = seeds.across_seeds(values)
            colour = output.MODEL_COLOURS[model]
            axis.plot([x] * len(values), values, ".", color=colour, alpha=0.6)
            axis.errorbar(x + 0.15, spread["mean"], yerr=spread["std"], fmt="o", capsize=4, color=colour)
        axis.set_xticks(range(len(groups)), [f"{s}\n{m}" for s, m in groups], fontsize=7)
        axis.set_xlim(-0.5, len(groups) - 0.5)
        axis.set_title(f"{name.upper()} (seeds; mean ± std)", fontsize=8)
    figure.tight_layout()
    return output.save_figure(figure, path)


def summarise(rows: list[dict], names: list[str]) -> list[dict]:
    """Per subject: each model's mean ± std over seeds and the paired blend − concatenate differences."""
    summaries = []
    for subject in dict.fromkeys(row["subject"] for row in rows):
        per_model = {m: sorted((r for r in rows if (r["subject"], r["model"]) == (subject, m)), key=lambda r: r["seed"])
                     for m in MODELS}
        scored = [n for n in names if n in per_model[MODELS[0]][0]["mean"]]  # this subject's metrics only
        summaries.append({
            "subject": subject,
            "models": {m: {n: seeds.across_seeds([r["mean"][n] for r in per_model[m]]) for n in scored} for m in MODELS},
            "blend_minus_concatenate": {n: seeds.paired_difference([r["mean"][n] for r in per_model["blend"]],
                                                                   [r["mean"][n] for r in per_model["concatenate"]])
                                        for n in scored},
        })
    return summaries


def run(args: argparse.Namespace) -> int:
    profile = output.setup(args)
    output.prepare(profile, args, needs(profile, args))
    perceptual = load_perceptual_metric()
    rows = [evaluate_model(spec, label, profile, args, perceptual) for label, per_seed in subject_specs(profile, args)
            for specs in per_seed for spec in specs.values()]
    metrics = [*PLOTTED_METRICS, *([perceptual.label] if perceptual is not None else [])]
    plot(rows, metrics, args.out / f"{CLAIM}.png")
    result = output.write_result(args, CLAIM, {
        "perceptual_metric": getattr(perceptual, "label", None),
        "std": "rows: sample std over test frames; summaries: sample std over seeds (ddof=1)",
        "rows": rows, "summaries": summarise(rows, metric_names(rows)),
        "paper": {"source": TABLE2_SOURCE, "values": TABLE2},
    })
    print(markdown(result))
    return 0


def paper_cell(method: str, name: str) -> str:
    """The paper's 'mean (std)' for a metric; its perceptual metric is LPIPS, named when ours differs."""
    key = "lpips" if "lpips" in name.lower() else name
    values = TABLE2[method].get(key)
    if values is None:
        return ""
    prefix = "LPIPS " if key == "lpips" and name != "LPIPS" else ""
    return f"{prefix}{values[0]:.4g} ({values[1]:.2g})"


def metric_names(rows: list[dict]) -> list[str]:
    """Every metric any row has, in order of first appearance (real clips add the right-half ones)."""
    return list(dict.fromkeys(name for row in rows for name in row["mean"]))


def masks_minus_no_masks(rows: list[dict], names: list[str]) -> list[tuple[str, str, dict]]:
    """(clip, model, {metric: paired difference over seeds}) of each clip trained with its occluder
    masks minus its copy trained without them (same seeds, same test frames and visible pixels)."""
    per_seed: dict[tuple[str, str], list[dict]] = {}
    for row in sorted(rows, key=lambda r: r["seed"]):
        per_seed.setdefault((row["subject"], row["model"]), []).append(row["mean"])
    differences = []
    for (subject, model), masked in per_seed.items():
        unmasked = per_seed.get((subject + NO_MASKS, model))
        if unmasked is not None:
            differences.append((subject, model, {n: seeds.paired_difference([m[n] for m in masked], [m[n] for m in unmasked])
                                                 for n in names if n in masked[0]}))
    return differences


def markdown(result: dict) -> str:
    """Per subject: each model over seeds, the paired differences (blend − concatenate; masks − no
    masks for a clip trained both ways), and the paper's rows (a metric a subject was not scored
    with is left blank)."""
    names = metric_names(result["rows"])
    header = ["subject", "model", "seeds", *[name.upper() for name in names]]

    def difference_row(subject: str, label: str, differences: dict) -> list:
        return [subject, f"{label}, per seed", len(result["seeds"]),
                *[seeds.format_difference(differences[n], 4) if n in differences else "" for n in names]]

    rows = []
    for summary in result["summaries"]:
        for model in MODELS:
            scores = summary["models"][model]
            rows.append([summary["subject"], model, len(result["seeds"]),
                         *[seeds.format_spread(scores[n]) if n in scores else "" for n in names]])
        rows.append(difference_row(summary["subject"], "blend − concatenate", summary["blend_minus_concatenate"]))
    for subject, model, differences in masks_minus_no_masks(result["rows"], names):
        rows.append(difference_row(subject, f"{model}: masks − no masks in training", differences))
    for method, label in (("ours", "paper: NeRFBlendShape"), ("nerface", "paper: NerFACE (concatenate-style)")):
        rows.append(["real videos (paper)", label, "", *[paper_cell(method, n) for n in names]])
    return f"{output.markdown_table(header, rows)}\n\nPaper values: {result['paper']['source']}."


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
