"""Write docs/results.md and docs/img/paper_*.png from one ``run_all`` output folder.

    python -m bench.paper.run_all --quick --out runs/paper/quick
    python -m bench.paper.results_page runs/paper/quick          # then review and commit docs/
    python -m bench.paper.results_page runs/paper/quick --real runs/paper/real   # and Table 2 on real clips

Every table, verdict and figure on the page comes from the folder's JSON and PNG files, which must
all come from one run of one commit (checked); the page names that commit, the machine, the
command and the seeds. Nothing is copied by hand, so the page can only say what the run measured.
With ``--real`` (repeatable), Table 2's rows for tracked real clips (``python -m bench.paper.table2
--real-only --out runs/paper/real --real SUBJECT_DIR ...``, a separate run) follow, each run in its
own section with its own provenance.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
from pathlib import Path

from bench.common import run_script
from bench.paper import output
from bench.paper.run_all import CLAIMS, RESULT_FILE
from bench.provenance import REPO_ROOT

# Each claim's figures: the PNG run_all writes -> the name under docs/img/.
FIGURES = {
    "fig8_speed": {"fig8_speed.png": "paper_fig8_speed.png"},
    "table2": {"table2.png": "paper_table2.png"},
    "fig12_perceptual": {"fig12_perceptual.png": "paper_fig12_perceptual.png"},
    "fig13_grid": {"fig13_grid.png": "paper_fig13_grid.png"},
    "fig9_10_bases_geometry": {"fig9_bases.png": "paper_fig9_bases.png", "fig10_geometry.png": "paper_fig10_geometry.png"},
}
TITLES = {
    "table2": "Table 2 — self-reenactment on held-out frames, blend vs concatenate",
    "fig8_speed": "Fig. 8 — training speed: validation PSNR against training time",
    "fig12_perceptual": "Fig. 12 — the perceptual term of stage 3",
    "fig13_grid": "Fig. 13–14 — the occupancy grid: expression-aware vs neutral-only vs none",
    "fig9_10_bases_geometry": "Fig. 9 and 10 — bases against the mesh blendshapes, geometry against the truth",
}
INTRODUCTION = """\
# Results: the paper's claims on nbskit's own benchmark

This page puts the claims of *Reconstructing Personalized Semantic Facial NeRF Models From Monocular
Video* (Gao et al., ACM TOG 2022) next to what nbskit measures. It is written by
`python -m bench.paper.results_page` from the output of one `python -m bench.paper.run_all` run;
every table and figure below comes from that run's JSON and PNG files, which also record the
commit, the machine and the command.

How to read it:

- **Seeds.** Every compared variant is trained once per training seed on the same subject. Each
  comparison gives the per-seed paired difference as mean ± standard deviation, its range and a
  verdict: an ordering ("higher/lower in every seed") only when all of at least three differences
  have the same sign, otherwise **not distinguishable**.
- **Splits.** Training curves (Fig. 8) are measured on validation frames; test frames are used
  only for the reported numbers (Table 2, Fig. 12, Fig. 13–14).
- **Data.** The paper trains on real 512² videos of 5000–10000 frames (the last 500 held out),
  tracked with a 46-coefficient FaceWarehouse model, for about 25k steps on a GPU. The `quick`
  profile trains a few hundred steps on two CPU cores on a synthetic 128² subject rendered from
  the ICT Face Model (53 coefficients, exact cameras and coefficients, a known mesh). Absolute
  values are therefore **not comparable** with the paper's; what can transfer is the direction of
  a difference between variants trained identically. The paper's values are printed beside ours
  for reference, with their source.
- **Perceptual metric.** Offline we measure ST-LPIPS (VGG), a shift-tolerant variant, not the
  paper's LPIPS; columns are labelled with the metric used.
- **Real clips.** `python -m bench.paper.run_all --quick --real SUBJECT_DIR` adds rows for a
  tracked real clip (`nbskit track`; repeat `--real` for more) to Table 2, scored as tracked and,
  on the right half of each test frame, test-time refined. A clip with occluder masks is also
  trained without them (its test frames keep theirs). `python -m bench.paper.table2 --real-only`
  gives those rows alone. No real person's images are committed.

Re-run: `python -m bench.paper.run_all --quick` (see `bench/paper/run_all.py` for `--workers`,
`--ray` and `--gpu`), then `python -m bench.paper.results_page runs/paper/quick`.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="the --out folder of `python -m bench.paper.run_all`")
    parser.add_argument("--docs", type=Path, default=REPO_ROOT / "docs", help="docs folder to write (default: docs/)")
    parser.add_argument("--real", type=Path, action="append", default=[], metavar="TABLE2_OUT",
                        help="the --out folder of `python -m bench.paper.table2 --real-only --real ...` "
                             "(repeatable: one section each, in the order given)")


