"""quality package."""
