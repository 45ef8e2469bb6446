"""nbskit: NeRFBlendShape as a notebook-first teaching toolkit with a compiled core.

A monocular video of one person becomes a semantic head model: a mean hash table plus K
expression-basis hash tables, blended by expression coefficients, decoded by a small MLP and
volume-rendered. See ``docs/architecture.md`` for the map of the package.
"""

__version__ = "0.1.0"
