"""Build the compiled extensions ahead of time: ``python -m nbskit_cuda.build [--kinds cpu,cuda]``.

For packagers and CI images: the extensions land in the same cache the just-in-time loader uses
(``--cache-dir`` or ``$NBSKIT_CACHE``), so the first ``import``-time use finds them built. Exits
non-zero if a requested kind cannot be built, printing why, the log path of a failed build and the
end of its compiler output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from . import CACHE_ENV, KINDS, extension_status, log_tail, missing_prerequisite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kinds",
        default=None,
        help=f"comma-separated subset of {','.join(KINDS)} (default: every kind this machine can build)",
    )
    parser.add_argument(
        "--cache-dir", default=None, help=f"build cache (default ${CACHE_ENV} or ~/.cache/nbskit)"
    )
    parser.add_argument(
        "--copy-failed-logs-to", type=Path, default=None, metavar="DIR",
        help="copy the compiler log of a failed build into DIR as build_<kind>.log",
    )
    args = parser.parse_args(argv)
    if args.cache_dir:
        os.environ[CACHE_ENV] = args.cache_dir
    kinds = args.kinds.split(",") if args.kinds else [k for k in KINDS if missing_prerequisite(k) is None]
    failed = False
    for kind in kinds:
        print(f"building the {kind} extension (this takes a minute or two)...", flush=True)
        status = extension_status(kind)
        log = f" (log: {status.log_path})" if status.log_path else ""
        print(f"  {kind}: {'ok' if status.available else 'FAILED'}: {status.reason}{log}")
        failed |= not status.available
        if status.log_path is not None:
            print(log_tail(status.log_path), flush=True)
            if args.copy_failed_logs_to is not None:
                args.copy_failed_logs_to.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(status.log_path, args.copy_failed_logs_to / f"build_{kind}.log")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
