"""Orders endpoints."""
