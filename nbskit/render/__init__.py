"""nbskit.render: rays, the occupancy grid, marching and compositing.

- :func:`generate_rays`, :func:`ray_aabb_intersect` — camera rays through pixel centres, box test.
- :class:`OccupancyGrid` — which cells hold matter (expression-aware update, paper Eq. 9).
- :func:`march_rays` — packed samples that skip empty cells; :func:`composite` — volume rendering.
- :func:`render_rays`, :func:`render_image` — the whole pipeline for a field.

Kernels (marching, compositing) dispatch through :mod:`.backends`; ``torch`` is the reference.
"""

from .backends import RenderBackendError, available_render_backends, register_render_backend
from .composite import EARLY_STOP_TRANSMITTANCE, composite
from .marching import march_rays
from .occupancy import POLICIES, OccupancyGrid, OccupancySchedule
from .rays import generate_rays, pixel_grid, ray_aabb_intersect
from .render import RenderConfig, render_image, render_rays
from .samples import MarchConfig, PackedSamples

__all__ = [
    "EARLY_STOP_TRANSMITTANCE",
    "POLICIES",
    "MarchConfig",
    "OccupancyGrid",
    "OccupancySchedule",
    "PackedSamples",
    "RenderBackendError",
    "RenderConfig",
    "available_render_backends",
    "composite",
    "generate_rays",
    "march_rays",
    "pixel_grid",
    "ray_aabb_intersect",
    "register_render_backend",
    "render_image",
    "render_rays",
]
