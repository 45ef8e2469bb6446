"""nbskit.model."""
