"""nbskit.apps."""
