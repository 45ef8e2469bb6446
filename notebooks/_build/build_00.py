"""Writes notebooks/00_tour.ipynb."""

from notebook_tools import write_notebook

CELLS = [
    ("md", """
    # 00 · Tour: a synthetic talking head with exact ground truth

    nbskit learns a personal head model from a short monocular video. Before we touch real video we
    make our own: a **synthetic subject**, rendered from a mesh blendshape model, where every number
    the method will later have to estimate is known exactly: camera, expression coefficients,
    landmarks, masks, depth.

    This notebook makes a subject and looks at everything it holds:

    1. the video frames and their masks (the hair is a semi-transparent shell, so the mask is *not*
       a mesh silhouette);
    2. the 68 landmarks, projected from the mesh with the stored camera;
    3. the expression coefficient tracks (blinks, smiles, jaw openings, brow raises);
    4. the cameras: the head stays fixed in world space and its motion is folded into the camera;
    5. the painted albedo atlas and the depth maps;
    6. the same subject written in the authors' data format and imported back.

    Full mode (`SMOKE = False`) makes the `small` subject (128², 300 frames, the ICT Face Model
    Light shipped in `data/`); `SMOKE = True` (what the tests use) the `tiny` one (64², 60 frames, our
    procedural head).

    **Time** on 2 CPU cores: smoke mode took 37 s on a machine shared with many other jobs (load
    average about 13; not timed idle); full mode took 25 s on two idle cores
    (`python -m bench.notebook_times 00`). GPU: not measured.
    """),
    ("parameters", """
    SMOKE = False  # True: the tiny subject (what the tests use)
    """),
    ("code", """
    import tempfile
    from pathlib import Path

    import numpy as np
    import plotly.express as px
    import plotly.graph_objects as go

    from nbskit.data import Subject
    from nbskit.data.synthetic import SyntheticScene, synthesize_subject
    from nbskit.geometry.camera import frustum_corners, project_points

    PRESET = "tiny" if SMOKE else "small"
    WORKDIR = Path(tempfile.mkdtemp(prefix="nbskit_tour_"))
    """),
    ("md", """
    ## 1 · Make a subject

    `synthesize_subject` renders the video with OpenGL (moderngl on EGL: it runs headless, on a CPU
    too) and writes a **subject folder**: `transforms.json`, `images/`, `masks/`, `depth/`,
    `landmarks.npy` and `background.png`. The same seed always gives the same bytes.
    """),
    ("code", """
    root = synthesize_subject(WORKDIR / f"synthetic_{PRESET}", PRESET, seed=0)
    subject = Subject.load(root)
    print(subject.describe())
    """),
    ("md", """
    ## 2 · Frames and masks

    Six frames spread over the clip; the last ones belong to the **test split** (never trained on).
    Below them, the masks: coverage above one half, hair included.
    """),
    ("code", """
    shown = np.linspace(0, len(subject) - 1, 6).astype(int)
    images = np.stack([subject.load_image(i) for i in shown])
    masks = np.stack([np.repeat(subject.load_mask(i)[..., None], 3, axis=-1) for i in shown])
    grid = np.round(np.concatenate([images, masks], axis=1) * 255).astype(np.uint8)
    fig = px.imshow(grid, facet_col=0, binary_string=True)
    for annotation, i in zip(fig.layout.annotations, shown):
        annotation.text = f"frame {i} ({subject.frames[i].split})"
    fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
    fig.update_layout(height=320, margin=dict(l=0, r=0, t=30, b=0))
    """),
    ("md", """
    ## 3 · Landmarks

    The 68 Multi-PIE landmarks are vertices of the mesh, projected with the frame's own camera
    (occluded ones are projected too). Green boxes: the face box and the mouth box that the patch
    sampler will use later.
    """),
    ("code", """
    frame_index = int(shown[2])
    frame = subject.frames[frame_index]
    points = subject.landmarks()[frame_index]
    fig = go.Figure(go.Image(z=np.round(subject.load_image(frame_index) * 255)))
    fig.add_scatter(x=points[:, 0] - 0.5, y=points[:, 1] - 0.5, mode="markers", marker=dict(size=5, color="lime"))
    for x0, y0, x1, y1 in (frame.face_box, frame.mouth_box):
        fig.add_shape(type="rect", x0=x0 - 0.5, y0=y0 - 0.5, x1=x1 - 0.5, y1=y1 - 0.5, line=dict(color="lime"))
    fig.update_layout(width=420, height=420, showlegend=False, margin=dict(l=0, r=0, t=0, b=0))
    """),
    ("md", """
    ## 4 · Expression coefficients

    Every coefficient has some smooth background motion; on top come events: short blinks, longer
    smiles, quick jaw openings (talking) and brow raises. Values stay in [0, 1]. The grey band is the
    test split.
    """),
    ("code", """
    coefficients = subject.expressions()
    names = subject.expression_names
    busiest = np.argsort(-coefficients.max(axis=0))[:8]
    fig = go.Figure([go.Scatter(y=coefficients[:, k], name=names[k], mode="lines") for k in busiest])
    fig.add_vrect(x0=subject.indices("test")[0], x1=len(subject) - 1, fillcolor="grey", opacity=0.2, line_width=0)
    fig.update_layout(xaxis_title="frame", yaxis_title="coefficient", height=350)
    """),
    ("md", """
    ## 5 · Cameras around a fixed head

    The head never moves: it *is* the world (metres, facing +z, y up). Its yaw, pitch and roll in the
    video become camera motion. Here is the neutral head with every few frames' camera frustum.
    """),
    ("code", """
    scene = SyntheticScene.from_subject(root)
    head = scene.head
    vertices = scene.vertices(np.zeros(head.num_expressions))
    skin = np.isin(head.triangle_materials, [i for i, kind in enumerate(head.material_names) if kind == "skin"])
    faces = head.triangles[skin]
    fig = go.Figure(go.Mesh3d(x=vertices[:, 0], y=vertices[:, 1], z=vertices[:, 2],
                              i=faces[:, 0], j=faces[:, 1], k=faces[:, 2], color="peachpuff", opacity=1.0))
    K, w, h = subject.intrinsics.matrix(), subject.intrinsics.width, subject.intrinsics.height
    for index in range(0, len(subject), max(1, len(subject) // 12)):
        c = frustum_corners(K, w, h, subject.frames[index].transform_matrix.astype(float), depth=0.25)
        path = c[[0, 1, 2, 0, 2, 3, 0, 3, 4, 0, 4, 1]]
        fig.add_scatter3d(x=path[:, 0], y=path[:, 1], z=path[:, 2], mode="lines", showlegend=False,
                          line=dict(color="red" if subject.frames[index].split == "test" else "royalblue"))
    fig.update_layout(scene=dict(aspectmode="data", camera=dict(up=dict(x=0, y=1, z=0))), height=500)
    """),
    ("md", """
    ## 6 · What the renderer painted

    Albedo lives in a texture atlas, one square per material (skin, mouth, teeth, eyes…), painted
    procedurally from where each texel sits on the head: skin noise, lips and brows placed from the
    landmarks, irises and pupils. Right: a depth map (z-depth of the mesh, metres; the hair has none).
    """),
    ("code", """
    depth = subject.load_depth(frame_index)
    fig = px.imshow(scene.atlas[::-1], title="albedo atlas (v up)")
    fig.update_layout(height=380, margin=dict(l=0, r=0, t=30, b=0)).show()
    px.imshow(np.where(depth > 0, depth, np.nan), color_continuous_scale="viridis", title="depth (m)").update_layout(height=380)
    """),
    ("md", """
    ## 7 · The authors' data format

    The subjects released with the paper use another layout. To see how it maps onto a subject
    folder without downloading anything, we write a slice of our synthetic subject **in the authors'
    layout** and import it back with `nbskit.data.official.import_official` (the library behind
    `nbskit import official SRC OUT`):

        SRC/transforms.json    fx, fy, cx, cy, w, h  +  frames: [{img_id, transform_matrix, exp_ori, exp}]
        SRC/head_imgs/<img_id>.jpg   the frame (head over the static background)
        SRC/parsing/<img_id>.png     face parsing: the head is exactly RGB (0, 0, 255)
        SRC/bc.jpg                   the static background

    The frames are listed out of order in the JSON on purpose: the importer orders them by `img_id`.
    """),
    ("code", """
    import json

    from PIL import Image

    from nbskit.data.official import HEAD_PARSING_RGB, import_official

    OFFICIAL = WORKDIR / "authors_layout"
    (OFFICIAL / "head_imgs").mkdir(parents=True)
    (OFFICIAL / "parsing").mkdir()
    exported = np.linspace(0, len(subject) - 1, 20 if SMOKE else 60).astype(int)  # a small slice of the clip
    img_ids = 100 + 7 * np.arange(len(exported))  # any distinct integers that grow with time
    k = subject.intrinsics
    records = []
    for img_id, index in zip(img_ids, exported):
        pixels = np.round(subject.load_image(index) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(OFFICIAL / "head_imgs" / f"{img_id}.jpg", quality=95)
        parsing = np.zeros((k.height, k.width, 3), np.uint8)  # only the head's class matters to the importer
        parsing[subject.load_mask(index) > 0.5] = HEAD_PARSING_RGB
        Image.fromarray(parsing).save(OFFICIAL / "parsing" / f"{img_id}.png")
        records.append({"img_id": int(img_id), "transform_matrix": subject.frames[index].transform_matrix.tolist(),
                        "exp_ori": subject.frames[index].expression.tolist(),
                        "exp": np.zeros(subject.num_expressions).tolist()})  # a second field the importer ignores
    Image.fromarray(np.round(subject.background() * 255).astype(np.uint8)).save(OFFICIAL / "bc.jpg", quality=95)
    shuffled = [records[i] for i in np.random.default_rng(0).permutation(len(records))]
    (OFFICIAL / "transforms.json").write_text(json.dumps(
        {"fx": k.fl_x, "fy": k.fl_y, "cx": k.cx, "cy": k.cy, "w": k.width, "h": k.height, "frames": shuffled}))

    HELD_OUT = 4
    report = import_official(OFFICIAL, WORKDIR / "imported", test_frames=HELD_OUT, aabb=subject.aabb, progress=False)
    imported = report.subject
    print(f"{report.num_train} train + {report.num_test} test frames; notes: {report.notes or 'none'}")
    print(imported.describe())
    """),
    ("md", """
    Field by field, the authors' layout (left) and the subject folder it becomes (right):

    | authors' layout | subject folder | how |
    |---|---|---|
    | `fx, fy, cx, cy, w, h` | `fl_x, fl_y, cx, cy, w, h` | renamed |
    | `img_id` | frame order, file names | frames sorted by it |
    | `transform_matrix` | `transform_matrix` | the same camera-to-world, OpenGL axes |
    | `exp_ori` | `expression`, names `fw_00`… | the file carries no names, so they are numbered |
    | `exp` | — | ignored |
    | `head_imgs/<id>.jpg` | `file_path` | pointed at, not copied |
    | `parsing/<id>.png` | `masks/<id>.png` | head = pixels exactly (0, 0, 255) |
    | `bc.jpg` | `background_path` | pointed at |
    | last frames by `img_id` | `split: test` | `--test-frames`, 500 in the paper |
    | (none: the authors' code fixes a cube) | `aabb` | `--aabb`; here the synthetic subject's box |
    """),
    ("code", """
    position = 3  # one imported frame next to the synthetic frame it came from
    source = int(exported[position])
    side_by_side = [subject.load_image(source), imported.load_image(position),
             np.repeat(subject.load_mask(source)[..., None], 3, axis=-1),
             np.repeat(imported.load_mask(position)[..., None], 3, axis=-1)]
    fig = px.imshow(np.stack(side_by_side), facet_col=0, binary_string=True)
    for annotation, label in zip(fig.layout.annotations, ["synthetic frame", "imported (JPEG)", "synthetic mask",
                                                          "imported mask (from parsing)"]):
        annotation.text = label
    fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=30, b=0))
    """),
    ("code", """
    def psnr(a, b):
        return float(-10 * np.log10(np.mean((a - b) ** 2)))


    same_frame = [psnr(imported.load_image(p), subject.load_image(int(i))) for p, i in enumerate(exported)]
    next_frame = [psnr(imported.load_image(p), subject.load_image(int(i))) for p, i in enumerate(exported[1:])]
    print(f"imported vs its own synthetic frame: {np.mean(same_frame):.1f} dB (JPEG); "
          f"vs the next exported frame: {np.mean(next_frame):.1f} dB")
    """),
    ("md", """
    ## Checks

    The ground truth must agree with the pixels: landmarks re-projected from the mesh with the stored
    camera land where they were stored (≤ 0.5 px) and on the head's mask; re-rendering a frame gives exactly
    its mask; the test split is the end of the clip.
    """),
    ("code", """
    K = subject.intrinsics.matrix()
    for i in shown:
        frame = subject.frames[i]
        c2w = frame.transform_matrix.astype(float)
        reprojected, _ = project_points(scene.vertices(frame.expression)[head.landmark_indices], K, c2w)
        assert np.abs(reprojected - subject.landmarks()[i]).max() <= 0.5
        columns, rows = np.floor(subject.landmarks()[i]).astype(int).T
        assert subject.load_mask(i)[rows, columns].mean() >= 0.9, "landmarks must lie on the head"
        rerendered = scene.render(frame.expression, c2w)
        assert np.array_equal(rerendered.alpha > 0.5, subject.load_mask(i) > 0.5)
    coverage = np.mean([subject.load_mask(i).mean() for i in shown])
    assert 0.1 < coverage < 0.8, coverage
    test = subject.indices("test")
    assert test[-1] == len(subject) - 1 and np.all(np.diff(test) == 1)
    assert coefficients.min() >= 0 and coefficients.max() <= 1
    scene.release()

    # The authors' layout round trip: every field back where it came from, in time order.
    assert (report.num_train, report.num_test) == (len(exported) - HELD_OUT, HELD_OUT)
    assert [f.split for f in imported.frames] == ["train"] * (len(exported) - HELD_OUT) + ["test"] * HELD_OUT
    assert imported.expression_names == [f"fw_{i:02d}" for i in range(subject.num_expressions)]
    assert (imported.intrinsics.fl_x, imported.intrinsics.cy) == (subject.intrinsics.fl_x, subject.intrinsics.cy)
    for position, index in enumerate(exported):
        np.testing.assert_allclose(imported.frames[position].transform_matrix, subject.frames[index].transform_matrix,
                                   atol=1e-6)
        np.testing.assert_allclose(imported.frames[position].expression, subject.frames[index].expression, atol=1e-6)
        assert np.array_equal(imported.load_mask(position), subject.load_mask(index) > 0.5)
    # JPEG is lossy, but a frame must match its own source far better than its neighbour in the clip.
    assert min(same_frame) > max(next_frame) + 3, (min(same_frame), max(next_frame))
    print("all checks passed")
    """),
]

if __name__ == "__main__":
    print(write_notebook("00_tour", CELLS))
