"""nbskit.render."""
