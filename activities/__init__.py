"""Temporal activities: all I/O. Classes receive their clients in ``__init__``."""
