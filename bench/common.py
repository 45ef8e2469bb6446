"""Shared pieces of the benchmark scripts: timing, machine description, tables, JSON output."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

DEFAULT_OUT_DIR = Path("runs") / "bench"


def add_timing_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """Options every benchmark shares."""
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before measuring (default 1)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed calls; the median is reported (default 5)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR / default_out, help="JSON results file")


def apply_thread_setting(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)


def cpu_model() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux, else platform)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_description() -> dict:
    """What the numbers were measured on: CPU, cores, threads, versions, GPUs."""
    description = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cuda_devices": [],
    }
    if torch.cuda.is_available():
        description["cuda_version"] = torch.version.cuda
        description["cuda_devices"] = [
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        ]
    return description


def describe_machine_line(machine: dict) -> str:
    gpus = ", ".join(machine["cuda_devices"]) or "no GPU"
    return (
        f"{machine['cpu_model']} ({machine['cpu_cores']} cores, torch {machine['torch_version']}, "
        f"{machine['torch_threads']} threads); {gpus}"
    )


@dataclass
class Timing:
    """Seconds of the repeated calls: wall clock, and CPU time of this process (all threads).

    On a shared machine the CPU time shows what the work costs when the wall clock is inflated by
    other processes; with one thread it is the single-core cost.
    """

    seconds: list[float]
    cpu_seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu_seconds)

    def as_dict(self) -> dict:
        return {
            "median_s": self.median,
            "min_s": min(self.seconds),
            "max_s": max(self.seconds),
            "all_s": self.seconds,
            "median_cpu_s": self.median_cpu,
        }


def time_call(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed (CUDA synchronised)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    synchronize()
    seconds, cpu_seconds = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        synchronize()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    return Timing(seconds, cpu_seconds)


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Plain-text table; ``columns`` are (key, header, format spec), missing values print as '-'."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([_format_cell(row.get(key), spec) for key, _, spec in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _format_cell(value, spec: str) -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def write_json(path: Path, payload: dict) -> Path:
    """Write atomically (temp file, then rename) so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(temporary, path)
    return path
