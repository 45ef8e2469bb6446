"""nbskit.apps: what a trained head is for.

- :mod:`.render` — any frame, any coefficients, any camera; novel-view orbits.
- :mod:`.reenact` — drive the head with another subject's coefficients (clamped) and cameras.
- :mod:`.edit` — set or scale named coefficients.
- :mod:`.gallery` — each basis at its training maximum beside the neutral (paper Fig. 9).
- :mod:`.head_mesh` — marching cubes at an expression, coloured from the front.
- :mod:`.video` — mp4 and PNG export.
"""
