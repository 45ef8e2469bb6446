"""nbskit.data."""
