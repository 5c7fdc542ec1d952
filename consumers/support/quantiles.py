"""A mergeable quantile sketch with a relative-error guarantee that also takes deletions.

Values go into logarithmic buckets (DDSketch's mapping: bucket ``i`` holds values in
(γ^(i-1), γ^i], γ = (1 + α) / (1 - α)); a quantile is read as ``2γ^i / (γ + 1)`` of the bucket
that holds its rank, which is within ``α`` (1%) of the true value for every value above one
second. Counts per bucket are plain integers, so sketches of partitions and days add up, and a
ticket whose first reply moves (an earlier reply arrived late, within the grace period) takes
its old value out exactly — which a KLL sketch cannot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["ALPHA", "BucketIndex", "bucket_of", "quantile", "bucket_key"]

ALPHA = 0.01
_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
#: bucket of values of at most one second (0 included): read as 0
ZERO_BUCKET = -1


def bucket_of(seconds: float) -> int:
    if seconds <= 1:
        return ZERO_BUCKET
    return math.ceil(math.log(seconds) / _LOG_GAMMA)


def bucket_key(prefix: str, seconds: float) -> str:
    """``<prefix>#<bucket>``: a field of a day's counters."""
    return f"{prefix}#{bucket_of(seconds)}"


def quantile(fields: Mapping[str, float], prefix: str, q: float) -> float | None:
    """The q-quantile (0..1) of the values counted under ``prefix`` in ``fields``, or None."""
    buckets = sorted(
        (int(name.partition("#")[2]), n) for name, n in fields.items() if name.startswith(f"{prefix}#") and n > 0
    )
    return _quantile_of(buckets, q)


class BucketIndex:
    """Every prefix's buckets in one counters mapping, grouped in a single pass: a collector
    reading dozens of quantiles of one window scans its counters once, not once per quantile."""

    def __init__(self, fields: Mapping[str, float]) -> None:
        groups: dict[str, list[tuple[int, float]]] = {}
        names = _NAMES
        for name, n in fields.items():
            if n <= 0:
                continue
            parsed = names.get(name, _UNSEEN)
            if parsed is _UNSEEN:
                parsed = _bucket_field(name)
                if len(names) < _MAX_NAMES:
                    names[name] = parsed
            if parsed is not None:
                prefix, index = parsed
                group = groups.get(prefix)
                if group is None:
                    group = groups[prefix] = []
                group.append((index, n))
        for buckets in groups.values():
            buckets.sort()
        self.groups = groups

    def quantile(self, prefix: str, q: float) -> float | None:
        """Same as :func:`quantile` of the mapping this index was built from."""
        return _quantile_of(self.groups.get(prefix, []), q)


_UNSEEN: Any = object()
#: field name -> (prefix, bucket), or None for a field that is no bucket: the same few thousand
#: names come back in every window of every scrape, so each is parsed once
_NAMES: dict[str, tuple[str, int] | None] = {}
#: names remembered at most (a cap against odd field names; later ones are parsed each time)
_MAX_NAMES = 100_000


def _bucket_field(name: str) -> tuple[str, int] | None:
    prefix, sep, index = name.partition("#")
    return (prefix, int(index)) if sep and index.lstrip("-").isdigit() else None


def _quantile_of(buckets: list[tuple[int, float]], q: float) -> float | None:
    """The q-quantile of sorted (bucket, count) pairs."""
    total = sum(n for _, n in buckets)
    if not total:
        return None
    rank = q * (total - 1)  # the value at this 0-based rank, as numpy's default interpolation picks
    seen = 0.0
    for index, n in buckets:
        seen += n
        if seen > rank:
            return 0.0 if index == ZERO_BUCKET else 2 * _GAMMA**index / (_GAMMA + 1)
    index = buckets[-1][0]
    return 0.0 if index == ZERO_BUCKET else 2 * _GAMMA**index / (_GAMMA + 1)
