"""nbskit.viz."""
