"""Pydantic value objects shared by the API, workflows and activities (no I/O)."""
