"""Helpers for the scripts that write the course notebooks (nbformat, never hand-written JSON).

Each ``build_NN.py`` describes its notebook as a list of ("md" | "code" | "parameters", source)
cells and calls :func:`write_notebook`, which saves it without outputs. Run from the repository
root: ``.venv/bin/python notebooks/_build/build_07.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1]
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def write_notebook(name: str, cells: list[tuple[str, str]]) -> Path:
    """Write ``notebooks/<name>.ipynb`` from (kind, source) pairs; returns its path."""
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}})
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
    nbformat.validate(notebook)
    path = NOTEBOOKS / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path
