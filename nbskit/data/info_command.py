"""``nbskit info SUBJECT``: validate a subject folder and print its summary."""

from __future__ import annotations

import argparse
import sys

from nbskit.data.subject import Subject, SubjectError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", help="subject folder (or its transforms.json)")
    parser.add_argument(
        "--no-check-files",
        dest="check_files",
        action="store_false",
        help="skip checking that every image and mask exists with the right size (and ignore-mask values)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        subject = Subject.load(args.subject, check_files=args.check_files)
        if args.check_files:
            subject.check_ignore_values()
    except SubjectError as err:
        print(f"invalid subject: {err}", file=sys.stderr)
        return 1
    print(subject.describe())
    return 0
