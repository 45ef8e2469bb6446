"""Writes notebooks/01_tracking.ipynb (without outputs): `python notebooks/_build/build_01.py`."""

from notebook_tools import CellRecorder

notebook = CellRecorder()
md, code = notebook.md, notebook.code

md(r"""
# 01 · Tracking: from a video to expression coefficients

NeRFBlendShape needs, for every frame, a camera and K expression coefficients. The authors never
released their tracker; nbskit ships an open one built from

1. a **linear blendshape mesh** (the ICT face model: 53 ARKit-named expressions, 20 identity modes),
2. **MediaPipe's 478 face-mesh landmarks** (with iris centres),
3. a **batched Gauss-Newton fit** in torch of pose, focal length, identity and coefficients, with priors,
4. **head masks** from selfie segmentation, the fitted mesh and GrabCut.

We work on a synthetic ICT subject, so every number can be checked against the truth.
Full mode (`SMOKE = False`) tracks 120 frames at 384²; `SMOKE = True` (what the tests use) a tiny
subject and short fits. **Time** on 2 CPU cores: full mode took 60 s on two idle cores
(`python -m bench.notebook_times 01`). GPU: not needed.
""")
code("SMOKE = False  # True: a tiny subject and short fits (what the tests use)", tags=["parameters"])
code(r"""
import tempfile
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch

torch.set_num_threads(2)
try:
    from nbskit.face.ict import ICTFaceModel
    MODEL = ICTFaceModel.load()
except FileNotFoundError as error:
    MODEL = None
    print("ICT model not found, the notebook will skip its steps:", error)
try:
    from nbskit.tracking.landmarks import require_mediapipe
    require_mediapipe()
    HAVE_MEDIAPIPE = True
except ImportError as error:
    HAVE_MEDIAPIPE = False
    print(error)
FRAMES, SIZE = (10, 128) if SMOKE else (120, 384)
""")
md(r"""
## 1 · The mesh blendshape model

A frame's mesh is $V(w, \beta) = \bar V + \sum_j \beta_j I_j + \sum_k w_k E_k$: the neutral head,
identity offsets (shared by all frames of one person) and expression offsets with $w_k \in [0,1]$.
Below: how far each expression moves the mesh at full strength.
""")
code(r"""
if MODEL is not None:
    reach_mm = 1000 * np.linalg.norm(MODEL.expression_deltas, axis=-1).max(axis=1)
    go.Figure(go.Bar(x=MODEL.expression_names, y=reach_mm)).update_layout(
        title="largest vertex motion per expression (mm)", height=350).show()
""")
md(r"""
## 2 · A synthetic subject and its landmarks

`synthesize_subject` renders the ICT head with known pose, identity and coefficients. MediaPipe
finds 478 points on each render; `correspondence_for` says which vertex each stable point sits on
(measured once on renders of the model; points on the face oval slide and are dropped), and how
MediaPipe's point sits off that vertex: an offset per landmark that is the same for everyone, and
"bias modes", the patterns in which it varies from person to person. Both were measured on 80 other
synthetic people with `python -m nbskit.tracking.calibration`; the fit gives each clip free
coefficients on the bias modes, so a person's landmark bias is not taken for face shape.
""")
code(r"""
if MODEL is not None:
    from nbskit.data.synthetic.generate import synthesize_subject
    from nbskit.data.synthetic.presets import SynthPreset
    from nbskit.tracking.correspondence import correspondence_for
    from nbskit.tracking.evaluation import SyntheticTruth

    work = Path(tempfile.mkdtemp(prefix="nbskit-01-"))
    root = synthesize_subject(work / "subject", SynthPreset("notebook", SIZE, FRAMES, "ict", 64), seed=2,
                              model="ict", progress=False)
    truth = SyntheticTruth.load(root)
    correspondence = correspondence_for(MODEL)
    exact = truth.exact_landmarks(correspondence)
    print(f"{len(correspondence.landmarks)} of 478 landmarks paired with vertices; offsets "
          f"{1000 * np.linalg.norm(correspondence.offsets, axis=1).mean():.1f} mm on average; "
          f"{len(correspondence.bias_modes)} bias modes")
""")
code(r"""
if MODEL is not None and HAVE_MEDIAPIPE:
    from nbskit.tracking.landmarks import detect_landmarks

    track = detect_landmarks(truth.images)
    figure = go.Figure(go.Image(z=truth.images[0]))
    figure.add_scatter(x=track.points[0, :, 0], y=track.points[0, :, 1], mode="markers",
                       marker=dict(size=3, color="red"), name="MediaPipe")
    figure.add_scatter(x=exact[0, correspondence.landmarks, 0], y=exact[0, correspondence.landmarks, 1],
                       mode="markers", marker=dict(size=3, color="lime"), name="paired vertices (truth)")
    figure.update_layout(height=450, title="landmarks on frame 0").show()
""")
md(r"""
## 3 · The fit, step by step

`fit_landmarks` optimises all frames at once with Levenberg-Marquardt: a PnP start, a rigid
stage (pose, and focal unless it is known), then everything, then everything once more, with the
bias modes' coefficients and with the identity prior set from the landmark misfit the previous
stage left (MediaPipe's landmarks sit ~0.5 px from the model's points even after the offsets, a
pattern per person that stays over the clip and would otherwise be fitted as face shape; exact
landmarks leave ~0, keep the prior weak and need no bias modes: `FitConfig(bias_modes=0)`). With
MediaPipe's depths (its z) a depth stage follows: their static part is the network's idea of a
face and is removed per landmark; how they change over the clip pins the head's pitch, which the
2D points under-report.
Each step solves the linearised problem directly: per frame a small dense block (pose + 53 coefficients), the pose-smoothness prior
coupling neighbouring poses (a band matrix), and the shared focal and identity eliminated last
(Schur complement); the weak coupling of neighbouring coefficients is replaced by a diagonal that
bounds it, and coefficients at 0 or 1 stay there (active set). The eye-look shapes are fitted
last and only to the iris centres. With exact landmarks we see how close the optimiser gets, and
how few steps it needs.
""")
code(r"""
if MODEL is not None:
    import time

    from nbskit.tracking.evaluation import mesh_error_mm, rotation_error_deg, shape_correlations
    from nbskit.tracking.fit import FitConfig, fit_landmarks

    config = FitConfig(focal=float(truth.camera_matrix[0, 0]), bias_modes=0)  # exact: no MediaPipe bias
    start = time.process_time()
    exact_fit = fit_landmarks(MODEL, correspondence, exact, np.ones(FRAMES, bool), truth.image_size, config,
                              progress=False)
    print(f"{FRAMES / (time.process_time() - start):.0f} frames per CPU-second; reprojection "
          f"{np.nanmean(exact_fit.reprojection_error):.2f} px, mesh error {mesh_error_mm(truth, exact_fit):.2f} mm, "
          f"rotation error {rotation_error_deg(truth, exact_fit).mean():.2f} deg")
    go.Figure(go.Scatter(y=exact_fit.loss_history, mode="lines+markers")).update_layout(
        title="loss per accepted step (rigid, face, refit)", yaxis_type="log", height=300).show()
""")
md(r"""
### The whole path: MediaPipe's landmarks

The same fit on what MediaPipe found on the renders, with its depths. 'mesh' is the head-frame
vertex error; 'shape' the error after one similarity transform for the clip, since neither the
head's size nor where the face sits in the head frame changes the images.
""")
code(r"""
if MODEL is not None and HAVE_MEDIAPIPE:
    from nbskit.tracking.evaluation import similarity_aligned_mesh_error_mm

    mediapipe_fit = fit_landmarks(MODEL, correspondence, track.with_depths(), track.found, truth.image_size,
                                  progress=False)
    print(f"MediaPipe: reprojection {np.nanmean(mediapipe_fit.reprojection_error):.2f} px, mesh "
          f"{mesh_error_mm(truth, mediapipe_fit):.2f} mm, shape {similarity_aligned_mesh_error_mm(truth, mediapipe_fit):.2f} mm, "
          f"rotation {rotation_error_deg(truth, mediapipe_fit).mean():.2f} deg, focal/true "
          f"{mediapipe_fit.focal / truth.camera_matrix[0, 0]:.2f}")
    print("track correlations with the truth:", {k: round(v, 2) for k, v in shape_correlations(truth, mediapipe_fit).items()})
""")
md(r"""
## 4 · The priors and what they fix

Landmarks are noisy. Without priors, jitter becomes expression jitter and one-sided noise becomes
asymmetric shapes. We add 1.5 px of noise and fit with and without the temporal-smoothness,
sparsity and symmetry priors, then compare the jawOpen track with the truth.
""")
code(r"""
if MODEL is not None:
    rng = np.random.default_rng(0)
    noisy = exact + rng.normal(0, 1.5, exact.shape).astype(np.float32)
    no_priors = FitConfig(focal=config.focal, sparsity=0.0, smoothness=0.0, symmetry=0.0)
    fits = {"with priors": fit_landmarks(MODEL, correspondence, noisy, np.ones(FRAMES, bool), truth.image_size,
                                         config, progress=False),
            "no priors": fit_landmarks(MODEL, correspondence, noisy, np.ones(FRAMES, bool), truth.image_size,
                                       no_priors, progress=False)}
    jaw = MODEL.expression_index("jawOpen")
    figure = go.Figure(go.Scatter(y=truth.expression[:, jaw], name="truth", line=dict(width=4)))
    for name, fit in fits.items():
        figure.add_scatter(y=fit.expression[:, jaw], name=name)
        print(f"{name}: mesh error {mesh_error_mm(truth, fit):.1f} mm, mean active coefficients "
              f"{(fit.expression > 0.05).sum(1).mean():.1f}")
    figure.update_layout(title="jawOpen from noisy landmarks", height=350).show()
""")
md(r"""
## 5 · Head masks

Selfie segmentation finds the person (hair included, shoulders too); the fitted mesh tells where
the head ends, so pixels below a plane under the chin are cut; the projected mesh is added and
GrabCut snaps the union to colour edges.
""")
code(r"""
if MODEL is not None and HAVE_MEDIAPIPE:
    from nbskit.tracking.landmarks import segment_people
    from nbskit.tracking.masks import head_masks, neck_cut_points
    from nbskit.tracking.track_command import project_vertices

    centre = truth.camera_matrix[:2, 2]
    vertices = np.asarray(MODEL.vertices(exact_fit.expression.astype(np.float32), exact_fit.identity.astype(np.float32)))
    pixels = project_vertices(vertices, exact_fit.head_to_camera(), exact_fit.focal, centre)
    chin = float(vertices[:, correspondence.vertices, 1].min())
    cuts = project_vertices(np.broadcast_to(neck_cut_points(chin), (FRAMES, 3, 3)), exact_fit.head_to_camera(),
                            exact_fit.focal, centre)
    masks = head_masks(truth.images[:2], segment_people(truth.images[:2]), pixels[:2], np.asarray(MODEL.triangles),
                       cuts[:2], progress=False)
    from nbskit.data.subject import Subject
    true_mask = Subject.load(root).load_mask(0)
    iou = (masks[0] * true_mask).sum() / np.maximum(masks[0], true_mask).sum()
    print(f"mask IoU with the rendered head+hair mask: {iou:.2f}")
    go.Figure(go.Image(z=np.concatenate([truth.images[0], np.repeat(255 * masks[0][..., None], 3, 2).astype(np.uint8)], 1))).show()
""")
md("## Checks")
code(r"""
if MODEL is not None:
    assert np.nanmean(exact_fit.reprojection_error) < 1.0, "exact landmarks should reproject within a pixel"
    assert rotation_error_deg(truth, exact_fit).mean() < 5.0
    smooth, rough = (np.abs(np.diff(fits[k].expression, axis=0)).mean() for k in ("with priors", "no priors"))
    assert smooth < rough, "the smoothness prior should calm the coefficient tracks"
    if HAVE_MEDIAPIPE:
        assert track.detection_rate >= 0.9 and iou > 0.5
        assert similarity_aligned_mesh_error_mm(truth, mediapipe_fit) < 5.0, "MediaPipe fit: face shape far off"
        assert rotation_error_deg(truth, mediapipe_fit).mean() < 5.0, "MediaPipe fit: head pose far off"
print("all checks passed")
""")

target = notebook.write("01_tracking", metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
print("wrote", target)
