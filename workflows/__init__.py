"""Deterministic Temporal workflows, one module each (no I/O here)."""
