"""Train the runs the claims need: in this process, in local worker processes, or as Ray tasks.

``--workers N`` (default 1) trains up to N runs at once in fresh local processes; ``--ray [ADDRESS]``
sends one Ray task per run, to a local Ray started for this call or to the cluster at ADDRESS
(``ray`` is the optional extra ``distributed``). Each task asks for the CPUs its torch threads use
and, on a GPU machine, one GPU. The run folders live under ``--work``, which must be a folder every
Ray node sees (a shared file system) when the cluster has more than one machine.

Branches wait for their parents (one wave after another). Runs are trained from their spec alone
with fixed seeds and thread counts, so all three ways give the same numbers; only the timings
differ, since runs that share cores slow each other down.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.paper.jobs import Budget, Need, in_waves, train_spec
from bench.provenance import REPO_ROOT

LOCAL_RAY = "local"
RAY_EXCLUDES = ["runs/", ".venv/", ".git/", "**/__pycache__/"]  # not uploaded to a cluster's workers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, metavar="N",
                       help="train up to N runs at once in local processes (default 1: in this process)")
    where.add_argument("--ray", nargs="?", const=LOCAL_RAY, metavar="ADDRESS",
                       help="one Ray task per run: a local Ray without ADDRESS, else the cluster at ADDRESS "
                            "(needs the 'distributed' extra; --work must be shared by every node)")


def execute(needs: list[Need], args: argparse.Namespace, budget: Budget) -> None:
    """Train (and evaluate where needed) every run of ``needs`` that is not finished yet."""
    for wave in in_waves(needs):
        if args.ray is not None:
            _on_ray(wave, args, budget)
        elif args.workers > 1 and len(wave) > 1:
            _in_processes(wave, args, budget)
        else:
            for need in wave:
                train_spec(need.spec, str(args.work), budget, need.evaluate, args.progress)


def _in_processes(wave: list[Need], args: argparse.Namespace, budget: Budget) -> None:
    # spawn: a forked copy of a process that already runs torch threads can deadlock
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(args.workers, len(wave)), mp_context=context) as pool:
        futures = [pool.submit(train_spec, need.spec, str(args.work), budget, need.evaluate) for need in wave]
        for future in futures:
            future.result()  # re-raises a worker's exception here


def _on_ray(wave: list[Need], args: argparse.Namespace, budget: Budget) -> None:
    ray = _import_ray()
    if not ray.is_initialized():
        _start_ray(ray, args.ray)
    import torch

    task = ray.remote(train_spec).options(num_cpus=budget.threads or 1,
                                          num_gpus=1 if torch.cuda.is_available() else 0, max_retries=0)
    work = str(Path(args.work).resolve())
    ray.get([task.remote(need.spec, work, budget, need.evaluate) for need in wave])


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise SystemExit("--ray needs the 'ray' package: pip install 'nbskit[distributed]'") from error
    return ray


def _start_ray(ray, address: str) -> None:
    """A local Ray whose workers import this checkout, or a connection to a cluster that gets a copy of it."""
    if address == LOCAL_RAY:
        path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        ray.init(runtime_env={"env_vars": {"PYTHONPATH": path}}, include_dashboard=False,
                 num_cpus=os.cpu_count(), log_to_driver=False)
    else:
        ray.init(address=address, runtime_env={"working_dir": str(REPO_ROOT), "excludes": RAY_EXCLUDES})
