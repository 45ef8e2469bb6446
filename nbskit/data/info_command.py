"""``nbskit info SUBJECT``: validate a subject folder (decoding every image) and print its summary."""

from __future__ import annotations

import argparse

from nbskit.data.subject import Subject


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="subject folder (or its transforms.json)")
    parser.add_argument(
        "--no-check-files",
        dest="check_files",
        action="store_false",
        help="skip checking that every image and mask exists, decodes and has the right size",
    )


def run(args: argparse.Namespace) -> int:
    subject = Subject.load(args.subject, check_files=args.check_files)
    if args.check_files:
        subject.check_pixels()
    print(subject.describe())
    return 0
