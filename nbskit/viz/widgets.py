"""Interactive widgets for a trained run: drive the expression with sliders, browse the bases.

- :class:`ExpressionExplorer` — one slider per named coefficient, grouped by face region, camera
  yaw/pitch, reset / randomise / copy a frame's expression; re-renders on every change.
- :class:`ComparisonExplorer` — the same controls driving several runs of one subject (e.g. two
  model kinds), their renders side by side under their labels.
- :class:`BasisGallery` — click a basis to see it at its training maximum beside the neutral face,
  and where the image changed.
- :class:`MeshView` — a plotly mesh (marching cubes of the density) that can follow an explorer.

All of them are ipywidgets containers: put one as the last line of a cell to show it. They keep their
last image as a numpy array (``.image_array``) so tests and notebooks can check what is shown.
"""

from __future__ import annotations

import contextlib
import html
import time
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np

from .plots import difference_image, image_strip, png_bytes
from .render_view import DEFAULT_SIZE, RunView

# Face regions by ARKit-style name prefix (case-insensitive), in display order; the rest is 'other'.
REGION_PREFIXES = {
    "brows": ("brow",),
    "eyes": ("eye",),
    "mouth": ("mouth", "lip"),
    "jaw": ("jaw",),
    "cheeks": ("cheek",),
}
OTHER_REGION = "other"
DISPLAY_SCALE = 4  # on-screen enlargement of the small renders (nearest neighbour, crisp pixels)
CAMERA_RANGE_DEGREES = 30.0  # yaw/pitch slider range: beyond this the training views rarely reach
SLIDER_STEPS = 100  # resolution of a coefficient slider over its training range
DIFFERENCE_GAIN = 4.0  # amplification of the basis-minus-neutral image
MESH_MIN_INTERVAL_S = 2.0  # a mesh following the sliders refreshes at most this often
MESH_RESOLUTION = 48  # marching-cubes lattice of the live mesh: coarse, so an update takes about a second


def group_expression_names(names: Sequence[str]) -> dict[str, list[int]]:
    """Indices of ``names`` by face region ('brows', 'eyes', 'mouth', 'jaw', 'cheeks', 'other').

    Regions without any name are left out; order follows :data:`REGION_PREFIXES`, then 'other'.
    """
    groups: dict[str, list[int]] = {region: [] for region in [*REGION_PREFIXES, OTHER_REGION]}
    for index, name in enumerate(names):
        lowered = name.lower()
        region = next(
            (r for r, prefixes in REGION_PREFIXES.items() if lowered.startswith(prefixes)), OTHER_REGION
        )
        groups[region].append(index)
    return {region: indices for region, indices in groups.items() if indices}


def _image_widget() -> widgets.Image:
    return widgets.Image(format="png", layout=widgets.Layout(border="1px solid #ccc"))


