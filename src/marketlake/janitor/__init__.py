"""janitor package."""
