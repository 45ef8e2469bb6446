"""Writes notebooks/05_training.ipynb."""

from notebook_tools import write_notebook

CELLS = [
    ("md", """
    # 05 · Staged training: from a subject folder to a drivable head

    The paper trains NeRFBlendShape in three stages (docs/architecture.md, “Training”):

    | stage | steps (paper) | loss |
    |---|---|---|
    | 1 | first ~4k | L1(colour) + L1(opacity, mask) — the mask pins down *where* the head is |
    | 2 | to ~20k | L1(colour) |
    | 3 | the rest | L1(colour) on random rays + 32×32 patches with 0.1·L1 + 0.1·perceptual |

    Every step draws **B frames × R rays** with an explicit frame index per ray, so each ray reads
    the hash table blended with *its* frame's coefficients. Stage 3's patches sit in the mouth box
    half of the time (teeth and lips are where detail matters) and anywhere on the face otherwise.
    The perceptual term is **ST-LPIPS** (shift-tolerant LPIPS, VGG), loaded from the weights inside
    the `stlpips-pytorch` wheel by nbskit's own small module — not LPIPS itself.

    **Time** on 2 CPU cores: smoke mode (the `tiny` subject, 90 steps) took 12 s on an idle machine.
    Full mode (the `small` subject, `cpu` preset, 800 steps) took 3.6 minutes on two idle cores
    (6.5 CPU-minutes; `python -m bench.notebook_times 05`). GPU (`gpu` preset): not measured yet.
    """),
    ("parameters", "SMOKE = False  # True: the tiny subject and a short schedule (what the tests use)"),
    ("code", """
    from pathlib import Path

    import plotly.graph_objects as go
    import torch
    from IPython.display import display
    from plotly.subplots import make_subplots

    from nbskit.data.subject import Subject
    from nbskit.data.synthetic import SUBJECT_CACHE, default_subject, synthesize_subject
    from nbskit.train.dataset import load_frames
    from nbskit.train.evaluate import evaluate_run, format_table
    from nbskit.train.presets import make_config
    from nbskit.train.run import load_run
    from nbskit.train.samplers import sample_patches, sample_random_rays
    from nbskit.train.trainer import Trainer
    from nbskit.viz import image_strip

    GPU = torch.cuda.is_available()
    if SMOKE:
        torch.set_num_threads(2)
        SUBJECT_DIR = SUBJECT_CACHE / "synthetic_tiny_procedural_seed0"
        if not (SUBJECT_DIR / "transforms.json").is_file():
            synthesize_subject(SUBJECT_DIR, "tiny", seed=0, model="procedural")
        CONFIG = make_config("cpu-smoke", {"total_steps": 90, "stage2_start": 40, "stage3_start": 70,
                                           "eval_interval": 30, "checkpoint_interval": 90, "log_interval": 5})
    else:
        SUBJECT_DIR = default_subject(SUBJECT_CACHE)
        CONFIG = make_config("gpu" if GPU else "cpu")
    RUN_DIR = Path("runs") / f"05_{SUBJECT_DIR.name}_{CONFIG.preset}_{CONFIG.total_steps}"
    subject = Subject.load(SUBJECT_DIR)
    print(subject.describe())
    """),
    ("md", """
    ## The schedule

    A preset scales image size, table size, batch and stage lengths to the machine; any field can
    be overridden (`--set key=value` on the command line, a dict here). The stages themselves are
    data: `CONFIG.stages()` lists records with a start step, weighted loss terms and samplers, and
    the trainer runs, at each step, the last one that has started.
    """),
    ("code", """
    plan = CONFIG.stages()
    stops = [stage.start for stage in plan[1:]] + [CONFIG.total_steps]
    for stage in plan:
        print(f"{stage.name:<26} from step {stage.start:>4}: losses {dict(stage.losses)}, samplers {stage.samplers}")
    figure = go.Figure([go.Bar(y=["schedule"], x=[stop - stage.start], base=[stage.start], orientation="h",
                               name=stage.name) for stage, stop in zip(plan, stops)])
    figure.update_layout(barmode="stack", height=200, xaxis_title="step",
                         title=f"preset {CONFIG.preset!r}: {CONFIG.frames_per_batch} frames x "
                               f"{CONFIG.rays_per_frame} rays per step, images <= {CONFIG.max_image_size} px")
    figure.show()
    """),
    ("md", """
    ## Which pixels a step looks at

    Random rays cover the whole image (background pixels teach the field to stay empty there);
    stage-3 patches are placed in the mouth box with probability ½, else in the face box.
    """),
    ("code", """
    trainer = Trainer(subject, CONFIG, RUN_DIR)
    trainer.resume()  # continue a run folder left by an earlier execution
    data = trainer.train_frames
    generator = torch.Generator().manual_seed(0)
    frames = torch.zeros(1, dtype=torch.long)
    rays = sample_random_rays(frames, data.width, data.height, 200, generator)
    patches = sample_patches(torch.zeros(6, dtype=torch.long), data.face_boxes, data.mouth_boxes, CONFIG.patch_size,
                             data.width, data.height, CONFIG.mouth_patch_probability, generator)
    figure = go.Figure(go.Image(z=data.images[0].numpy()))
    figure.add_scatter(x=rays.pixels[0, :, 0], y=rays.pixels[0, :, 1], mode="markers", marker_size=3, name="random rays")
    for name, box in (("face box", data.face_boxes[0]), ("mouth box", data.mouth_boxes[0])):
        x0, y0, x1, y1 = box.tolist()
        figure.add_scatter(x=[x0, x1, x1, x0, x0], y=[y0, y0, y1, y1, y0], mode="lines", name=name)
    for corner in patches.pixels[:, 0]:
        x0, y0 = corner.tolist()
        size = CONFIG.patch_size
        figure.add_scatter(x=[x0, x0 + size, x0 + size, x0, x0], y=[y0, y0, y0 + size, y0 + size, y0],
                           mode="lines", line_dash="dot", showlegend=False)
    figure.update_layout(width=420, height=420, title="one training frame: rays, boxes and patches")
    figure.show()
    """),
    ("md", """
    ## Training, stage by stage, with live curves

    `Trainer.fit(until, callback)` calls `callback` with each logged record; here it redraws a
    loss/PSNR plot in place. After each stage we look at a held-out frame.
    """),
    ("code", """
    curves = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "PSNR (dB)"))
    curves.add_scatter(x=[], y=[], name="loss", row=1, col=1)
    curves.add_scatter(x=[], y=[], name="train rays", row=1, col=2)
    curves.add_scatter(x=[], y=[], name="held-out image", mode="lines+markers", row=1, col=2)
    curves.update_layout(height=320)
    live = display(curves, display_id=True)

    def redraw(record):
        trace = (0, 1) if "loss" in record else (2,)
        for index in trace:
            key = "loss" if index == 0 else "psnr"
            curves.data[index].x += (record["step"],)
            curves.data[index].y += (record[key],)
        live.update(curves)

    def held_out_strip(title):
        row = 0
        rendered = trainer.render_frame(trainer.eval_frames, row)
        truth = trainer.eval_frames.image(row)
        display(image_strip([truth, rendered["rgb"].cpu().clamp(0, 1), rendered["opacity"].cpu()[..., None].expand(-1, -1, 3)],
                            ["ground truth", title, "opacity"], scale=3))
    """),
    ("code", """
    trainer.fit(until=CONFIG.stage2_start, callback=redraw)
    held_out_strip("after stage 1")
    """),
    ("code", """
    trainer.fit(until=CONFIG.stage3_start, callback=redraw)
    held_out_strip("after stage 2")
    """),
    ("code", """
    trainer.fit(callback=redraw)
    held_out_strip("after stage 3")
    print("perceptual term:", trainer.perceptual_label or "disabled (install stlpips-pytorch)")
    print("seconds per stage:", {k: round(v, 1) for k, v in trainer.history["seconds_per_stage"].items()})
    """),
    ("md", """
    ## Evaluation on the held-out test frames

    The last frames of the video were never trained on. Render and ground truth are composited
    over the same background, and the table says which.
    """),
    ("code", """
    run = load_run(RUN_DIR)
    result = evaluate_run(run, "test", max_frames=3 if SMOKE else None)
    print(format_table(result))
    test = load_frames(subject, "test", CONFIG.max_image_size, CONFIG.background, progress=False)
    shown = range(min(3, len(test)))
    renders = [run.render(test.c2w[row], test.expressions[row], test.intrinsics, test.background)["rgb"].clamp(0, 1)
               for row in shown]
    display(image_strip([test.image(row) for row in shown] + renders,
                        [f"truth {test.indices[row]}" for row in shown] + [f"render {test.indices[row]}" for row in shown],
                        columns=len(shown), scale=2))
    """),
    ("md", "## Checks"),
    ("code", """
    train_log = trainer.history["train"]
    first_stage = [r for r in train_log if r["stage"] == 1]
    assert {r["stage"] for r in train_log} == {1, 2, 3}, "all three stages must have run"
    assert "mask" in first_stage[-1] and all("mask" not in r for r in train_log if r["stage"] > 1)
    assert any("patch_l1" in r for r in train_log if r["stage"] == 3)
    assert first_stage[-1]["loss"] < first_stage[0]["loss"], "stage-1 loss must go down"
    bound = 14.0 if SMOKE else 25.0
    assert result["mean"]["psnr"] > bound, f"test PSNR {result['mean']['psnr']:.2f} dB is below {bound} dB"
    print(f"checks passed: test PSNR {result['mean']['psnr']:.2f} dB > {bound} dB")
    """),
]

if __name__ == "__main__":
    print(write_notebook("05_training", CELLS))