class ExpressionExplorer(widgets.VBox):
    """Sliders for every expression coefficient and the camera; the render updates on each change.

    Args:
        run: a TrainedRun (``nbskit.train.run.load_run``), a run folder, or a RunView of either.
        size: render size in pixels (longest side). 64 stays interactive on a CPU; use the
            training size on a GPU. Ignored when ``run`` is a RunView.
        frame: subject frame whose camera is the base view (default: first training frame).
            Ignored when ``run`` is a RunView.
        continuous_update: render while a slider is dragged (True) or when it is released (False).
        seed: seed of the 'randomise' button.

    Attributes:
        sliders: {name: FloatSlider} one per coefficient, range = the training range (what the
            field clamps to).
        yaw, pitch: camera sliders in degrees.
        image: the ipywidgets.Image showing the render; ``image_array`` the same as float [H, W, 3].
        expression: [K] the coefficients the sliders show.
        render_count, last_render_seconds: how many renders so far and how long the last took.
    """

    def __init__(
        self,
        run,
        size: int = DEFAULT_SIZE,
        frame: int | None = None,
        continuous_update: bool = False,
        seed: int = 0,
    ):
        self.view = run if isinstance(run, RunView) else RunView(run, size, frame)
        self._rng = np.random.default_rng(seed)
        self._batch_depth = 0  # > 0 while several sliders are set at once: render once at the end
        self.render_count = 0
        self.last_render_seconds = float("nan")
        self.image_array: np.ndarray | None = None
        self._listeners: list = []

        low, high = self.view.expression_min, self.view.expression_max
        names = self.view.expression_names
        self.sliders = {
            name: widgets.FloatSlider(
                value=float(self.view.neutral[i]),
                min=float(low[i]),
                max=float(high[i]),
                step=float(max(high[i] - low[i], 1e-6) / SLIDER_STEPS),
                description=name,
                continuous_update=continuous_update,
                readout_format=".2f",
                style={"description_width": "110px"},
            )
            for i, name in enumerate(names)
        }
        self.yaw = _camera_slider("yaw °", continuous_update)
        self.pitch = _camera_slider("pitch °", continuous_update)
        for slider in [*self.sliders.values(), self.yaw, self.pitch]:
            slider.observe(self._on_change, names="value")

        self.reset_button = widgets.Button(description="reset", tooltip="neutral expression, front camera")
        self.randomise_button = widgets.Button(
            description="randomise", tooltip="random coefficients in range"
        )
        frames = [int(i) for i in self.view.run.subject.indices("train")] + [
            int(i) for i in self.view.run.subject.indices("test")
        ]
        self.frame_picker = widgets.Dropdown(
            options=frames, value=frames[0], description="frame", layout=widgets.Layout(width="180px")
        )
        self.copy_button = widgets.Button(description="copy frame's expression")
        self.reset_button.on_click(lambda _: self.reset())
        self.randomise_button.on_click(lambda _: self.randomise())
        self.copy_button.on_click(lambda _: self.copy_frame(self.frame_picker.value))

        self.status = widgets.Label()
        groups = group_expression_names(names)
        accordion = widgets.Accordion(
            children=[widgets.VBox([self.sliders[names[i]] for i in indices]) for indices in groups.values()]
        )
        for position, region in enumerate(groups):
            accordion.set_title(position, f"{region} ({len(groups[region])})")
        accordion.selected_index = 0
        controls = widgets.VBox(
            [
                accordion,
                self.yaw,
                self.pitch,
                widgets.HBox([self.reset_button, self.randomise_button]),
                widgets.HBox([self.frame_picker, self.copy_button]),
            ]
        )
        super().__init__([widgets.HBox([widgets.VBox([self._image_panel(), self.status]), controls])])
        self.add_class("nbskit-expression-explorer")
        self.render()

    # ------------------------------------------------------------------ state
    @property
    def expression(self) -> np.ndarray:
        """[K] float32 coefficients currently on the sliders."""
        return np.array([slider.value for slider in self.sliders.values()], dtype=np.float32)

    def set_expression(self, expression: Sequence[float]) -> None:
        """Move every slider to ``expression`` [K] (clipped to its range) and render once."""
        expression = np.asarray(expression, dtype=np.float64).reshape(-1)
        if expression.shape[0] != len(self.sliders):
            raise ValueError(f"expression has {expression.shape[0]} values; this run has {len(self.sliders)}")
        with self._one_render():
            for slider, value in zip(self.sliders.values(), expression):
                slider.value = float(np.clip(value, slider.min, slider.max))

    def reset(self) -> None:
        """Neutral expression and the base camera."""
        with self._one_render():
            self.set_expression(self.view.neutral)
            self.yaw.value = self.pitch.value = 0.0

    def randomise(self) -> None:
        """Every coefficient uniform in its training range."""
        self.set_expression(self._rng.uniform(self.view.expression_min, self.view.expression_max))

    def copy_frame(self, frame: int) -> None:
        """Set the sliders to the tracked expression of subject frame ``frame``."""
        self.set_expression(self.view.run.subject.expressions([int(frame)])[0])

    def on_render(self, callback) -> None:
        """Call ``callback(explorer)`` after every render (e.g. to update a :class:`MeshView`)."""
        self._listeners.append(callback)

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray:
        """Render the current sliders into the image widget; returns the image [H, W, 3]."""
        start = time.perf_counter()
        self.image_array = self._draw(self.expression, self.yaw.value, self.pitch.value)
        self.last_render_seconds = time.perf_counter() - start
        self.render_count += 1
        self.status.value = (
            f"render {self.render_count}: {1000 * self.last_render_seconds:.0f} ms, {self._samples_text()}"
        )
        for callback in self._listeners:
            callback(self)
        return self.image_array

    def _image_panel(self) -> widgets.Widget:
        """The widget(s) showing the render, left of the controls (made once, in ``__init__``)."""
        self.image = _image_widget()
        return self.image

    def _draw(self, expression: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
        """Render expression [K] at the camera angles into the image widget; returns [H, W, 3]."""
        image = self.view.render(expression, yaw, pitch)
        self.image.value = png_bytes(image, DISPLAY_SCALE)
        return image

    def _samples_text(self) -> str:
        return f"{self.view.samples_per_ray:.1f} samples/ray"

    def _on_change(self, _change) -> None:
        if self._batch_depth == 0:
            self.render()

    @contextlib.contextmanager
    def _one_render(self):
        """Within this block slider changes do not render; one render happens at its end."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
        if self._batch_depth == 0:
            self.render()


class ComparisonExplorer(ExpressionExplorer):
    """One set of expression and camera sliders driving several runs of one subject, side by side.

    Every change renders each run at the same coefficients and camera, e.g. a blended and a
    concatenate model trained on the same frames. The sliders span the first run's training
    range; every field clamps the coefficients to its own range anyway.

    Args:
        runs: {label: TrainedRun or run folder}, at least two, all with the same expression names;
            shown left to right in this order, each under its label.
        size, frame, continuous_update, seed: as for :class:`ExpressionExplorer`.

    Attributes:
        views: {label: RunView}; ``view`` is the first (its subject gives the frames and ranges).
        images: {label: ipywidgets.Image}; ``image_arrays``: {label: float [H, W, 3]} the last renders.
        image_array: the last renders side by side, [H, N·W, 3] for N runs.
        (and every attribute of :class:`ExpressionExplorer`)
    """

    def __init__(
        self,
        runs: Mapping[str, object],
        size: int = DEFAULT_SIZE,
        frame: int | None = None,
        continuous_update: bool = False,
        seed: int = 0,
    ):
        if len(runs) < 2:
            raise ValueError(f"a comparison needs at least two runs; got {len(runs)}: {list(runs)}")
        self.views = {label: RunView(run, size, frame) for label, run in runs.items()}
        first_label, first = next(iter(self.views.items()))
        for label, view in self.views.items():
            if view.expression_names != first.expression_names:
                raise ValueError(
                    f"run {label!r} has expressions {view.expression_names}; "
                    f"run {first_label!r} has {first.expression_names}: the sliders cannot drive both"
                )
            size_of = (view.intrinsics.height, view.intrinsics.width)
            if size_of != (first.intrinsics.height, first.intrinsics.width):
                raise ValueError(
                    f"run {label!r} renders {size_of[0]}x{size_of[1]} pixels, run {first_label!r} "
                    f"{first.intrinsics.height}x{first.intrinsics.width}: compare runs of one subject"
                )
        self.image_arrays: dict[str, np.ndarray] = {}
        super().__init__(first, size, frame, continuous_update, seed)
        self.add_class("nbskit-comparison-explorer")

    def _image_panel(self) -> widgets.Widget:
        self.images = {label: _image_widget() for label in self.views}
        return widgets.HBox(
            [
                widgets.VBox(
                    [widgets.HTML(f"<b>{html.escape(label)}</b>"), image],
                    layout=widgets.Layout(align_items="center"),
                )
                for label, image in self.images.items()
            ]
        )

    def _draw(self, expression: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
        for label, view in self.views.items():
            self.image_arrays[label] = view.render(expression, yaw, pitch)
            self.images[label].value = png_bytes(self.image_arrays[label], DISPLAY_SCALE)
        return np.concatenate(list(self.image_arrays.values()), axis=1)

    def _samples_text(self) -> str:
        return (
            ", ".join(f"{label} {view.samples_per_ray:.1f}" for label, view in self.views.items())
            + " samples/ray"
        )


class BasisGallery(widgets.VBox):
    """One button per basis; clicking shows neutral | basis at its training maximum | what changed.

    Basis i is shown with every other coefficient neutral and wᵢ at the largest value it took in
    the training frames (what the expression-aware occupancy grid also probes, paper Eq. 9).

    Args:
        run: a TrainedRun or a run folder.
        size: render size in pixels.
        frame: subject frame whose camera is used (default: first training frame).

    Attributes:
        buttons: {name: Button}; ``selected``: name shown now (None before the first click).
        image: the strip widget; ``image_array`` the strip as float [H, 3W(+gaps), 3].
    """

    def __init__(self, run, size: int = DEFAULT_SIZE, frame: int | None = None):
        self.view = RunView(run, size, frame)
        self.neutral_image = self.view.render(self.view.neutral)
        self.selected: str | None = None
        self.image_array: np.ndarray | None = None
        self.image = _image_widget()
        self.caption = widgets.Label("click a basis")
        names = self.view.expression_names
        self.buttons = {
            name: widgets.Button(description=name, layout=widgets.Layout(width="130px")) for name in names
        }
        for name, button in self.buttons.items():
            button.on_click(lambda _, name=name: self.select(name))
        rows = [
            widgets.HBox(
                [
                    widgets.Label(region, layout=widgets.Layout(width="60px")),
                    *[self.buttons[names[i]] for i in indices],
                ],
                layout=widgets.Layout(flex_flow="row wrap"),
            )
            for region, indices in group_expression_names(names).items()
        ]
        super().__init__([*rows, self.caption, self.image])
        self.add_class("nbskit-basis-gallery")
        self._show(self.neutral_image, self.neutral_image, "neutral")

    def basis_expression(self, name: str) -> np.ndarray:
        """[K] neutral except coefficient ``name`` at its training maximum."""
        index = self.view.expression_names.index(name)
        expression = self.view.neutral.copy()
        expression[index] = self.view.expression_max[index]
        return expression

    def select(self, name: str) -> np.ndarray:
        """Show basis ``name``; returns the strip image."""
        if name not in self.buttons:
            raise KeyError(f"no basis named {name!r}; this run has {list(self.buttons)}")
        for other, button in self.buttons.items():
            button.button_style = "info" if other == name else ""
        self.selected = name
        index = self.view.expression_names.index(name)
        basis_image = self.view.render(self.basis_expression(name))
        return self._show(
            basis_image,
            self.neutral_image,
            f"{name} at its training maximum {self.view.expression_max[index]:.2f}",
        )

    def _show(self, basis_image: np.ndarray, neutral_image: np.ndarray, caption: str) -> np.ndarray:
        strip = image_strip(
            [neutral_image, basis_image, difference_image(basis_image, neutral_image, DIFFERENCE_GAIN)],
            labels=["neutral", "basis", f"change x{DIFFERENCE_GAIN:g}"],
            scale=DISPLAY_SCALE // 2,
        )
        self.image_array = np.asarray(strip, dtype=np.float32) / 255.0
        self.image.value = png_bytes(self.image_array)
        self.caption.value = caption
        return self.image_array


class MeshView(widgets.VBox):
    """A plotly mesh of the run's density (marching cubes) at an expression; can follow an explorer.

    Marching cubes costs far more than a render, so the mesh is recomputed at a coarse
    ``resolution`` and, when following sliders, at most every :data:`MESH_MIN_INTERVAL_S` seconds;
    a change that arrives sooner marks the mesh stale and the 'update mesh' button catches up.

    Args:
        run: a TrainedRun or a run folder.
        expression: [K] initial expression (default: neutral, clamped to the training range).
        resolution: marching-cubes lattice points per side.
        optical_depth: iso-level as density x box length (see :mod:`nbskit.geometry.mesh`); lower it
            for a briefly trained run whose density is still faint.
        explorer: an :class:`ExpressionExplorer` to follow (its sliders drive the mesh).

    Attributes:
        figure: the plotly FigureWidget (one Mesh3d trace); ``mesh``: the trimesh shown (None if
        the density has no surface at this expression); ``expression``: [K] it was made at.
    """

    def __init__(
        self,
        run,
        expression=None,
        resolution: int = MESH_RESOLUTION,
        optical_depth: float | None = None,
        explorer: ExpressionExplorer | None = None,
    ):
        import plotly.graph_objects as go

        from nbskit.geometry.mesh import DEFAULT_OPTICAL_DEPTH_PER_BOX

        self.view = RunView(run)
        self.resolution = resolution
        box_length = float((self.view.run.subject.aabb[1] - self.view.run.subject.aabb[0]).max())
        self.level = (DEFAULT_OPTICAL_DEPTH_PER_BOX if optical_depth is None else optical_depth) / box_length
        self.figure = go.FigureWidget(go.Mesh3d(x=[], y=[], z=[], i=[], j=[], k=[], color="lightgrey"))
        self.figure.update_layout(
            scene={"aspectmode": "data"}, margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=360
        )
        self.status = widgets.Label()
        self.update_button = widgets.Button(description="update mesh")
        self.follow_checkbox = widgets.Checkbox(
            value=explorer is not None, description="follow sliders", disabled=explorer is None
        )
        self._explorer = explorer
        self._last_update = -np.inf
        self.mesh = None
        self.update_button.on_click(
            lambda _: self.update(self._explorer.expression if self._explorer else self.expression)
        )
        if explorer is not None:
            explorer.on_render(self._follow)
        super().__init__([widgets.HBox([self.update_button, self.follow_checkbox, self.status]), self.figure])
        self.update(self.view.neutral if expression is None else expression)

    def update(self, expression) -> None:
        """Recompute the mesh at ``expression`` [K] and redraw it."""
        from nbskit.apps.head_mesh import head_mesh

        self.expression = np.asarray(expression, dtype=np.float32)
        start = time.perf_counter()
        try:
            self.mesh = head_mesh(
                self.view.run, self.expression, resolution=self.resolution, level=self.level, progress=False
            )
        except ValueError as error:  # the density never crosses the iso-level: nothing to draw
            self.mesh = None
            self.status.value = f"no mesh: {error}"
            return
        finally:
            self._last_update = time.perf_counter()
        vertices, faces = np.asarray(self.mesh.vertices), np.asarray(self.mesh.faces)
        colours = np.asarray(self.mesh.visual.vertex_colors)[:, :3]
        with self.figure.batch_update():
            trace = self.figure.data[0]
            trace.x, trace.y, trace.z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
            trace.i, trace.j, trace.k = faces[:, 0], faces[:, 1], faces[:, 2]
            trace.vertexcolor = [f"rgb({r},{g},{b})" for r, g, b in colours]
        self.status.value = (
            f"{len(vertices):,} vertices, {len(faces):,} faces ({1000 * (self._last_update - start):.0f} ms)"
        )

    def _follow(self, explorer: ExpressionExplorer) -> None:
        if not self.follow_checkbox.value:
            return
        if time.perf_counter() - self._last_update < MESH_MIN_INTERVAL_S:
            self.status.value = "mesh is behind the sliders: press 'update mesh'"
            return
        self.update(explorer.expression)


def _camera_slider(description: str, continuous_update: bool):
    """A slider for one camera angle in degrees, centred on the frontal view."""
    return widgets.FloatSlider(
        value=0.0,
        min=-CAMERA_RANGE_DEGREES,
        max=CAMERA_RANGE_DEGREES,
        step=1.0,
        description=description,
        continuous_update=continuous_update,
    )
