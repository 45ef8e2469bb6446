"""Every course notebook runs top to bottom in smoke mode, and is committed without outputs.

A notebook's first ``parameters``-tagged cell sets ``SMOKE``; like papermill, this test injects a
cell right after it that sets ``SMOKE = True``, so students get full mode by default and CI gets
the short run. The notebook's final cells hold its own checks (asserts), so a wrong result fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from bench.notebook_times import inject_smoke

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 1200  # a limit against hangs, not a speed check


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    inject_smoke(nb)
    env_threads = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    os.environ.update(env_threads)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs; "
                       "strip them (jupyter nbconvert --clear-output --inplace)")
