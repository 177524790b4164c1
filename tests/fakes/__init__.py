"""In-process fakes of external services, driven over real network protocols."""
