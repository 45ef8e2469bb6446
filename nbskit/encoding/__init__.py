"""nbskit.encoding: multi-resolution hash grids, blended per frame, and SH view directions.

- :class:`HashGridConfig` — levels, features, table size, resolutions; ``describe()`` prints them.
- :func:`hash_encode` — points + one table per frame -> features (the reference convention).
- :func:`encode_blended` — the same with K+1 tables mixed by per-frame coefficients.
- :class:`BlendedHashGrid` — the learnable mean + basis tables with coefficient clamping.
- :func:`sh_encode` — degree-4 real spherical harmonics of view directions.

Layout: :mod:`.config` and the torch references (:mod:`.hashgrid`, :mod:`.blended`) import no
dispatch; :mod:`.backends` registers them (and the compiled ``cpu``/``cuda`` of ``nbskit_cuda``);
:mod:`.dispatch` holds the public functions that choose among them; :mod:`.blended_grid` the module.
"""

from .backends import EncoderBackendError, available_encoder_backends, register_encoder_backend
from .blended import blend_tables
from .blended_grid import BlendedHashGrid
from .config import HashGridConfig
from .dispatch import encode_blended, hash_encode
from .hashgrid import corner_loads, grid_index, level_rows_and_weights
from .sh import SH_OUTPUT_DIM, sh_encode

__all__ = [
    "SH_OUTPUT_DIM",
    "BlendedHashGrid",
    "EncoderBackendError",
    "HashGridConfig",
    "available_encoder_backends",
    "blend_tables",
    "corner_loads",
    "encode_blended",
    "grid_index",
    "hash_encode",
    "level_rows_and_weights",
    "register_encoder_backend",
    "sh_encode",
]
