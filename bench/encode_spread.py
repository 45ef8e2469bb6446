"""How stable the encoder timing is from one process to the next: ``bench.encode`` in N fresh
processes (default 5), each case's median per process, and their spread.

Spread = (slowest - fastest) / median of the per-process medians. A fresh process starts with a
cold allocator and fresh page mappings, which one process's repeats never show. Every option
after ``--`` goes to ``bench.encode`` (e.g. ``-- --devices cpu --backends torch,cpu --threads 2``).

Run ``python -m bench.encode_spread --processes 5 -- --threads 2`` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import DEFAULT_OUT_DIR, add_speedups, report, run_script

CASE_KEYS = ("device", "backend", "dtype", "operation", "pass")
TABLE_COLUMNS = [
    ("device", "device", ""),
    ("backend", "backend", ""),
    ("dtype", "tables", ""),
    ("operation", "operation", ""),
    ("pass", "pass", ""),
    ("median_ms", "median ms", ".2f"),
    ("fastest_ms", "fastest", ".2f"),
    ("slowest_ms", "slowest", ".2f"),
    ("spread_percent", "spread %", ".1f"),
    ("speedup_vs_torch", "x torch", ".1f"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", type=int, default=5, help="fresh processes to run (default 5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR / "encode_spread.json", help="JSON results file")
    parser.add_argument("encode_args", nargs=argparse.REMAINDER, help="options for bench.encode, after --")


def run(args: argparse.Namespace) -> int:
    if args.processes < 2:
        raise SystemExit("--processes: a spread needs at least 2 processes")
    encode_args = [arg for arg in args.encode_args if arg != "--"]
    per_process = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.processes):
            out = Path(folder) / f"encode_{index}.json"
            command = [sys.executable, "-m", "bench.encode", *encode_args, "--out", str(out)]
            print(f"process {index + 1}/{args.processes}: {' '.join(command[1:])}", flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            per_process.append(json.loads(out.read_text())["rows"])
    rows = spread_rows(per_process)
    add_speedups(rows, same_case=("device", "dtype", "operation", "pass"))
    heading = f"bench.encode in {args.processes} processes: per-process medians and their spread"
    report(args.out, rows, TABLE_COLUMNS, {"encode_args": encode_args, "rows": rows}, benchmark="encode_spread",
           heading=heading)
    return 0


def spread_rows(per_process: list[list[dict]]) -> list[dict]:
    """One row per case measured in every process: the median, fastest and slowest of the
    per-process medians, and the spread (slowest - fastest) / median in percent."""
    medians: dict[tuple, list[float]] = {}
    for rows in per_process:
        for row in rows:
            if row.get("median_ms") is not None:
                medians.setdefault(tuple(row[key] for key in CASE_KEYS), []).append(row["median_ms"])
    result = []
    for case, values in medians.items():
        if len(values) != len(per_process):
            continue  # failed in some process: no spread to state
        middle = statistics.median(values)
        result.append({**dict(zip(CASE_KEYS, case)), "median_ms": middle, "fastest_ms": min(values),
                       "slowest_ms": max(values), "spread_percent": 100.0 * (max(values) - min(values)) / middle,
                       "per_process_ms": values})
    return result


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
