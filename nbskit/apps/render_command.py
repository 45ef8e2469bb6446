"""`nbskit render RUN [--orbit | --drive SUBJECT2 | --gallery | --frames SPLIT] --out DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder written by `nbskit train`")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--orbit", action="store_true", help="novel views swinging around the head (default)")
    what.add_argument("--drive", type=Path, metavar="SUBJECT2",
                      help="reenact another subject's frames (a run folder: its subject with the refined frames)")
    what.add_argument("--gallery", action="store_true", help="neutral + each basis at its training max, one image")
    what.add_argument("--frames", choices=("train", "val", "test"), help="re-render the frames of a split")
    parser.add_argument("--out", type=Path, required=True, help="folder for the images and video")
    parser.add_argument("--views", type=int, default=48, help="orbit: number of views")
    parser.add_argument("--yaw", type=float, default=30.0, help="orbit: largest yaw in degrees")
    parser.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE",
                        help="orbit: set a named coefficient (repeatable)")
    parser.add_argument("--scale", action="append", default=[], metavar="NAME=FACTOR",
                        help="orbit: scale a named coefficient (repeatable)")
    parser.add_argument("--max-frames", type=int, help="--drive/--frames: render only the first N frames")
    parser.add_argument("--fps", type=int, default=25, help="video frame rate")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from nbskit.apps import edit, gallery, reenact, render, video
    from nbskit.data.subject import Subject
    from nbskit.train.checkpoint import CONFIG_FILE
    from nbskit.train.run import load_run

    trained = load_run(args.run)
    if args.gallery:
        print(f"wrote {video.write_image(gallery.basis_gallery(trained), args.out / 'gallery.png')}")
        return 0
    if args.drive is not None:
        is_run = (args.drive / CONFIG_FILE).is_file()
        driver = load_run(args.drive, device="cpu").refined_subject() if is_run else Subject.load(args.drive)
        indices = np.arange(len(driver.frames))[: args.max_frames]
        frames, name = reenact.reenact(trained, driver, indices), "reenactment"
    elif args.frames is not None:
        indices = trained.subject.indices(args.frames)[: args.max_frames]
        frames, name = render.render_frames(trained, indices), f"frames_{args.frames}"
    else:
        first_expression = trained.frame_camera_and_expression(int(trained.subject.indices("train")[0]))[1]
        expression = edit.edit_expression(first_expression, trained.expression_names,
                                          edit.parse_assignments(args.set_values), edit.parse_assignments(args.scale))
        frames, name = render.render_orbit(trained, expression, args.views, args.yaw), "orbit"
    video.write_images(frames, args.out / name)
    print(f"wrote {len(frames)} images to {args.out / name}")
    print(f"wrote {video.write_video(frames, args.out / f'{name}.mp4', args.fps)}")
    return 0
