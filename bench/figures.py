"""Percentiles and millisecond formatting shared by the benchmark scripts."""

from __future__ import annotations

import statistics


def percentile(values: list[float], pct: int) -> float | None:
    """The ``pct``-th percentile (inclusive method), ``None`` for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def ms(values: list[float], pct: int) -> str:
    """The percentile of seconds ``values`` in milliseconds, ``-`` when there are none."""
    value = percentile(values, pct)
    return "-" if value is None else f"{value * 1000:.1f}"
