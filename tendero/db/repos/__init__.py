"""Async repositories: keyword-only, tenant-scoped; they never commit (callers do)."""
