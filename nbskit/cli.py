"""The ``nbskit`` command line.

Each subcommand lives beside the code it drives, in a module that defines
``add_arguments(parser)`` and ``run(args) -> int``. This file only maps names to those modules, so
the CLI stays a thin layer over functions a notebook can call directly.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module that implements it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("nbskit.apps.demo_command", "synthesise the default subject, train, evaluate and render"),
    "synth": ("nbskit.data.synth_command", "render a synthetic subject with exact ground truth"),
    "info": ("nbskit.data.info_command", "summarise (and validate) a subject folder"),
    "import": ("nbskit.data.import_command", "convert a dataset in another layout into a subject folder"),
    "assets": ("nbskit.tracking.assets_command", "download and repack external assets (ICT face model)"),
    "track": ("nbskit.tracking.track_command", "track a monocular video into a subject folder"),
    "train": ("nbskit.train.train_command", "train a head model on a subject folder"),
    "eval": ("nbskit.train.eval_command", "evaluate a trained run on its test frames"),
    "render": ("nbskit.apps.render_command", "render frames, orbits, reenactments or the basis gallery"),
    "mesh": ("nbskit.apps.mesh_command", "extract a mesh with marching cubes"),
    "bench": ("nbskit.bench_command", "run a benchmark (encode, march, step)"),
    "doctor": ("nbskit_cuda.doctor_command", "say which compute backends are available and why not"),
}


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            return None
        raise


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(prog="nbskit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(modules[args.command].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
