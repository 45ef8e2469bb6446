"""`nbskit render RUN [--orbit | --drive SUBJECT2 | --gallery | --frames SPLIT] --out DIR`.

Options are checked before anything is rendered; existing outputs are only replaced with --overwrite.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbskit.options import finite_number, whole_number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder written by `nbskit train`")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--orbit", action="store_true", help="novel views swinging around the head (default)")
    what.add_argument("--drive", type=Path, metavar="SUBJECT2",
                      help="reenact another subject's frames (a run folder: its subject with the refined frames)")
    what.add_argument("--gallery", action="store_true", help="neutral + each basis at its training max, one image")
    what.add_argument("--frames", choices=("train", "val", "test"), help="re-render the frames of a split")
    parser.add_argument("--out", type=Path, required=True, help="folder for the images and video")
    parser.add_argument("--views", type=whole_number(1, 10000), default=48, help="orbit: number of views")
    parser.add_argument("--yaw", type=finite_number(-180, 180), default=30.0, help="orbit: largest yaw in degrees")
    parser.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE",
                        help="orbit: set a named coefficient (repeatable)")
    parser.add_argument("--scale", action="append", default=[], metavar="NAME=FACTOR",
                        help="orbit: scale a named coefficient (repeatable)")
    parser.add_argument("--max-frames", type=whole_number(1), help="--drive/--frames: render only the first N frames")
    parser.add_argument("--fps", type=whole_number(1, 240), default=25, help="video frame rate")
    parser.add_argument("--subject", type=Path, help="the run's subject folder, if it moved since training")
    parser.add_argument("--overwrite", action="store_true", help="replace images and videos already in --out")


def choose_frames(args: argparse.Namespace, trained):
    """(a function rendering the frames, output name), after checking every option against the run."""
    import numpy as np

    from nbskit.apps import edit, reenact, render
    from nbskit.data.subject import Subject
    from nbskit.errors import UserError
    from nbskit.train.checkpoint import CONFIG_FILE
    from nbskit.train.run import load_run

    if args.drive is not None:
        is_run = (args.drive / CONFIG_FILE).is_file()
        driver = load_run(args.drive, device="cpu").refined_subject() if is_run else Subject.load(args.drive)
        reenact.check_expression_names(trained, driver)
        indices = np.arange(len(driver.frames))[: args.max_frames]
        return (lambda: reenact.reenact(trained, driver, indices)), "reenactment"
    if args.frames is not None:
        trained.require_frames(f"--frames {args.frames}")
        indices = trained.subject.indices(args.frames)[: args.max_frames]
        if not len(indices):
            raise UserError(f"{trained.subject.root} has no {args.frames!r} frames")
        return (lambda: render.render_frames(trained, indices)), f"frames_{args.frames}"
    first_expression = trained.frame_camera_and_expression(int(trained.subject.indices("train")[0]))[1]
    expression = edit.edit_expression(first_expression, trained.expression_names,
                                      edit.parse_assignments(args.set_values), edit.parse_assignments(args.scale))
    return (lambda: render.render_orbit(trained, expression, args.views, args.yaw)), "orbit"


def run(args: argparse.Namespace) -> int:
    from nbskit.apps import edit, gallery, video
    from nbskit.data.folders import require_absent
    from nbskit.train.run import load_run

    edit.parse_assignments(args.set_values + args.scale)  # malformed values fail before the run loads
    trained = load_run(args.run, subject_path=args.subject)
    if trained.subject_note:
        print(f"note: {trained.subject_note}", file=sys.stderr)
    if args.gallery:
        require_absent([args.out / "gallery.png"], args.overwrite)
        print(f"wrote {video.write_image(gallery.basis_gallery(trained), args.out / 'gallery.png')}")
        return 0
    render_frames, name = choose_frames(args, trained)
    require_absent([args.out / name, args.out / f"{name}.mp4"], args.overwrite)
    frames = render_frames()
    video.write_images(frames, args.out / name)
    print(f"wrote {len(frames)} images to {args.out / name}")
    print(f"wrote {video.write_video(frames, args.out / f'{name}.mp4', args.fps)}")
    return 0
