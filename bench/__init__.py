"""Benchmark scripts: each prints a table and writes JSON (run `nbskit bench NAME` or `python -m bench.NAME`).

A script defines ``add_arguments(parser)`` and ``run(args) -> int`` and is listed in
``nbskit/bench_command.py``'s ``BENCHMARKS``; ``bench.common`` holds the shared timing, machine
description, table printing and JSON writing.
"""
