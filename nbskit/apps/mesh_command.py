"""`nbskit mesh RUN --out mesh.ply`: marching cubes on the density, coloured from the front."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbskit.options import finite_number, whole_number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder written by `nbskit train`")
    parser.add_argument("--out", type=Path, required=True, help="mesh file: .ply, .obj or .glb")
    parser.add_argument("--frame", type=whole_number(0),
                        help="use this subject frame's expression (default: first training frame)")
    parser.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE",
                        help="set a named coefficient (repeatable)")
    parser.add_argument("--resolution", type=whole_number(2, 1024), default=128, help="marching-cubes lattice per side")
    parser.add_argument("--level", type=finite_number(0.0, low_open=True),
                        help="density iso-level (default: optical depth 50 per box length)")
    parser.add_argument("--html", type=Path, help="also write an interactive plotly viewer here")
    parser.add_argument("--subject", type=Path, help="the run's subject folder, if it moved since training")
    parser.add_argument("--overwrite", action="store_true", help="replace --out / --html if they exist")


def run(args: argparse.Namespace) -> int:
    from nbskit.apps.edit import edit_expression, parse_assignments
    from nbskit.apps.head_mesh import head_mesh
    from nbskit.data.folders import require_absent
    from nbskit.data.subject import atomic_write_bytes
    from nbskit.errors import UserError
    from nbskit.geometry.mesh import EXPORT_FORMATS, export_mesh, mesh_figure
    from nbskit.train.run import load_run

    if args.out.suffix.lower() not in EXPORT_FORMATS:
        raise UserError(f"--out {args.out}: expected a file ending in one of {', '.join(EXPORT_FORMATS)}")
    require_absent([args.out] + ([args.html] if args.html else []), args.overwrite)
    assignments = parse_assignments(args.set_values)
    trained = load_run(args.run, subject_path=args.subject)
    if trained.subject_note:
        print(f"note: {trained.subject_note}", file=sys.stderr)
    frames = trained.subject.frames
    if args.frame is not None and args.frame >= len(frames):
        raise UserError(f"--frame {args.frame}: the subject has frames 0 to {len(frames) - 1}")
    index = int(trained.subject.indices("train")[0]) if args.frame is None else args.frame
    expression = edit_expression(trained.frame_camera_and_expression(index)[1], trained.expression_names, assignments)
    mesh = head_mesh(trained, expression, args.resolution, args.level)
    print(f"{len(mesh.vertices)} vertices, {len(mesh.faces)} faces; wrote {export_mesh(mesh, args.out)}")
    if args.html:
        html = mesh_figure(mesh, f"{args.run.name}: frame {index}").to_html()
        atomic_write_bytes(args.html, html.encode("utf-8"))  # an interrupted write never leaves half a viewer
        print(f"wrote {args.html}")
    return 0
