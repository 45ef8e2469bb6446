"""`nbskit mesh RUN --out mesh.ply`: marching cubes on the density, coloured from the front."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder written by `nbskit train`")
    parser.add_argument("--out", type=Path, required=True, help="mesh file: .ply, .obj or .glb")
    parser.add_argument("--frame", type=int, help="use this subject frame's expression (default: first training frame)")
    parser.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE",
                        help="set a named coefficient (repeatable)")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes lattice per side")
    parser.add_argument("--level", type=float, help="density iso-level (default: optical depth 50 per box length)")
    parser.add_argument("--html", type=Path, help="also write an interactive plotly viewer here")


def run(args: argparse.Namespace) -> int:
    from nbskit.apps.edit import edit_expression, parse_assignments
    from nbskit.apps.head_mesh import head_mesh
    from nbskit.geometry.mesh import export_mesh, mesh_figure
    from nbskit.train.run import load_run

    trained = load_run(args.run)
    index = int(trained.subject.indices("train")[0]) if args.frame is None else args.frame
    expression = edit_expression(trained.frame_camera_and_expression(index)[1], trained.expression_names,
                                 parse_assignments(args.set_values))
    mesh = head_mesh(trained, expression, args.resolution, args.level)
    print(f"{len(mesh.vertices)} vertices, {len(mesh.faces)} faces; wrote {export_mesh(mesh, args.out)}")
    if args.html:
        mesh_figure(mesh, f"{args.run.name}: frame {index}").write_html(str(args.html))
        print(f"wrote {args.html}")
    return 0
