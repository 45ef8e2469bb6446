"""nbskit.viz: interactive widgets and small plotting helpers for the course notebooks.

- :class:`ExpressionExplorer` — coefficient sliders grouped by face region, camera yaw/pitch.
- :class:`ComparisonExplorer` — the same sliders driving several runs, their renders side by side.
- :class:`BasisGallery` — click a basis to see it at its training maximum and what it changes.
- :class:`MeshView` — a plotly mesh (marching cubes) that follows an explorer's sliders.
- :func:`image_strip`, :func:`image_grid_figure`, :func:`difference_image` — images side by side.

Widgets need the ``notebooks`` extra (ipywidgets, plotly, anywidget); they are imported lazily so
that ``import nbskit.viz`` works without it.
"""

from .plots import difference_image, image_grid_figure, image_strip, png_bytes, to_uint8
from .render_view import RunView, orbit_camera

_WIDGETS = ("BasisGallery", "ComparisonExplorer", "ExpressionExplorer", "MeshView", "group_expression_names")


def __getattr__(name: str):
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'nbskit.viz' has no attribute {name!r}")


__all__ = [
    "BasisGallery",
    "ComparisonExplorer",
    "ExpressionExplorer",
    "MeshView",
    "RunView",
    "difference_image",
    "group_expression_names",
    "image_grid_figure",
    "image_strip",
    "orbit_camera",
    "png_bytes",
    "to_uint8",
]
