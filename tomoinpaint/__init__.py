"""tomoinpaint."""