def load_results(folder: Path) -> tuple[dict, dict[str, dict]]:
    """run_all.json and every claim's JSON; all must come from one code version and commit."""
    summary = output.read_result(folder / RESULT_FILE)
    failed = [claim["claim"] for claim in summary["claims"] if "error" in claim]
    if failed:
        raise SystemExit(f"{folder}: claims failed in this run ({', '.join(failed)}); fix and re-run first")
    claims = {name: output.read_result(folder / f"{name}.json") for name in CLAIMS}
    for name, result in claims.items():
        for key in ("git_commit", "code_version", "seeds"):
            if result[key] != summary[key]:
                raise SystemExit(f"{folder / name}.json: {key} {result[key]} differs from {RESULT_FILE}'s "
                                 f"{summary[key]}; the page must come from one run")
    return summary, claims


def provenance_lines(result: dict) -> list[str]:
    """Commit, command and machine of one result file (a claim's or run_all's)."""
    machine = result["machine"]
    dirty = ("**with uncommitted changes**: the numbers are not reproducible from the commit alone"
             if result["git_dirty"] else "clean tree")
    return [
        f"- Commit `{result['git_commit']}`, code version `{result['code_version']}`; {dirty}.",
        f"- Command: `{result['command']}`; profile `{result['profile']}`, training seeds {result['seeds']}.",
        (f"- Machine: {machine['cpu_model']}, {machine['cpu_cores']} cores, torch {machine['torch_version']} with "
         f"{machine['torch_threads']} threads; GPUs: {', '.join(machine['cuda_devices']) or 'none'}; "
         f"finished {machine['date_utc']}.")]


def provenance_section(summary: dict) -> str:
    load = f"load average {summary['load_average_start']} at the start, {summary['load_average_end']} at the end"
    return "\n".join([
        "## The run behind these numbers", "", *provenance_lines(summary),
        (f"- Time: {summary['wall_s'] / 60:.1f} min wall, {summary['cpu_s']:.0f} CPU s of the main process; "
         f"training by {summary['training']['executor']}; {load}."), ""])


def real_clips_section(folder: Path, docs: Path, index: int = 0) -> str:
    """Table 2 on tracked real clips, from a ``table2 --real-only`` output folder (the ``index``-th
    one given: it names the figure)."""
    from bench.paper import table2

    result = output.read_result(folder / f"{table2.CLAIM}.json")
    target = "paper_table2_real.png" if index == 0 else f"paper_table2_real_{index + 1}.png"
    shutil.copyfile(folder / f"{table2.CLAIM}.png", docs / "img" / target)
    clips = [s["subject"].removeprefix("real ") for s in result["summaries"]
             if s["subject"].startswith("real ") and not s["subject"].endswith(table2.NO_MASKS)]
    return "\n".join([
        f"## {TITLES['table2']}: tracked real clips ({', '.join(clips)})", "",
        ("Each clip is tracked by `nbskit track` and trained like the synthetic subject, "
         "refinement on. PSNR_RIGHT_HALF_* score the right half of each test frame as tracked and after the "
         "test-time fit on its left half; PSNR_HEAD_VISIBLE leaves out what the clip's occluder masks hide. "
         "A separate run:"), "", *provenance_lines(result), "", table2.markdown(result), "",
        f"![{target}](img/{target})", ""])


def claim_section(name: str, result: dict, docs: Path, folder: Path) -> str:
    module = importlib.import_module(f"bench.paper.{name}")
    lines = [f"## {TITLES[name]}", "", f"`{name}` (`bench/paper/{name}.py`): {module.__doc__.splitlines()[0]}", "",
             module.markdown(result), ""]
    for source, target in FIGURES[name].items():
        shutil.copyfile(folder / source, docs / "img" / target)
        lines.append(f"![{target}](img/{target})")
    return "\n".join(lines + [""])


def run(args: argparse.Namespace) -> int:
    summary, claims = load_results(args.results)
    (args.docs / "img").mkdir(parents=True, exist_ok=True)
    sections = [INTRODUCTION, provenance_section(summary)]
    sections += [claim_section(name, claims[name], args.docs, args.results) for name in CLAIMS]
    sections += [real_clips_section(folder, args.docs, index) for index, folder in enumerate(args.real)]
    output.write_text(args.docs / "results.md", "\n".join(sections))
    print(f"wrote {args.docs / 'results.md'} and {sum(len(f) for f in FIGURES.values())} figures under "
          f"{args.docs / 'img'} from {args.results} (commit {summary['git_commit']})")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
