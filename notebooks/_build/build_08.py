"""Writes notebooks/08_blend_vs_concatenate.ipynb."""

from notebook_tools import write_notebook

CELLS = [
    ("md", """
    # 08 · Blend or concatenate? Two ways to condition a field on the expression

    There are two obvious ways to make a radiance field depend on expression coefficients $w$:

    - **concatenate** (the usual dynamic-NeRF recipe): one hash table for position, and $w$ fed
      to the MLP next to the position features. The MLP has to learn how every coefficient moves
      every point, so it must be deep and wide (here: a 2-layer embedding of $w$ and 7 layers of
      128 units).
    - **blend** (NeRFBlendShape): one table *per coefficient*, mixed linearly,
      $h = h_0 + \\sum_i w_i h_i$, then the same small MLP as a static NeRF (4 layers of 64). The
      expression lives in the tables, where it is cheap to look up and local in space.

    The paper (§4.3, Fig. 8) trains both with the same schedule and plots PSNR against wall-clock
    time: blending reaches a higher PSNR sooner. We repeat that experiment on a synthetic subject,
    with the same trainer, data and steps for both models; only `model` differs.

    **Time** on 2 CPU cores: smoke mode (two 90-step runs: the curves only show the mechanics) took
    21 s on an idle machine. Full mode (`small` subject, `cpu` preset, two runs) has not been timed
    end to end; a concatenate step costs about twice a blend step (0.63 vs 0.32 CPU-s in
    `docs/results.md`, Fig. 8), so expect about 4 + 8 minutes on an idle machine. GPU: not measured
    yet.
    """),
    ("parameters", "SMOKE = False  # True: tiny subject, short runs (what the tests use)"),
    ("code", """
    import plotly.graph_objects as go
    import torch

    from nbskit.data.subject import Subject
    from nbskit.model import MODEL_KINDS
    from nbskit.train.components import build_model
    from nbskit.viz.course import course_config, course_subject, timed_training

    if SMOKE:
        torch.set_num_threads(2)
    MODELS = tuple(MODEL_KINDS)
    EVALUATIONS = 2 if SMOKE else 8  # points on each PSNR-vs-time curve (after the untrained one)
    # Two runs must fit the two-minute smoke budget: shorter ones than the other notebooks use. The
    # concatenate model often stays in its initial fog for ~40-60 steps, so 60 steps were too few to
    # show reliably that it learns; by 90 it has left it on every run we tried.
    SHORT = {"total_steps": 90, "stage2_start": 30, "stage3_start": 90, "checkpoint_interval": 90} if SMOKE else {}
    SUBJECT_DIR = course_subject(SMOKE)
    subject = Subject.load(SUBJECT_DIR)
    # Evaluate on several test frames, and only where timed_training asks (not inside the timed chunks).
    CONFIGS = {model: course_config(SMOKE, model=model, eval_frames=2 if SMOKE else 4, eval_interval=10**9, **SHORT)
               for model in MODELS}
    """),
    ("md", """
    ## 1 · The two models

    Their parameter budgets differ in kind: the blended model spends memory on K+1 tables and very
    little on MLPs; the concatenate baseline has one table and a much larger network.
    """),
    ("code", """
    low, high = subject.expression_range()
    for model in MODELS:
        print(build_model(CONFIGS[model], subject.aabb, low, high).summary(), end="\\n\\n")
    """),
    ("md", """
    ## 2 · PSNR against training time

    Each run trains in equal chunks; after each chunk the validation PSNR is measured (evaluation
    time is not counted). Finished curves are stored in the run folders and reused.
    """),
    ("code", """
    curves = {model: timed_training(SUBJECT_DIR, CONFIGS[model], EVALUATIONS) for model in MODELS}
    figure = go.Figure()
    for model, curve in curves.items():
        figure.add_trace(go.Scatter(x=[p["seconds"] for p in curve], y=[p["psnr"] for p in curve], mode="lines+markers",
                                    name=model, text=[f"step {p['step']}" for p in curve]))
    figure.update_layout(xaxis_title="training wall-clock (s)", yaxis_title="validation PSNR (dB)", height=380,
                         title="blend vs concatenate (paper Fig. 8)")
    """),
    ("code", """
    for model, curve in curves.items():
        last = curve[-1]
        print(f"{model:>12}: {last['psnr']:6.2f} dB after {last['step']} steps, "
              f"{last['seconds']:7.1f} s ({1000 * last['seconds'] / last['step']:.0f} ms/step)")
    """),
    ("md", """
    What to look for: at equal time the blended model should be above the concatenated one, and
    the gap should open early — the tables pick up each expression's local change directly, while
    the deep MLP must first discover how $w$ acts on every point. On a CPU the blend's cost per step
    grows with K (every sample reads K+1 tables); on a GPU with a fused kernel it barely does.

    ## Checks
    """),
    ("code", """
    for model, curve in curves.items():
        seconds = [p["seconds"] for p in curve]
        assert all(b > a for a, b in zip(seconds, seconds[1:])), f"{model}: training time must increase"
        assert curve[-1]["psnr"] > curve[0]["psnr"] + 1.0, f"{model}: training did not improve PSNR"
    if not SMOKE:
        assert curves["blend"][-1]["psnr"] > curves["concatenate"][-1]["psnr"], "paper Fig. 8: blending should win"
    print("all checks passed")
    """),
]

if __name__ == "__main__":
    print(write_notebook("08_blend_vs_concatenate", CELLS))
