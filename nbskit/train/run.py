"""A trained run loaded back from its folder: subject, config, model and occupancy grid.

Everything downstream of training (evaluation, rendering, reenactment, meshes) starts from
``load_run(run_dir)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nbskit.data.subject import Subject
from nbskit.geometry.intrinsics import Intrinsics
from nbskit.train.checkpoint import CONFIG_FILE, RunFolderError, load_checkpoint, load_states, read_json
from nbskit.train.components import build_model, build_occupancy, build_render_config
from nbskit.train.dataset import background_image, scaled_intrinsics
from nbskit.train.presets import TrainConfig
from nbskit.train.refinement import refined_training_frames
from nbskit.train.run_guard import open_subject, stored_config

RUNS_FOLDER = Path("runs")
RUN_ID_CHARS = 8


def run_folder(subject_dir: Path, config: TrainConfig, runs: Path = RUNS_FOLDER) -> Path:
    """``runs/<subject>_<preset>_<model>_<grid policy>_<hash of the whole config>``: one folder per setting."""
    digest = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:RUN_ID_CHARS]
    return (
        Path(runs) / f"{Path(subject_dir).name}_{config.preset}_{config.model}_{config.grid_policy}_{digest}"
    )


@dataclass
class TrainedRun:
    """A model ready to render.

    Attributes:
        run_dir: the run folder.
        subject: the subject it was trained on.
        config: its training config.
        model, occupancy: the field and its occupancy grid (eval mode, on ``device``).
        step: training steps behind this checkpoint.
        render_config: nbskit.render.RenderConfig used for every image.
        refined: (cameras [N, 4, 4], coefficients [N, K]) of the training frames (in split order)
            as refined during training, or None when the run did not refine them.
        subject_note: None, or why ``subject`` is the metadata copy kept in the run (no frames).
    """

    run_dir: Path
    subject: Subject
    config: TrainConfig
    model: torch.nn.Module
    occupancy: torch.nn.Module
    step: int
    render_config: object
    subject_note: str | None = None
    refined: tuple[np.ndarray, np.ndarray] | None = None

    def require_frames(self, purpose: str) -> None:
        """Raise RunFolderError if the subject's frames are not available (only its metadata copy)."""
        if self.subject_note is not None:
            raise RunFolderError(f"{purpose} needs the subject's frames: {self.subject_note}")

    def frame_camera_and_expression(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(c2w [4, 4], w [K]) of subject frame ``index``: refined for a training frame of a run
        that refined them, else as tracked (held-out frames are never refined here)."""
        frame = self.subject.frames[index]
        if self.refined is None or frame.split != "train":
            return frame.transform_matrix, frame.expression
        row = int(np.searchsorted(self.subject.indices("train"), index))
        return self.refined[0][row], self.refined[1][row]

    def refined_subject(self) -> Subject:
        """The subject with its training frames' cameras and coefficients replaced by the refined ones
        (the subject itself when the run did not refine); files are shared, nothing is written."""
        if self.refined is None:
            return self.subject
        frames = [dataclasses.replace(frame) for frame in self.subject.frames]
        for row, index in enumerate(self.subject.indices("train")):
            frames[index].transform_matrix, frames[index].expression = self.refined[0][row], self.refined[1][row]
        return dataclasses.replace(self.subject, frames=frames)

    @property
    def intrinsics(self) -> Intrinsics:
        """The subject's intrinsics at the training resolution."""
        return scaled_intrinsics(self.subject.intrinsics, self.config.max_image_size)

    @property
    def expression_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(min [K], max [K]) of the training frames: what w is clamped to."""
        return self.model.expression_min.cpu().numpy(), self.model.expression_max.cpu().numpy()

    @property
    def expression_names(self) -> list[str]:
        return list(self.subject.expression_names)

    def background(self, intrinsics: Intrinsics | None = None) -> torch.Tensor:
        """[H, W, 3] the run's background at ``intrinsics`` size (default: training resolution)."""
        return background_image(self.subject, self.config.background, intrinsics or self.intrinsics)[0]

    @torch.no_grad()
    def render(self, c2w, expression, intrinsics: Intrinsics | None = None, background=None) -> dict:
        """Render one image: c2w [4, 4], expression [K] (clamped by the model) -> dict rgb [H,W,3], opacity, depth.

        ``background``: [H, W, 3], [3] or None for the run's own background.
        """
        from nbskit.render import render_image

        intrinsics = intrinsics or self.intrinsics
        background = self.background(intrinsics) if background is None else background
        out = render_image(self.model, self.occupancy, intrinsics, c2w, expression, background, self.render_config)
        return {key: value.cpu() if torch.is_tensor(value) else value for key, value in out.items()}


def load_run(run_dir: str | Path, device: str | None = None, subject: Subject | None = None,
             subject_path: str | Path | None = None) -> TrainedRun:
    """Load the last checkpoint of ``run_dir`` and its subject: ``subject`` if given, else the folder
    at ``subject_path`` or where training found it, else the metadata copy kept in the run."""
    run_dir = Path(run_dir)
    stored = read_json(run_dir / CONFIG_FILE)
    if not isinstance(stored, dict) or "train" not in stored or "subject" not in stored:
        raise RunFolderError(f"{run_dir / CONFIG_FILE}: not the config of an nbskit run")
    config = stored_config(stored, run_dir)
    note = None
    if subject is None:
        subject, note = open_subject(run_dir, stored, subject_path)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    state = load_checkpoint(run_dir)
    low, high = subject.expression_range()
    model = build_model(config, subject.aabb, low, high)
    occupancy = build_occupancy(config, subject.aabb)
    load_states(run_dir, state, model=model, grid=occupancy)
    return TrainedRun(run_dir=run_dir, subject=subject, config=config, model=model.to(device).eval(),
                      occupancy=occupancy.to(device), step=state["step"], render_config=build_render_config(config),
                      subject_note=note, refined=refined_training_frames(state.get("refinement"), subject))
