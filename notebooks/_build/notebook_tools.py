"""Helpers for the scripts that write the course notebooks (nbformat, never hand-written JSON).

Each ``build_NN.py`` describes its notebook either as a list of ("md" | "code" | "parameters",
source) cells passed to :func:`write_notebook`, or cell by cell through a :class:`CellRecorder`'s
``md``/``code``; both save it without outputs. Run from the repository root:
``.venv/bin/python notebooks/_build/build_07.py``.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1]
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}
DEFAULT_METADATA = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
CELL_ID_PREFIX = "cell-"


def write_notebook(name: str, cells: list[tuple[str, str]]) -> Path:
    """Write ``notebooks/<name>.ipynb`` from (kind, source) pairs; returns its path."""
    notebook = nbformat.v4.new_notebook(metadata=DEFAULT_METADATA)
    for kind, source in cells:
        source = textwrap.dedent(source).strip("\n")
        if kind == "md":
            notebook.cells.append(nbformat.v4.new_markdown_cell(source))
        elif kind in ("code", "parameters"):
            cell = nbformat.v4.new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            notebook.cells.append(cell)
        else:
            raise ValueError(f"unknown cell kind {kind!r}")
    return save_notebook(notebook, name)


def save_notebook(notebook: nbformat.NotebookNode, name: str) -> Path:
    """Validate ``notebook`` and write it atomically to ``notebooks/<name>.ipynb``; returns its path.

    Cell ids are numbered (nbformat would draw random ones), so rebuilding an unchanged notebook
    rewrites the same bytes and a diff shows only what changed.
    """
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{CELL_ID_PREFIX}{index:02d}"
    nbformat.validate(notebook)
    path = NOTEBOOKS / f"{name}.ipynb"
    temporary = path.with_suffix(".ipynb.tmp")
    nbformat.write(notebook, temporary)
    os.replace(temporary, path)
    return path


class CellRecorder:
    """Collects cells in order for builders written as a sequence of ``md(...)``/``code(...)`` calls."""

    def __init__(self) -> None:
        self.cells: list[nbformat.NotebookNode] = []

    def md(self, text: str) -> None:
        self.cells.append(nbformat.v4.new_markdown_cell(text.strip()))

    def code(self, text: str, **metadata) -> None:
        """A code cell; ``metadata`` such as ``tags=["parameters"]`` goes into the cell's metadata."""
        self.cells.append(nbformat.v4.new_code_cell(text.strip(), metadata=metadata))

    def write(self, name: str, metadata: dict | None = None) -> Path:
        """Save the cells as ``notebooks/<name>.ipynb`` (default metadata: Python 3 kernel)."""
        notebook = nbformat.v4.new_notebook(cells=self.cells, metadata=metadata or DEFAULT_METADATA)
        return save_notebook(notebook, name)
