"""nbskit.tracking."""
