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

from bench.provenance import code_provenance

DEFAULT_OUT_DIR = Path("runs") / "bench"
TARGET_MACHINE_THREADS = 2  # CPU threads of the machine the project's CPU targets are stated for


REFERENCE_BACKEND = "torch"  # the speed-up columns compare every backend with this one
# Table columns (key, header, format) of the rows the shared helpers describe.
CASE_COLUMNS = [("device", "device", ""), ("backend", "backend", "")]  # from device_backend_cases
SPEEDUP_COLUMN = ("speedup_vs_torch", "x torch", ".1f")  # from add_speedups


def add_output_arguments(
    parser: argparse.ArgumentParser, default_out: str, default_threads: int | None = None
) -> None:
    """``--threads`` and ``--out``, which every benchmark has (results go to runs/bench/ by default)."""
    threads_default = "torch's choice" if default_threads is None else default_threads
    parser.add_argument(
        "--threads", type=int, default=default_threads, help=f"torch CPU threads (default: {threads_default})"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR / default_out, help="JSON results file")


def add_timing_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """Options of the benchmarks that repeat a call: ``--warmup --repeats`` plus the output options."""
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before measuring (default 1)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed calls; the median is reported (default 5)"
    )
    add_output_arguments(parser, default_out)


def timing_settings(args: argparse.Namespace) -> dict:
    """The ``--warmup``/``--repeats`` values, for the settings recorded beside the results."""
    return {"warmup": args.warmup, "repeats": args.repeats}


def add_case_arguments(parser: argparse.ArgumentParser, devices: bool = True) -> None:
    """``--devices`` (optional), ``--backends`` and ``--seed`` of the per-backend benchmarks."""
    if devices:
        parser.add_argument(
            "--devices", default=None, help="comma-separated devices (default: cpu, and cuda if present)"
        )
    parser.add_argument("--backends", default=None, help="comma-separated backends (default: all available)")
    parser.add_argument("--seed", type=int, default=0)


def requested_devices(args: argparse.Namespace) -> list[torch.device]:
    """The ``--devices`` list, else the CPU and, when present, CUDA."""
    names = (
        args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    return [torch.device(name) for name in names]


def requested_backends(args: argparse.Namespace) -> set[str] | None:
    """The ``--backends`` asked for, or None for every available one."""
    return set(args.backends.split(",")) if args.backends else None


def device_backend_cases(
    args: argparse.Namespace, available: Callable[[torch.device], Sequence[str]]
) -> list[tuple[torch.device, str]]:
    """Every (device, backend) pair requested on the command line that ``available(device)`` offers."""
    wanted = requested_backends(args)
    return [
        (device, backend)
        for device in requested_devices(args)
        for backend in available(device)
        if wanted is None or backend in wanted
    ]


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


def source_commit() -> str | None:
    """The checkout's commit (with '+dirty' when files differ from it), or None outside git."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine_description() -> dict:
    """What the numbers were measured on: CPU, cores, threads, versions, GPUs, and the source commit."""
    description = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": source_commit(),
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
    """Seconds of the repeated calls: wall clock, CPU time of this process (all threads) and, on a
    GPU, the time between CUDA events recorded around each call on the current stream.

    On a shared machine the CPU time shows what the work costs when the wall clock is inflated by
    other processes; with one thread it is the single-core cost. The event time is what the GPU
    spent from the call's first queued kernel to its last, without the host's launch gaps before.
    """

    seconds: list[float]
    cpu_seconds: list[float]
    device_seconds: list[float] | None = None

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
            "median_device_s": statistics.median(self.device_seconds) if self.device_seconds else None,
        }


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read afterwards includes it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed (CUDA synchronised)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    seconds, cpu_seconds, device_seconds = [], [], []
    for _ in range(repeats):
        events = cuda_event_pair(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        if events:
            events[0].record()
        fn()
        if events:
            events[1].record()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        if events:
            device_seconds.append(events[0].elapsed_time(events[1]) / 1e3)
    return Timing(seconds, cpu_seconds, device_seconds or None)


def cuda_event_pair(device: torch.device) -> tuple | None:
    """A (start, end) pair of timing events on a GPU, else None."""
    if device.type != "cuda":
        return None
    return torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)


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


def results_header(command: str | None = None) -> dict:
    """What every result file written by ``bench/`` starts with, so a number can be traced to its
    code and machine: git_commit, git_dirty, code_version (hash of the sources), command and machine."""
    return {**code_provenance(command), "machine": machine_description()}


def write_results(path: Path, payload: dict, command: str | None = None) -> Path:
    """``write_json`` of ``results_header()`` followed by ``payload``."""
    return write_json(path, {**results_header(command), **payload})


def add_speedups(rows: list[dict], same_case: Sequence[str]) -> None:
    """Set each row's ``speedup_vs_torch``: the reference row's median over its own.

    The reference is the ``REFERENCE_BACKEND`` row that agrees on every key in ``same_case``;
    rows without one get None.
    """
    reference = {
        tuple(row[key] for key in same_case): row["median_ms"]
        for row in rows
        if row["backend"] == REFERENCE_BACKEND and row.get("median_ms")
    }
    for row in rows:
        baseline = reference.get(tuple(row[key] for key in same_case))
        mine = row.get("median_ms")  # None in the row of a case that failed
        row["speedup_vs_torch"] = baseline / mine if baseline and mine else None


def report(
    out: Path,
    rows: Sequence[dict],
    columns: Sequence[tuple[str, str, str]],
    payload: dict,
    benchmark: str | None = None,
    heading: str | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Print the heading, the machine, the table of ``rows`` and the notes; write the JSON.

    The JSON holds ``results_header()`` (code and machine), ``benchmark`` (when given), then ``payload``.
    """
    header = results_header()
    if heading is not None:
        print(heading)
    print(describe_machine_line(header["machine"]))
    print(format_table(rows, columns))
    for note in notes:
        print(note)
    name = {"benchmark": benchmark} if benchmark is not None else {}
    path = write_json(out, {**header, **name, **payload})
    print(f"wrote {path}")
    return path


def run_script(
    doc: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: list[str] | None = None,
) -> int:
    """``python -m bench.NAME``: parse the script's options (described by its docstring) and run it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
