"""Simulated time: integer UTC epoch seconds, the window they must fall in, and the daily rhythm.

Integers keep the arithmetic exact and cheap; they become RFC 3339 text only once, at the end.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from stream.simulate.common import Weighted, between

MINUTE = 60
HOUR = 3600
DAY = 86400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Window:
    lo: int  # inclusive, epoch seconds
    hi: int  # exclusive

    @classmethod
    def before(cls, end: datetime, days: int) -> Window:
        """The ``days`` before an aware ``end``, in whole seconds."""
        hi = -((_EPOCH - end) // _SECOND)  # ceil: integer seconds t < end  <=>  t < hi
        return cls(hi - days * DAY, hi)

    def days(self) -> range:
        """Start of every UTC day that overlaps the window."""
        return range(self.lo - self.lo % DAY, self.hi, DAY)


def weekday(ts: int) -> int:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (ts // DAY + 3) % 7


def add_months(ts: int, months: int) -> int:
    """Calendar-month arithmetic with the day clamped (Jan 31 + 1 month = Feb 28), as billing does."""
    dt = _EPOCH + timedelta(seconds=ts)
    total = dt.year * 12 + dt.month - 1 + months
    year, month = divmod(total, 12)
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return (dt.replace(year=year, month=month + 1, day=day) - _EPOCH) // _SECOND


class Clock:
    """Formats epoch seconds as RFC 3339 UTC; caches the date part, which repeats a lot."""

    def __init__(self) -> None:
        self._dates: dict[int, str] = {}

    def format(self, ts: int) -> str:
        day, sod = divmod(ts, DAY)
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        return f"{text}T{sod // HOUR:02d}:{sod // MINUTE % 60:02d}:{sod % 60:02d}Z"


# Local-hour weights: office hours dominate on weekdays; weekends are flatter and quieter.
_WEEKDAY_HOURS = (1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 18, 17, 13, 16, 18, 17, 14, 10, 7, 5, 4, 3, 2, 1)
_WEEKEND_HOURS = (2, 1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 7, 6, 6, 6, 5, 4, 3, 3, 2)
_WEEKDAY_HOUR = Weighted(tuple(enumerate(_WEEKDAY_HOURS)))
_WEEKEND_HOUR = Weighted(tuple(enumerate(_WEEKEND_HOURS)))


def local_time(rng: random.Random, day_start: int, utc_offset: int) -> int:
    """An instant on a local calendar day, drawn from the daily rhythm of that weekday."""
    hour: int = (_WEEKEND_HOUR if weekday(day_start) >= 5 else _WEEKDAY_HOUR).pick(rng)
    return day_start + hour * HOUR + between(rng, 0, HOUR - 1) - utc_offset * HOUR
