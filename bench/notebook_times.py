"""How long each course notebook takes, top to bottom, in full mode (what a student runs) or smoke mode.

    python -m bench.notebook_times 03 05 06 07 08 09 10            # full mode, in course order
    python -m bench.notebook_times --smoke --separate 00 01 02     # as CI runs them: each in a fresh folder

Notebooks run one after another in one working folder (``--work``; a fresh temporary one by
default), as a student working through the course would: notebooks that share trained runs
(06 and 09, 07 and 08) find them there; ``--separate`` gives each notebook a fresh subfolder instead,
as the tests do. The synthetic subjects are cached outside that folder; the table says
whether each notebook found its subject already made. For each notebook it prints the wall time,
the CPU time of the notebook's kernel and everything it started (user + sys), and the load
average at the start and the end, and writes the JSON (commit, machine, command) after every
notebook, so an interrupted measurement keeps what it finished. The course's target is at most
20 minutes per notebook in full mode on two idle cores; a load average well above 2 during a run
means the cores were shared and the wall time overstates an idle run.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from bench.common import format_table, run_script, write_results

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
FULL_MODE_LIMIT_MIN = 20.0  # the course's limit per notebook on two idle cores
CELL_TIMEOUT_S = 3600  # against hangs only
COLUMNS = [("notebook", "notebook", ""), ("mode", "mode", ""), ("ok", "ok", ""), ("wall_min", "wall min", ".2f"),
           ("cpu_min", "CPU min", ".2f"), ("load_start", "load start", ".2f"), ("load_end", "load end", ".2f"),
           ("subjects_cached", "subjects cached", "")]


def inject_smoke(nb) -> None:
    """Insert ``SMOKE = True`` right after the notebook's ``parameters``-tagged cell (as papermill would).

    Raises AssertionError when the notebook has no such cell: every course notebook must have one.
    """
    import nbformat

    for position, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            nb.cells.insert(position + 1, nbformat.v4.new_code_cell("SMOKE = True  # injected by tests"))
            return
    raise AssertionError("notebook has no cell tagged 'parameters' that sets SMOKE")


def notebook_paths(prefixes: list[str]) -> list[Path]:
    """The notebooks whose names start with each prefix ('05' -> 05_training.ipynb), in the order given."""
    found = []
    for prefix in prefixes:
        matches = sorted(NOTEBOOK_DIR.glob(f"{prefix}*.ipynb"))
        if len(matches) != 1:
            names = ", ".join(p.stem for p in sorted(NOTEBOOK_DIR.glob("*.ipynb")))
            raise SystemExit(f"notebook prefix {prefix!r} matches {len(matches)} notebooks; one of: {names}")
        found.append(matches[0])
    return found


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _subjects_cached() -> int:
    from nbskit.data.synthetic import SUBJECT_CACHE

    return sum(1 for path in SUBJECT_CACHE.glob("*/transforms.json")) if SUBJECT_CACHE.is_dir() else 0


def time_notebook(path: Path, work: Path, smoke: bool) -> dict:
    """Run ``path`` top to bottom with ``work`` as its folder; wall and kernel CPU minutes, loads, success."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    if smoke:
        inject_smoke(nb)
    row = {"notebook": path.stem, "mode": "smoke" if smoke else "full", "subjects_cached": _subjects_cached(),
           "load_start": os.getloadavg()[0]}
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    cpu_before, start = _children_cpu_s(), time.perf_counter()
    try:
        client.execute()
        row["ok"], row["error"] = True, None
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:  # a failed notebook is a result too: record it and go on
        row["ok"], row["error"] = False, f"{type(error).__name__}: {str(error)[-2000:]}"
    row["wall_min"] = (time.perf_counter() - start) / 60
    row["cpu_min"] = (_children_cpu_s() - cpu_before) / 60
    row["load_end"] = os.getloadavg()[0]
    row["over_limit"] = (not smoke) and row["wall_min"] > FULL_MODE_LIMIT_MIN
    return row


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="+", help="notebook name prefixes, run in this order (e.g. 03 05 07)")
    parser.add_argument("--smoke", action="store_true", help="inject SMOKE = True (the CI run) instead of full mode")
    parser.add_argument("--work", type=Path, default=None,
                        help="working folder the notebooks run in (runs/ is created there; default: a fresh temporary one)")
    parser.add_argument("--separate", action="store_true",
                        help="run each notebook in its own fresh subfolder of the working folder (as the tests do)")
    parser.add_argument("--out", type=Path, default=Path("runs") / "bench" / "notebook_times.json",
                        help="JSON results file")


def run(args: argparse.Namespace) -> int:
    paths = notebook_paths(args.notebooks)
    work = args.work or Path(tempfile.mkdtemp(prefix="nbskit_notebooks_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"running {len(paths)} notebook(s) in {work}")
    rows = []
    for path in paths:
        print(f"{path.stem} ...", flush=True)
        folder = work / path.stem if args.separate else work
        folder.mkdir(exist_ok=True)
        rows.append(time_notebook(path, folder, args.smoke))
        print(format_table(rows[-1:], COLUMNS), flush=True)
        if rows[-1]["error"]:
            print(rows[-1]["error"])
        write_results(args.out, {"benchmark": "notebook_times", "work": str(work), "separate": args.separate,
                                 "limit_min": FULL_MODE_LIMIT_MIN, "rows": rows})
    print(format_table(rows, COLUMNS))
    print(f"wrote {args.out}")
    return 0 if all(row["ok"] for row in rows) else 1


def main(argv: list[str] | None = None) -> int:
    return run_script(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
