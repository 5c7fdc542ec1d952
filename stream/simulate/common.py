"""Seeded random streams and the fast draws the simulator's hot loops make from them, plus money.

Every draw goes through a ``random.Random`` passed in, never the global one, so that the same
seed gives the same history in any process.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from typing import Any


def seeded(seed: int, domain: str, index: int) -> random.Random:
    """An independent stream per (domain, entity): a string seed goes through SHA-512, so the
    draws never depend on ``PYTHONHASHSEED``, and adding entities leaves the others unchanged."""
    return random.Random(f"pulse-sim/{seed}/{domain}/{index}")


class Weighted:
    """A fixed weighted choice over ``((value, weight), ...)``: what ``random.choices`` does,
    without rebuilding the cumulative weights on each of the hundreds of thousands of calls."""

    __slots__ = ("values", "cum", "total")

    def __init__(self, table: Sequence[tuple[Any, float]]) -> None:
        self.values = tuple(value for value, _ in table)
        self.cum: list[float] = []
        total = 0.0
        for _, weight in table:
            total += weight
            self.cum.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect(self.cum, rng.random() * self.total, 0, len(self.cum) - 1)]


def between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint(low, high)`` for the hot loops, at a third of its cost (fine for small ranges)."""
    return low + int(rng.random() * (high - low + 1))


def one_of(rng: random.Random, options: Sequence[Any]) -> Any:
    """``rng.choice(options)`` for the hot loops."""
    return options[int(rng.random() * len(options))]


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam > 60:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def money(cents: int) -> str:
    """Cents as the contracts' decimal string ("49.90"), computed exactly, never through a float."""
    return f"{cents // 100}.{cents % 100:02d}"
