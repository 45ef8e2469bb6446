"""The staged trainer (docs/architecture.md, “Training”): from a subject folder to a trained, drivable head model.

The trainer loops over the stage records of its config (:mod:`nbskit.train.stages`). One step
draws B frames, lets each sampler of the current stage pick pixels of them (R random rays per
frame; in the paper's stage 3 also one patch per frame for the first ``patches_per_batch``
frames), renders them all in one call with an explicit frame slot per ray, and takes an Adam step
on the stage's weighted loss terms (:data:`nbskit.train.losses.LOSS_TERMS`):

- stage 1: L1(colour) + L1(opacity, mask)
- stage 2: L1(colour)
- stage 3: L1(colour of random rays) + 0.1 L1(patches) + 0.1 perceptual(patches)

plus the optional shrinkage of the expression tables. Every random choice of step s comes from
generators seeded with (seed, s), so a run resumed from a checkpoint repeats exactly the steps an
uninterrupted run would have taken.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nbskit.data.subject import Subject
from nbskit.encoding.position_gradient import coarse_position_gradient
from nbskit.errors import UserError
from nbskit.train import losses, metrics
from nbskit.train.checkpoint import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LOG_FILE,
    load_checkpoint,
    load_states,
    restore_rng_states,
    save_checkpoint,
    write_json,
)
from nbskit.train.components import build_model, build_occupancy, build_optimizer, build_render_config
from nbskit.train.dataset import FrameSet, load_frames, scaled_intrinsics, to_unit
from nbskit.train.interrupt import DeferredInterrupt, TrainingInterrupted
from nbskit.train.presets import ConfigError, TrainConfig
from nbskit.train.refinement import (
    FrameCorrections,
    build_refinement_optimizer,
    gradient_resolution,
    refinement_enabled,
    warm_up,
    write_refined_frames,
)
from nbskit.train.run_guard import subject_record, write_subject_copy
from nbskit.train.samplers import SAMPLERS, PixelBatch, gather, sample_frames
from nbskit.train.stages import Stage, stage_at

# Independent random streams of one step (so adding draws to one never shifts another).
DATA_STREAM, GRID_STREAM, RENDER_STREAM = 0, 1, 2


def step_generator(seed: int, step: int, stream: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator that depends only on (seed, step, stream)."""
    value = np.random.SeedSequence([seed, step, stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(value) & 0x7FFF_FFFF_FFFF_FFFF)


def seed_everything(seed: int) -> None:
    """Seed the global torch, numpy and Python generators."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite: training stops instead of saving a broken model."""


def check_fits_subject(config: TrainConfig, subject: Subject) -> None:
    """Options that depend on the subject, checked before any frame is loaded."""
    size = scaled_intrinsics(subject.intrinsics, config.max_image_size)
    patches = any("patches" in stage.samplers and stage.start < config.total_steps for stage in config.stages())
    if patches and config.patches_per_batch > 0 and config.patch_size > min(size.width, size.height):
        raise ConfigError(f"patch_size: {config.patch_size} does not fit in the {size.width}x{size.height} training "
                          "images (max_image_size and the subject's resolution); use a smaller patch_size")


def checked_plan(plan: list[Stage]) -> list[Stage]:
    """``plan``, after checking that every loss term and sampler it names exists."""
    for stage in plan:
        unknown = [name for name, _ in stage.losses if name not in losses.LOSS_TERMS]
        unknown += [name for name in stage.samplers if name not in SAMPLERS]
        if unknown:
            raise ValueError(f"stage {stage.name!r} names unknown loss terms or samplers {unknown}; "
                             f"known: {sorted(losses.LOSS_TERMS)} and {sorted(SAMPLERS)}")
    return plan


class Trainer:
    """Owns the model, occupancy grid, optimiser and data of one run; ``fit()`` trains to ``total_steps``.

    Args:
        subject: the subject to fit.
        config: a TrainConfig (see ``make_config``).
        run_dir: folder for config.json, log.json and checkpoints (None: keep nothing on disk).
        perceptual: the perceptual module for stage 3, or None to find one (ST-LPIPS offline).
        progress: show tqdm bars.
        device: where the model lives (default: CUDA when available, else CPU); data stays on the CPU.
    """

    def __init__(self, subject: Subject, config: TrainConfig, run_dir: str | Path | None = None,
                 perceptual: torch.nn.Module | None = None, progress: bool = True, device: str | None = None):
        config.validate()
        self.stages = checked_plan(config.stages())
        check_fits_subject(config, subject)
        self.subject, self.config, self.progress = subject, config, progress
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.train_frames = load_frames(subject, "train", config.max_image_size, config.background, progress)
        # Periodic evaluation watches held-out frames (never trained on): val, or test when there is none.
        self.eval_split = "val" if len(subject.indices("val")) else "test"
        self.eval_frames = load_frames(subject, self.eval_split, config.max_image_size, config.background, progress)
        self.expression_min, self.expression_max = subject.expression_range()
        seed_everything(config.seed)  # the initial weights depend on the seed only
        self.model = build_model(config, subject.aabb, self.expression_min, self.expression_max).to(self.device)
        self.occupancy = build_occupancy(config, subject.aabb).to(self.device)
        self.optimizer = build_optimizer(self.model, config)
        self.corrections, self.refine_optimizer = None, None
        if refinement_enabled(config.refine, subject):
            self.corrections = FrameCorrections(len(self.train_frames), self.expression_min, self.expression_max,
                                                subject.aabb, config.refine_keyframe_interval).to(self.device)
            self.refine_optimizer = build_refinement_optimizer(self.corrections, config.refine_camera_lr,
                                                               config.refine_expression_lr)
        from nbskit.render import OccupancySchedule

        self.render_config = build_render_config(config)
        self.occupancy_schedule = OccupancySchedule(every=config.grid_update_interval, warmup_steps=config.grid_warmup_steps)
        self._perceptual = perceptual
        self._perceptual_searched = perceptual is not None
        self.perceptual_label = getattr(perceptual, "label", None)
        self.step = 0
        self.history: dict = {"train": [], "eval": [], "seconds_per_stage": {}, "cpu_seconds_per_stage": {},
                              "perceptual": None}

    # ------------------------------------------------------------------ persistence
    def write_config(self) -> None:
        if self.run_dir is None:
            return
        write_json(self.run_dir / CONFIG_FILE, {
            **subject_record(self.subject),
            "train": self.config.to_dict(),
            "model": self.model.summary(),
            "eval_background": self.train_frames.background_label,
            "refinement": self.corrections is not None,
        })
        write_subject_copy(self.run_dir, self.subject)

    def write_log(self) -> None:
        if self.run_dir is not None:
            write_json(self.run_dir / LOG_FILE, {"config": self.config.to_dict(), "step": self.step, **self.history})

    def refinement_state(self) -> dict | None:
        """The corrections and their optimiser (tensors and plain numbers), or None when not refining."""
        if self.corrections is None:
            return None
        return {"corrections": self.corrections.state_dict(), "optimizer": self.refine_optimizer.state_dict()}

    def save(self) -> None:
        if self.run_dir is not None:
            save_checkpoint(self.run_dir, self.step, self.model, self.optimizer, self.occupancy, self.history,
                            refinement=self.refinement_state())
            if self.corrections is not None:
                write_refined_frames(self.run_dir, self.step, self.corrections, self.train_frames)

    def resume(self) -> bool:
        """Load ``run_dir``'s last checkpoint if there is one; returns whether it did."""
        if self.run_dir is None or not (self.run_dir / CHECKPOINT_FILE).is_file():
            return False
        state = load_checkpoint(self.run_dir)
        load_states(self.run_dir, state, model=self.model, optimizer=self.optimizer, grid=self.occupancy)
        if self.corrections is not None:
            load_states(self.run_dir, state.get("refinement") or {}, corrections=self.corrections,
                        optimizer=self.refine_optimizer)
        restore_rng_states(state["rng"])
        self.history = state["history"]
        self.step = state["step"]
        return True

    # ------------------------------------------------------------------ one step
    @property
    def perceptual(self) -> torch.nn.Module | None:
        """Loaded on first use in stage 3 (ST-LPIPS weights are ~60 MB)."""
        if not self._perceptual_searched and self.config.perceptual_weight > 0:
            from nbskit.train.perceptual import load_perceptual

            self._perceptual_searched = True  # a missing one warns once, not every step
            self._perceptual = load_perceptual()
            if self._perceptual is not None:
                self._perceptual.to(self.device)
            self.perceptual_label = getattr(self._perceptual, "label", None)
            self.history["perceptual"] = self.perceptual_label
        return self._perceptual

    def refining(self, step: int) -> bool:
        """Whether step ``step`` refines the frames' cameras and coefficients."""
        return self.corrections is not None and step >= self.config.refine_start_step()

    def _cameras_and_expressions(self, frames: torch.Tensor, refine: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Cameras [B, 4, 4] and coefficients [B, K] of training frames ``frames`` [B], corrected when refining."""
        data = self.train_frames
        c2w, expressions = data.c2w[frames], data.expressions[frames]
        if not refine:
            return c2w, expressions
        rows = frames.to(self.device)
        return self.corrections.cameras(c2w, rows), self.corrections.expressions(expressions, rows)

    def _render(self, batches: list[PixelBatch], frames: torch.Tensor, generator: torch.Generator,
                refine: bool = False) -> dict:
        """Render the pixels of several PixelBatches over the same frames [B] in one call.

        Every batch draws its pixels from the same frames (patches from the first few of them).
        """
        from nbskit.render import generate_rays, render_rays

        data = self.train_frames
        cameras, expressions = self._cameras_and_expressions(frames, refine)
        origins, dirs, slots = [], [], []
        for batch in batches:
            o, d = generate_rays(data.intrinsics, cameras[: len(batch.frames)], batch.pixels)
            origins.append(o.reshape(-1, 3))
            dirs.append(d.reshape(-1, 3))
            slots.append(batch.ray_slots)
        background = torch.cat([data.background[b.pixels[..., 1], b.pixels[..., 0]].reshape(-1, 3) for b in batches])
        device = self.device
        with coarse_position_gradient(gradient_resolution(self.config.refine_gradient_resolution, data.intrinsics)):
            return render_rays(self.model, self.occupancy, torch.cat(origins).to(device), torch.cat(dirs).to(device),
                               torch.cat(slots).to(device), expressions.to(device), background.to(device),
                               self.render_config, training=True, generator=generator)

    def train_step(self) -> dict:
        """One optimisation step at ``self.step``; returns its loss terms (floats)."""
        config, data, step = self.config, self.train_frames, self.step
        number, stage = stage_at(self.stages, step)
        generator = step_generator(config.seed, step, DATA_STREAM)
        self.occupancy_schedule.maybe_update(self.occupancy, step, self.model, self.expression_max,
                                        step_generator(config.seed, step, GRID_STREAM, self.device))
        frames = sample_frames(len(data), config.frames_per_batch, generator)
        drawn = [SAMPLERS[name](config, data, frames, generator) for name in stage.samplers]
        batches = [batch for batch in drawn if batch is not None]
        refine = self.refining(step)
        output = self._render(batches, frames, step_generator(config.seed, step, RENDER_STREAM, self.device), refine)
        terms, psnr = self._loss_terms(output, batches, stage)
        if refine:
            camera, expression = self.corrections.prior(frames.to(self.device))
            terms["camera_prior"] = config.refine_camera_prior * camera
            terms["expression_prior"] = config.refine_expression_prior * expression
            warm_up(self.refine_optimizer, step - config.refine_start_step(), config.refine_warmup_steps)
            self.refine_optimizer.zero_grad(set_to_none=True)
        total = sum(terms.values())
        loss = float(total.detach())
        if not math.isfinite(loss):
            kept = self.run_dir is not None and (self.run_dir / CHECKPOINT_FILE).is_file()
            raise TrainingDiverged(f"training diverged: the loss is {loss} at step {step + 1} (stage {number}); "
                                   f"{'the last checkpoint in the run folder is kept; ' if kept else ''}"
                                   "lower learning_rate (--set learning_rate=...) and train again")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        if refine:
            self.refine_optimizer.step()
        self.step += 1
        return {"step": self.step, "stage": number, "loss": loss, "psnr": psnr,
                **{name: float(value.detach()) for name, value in terms.items()}}

    def _loss_terms(self, output: dict, batches: list[PixelBatch], stage: Stage) -> tuple[dict, float]:
        """The stage's weighted loss terms (docs/architecture.md, “Training”), and the PSNR of its random rays.

        ``batches[0]`` holds the random rays, the others (if any) what the stage's other samplers drew.
        """
        data = self.train_frames
        rays = batches[0]
        num_random = rays.pixels.shape[0] * rays.pixels.shape[1]
        rgb, target = output["rgb"], to_unit(torch.cat([gather(data.images, b) for b in batches])).to(self.device)
        visible = to_unit(torch.cat([gather(data.visible, b) for b in batches])).to(self.device)
        target = losses.visible_target(rgb, target, visible)  # ignored pixels (occluders) count nowhere
        step_outputs = losses.StepOutputs(
            rgb=rgb, opacity=output["opacity"], target=target,
            mask=lambda: losses.visible_target(output["opacity"][:num_random],
                                               to_unit(gather(data.masks, rays)).to(self.device), visible[:num_random]),
            num_rays=num_random, patch_size=self.config.patch_size, model=self.model,
            perceptual=lambda: self.perceptual)
        terms = {}
        for name, weight in stage.losses:
            value = losses.LOSS_TERMS[name](step_outputs)
            if value is not None:
                terms[name] = weight * value
        with torch.no_grad():
            psnr = metrics.psnr_from_mse(float(torch.mean((rgb[:num_random] - target[:num_random]) ** 2)))
        return terms, psnr

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def render_frame(self, frames: FrameSet, row: int) -> dict:
        """Render row ``row`` of a FrameSet at its resolution over its background."""
        from nbskit.render import render_image

        return render_image(self.model, self.occupancy, frames.intrinsics, frames.c2w[row], frames.expressions[row],
                            frames.background, self.render_config)

    def evaluate(self) -> dict:
        """PSNR over the first ``eval_frames`` frames of the validation split (test if no val)."""
        rows = range(min(self.config.eval_frames, len(self.eval_frames)))
        rendered = torch.stack([self.render_frame(self.eval_frames, row)["rgb"].cpu() for row in rows])
        truth = torch.stack([self.eval_frames.image(row) for row in rows])
        return {"step": self.step, "split": self.eval_split, "psnr": metrics.psnr(rendered.clamp(0, 1), truth)}

    # ------------------------------------------------------------------ the loop
    def _count_training_time(self, name: str, wall: float, cpu: float) -> None:
        """Add one step's wall and process-CPU seconds to stage ``name`` (evaluations and checkpoint
        writes are not training cost, so timed comparisons such as the paper's Fig. 8 leave them out)."""
        for key, seconds in (("seconds_per_stage", wall), ("cpu_seconds_per_stage", cpu)):
            totals = self.history[key]
            totals[name] = totals.get(name, 0.0) + seconds

    def training_seconds(self) -> tuple[float, float]:
        """(wall, process-CPU) seconds spent in training steps so far, all stages together."""
        return (sum(self.history["seconds_per_stage"].values()),
                sum(self.history["cpu_seconds_per_stage"].values()))

    def _fit_step(self, until: int, bar, callback: Callable[[dict], None] | None) -> None:
        """One step of :meth:`fit` with its logging, periodic evaluation and checkpoint."""
        config = self.config
        stage = stage_at(self.stages, self.step)[1]
        wall, cpu = time.perf_counter(), time.process_time()
        record = self.train_step()
        self._count_training_time(stage.name, time.perf_counter() - wall, time.process_time() - cpu)
        if self.step % config.log_interval == 0 or self.step == until:
            self.history["train"].append(record)
            bar.set_postfix(stage=record["stage"], loss=f"{record['loss']:.4f}", psnr=f"{record['psnr']:.2f}")
            if callback:
                callback(record)
        bar.update(1)
        if self.step % config.eval_interval == 0 or self.step == config.total_steps:
            evaluation = self.evaluate()
            self.history["eval"].append(evaluation)
            bar.write(f"step {self.step}: {self.eval_split} PSNR {evaluation['psnr']:.2f} dB")
            if callback:
                callback(evaluation)
        if self.step % config.checkpoint_interval == 0 or self.step == until:
            self.save()
            self.write_log()

    def fit(self, until: int | None = None, callback: Callable[[dict], None] | None = None) -> dict:
        """Train from ``self.step`` to ``until`` (default ``total_steps``); returns the history.

        ``callback(record)`` is called with each logged record (train records have a 'loss',
        eval records do not), e.g. to draw live plots in a notebook. Ctrl-C (SIGINT) finishes the
        current step, saves a checkpoint and raises TrainingInterrupted.
        """
        config = self.config
        until = config.total_steps if until is None else min(until, config.total_steps)
        self.write_config()
        bar = tqdm(total=until, initial=self.step, desc="training", disable=not self.progress, dynamic_ncols=True)
        with DeferredInterrupt() as interrupt:
            while self.step < until:
                self._fit_step(until, bar, callback)
                if interrupt.requested:  # Ctrl-C: keep this step, then stop
                    self.save()
                    self.write_log()
                    bar.close()
                    raise TrainingInterrupted(self.step, saved=self.run_dir is not None)
        bar.close()
        return self.history
