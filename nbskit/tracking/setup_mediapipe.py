"""Install the optional MediaPipe 0.10.14 stack that tracking needs: `python -m nbskit.tracking.setup_mediapipe`.

mediapipe 0.10.14 is the last release whose wheel ships the face-mesh, face-detection and
selfie-segmentation models and that works with numpy 2. Its declared dependencies would pull
jax, opencv-contrib and sounddevice, none of which the legacy solutions need, so it is installed
with --no-deps next to the few packages it does import.
"""

from __future__ import annotations

import subprocess
import sys

MEDIAPIPE = "mediapipe==0.10.14"
RUNTIME_DEPENDENCIES = ["absl-py", "attrs", "flatbuffers>=2", "protobuf>=4.25.3,<5",
                        "opencv-python-headless>=4.8", "matplotlib"]
LAST_SUPPORTED_PYTHON = (3, 12)  # no mediapipe 0.10.14 wheels exist for Python >= 3.13


def main(argv: list[str] | None = None) -> int:
    quiet = "-q" in (sys.argv[1:] if argv is None else argv)
    if sys.version_info[:2] > LAST_SUPPORTED_PYTHON:
        print(f"mediapipe 0.10.14 has no wheels for Python {sys.version_info.major}.{sys.version_info.minor}: "
              "tracking needs Python 3.9-3.12 (make a separate environment for `nbskit track`).",
              file=sys.stderr)
        return 1
    pip = [sys.executable, "-m", "pip", "install"] + (["-q"] if quiet else [])
    for command in (pip + ["--no-deps", MEDIAPIPE], pip + RUNTIME_DEPENDENCIES):
        print("+", " ".join(command))
        if subprocess.call(command) != 0:
            print("installation failed; see pip's message above", file=sys.stderr)
            return 1
    from nbskit.tracking.landmarks import require_mediapipe

    require_mediapipe()
    print("mediapipe 0.10.14 is ready (face mesh, face detection, selfie segmentation)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
