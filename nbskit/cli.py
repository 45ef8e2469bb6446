"""The ``nbskit`` command line.

Each subcommand lives beside the code it drives, in a module that defines
``add_arguments(parser)`` and ``run(args) -> int``. This file only maps names to those modules, so
the CLI stays a thin layer over functions a notebook can call directly.

Errors: a :class:`nbskit.errors.UserError` (bad input, missing file, a run that does not match)
or an OSError (no permission, a full disk) becomes one line on stderr and exit status 1; Ctrl-C exits with 130; any other exception is a bug
and prints its traceback with a request to report it. ``--debug`` (before or after the command
name) or ``NBSKIT_DEBUG=1`` shows the traceback of user errors too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from nbskit.errors import UserError

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
    "export-subject": ("nbskit.apps.export_subject_command",
                       "write a run's subject with its refined training cameras and coefficients"),
    "bench": ("nbskit.bench_command", "run a benchmark (encode, march, step)"),
    "doctor": ("nbskit_cuda.doctor_command", "say which compute backends are available and why not"),
}
DEBUG_ENVIRONMENT = "NBSKIT_DEBUG"
INTERRUPTED_STATUS = 130  # the shell's convention for a process ended by SIGINT


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
    add_debug_argument(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of expected errors too (or set {DEBUG_ENVIRONMENT}=1)")


def debug_requested(flag: bool) -> bool:
    return flag or os.environ.get(DEBUG_ENVIRONMENT, "").strip().lower() not in ("", "0", "false", "no")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = bool(argv) and argv[0] == "--debug"
    argv = argv[1:] if debug else argv
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
    add_debug_argument(parser)
    args = parser.parse_args(argv[1:])
    args.command = name
    return run_command(name, module, args, debug_requested(debug or args.debug))


def run_command(name: str, module, args: argparse.Namespace, debug: bool) -> int:
    """``module.run(args)`` with the error policy of the module docstring."""
    try:
        return int(module.run(args) or 0)
    except (UserError, OSError) as err:  # OSError: the machine's answer (permissions, full disk), not a bug
        if debug:
            traceback.print_exc()
        print(f"nbskit {name}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"nbskit {name}: interrupted", file=sys.stderr)
        return INTERRUPTED_STATUS
    except Exception:  # noqa: BLE001 - every other failure is a bug: show it and ask for a report
        traceback.print_exc()
        print(f"nbskit {name}: unexpected error (a bug in nbskit): please report it with the traceback above "
              "and the command you ran", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
