"""JSON API /api/v1 for API users (per-user keys)."""
