"""Hash-encoding throughput: samples/s of forward and forward+backward, per backend and device.

Default shape: the paper grid (16 levels, F=4, T=2^14), 2^17 samples, 2 frames, K=46 expression
bases (the FaceWarehouse count) plus the mean table. Two operations are timed:

- ``blend+encode``: :func:`encode_blended` on the K+1 tables (what the field calls);
- ``encode``: :func:`hash_encode` on B already-blended tables (the lookup alone).

Run ``nbskit bench encode`` (or ``python -m bench.encode``) from the repository root.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch
from tqdm import tqdm

from bench.common import (
    CASE_COLUMNS,
    REFERENCE_BACKEND,
    SPEEDUP_COLUMN,
    add_case_arguments,
    add_speedups,
    add_timing_arguments,
    apply_thread_setting,
    report,
    requested_backends,
    requested_devices,
    run_script,
    time_call,
    timing_settings,
    write_json,
)
from nbskit.encoding import (
    HashGridConfig,
    available_encoder_backends,
    blend_tables,
    encode_blended,
    hash_encode,
)

DTYPES = {"float32": torch.float32, "float16": torch.float16}
OPERATIONS = ("blend+encode", "encode")
PASSES = ("forward", "forward+backward")
TABLE_COLUMNS = [
    *CASE_COLUMNS,
    ("dtype", "tables", ""),
    ("operation", "operation", ""),
    ("pass", "pass", ""),
    ("median_ms", "median ms", ".2f"),
    ("median_cpu_ms", "cpu-time ms", ".2f"),
    ("median_device_ms", "gpu ms", ".3f"),
    ("msamples_per_s", "M samples/s", ".3f"),
    SPEEDUP_COLUMN,
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=2**17, help="samples per call (default 2^17)")
    parser.add_argument("--frames", type=int, default=2, help="frames (blended tables) per call (default 2)")
    parser.add_argument("-K", "--expressions", type=int, default=46, help="expression bases K (default 46)")
    parser.add_argument(
        "--dtypes", default="float32", help="table dtypes to try: float32,float16 (default float32)"
    )
    add_case_arguments(parser)
    add_timing_arguments(parser, default_out="encode.json")


@dataclasses.dataclass(frozen=True)
class Case:
    device: torch.device
    backend: str
    dtype_name: str


def run(args: argparse.Namespace) -> int:
    apply_thread_setting(args.threads)
    config = HashGridConfig()
    cases = list_cases(args)
    if not cases:
        print("no backend can run the requested devices/dtypes", file=sys.stderr)
        return 1
    rows = []
    payload = {"settings": settings_of(config, args), "rows": rows}
    progress = tqdm(total=len(cases) * len(OPERATIONS) * len(PASSES), desc="bench encode", unit="case")
    for case in cases:
        inputs = None
        for operation in OPERATIONS:
            for pass_name in PASSES:
                progress.set_postfix_str(f"{case.device.type}/{case.backend}/{operation}/{pass_name}")
                labels = {"device": case.device.type, "backend": case.backend, "dtype": case.dtype_name,
                          "operation": operation, "pass": pass_name}
                try:  # a failing case (a kernel error, memory) becomes an error row; the others still run
                    inputs = inputs or make_inputs(config, case, args)
                    rows.append({**labels, **time_case(config, case, inputs, operation, pass_name, args)})
                except Exception as error:  # noqa: BLE001 -- recorded in the results, not hidden
                    rows.append({**labels, "error": f"{type(error).__name__}: {error}"})
                    print(f"bench encode: {labels} failed: {rows[-1]['error']}", file=sys.stderr)
                write_json(args.out, {"benchmark": "encode", "partial": True, **payload})  # nothing lost if stopped
                progress.update()
    progress.close()
    add_speedups(rows, same_case=("device", "dtype", "operation", "pass"))
    heading = (
        f"hash encoding, paper grid, {args.samples:,} samples, {args.frames} frames, K={args.expressions}"
    )
    report(args.out, rows, TABLE_COLUMNS, payload, benchmark="encode", heading=heading)
    return 1 if any("error" in row for row in rows) else 0


def time_case(config: HashGridConfig, case: Case, inputs: dict, operation: str, pass_name: str,
              args: argparse.Namespace) -> dict:
    """The timing columns of one (case, operation, pass)."""
    fn = make_call(config, case, inputs, operation, backward=pass_name == "forward+backward")
    timing = time_call(fn, case.device, args.warmup, args.repeats)
    device_median = timing.as_dict()["median_device_s"]
    return {
        "median_ms": timing.median * 1e3,
        "median_cpu_ms": timing.median_cpu * 1e3,
        "median_device_ms": None if device_median is None else device_median * 1e3,
        "msamples_per_s": args.samples / timing.median / 1e6,
        **timing.as_dict(),
    }


def settings_of(config: HashGridConfig, args: argparse.Namespace) -> dict:
    return {
        "config": dataclasses.asdict(config),
        "samples": args.samples,
        "frames": args.frames,
        "expressions": args.expressions,
        **timing_settings(args),
    }


def list_cases(args: argparse.Namespace) -> list[Case]:
    """Every (device, backend, dtype) that can run: by device, then dtype in the order asked for
    (float32 first by default: the targets are stated for it), the torch reference first."""
    wanted = requested_backends(args)
    cases = []
    for device in requested_devices(args):
        for dtype_name in args.dtypes.split(","):
            if dtype_name not in DTYPES:
                raise SystemExit(f"--dtypes: unknown dtype {dtype_name!r}; choose from {sorted(DTYPES)}")
            for backend in available_encoder_backends(device, DTYPES[dtype_name]):
                if wanted is None or backend in wanted:
                    cases.append(Case(device, backend, dtype_name))
    dtype_order = args.dtypes.split(",")
    return sorted(cases, key=lambda case: (case.device.type, dtype_order.index(case.dtype_name),
                                           case.backend != REFERENCE_BACKEND))


def make_inputs(config: HashGridConfig, case: Case, args: argparse.Namespace) -> dict:
    generator = torch.Generator().manual_seed(args.seed)
    dtype = DTYPES[case.dtype_name]
    num_tables = args.expressions + 1
    tables = torch.empty(num_tables, config.total_entries, config.features).uniform_(
        -1, 1, generator=generator
    )
    w = torch.rand(args.frames, args.expressions, generator=generator)
    coefficients = torch.cat([torch.ones(args.frames, 1), w], dim=1)
    inputs = {
        "x": torch.rand(args.samples, 3, generator=generator),
        "frame": torch.randint(0, args.frames, (args.samples,), generator=generator),
        "tables": tables.to(dtype),
        "coefficients": coefficients.to(dtype),
        "blended": blend_tables(tables, coefficients).to(dtype),
        "grad_out": torch.randn(args.samples, config.output_dim, generator=generator).to(dtype),
    }
    return {name: tensor.to(case.device) for name, tensor in inputs.items()}


def make_call(config: HashGridConfig, case: Case, inputs: dict, operation: str, backward: bool):
    """A zero-argument closure that runs one timed call."""
    trainable = inputs["tables"] if operation == "blend+encode" else inputs["blended"]
    trainable.requires_grad_(backward)

    def encode() -> torch.Tensor:
        if operation == "blend+encode":
            return encode_blended(
                inputs["x"], trainable, inputs["coefficients"], inputs["frame"], config, backend=case.backend
            )
        return hash_encode(inputs["x"], trainable, inputs["frame"], config, backend=case.backend)

    def forward_only() -> None:
        with torch.no_grad():
            encode()

    def forward_backward() -> None:
        trainable.grad = None
        encode().backward(inputs["grad_out"])

    return forward_backward if backward else forward_only


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
