"""nbskit.geometry."""
