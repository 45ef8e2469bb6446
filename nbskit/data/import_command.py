"""``nbskit import FORMAT SRC OUT``: convert a dataset in another layout into a subject folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from nbskit.data import validate
from nbskit.data.folders import require_new_folder
from nbskit.data.official import DEFAULT_AABB, PAPER_TEST_FRAMES, import_official
from nbskit.options import finite_number, whole_number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    official = formats.add_parser(
        "official",
        help="a subject released with NeRFBlendShape (transforms.json, head_imgs/, parsing/, bc.jpg)",
        description="Convert a released NeRFBlendShape subject. Images stay where they are; "
        "OUT gets transforms.json and the head masks derived from parsing/.",
    )
    official.add_argument("src", help="released subject folder (or its transforms.json)")
    official.add_argument("out", help="subject folder to create")
    official.add_argument(
        "--test-frames",
        type=whole_number(0),
        default=PAPER_TEST_FRAMES,
        help=f"trailing frames held out for testing (default {PAPER_TEST_FRAMES}, as in the paper; "
        "reduced to half the frames for small folders)",
    )
    official.add_argument(
        "--aabb",
        type=finite_number(),
        nargs=6,
        metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
        help=f"head box in the dataset's units (default: the authors' cube, half-size {DEFAULT_AABB[1][0]:.4f})",
    )


def run(args: argparse.Namespace) -> int:
    aabb = DEFAULT_AABB if args.aabb is None else validate.aabb([args.aabb[:3], args.aabb[3:]], "--aabb")
    src = Path(args.src)
    require_new_folder(args.out, src.parent if src.name == "transforms.json" else src)
    report = import_official(args.src, args.out, test_frames=args.test_frames, aabb=aabb)
    for note in report.notes:
        print(f"note: {note}")
    print(f"imported {report.num_train} train + {report.num_test} test frames into {report.subject.root}")
    return 0
