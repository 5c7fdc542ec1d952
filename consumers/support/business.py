"""Business seconds between two instants under a working schedule: time zone, working days
and hours, and the public holidays of a country (the ``holidays`` package) plus extra dates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

__all__ = ["Schedule", "DAYS", "parse_hours"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: a closing time of 00:00 is the end of the day ("24:00")
MIDNIGHT = time(0)


def parse_hours(text: str) -> tuple[time, time]:
    """``HH:MM-HH:MM`` (closing ``24:00`` allowed) as (opens, closes); ValueError if it is not
    that or the opening is not first."""
    opens_text, _, closes_text = text.partition("-")
    opens = time.fromisoformat(opens_text)
    closes = MIDNIGHT if closes_text.strip() == "24:00" else time.fromisoformat(closes_text)
    if closes != MIDNIGHT and opens >= closes:
        raise ValueError(f"opening {opens_text} is not before closing {closes_text}")
    return opens, closes


@dataclass(frozen=True)
class Schedule:
    timezone: str
    #: weekday numbers, Monday = 0
    working_days: frozenset[int] = frozenset(range(5))
    opens: time = time(9)
    #: 00:00 closes at the end of the day (24:00)
    closes: time = time(17)
    holiday_country: str | None = None
    extra_holidays: frozenset[date] = field(default_factory=frozenset)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _country(self) -> holidays.HolidayBase | None:
        return None if self.holiday_country is None else holidays.country_holidays(self.holiday_country)

    def is_working(self, day: date) -> bool:
        if day.weekday() not in self.working_days or day in self.extra_holidays:
            return False
        return self._country is None or day not in self._country

    def seconds(self, start: float, end: float) -> float:
        """Working seconds in [start, end] (epoch seconds); 0 when end <= start."""
        if end <= start:
            return 0.0
        first = datetime.fromtimestamp(start, self.zone)
        last = datetime.fromtimestamp(end, self.zone)
        total = 0.0
        day = first.date()
        while day <= last.date():
            if self.is_working(day):
                # each day's window in local time (a DST change shortens or lengthens it)
                opens = datetime.combine(day, self.opens, self.zone).timestamp()
                closing_day = day + timedelta(days=1) if self.closes == MIDNIGHT else day
                closes = datetime.combine(closing_day, self.closes, self.zone).timestamp()
                total += max(0.0, min(closes, end) - max(opens, start))
            day += timedelta(days=1)
        return total
