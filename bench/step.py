"""The encoder's share of one training step, per encoding backend and table optimiser.

One step over the paper grid (K+1 tables) with B frames x N samples: ``encode_blended`` forward, a
backward pass from a fixed output gradient (standing in for the MLP's), and the optimiser step on the
tables, built as training builds it (``build_optimizer`` with the default config: lr 1e-3, betas
(0.9, 0.99), eps 1e-15): dense fused torch Adam or :class:`~nbskit.train.table_optimizer.RowSparseAdam`
(only rows that received gradient). Each phase is timed separately (synchronised), so the table shows where the
time goes; ``step cpu-ms`` is the process CPU time of the whole step (wall time is inflated on a
shared machine), ``rows touched %`` the share of table rows with a non-zero gradient. A hashed level
has only T rows, so a step with many samples touches nearly all of them wherever the samples lie
(2^17 samples x 8 corners per level vs T = 2^14); fewer samples (``--samples``) leave rows untouched.

Run ``nbskit bench step`` (or ``python -m bench.step``) from the repository root.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from tqdm import tqdm

from bench.common import (
    CASE_COLUMNS,
    add_case_arguments,
    add_timing_arguments,
    apply_thread_setting,
    cuda_event_pair,
    device_backend_cases,
    report,
    run_script,
    synchronize,
    timing_settings,
)
from nbskit.encoding import BlendedHashGrid, HashGridConfig, available_encoder_backends, encode_blended
from nbskit.train.components import build_optimizer
from nbskit.train.presets import TrainConfig
from nbskit.train.table_optimizer import TABLE_OPTIMIZERS

OPTIMIZERS = tuple(TABLE_OPTIMIZERS)  # TrainConfig.table_optimizer values
_DEFAULTS = TrainConfig()
ADAM = {"lr": _DEFAULTS.learning_rate, "betas": _DEFAULTS.adam_betas, "eps": _DEFAULTS.adam_eps}  # for the report
PHASES = ("forward", "backward", "optimizer", "step")
TABLE_COLUMNS = [
    *CASE_COLUMNS,
    ("optimizer", "optimizer", ""),
    ("forward", "forward ms", ".2f"),
    ("backward", "backward ms", ".2f"),
    ("optimizer_ms", "optimizer ms", ".2f"),
    ("step", "step ms", ".2f"),
    ("step_cpu", "step cpu-ms", ".1f"),
    ("rows_touched_percent", "rows touched %", ".1f"),
    ("msamples_per_s", "M samples/s", ".3f"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=2**17, help="samples per step (default 2^17)")
    parser.add_argument("--frames", type=int, default=2, help="frames per step (default 2)")
    parser.add_argument("-K", "--expressions", type=int, default=46, help="expression bases K (default 46)")
    parser.add_argument(
        "--optimizers",
        default=",".join(OPTIMIZERS),
        help=f"table optimisers to time (default {','.join(OPTIMIZERS)})",
    )
    add_case_arguments(parser)
    add_timing_arguments(parser, default_out="step.json")


def tables_and_optimizer(name: str, tables: torch.Tensor, config: HashGridConfig):
    """The tables [K+1, T, F] as the parameter of a BlendedHashGrid, and the training optimiser
    ``name`` over it (``build_optimizer``: the run's Adam settings, no weight decay on tables)."""
    if name not in TABLE_OPTIMIZERS:
        raise SystemExit(f"--optimizers: unknown optimiser {name!r}; choose from {OPTIMIZERS}")
    num_expressions = tables.shape[0] - 1
    grid = BlendedHashGrid(config, num_expressions, torch.zeros(num_expressions), torch.ones(num_expressions))
    grid = grid.to(tables.device)
    with torch.no_grad():
        grid.tables.copy_(tables)
    return grid.tables, build_optimizer(grid, TrainConfig(table_optimizer=name))


def time_step(
    device: torch.device, backend: str, optimizer_name: str, args: argparse.Namespace, config: HashGridConfig
) -> dict:
    """Median milliseconds of each phase over ``args.repeats`` steps (after ``args.warmup``)."""
    generator = torch.Generator().manual_seed(args.seed)
    tables = torch.empty(args.expressions + 1, config.total_entries, config.features).uniform_(
        -1e-4, 1e-4, generator=generator
    )
    tables, optimizer = tables_and_optimizer(optimizer_name, tables.to(device), config)
    w = torch.rand(args.frames, args.expressions, generator=generator)
    coefficients = torch.cat([torch.ones(args.frames, 1), w], dim=1).to(device)
    x = torch.rand(args.samples, 3, generator=generator).to(device)
    frame = torch.randint(0, args.frames, (args.samples,), generator=generator).to(device)
    grad_out = torch.randn(args.samples, config.output_dim, generator=generator).to(device)

    def now() -> float:
        synchronize(device)
        return time.perf_counter()

    samples = {phase: [] for phase in (*PHASES, "step_cpu")}
    device_ms = []  # CUDA-event time of the whole step, on a GPU
    for repeat in range(args.warmup + args.repeats):
        optimizer.zero_grad(set_to_none=True)
        events = cuda_event_pair(device)
        cpu_start = time.process_time()
        start = now()
        if events:
            events[0].record()
        out = encode_blended(x, tables, coefficients, frame, config, backend=backend)
        encoded = now()
        out.backward(grad_out)
        backward = now()
        optimizer.step()
        if events:
            events[1].record()
        end = now()
        if events and repeat >= args.warmup:
            device_ms.append(events[0].elapsed_time(events[1]))
        if repeat >= args.warmup:
            for phase, seconds in zip(
                (*PHASES, "step_cpu"),
                (
                    encoded - start,
                    backward - encoded,
                    end - backward,
                    end - start,
                    time.process_time() - cpu_start,
                ),
            ):
                samples[phase].append(seconds * 1e3)
    result = {phase: float(torch.tensor(values).median()) for phase, values in samples.items()}
    result["optimizer_ms"] = result.pop("optimizer")
    result["step_device_ms"] = float(torch.tensor(device_ms).median()) if device_ms else None
    touched_rows = int(tables.grad.ne(0).any(-1).sum())
    result["rows_touched_percent"] = 100.0 * touched_rows / (tables.numel() // config.features)
    return result


def run(args: argparse.Namespace) -> int:
    apply_thread_setting(args.threads)
    config = HashGridConfig()
    cases = device_backend_cases(args, available_encoder_backends)
    rows = []
    optimizers = args.optimizers.split(",")
    progress = tqdm(total=len(cases) * len(optimizers), desc="bench step", unit="case")
    for device, backend in cases:
        for optimizer_name in optimizers:
            progress.set_postfix_str(f"{device.type}/{backend}/{optimizer_name}")
            phases = time_step(device, backend, optimizer_name, args, config)
            rows.append(
                {
                    "device": device.type,
                    "backend": backend,
                    "optimizer": optimizer_name,
                    **phases,
                    "msamples_per_s": args.samples / phases["step"] / 1e3,
                }
            )
            progress.update()
    progress.close()
    settings = {
        "samples": args.samples,
        "frames": args.frames,
        "expressions": args.expressions,
        "adam": {**ADAM, "fused": True},
        **timing_settings(args),
    }
    heading = (
        f"encoder share of a training step: paper grid, K={args.expressions}, {args.frames} frames, "
        f"{args.samples:,} samples, Adam {ADAM}"
    )
    payload = {"settings": settings, "rows": rows}
    report(args.out, rows, TABLE_COLUMNS, payload, benchmark="step", heading=heading)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
