"""Which code produced a result: git commit, dirty flag, a hash of the sources, the command line.

Standard library only, so that scripts which must not import torch can record it too.
``bench.common.results_header`` adds the machine description for the result files.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Everything a benchmark result depends on: the library, its compiled core, the benchmark code and
# the shipped assets (the ICT model shapes the synthetic subjects).
CODE_PATHS = ("nbskit", "nbskit_cuda", "bench", "data")
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
CODE_VERSION_CHARS = 12


def git_state(repo: Path = REPO_ROOT) -> dict:
    """{'git_commit': HEAD's hash, 'git_dirty': any tracked or untracked change} (None, None without git)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit, status = git("rev-parse", "HEAD"), git("status", "--porcelain")
    return {"git_commit": commit.strip() if commit else None,
            "git_dirty": None if status is None else bool(status.strip())}


@functools.cache  # sources do not change while one benchmark runs
def code_version(root: Path = REPO_ROOT, paths: tuple[str, ...] = CODE_PATHS) -> str:
    """Short hash of every file under ``paths`` (names and bytes): equal hashes mean the same code.

    Unlike the commit it also covers uncommitted edits, and it stays the same across commits that
    touch only documentation or tests, so cached runs survive those and nothing else.
    """
    digest = hashlib.sha256()
    for top in paths:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and not SKIPPED_PARTS.intersection(path.parts):
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()[:CODE_VERSION_CHARS]


def command_line() -> str:
    """The command that is running, as a user would type it (``python -m bench.NAME ...``)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    program = f"python -m {spec.name}" if spec is not None else sys.argv[0]
    return " ".join([program, *map(shlex.quote, sys.argv[1:])])


def code_provenance(command: str | None = None) -> dict:
    """git_commit, git_dirty, code_version and command (this process's unless given)."""
    return {**git_state(), "code_version": code_version(), "command": command or command_line()}
