"""nbskit.tracking: per-frame fitting of a face model (:mod:`nbskit.face`) to a monocular video."""
