"""nbskit.train."""
