"""`nbskit avatar VIDEO OUT`: a video of a person -> a trained, drivable head and its renders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbskit.apps.avatar import DEFAULT_FRAME_BUDGET


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="the clip (anything PyAV/ffmpeg decodes; phone rotation honoured)")
    parser.add_argument("out", type=Path, help="output folder; run again to continue an interrupted call")
    parser.add_argument("--preset", help="training preset (default: gpu with CUDA, else cpu)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training config field (repeatable)")
    parser.add_argument("--frame-budget", type=int, default=DEFAULT_FRAME_BUDGET,
                        help=f"keep at most this many frames, spread evenly in time (default {DEFAULT_FRAME_BUDGET})")
    parser.add_argument("--no-hands", dest="hands", action="store_false",
                        help="do not look for hands in front of the face")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from nbskit.apps.avatar import make_avatar, summary_text
    from nbskit.tracking.video import VideoError

    try:
        summary = make_avatar(args.video, args.out, args.preset, args.overrides, args.frame_budget, args.hands,
                              show_progress=not args.quiet)
    except VideoError as error:
        print(f"nbskit avatar: {error}", file=sys.stderr)
        return 1
    print(summary_text(summary))
    return 0
