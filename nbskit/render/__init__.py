"""nbskit.render: rays, the occupancy grid, marching and compositing.

- :func:`generate_rays`, :func:`ray_aabb_intersect` — camera rays through pixel centres, box test.
- :class:`OccupancyGrid` — which cells hold matter (expression-aware update, paper Eq. 9).
- :func:`march_rays` — packed samples that skip empty cells; :func:`composite` — volume rendering.
- :func:`render_rays`, :func:`render_image` — the whole pipeline for a field.

Kernels (marching, compositing): the torch references (:mod:`.marching`, :mod:`.composite`, on the
shared types of :mod:`.samples`) import no dispatch; :mod:`.backends` registers them and the compiled
ones; :mod:`.dispatch` holds the public functions that choose among them.
"""

from .backends import RenderBackendError, available_render_backends, register_render_backend
from .composite import EARLY_STOP_TRANSMITTANCE
from .dispatch import composite, march_rays
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
