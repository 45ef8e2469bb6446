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
    "assets": ("nbskit.face.assets_command", "download and repack external assets (ICT face model)"),
    "track": ("nbskit.tracking.track_command", "track a monocular video into a subject folder"),
    "avatar": ("nbskit.apps.avatar_command", "from a video to a drivable head: track, train, evaluate, render"),
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


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; subcommand modules are imported only when their command runs."""
    parser = argparse.ArgumentParser(prog="nbskit", description="nbskit: semantic facial NeRF heads (NeRFBlendShape) from monocular video.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # prints help or the usage error and exits
        build_parser().print_help()
        return 2
    name = argv[0]
    module_name, help_text = COMMANDS[name]
    module = _load(module_name)
    if module is None:
        print(f"nbskit {name}: not available in this installation ({module_name} is missing)", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog=f"nbskit {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    args.command = name
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
