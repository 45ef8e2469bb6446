"""``nbskit bench NAME``: run one of the benchmarks of the ``bench`` package.

Benchmarks live beside the sources (``bench/NAME.py``, installed with the library as the ``bench``
package): each module defines ``add_arguments(parser)`` and ``run(args) -> int``. To add one, create
the module and list it in ``BENCHMARKS``; names whose module is not installed are simply not offered.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module in the checkout's bench/ package, one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "encode": ("bench.encode", "hash-encoding samples/s, forward and forward+backward, per backend"),
    "encode-spread": ("bench.encode_spread", "bench encode in several fresh processes: the spread of their medians"),
    "march": ("bench.march", "occupancy-grid marching and compositing throughput, per backend"),
    "step": ("bench.step", "one training step (render, loss, backward, optimiser), per backend"),
    "train": ("bench.train_smoke", "training time and test PSNR of a preset on a synthetic subject"),
    "render": ("bench.render", "time to render an image of a random field or a trained run (--run), per backend and device"),
    "widgets": ("bench.widgets", "interactive update rate of the expression explorer"),
    "tracking": ("bench.tracking", "tracking accuracy and speed on synthetic ICT subjects and sample clips"),
    "tracking_cost": ("bench.tracking_cost", "what tracking costs a trained head: exact vs tracked synthetic subject"),
    "paper": ("bench.paper.run_all", "the paper's claims (Table 2, Fig. 8, 9-10, 12, 13-14) on synthetic subjects"),
}

def add_arguments(parser: argparse.ArgumentParser) -> None:
    modules = load_benchmarks()
    parser.set_defaults(bench_modules=modules)
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    for name, module in modules.items():
        help_text = BENCHMARKS[name][1]
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))


def run(args: argparse.Namespace) -> int:
    if args.benchmark is None:
        offered = ", ".join(args.bench_modules) or "none (the bench package is not installed)"
        print(f"usage: nbskit bench BENCHMARK [options]; available: {offered}", file=sys.stderr)
        return 2
    return int(args.bench_modules[args.benchmark].run(args) or 0)


def load_benchmarks() -> dict[str, object]:
    """Import every listed benchmark that is installed."""
    modules = {}
    for name, (module_name, _) in BENCHMARKS.items():
        try:
            modules[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is None or not module_name.startswith(err.name):
                raise
    return modules
