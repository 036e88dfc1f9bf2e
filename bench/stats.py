"""Percentiles and medians over repeated timing rounds."""

from __future__ import annotations

import statistics


def percentile(values: list[float], fraction: float) -> float:
    """Linear-interpolation percentile (``fraction`` in 0..1) of a non-empty list.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    """
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(rounds: list[list[float]]) -> dict[str, float]:
    """p50/p95/p99 of each round, then the median of each over the rounds."""
    summary = {}
    for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        summary[name] = statistics.median(percentile(r, fraction) for r in rounds if r)
    return summary
