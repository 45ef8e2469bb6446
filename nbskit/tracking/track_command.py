"""`nbskit track VIDEO OUT`: a monocular video -> a subject folder plus a tracking report.

video -> face boxes -> fixed square head crop -> face mesh landmarks, hands -> blendshape fit
(landmarks under a hand down-weighted) -> head masks -> subject folder (head pose folded into the
cameras; hands stored as ignore masks) + OUT/tracking/ report.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nbskit.options import whole_number
from nbskit.tracking.video import MIN_FRAMES, VideoError, head_crop, read_video

DEFAULT_SIZE = 512
MIN_SIZE, MAX_SIZE = 32, 4096  # bounds on the crop side, to reject typos before decoding the video
DEFAULT_TEST_FRAMES = 10
TEST_SPLITS = ("last", "spread")  # which frames are held out: the clip's end, or evenly spaced through it
MIN_FACE_FRACTION = 0.5  # fewer frames with a face than this and the video is rejected
AABB_PADDING = 0.06  # metres around the fitted head: room for hair


@dataclass
class TrackingOutput:
    """Where things went and how well they fit."""

    subject: Path
    report: dict
    face_fraction: float
    mean_reprojection_px: float
    hand_frames: int  # frames with a hand in the ignore mask


def load_model(choice: str):
    """'ict', 'procedural' or 'auto' (ICT when its file is found, else the procedural head)."""
    from nbskit.face.ict import ICTFaceModel, find_ict
    from nbskit.face.procedural import ProceduralHead

    if choice == "auto":
        choice = "ict" if find_ict() is not None else "procedural"
    return ICTFaceModel.load() if choice == "ict" else ProceduralHead()


def project_vertices(vertices: np.ndarray, head_to_camera: np.ndarray, focal: float, centre: np.ndarray) -> np.ndarray:
    """Head-frame points [N,P,3] -> pixels [N,P,2] with per-frame OpenCV poses [N,4,4]."""
    camera = np.einsum("nij,npj->npi", head_to_camera[:, :3, :3], vertices) + head_to_camera[:, None, :3, 3]
    return focal * camera[..., :2] / np.maximum(camera[..., 2:], 1e-6) + centre


def test_frame_indices(num_frames: int, test_frames: int, split: str = "last") -> np.ndarray:
    """Indices [test_frames] of the held-out frames.

    'last': the final frames (the paper's protocol: the test set extrapolates in time, and often
    in pose and expression too). 'spread': evenly spaced through the clip, one in the middle of
    each of test_frames equal segments, so the test measures interpolation between training
    frames rather than the poses the clip happens to end on.
    """
    if split == "last":
        return np.arange(num_frames - test_frames, num_frames)
    if split == "spread":
        return ((np.arange(test_frames) + 0.5) * num_frames / test_frames).astype(int)
    raise ValueError(f"test split must be one of {TEST_SPLITS}, got {split!r}")


def frame_splits(num_frames: int, test_frames: int, test_split: str = "last", val_frames: int = 0) -> np.ndarray:
    """The split of every frame: str [num_frames] of "train" | "val" | "test".

    Test frames as in `test_frame_indices`; then `val_frames` validation frames evenly spaced through
    the rest (a quarter into each of val_frames equal segments, so they rarely sit beside a spread
    test frame). Validation frames are left out of training, like test frames, and are the ones to
    tune on; test frames are only for the numbers reported.
    """
    if test_frames + val_frames >= num_frames:
        raise ValueError(f"{num_frames} frames cannot hold {test_frames} test and {val_frames} validation frames "
                         "and a training set")
    splits = np.full(num_frames, "train", dtype=object)
    splits[test_frame_indices(num_frames, test_frames, test_split)] = "test"
    rest = np.flatnonzero(splits == "train")
    splits[rest[((np.arange(val_frames) + 0.25) * len(rest) / max(val_frames, 1)).astype(int)]] = "val"
    return splits


def track_video(video: str | Path, out: str | Path, max_frames: int | None = None,
                test_frames: int = DEFAULT_TEST_FRAMES, size: int = DEFAULT_SIZE, model="auto",
                progress: bool = True, test_split: str = "last", hands: bool = True,
                val_frames: int = 0) -> TrackingOutput:
    """Track `video` into the subject folder `out` (see module docstring); `test_split` and
    `val_frames` pick the held-out frames (see `frame_splits`); `hands` finds hands and stores them as
    ignore masks."""
    frames, fps = read_video(video, max_frames)
    return track_frames(frames, fps, out, str(video), test_frames, size, model, progress, test_split, hands,
                        val_frames)


def track_frames(frames: np.ndarray, fps: float, out: str | Path, source: str,
                 test_frames: int = DEFAULT_TEST_FRAMES, size: int = DEFAULT_SIZE, model="auto",
                 progress: bool = True, test_split: str = "last", hands: bool = True,
                 val_frames: int = 0) -> TrackingOutput:
    """`track_video` on decoded frames [N,H,W,3] uint8 RGB; `source` names the clip in messages."""
    from nbskit.data.subject import SubjectWriter
    from nbskit.geometry.intrinsics import Intrinsics
    from nbskit.tracking.correspondence import correspondence_for
    from nbskit.tracking.fit import fit_landmarks
    from nbskit.tracking.hands import detect_hands, ignore_masks, landmark_weights
    from nbskit.tracking.landmarks import detect_face_boxes, detect_landmarks, landmark_boxes, segment_people
    from nbskit.tracking.masks import head_masks, neck_cut_points
    from nbskit.tracking.report import overlay_frames, write_report

    try:  # checks the split before the work
        splits = frame_splits(len(frames), test_frames, test_split, val_frames)
    except ValueError as error:
        raise VideoError(f"{source}: {error}") from None
    boxes, box_found = detect_face_boxes(frames)
    if box_found.mean() < MIN_FACE_FRACTION:
        raise VideoError(f"{source}: a face was detected in {box_found.sum()} of {len(frames)} frames; "
                         f"tracking needs one in at least {MIN_FACE_FRACTION:.0%}")
    crop = head_crop(boxes.reshape(-1, 2, 2), box_found, size, (frames.shape[2], frames.shape[1]))
    frames = crop.apply(frames)
    track = detect_landmarks(frames)
    if track.detection_rate < MIN_FACE_FRACTION:
        raise VideoError(f"{source}: the face mesh found a face in {track.found.sum()} of {len(frames)} frames")

    person = segment_people(frames)
    ignore = (ignore_masks(detect_hands(frames, progress=progress), person) if hands
              else np.zeros(person.shape, bool))

    head = load_model(model) if isinstance(model, str) else model
    correspondence = correspondence_for(head)
    fit = fit_landmarks(head, correspondence, track.with_depths(), track.found, (size, size), progress=progress,
                        point_weights=landmark_weights(track.points, ignore))

    centre = np.array([size / 2, size / 2])
    head_to_camera = fit.head_to_camera()
    vertices = np.asarray(head.vertices(fit.expression.astype(np.float32), fit.identity.astype(np.float32)))
    vertex_pixels = project_vertices(vertices, head_to_camera, fit.focal, centre)
    chin_height = float(vertices[:, correspondence.vertices, 1].min())
    cut_pixels = project_vertices(np.broadcast_to(neck_cut_points(chin_height), (len(frames), 3, 3)),
                                  head_to_camera, fit.focal, centre)
    masks = head_masks(frames, person, vertex_pixels, np.asarray(head.triangles), cut_pixels,
                       progress=progress)
    face_boxes, mouth_boxes = landmark_boxes(track.points, size, size)

    out = Path(out)
    aabb = np.stack([vertices.min(axis=(0, 1)) - AABB_PADDING, vertices.max(axis=(0, 1)) + AABB_PADDING])
    intrinsics = Intrinsics(width=size, height=size, fl_x=fit.focal, fl_y=fit.focal, cx=size / 2, cy=size / 2)
    cameras = fit.camera_to_world_opengl()
    extra = {"tracking": {"video": Path(source).name, "model": head.name, "fps": fps, "test_split": test_split,
                          "val_frames": val_frames,
                          "identity": fit.identity.tolist(), "crop": [crop.x0, crop.y0, crop.side]}}
    with SubjectWriter(out, intrinsics, aabb, list(head.expression_names), extra=extra) as writer:
        for i in range(len(frames)):
            writer.add_frame(image=frames[i], mask=masks[i], c2w=cameras[i], expression=fit.expression[i],
                             split=splits[i],
                             face_box=tuple(face_boxes[i]) if track.found[i] else None,
                             mouth_box=tuple(mouth_boxes[i]) if track.found[i] else None,
                             landmarks=track.points[i], ignore=ignore[i])
    face_triangles = _triangles_within(np.asarray(head.triangles), head.vertex_groups["face"])
    overlay = overlay_frames(frames, vertex_pixels, face_triangles, track.points[:, correspondence.landmarks])
    report = write_report(out / "tracking", fit, track.found, list(head.expression_names), overlay, fps)
    return TrackingOutput(out, report, track.detection_rate, float(np.nanmean(fit.reprojection_error)),
                          int(ignore.any(axis=(1, 2)).sum()))


def _triangles_within(triangles: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    inside = np.zeros(triangles.max() + 1, bool)
    inside[vertices] = True
    return triangles[inside[triangles].all(axis=1)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="input video (anything PyAV/ffmpeg decodes)")
    parser.add_argument("out", help="subject folder to create")
    parser.add_argument("--frames", type=whole_number(MIN_FRAMES), default=None, help="use only the first N frames")
    parser.add_argument("--test-frames", type=whole_number(1), default=DEFAULT_TEST_FRAMES,
                        help=f"N frames form the test split (default {DEFAULT_TEST_FRAMES})")
    parser.add_argument("--test-split", choices=TEST_SPLITS, default="last",
                        help="test frames at the end of the clip (default, the paper's protocol) or spread evenly "
                             "through it (measures interpolation rather than extrapolation to the final poses)")
    parser.add_argument("--val-frames", type=whole_number(0), default=0,
                        help="N further frames, evenly spaced, form a validation split: left out of training, "
                             "for tuning (default 0)")
    parser.add_argument("--size", type=whole_number(MIN_SIZE, MAX_SIZE), default=DEFAULT_SIZE,
                        help="side of the square head crop in pixels")
    parser.add_argument("--model", choices=["auto", "ict", "procedural"], default="auto",
                        help="blendshape model (auto: ICT when found)")
    parser.add_argument("--no-hands", dest="hands", action="store_false",
                        help="do not look for hands (by default they become ignore masks, left out of training)")


def run(args: argparse.Namespace) -> int:
    from nbskit.data.folders import require_new_folder

    require_new_folder(args.out)
    if args.frames is not None and args.test_frames + args.val_frames >= args.frames:
        raise VideoError(f"--test-frames {args.test_frames} and --val-frames {args.val_frames} leave no training "
                         f"frames out of --frames {args.frames}")
    result = track_video(args.video, args.out, args.frames, args.test_frames, args.size, args.model,
                         test_split=args.test_split, hands=args.hands, val_frames=args.val_frames)
    print(f"subject written to {result.subject}: face in {result.face_fraction:.0%} of frames, "
          f"mean reprojection {result.mean_reprojection_px:.2f} px, a hand left out in {result.hand_frames} "
          f"frames; report in {result.subject / 'tracking'}")
    return 0
