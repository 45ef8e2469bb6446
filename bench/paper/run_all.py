"""Every paper claim in one go: Fig. 8, Table 2, Fig. 12, Fig. 13–14, Fig. 9–10 (JSON + PNG each).

    python -m bench.paper.run_all --quick                # 2 CPU cores (small + tiny subjects), 3 seeds
    python -m bench.paper.run_all --quick --workers 2    # the same runs, two at a time in local processes
    python -m bench.paper.run_all --quick --ray [ADDR]   # one Ray task per run (local Ray, or the cluster at ADDR)
    python -m bench.paper.run_all --gpu                  # one GPU (paper subject)
    python -m bench.paper.run_all --quick --real DIR     # adds a tracked real clip to Table 2 (repeatable)

First every run any selected claim needs is trained (and, where a claim reads test metrics,
evaluated), one run per task, by the executor chosen (``bench.paper.executors``); then each claim
reads the finished runs and writes its JSON, PNG and tables. Claims share runs (through ``--work``):
Fig. 8's blend and concatenate runs are Table 2's, Fig. 12's "with" and Fig. 9–10's. A claim that
fails is reported and the others still run. Writes ``OUT/run_all.json`` (code, machine, command,
training time, time per claim: wall and CPU, load average) and ``OUT/summary.md`` (every claim's tables).
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import sys
import time
import traceback

from bench.common import results_header, run_script, write_json
from bench.paper import output, table2

# In this order the shared runs are trained by the claim that times them (Fig. 8).
CLAIMS = ("fig8_speed", "table2", "fig12_perceptual", "fig13_grid", "fig9_10_bases_geometry")
SUMMARY_FILE, RESULT_FILE = "summary.md", "run_all.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output.add_arguments(parser)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="profile", action="store_const", const="quick", help="same as --profile quick")
    size.add_argument("--gpu", dest="profile", action="store_const", const="gpu", help="same as --profile gpu")
    table2.add_real_arguments(parser)
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(CLAIMS)}")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (e.g. a compiler building the extension)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def train_everything(claims: list[str], args: argparse.Namespace) -> dict:
    """Train every run the claims need before any claim runs, so the executor sees them all at once."""
    profile = output.setup(args)
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    needs = [need for name in claims for need in importlib.import_module(f"bench.paper.{name}").needs(profile, args)]
    output.prepare(profile, args, needs)
    executor = f"ray ({args.ray})" if args.ray is not None else f"{args.workers} local process(es)"
    return {"executor": executor, "wall_s": time.perf_counter() - wall_start,
            "cpu_s_this_process": cpu_seconds() - cpu_start}


def run_claim(name: str, args: argparse.Namespace) -> dict:
    """Run one claim in this process; returns its timing, its markdown and any error."""
    module = importlib.import_module(f"bench.paper.{name}")
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    record = {"claim": name}
    try:
        module.run(argparse.Namespace(**vars(args)))
        record["markdown"] = module.markdown(output.read_result(args.out / f"{name}.json"))
    except Exception:  # noqa: BLE001 -- report any failure and go on: no other claim needs this one's output
        record["error"] = traceback.format_exc()
        print(record["error"], file=sys.stderr)
    record.update(wall_s=time.perf_counter() - wall_start, cpu_s=cpu_seconds() - cpu_start)
    return record


def summary(records: list[dict], result: dict) -> str:
    dirty = " (with uncommitted changes)" if result["git_dirty"] else ""
    lines = [f"# Paper claims, profile `{result['profile']}`, training seeds {result['seeds']}", "",
             (f"Code: commit {result['git_commit']}{dirty}, code version {result['code_version']}; "
              f"command: `{result['command']}`"),
             f"Machine: {result['machine']['cpu_model']}; GPUs: {', '.join(result['machine']['cuda_devices']) or 'none'}",
             f"Training ({result['training']['executor']}): {result['training']['wall_s']:.0f} s wall.",
             (f"Total: {result['wall_s']:.0f} s wall, {result['cpu_s']:.0f} CPU s; load average "
              f"{result['load_average_start']} at the start, {result['load_average_end']} at the end."), ""]
    for record in records:
        lines += [f"## {record['claim']} ({record['wall_s']:.0f} s wall, {record['cpu_s']:.0f} CPU s)", ""]
        lines += [record.get("markdown") or f"FAILED:\n```\n{record['error']}\n```", ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    output.setup(args)
    claims = args.only.split(",") if args.only else list(CLAIMS)
    unknown = sorted(set(claims) - set(CLAIMS))
    if unknown:
        raise SystemExit(f"unknown claims {unknown}; choose from {', '.join(CLAIMS)}")
    load_start = os.getloadavg()
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    training = train_everything(claims, args)
    records = []
    for name in claims:  # the summary is rewritten after every claim, so a stopped run still has one
        records.append(run_claim(name, args))
        result = {
            **results_header(), "profile": args.profile, "seeds": args.seeds, "training": training,
            "wall_s": time.perf_counter() - wall_start, "cpu_s": cpu_seconds() - cpu_start,
            "load_average_start": [round(v, 2) for v in load_start],
            "load_average_end": [round(v, 2) for v in os.getloadavg()],
            "claims": [{key: value for key, value in r.items() if key != "markdown"} for r in records],
        }
        write_json(args.out / RESULT_FILE, result)
        output.write_text(args.out / SUMMARY_FILE, summary(records, result))
    print(f"wrote {args.out / RESULT_FILE} and {args.out / SUMMARY_FILE}: {result['wall_s']:.0f} s wall, "
          f"{result['cpu_s']:.0f} CPU s")
    return 1 if any("error" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
