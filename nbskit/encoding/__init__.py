"""nbskit.encoding."""
