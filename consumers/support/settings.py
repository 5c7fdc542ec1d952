"""The support family's settings section (``PULSE_<FIELD>`` variables)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator

from consumers.support.business import DAYS, Schedule, parse_hours
from consumers.support.definitions import CHANNELS, PRIORITIES
from stream.settings import CommaList, FamilySettings

__all__ = ["SupportSettings", "ScheduleOverride"]


def _zone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Warsaw)") from None
    return value


def _days(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    bad = [d for d in value or () if d.lower() not in DAYS]
    if bad:
        raise ValueError(f"expected days among {','.join(DAYS)}, got {','.join(bad)}")
    return value


def _hours(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_hours(value)
    except ValueError:
        raise ValueError(f"expected HH:MM-HH:MM (24:00 allowed) with the opening first, got {value!r}") from None
    return value


def _country(value: str | None) -> str | None:
    if value and value not in holidays.list_supported_countries():
        raise ValueError(f"no public holidays known for {value!r} (an ISO 3166 code such as PL)")
    return value


def _dates(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    for text in value or ():
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expected YYYY-MM-DD dates, got {text!r}") from None
    return value


def _split(value: object) -> object:
    return tuple(p.strip() for p in value.split(",") if p.strip()) if isinstance(value, str) else value


class ScheduleOverride(BaseModel):
    """The schedule of one priority or channel: what it leaves out is the main schedule's."""

    model_config = ConfigDict(extra="forbid")

    timezone: str | None = None
    days: tuple[str, ...] | None = None
    hours: str | None = None
    holidays_country: str | None = None
    extra_holidays: tuple[str, ...] | None = None

    _split_lists = field_validator("days", "extra_holidays", mode="before")(_split)
    _zone = field_validator("timezone")(_zone)
    _country = field_validator("holidays_country")(_country)
    _hours = field_validator("hours")(_hours)
    _days = field_validator("days")(_days)
    _dates = field_validator("extra_holidays")(_dates)


class SupportSettings(FamilySettings):
    business_timezone: str | None = Field(
        None, description="IANA time zone of the support schedule; business-hours FRT only when set"
    )
    business_days: CommaList = Field(("mon", "tue", "wed", "thu", "fri"), description="Working days")
    business_hours: str = Field("09:00-17:00", description="Working hours, local time, HH:MM-HH:MM (24:00 allowed)")
    business_holidays_country: str | None = Field(None, description="Country whose public holidays are off (ISO code)")
    business_extra_holidays: CommaList = Field((), description="More days off, YYYY-MM-DD")
    business_overrides: dict[str, ScheduleOverride] = Field(
        default_factory=dict,
        description='Schedules of some priorities or channels, JSON: {"priority:urgent": {"days": '
        '"mon,tue,wed,thu,fri,sat,sun", "hours": "00:00-24:00"}, "channel:phone": {...}}; a priority\'s '
        "wins over a channel's; what one leaves out is the main schedule's",
    )

    _zone = field_validator("business_timezone")(_zone)
    _days = field_validator("business_days")(_days)
    _hours = field_validator("business_hours")(_hours)
    _country = field_validator("business_holidays_country")(_country)
    _dates = field_validator("business_extra_holidays")(_dates)

    @field_validator("business_overrides")
    @classmethod
    def _override_keys(cls, value: dict[str, ScheduleOverride]) -> dict[str, ScheduleOverride]:
        known = {f"priority:{p}" for p in PRIORITIES} | {f"channel:{c}" for c in CHANNELS}
        bad = sorted(set(value) - known)
        if bad:
            raise ValueError(f"unknown keys {','.join(bad)}: expected priority:<{'|'.join(PRIORITIES)}> or "
                             f"channel:<{'|'.join(CHANNELS)}>")  # fmt: skip
        return value

    def _build(self, o: ScheduleOverride | None = None) -> Schedule | None:
        o = o or ScheduleOverride()
        zone = o.timezone or self.business_timezone
        if zone is None:
            return None
        opens, closes = parse_hours(o.hours or self.business_hours)
        days = o.days if o.days is not None else self.business_days
        extra = o.extra_holidays if o.extra_holidays is not None else self.business_extra_holidays
        return Schedule(
            timezone=zone,
            working_days=frozenset(DAYS.index(d.lower()) for d in days),
            opens=opens,
            closes=closes,
            # "" in an override: no public holidays off (a 24/7 queue)
            holiday_country=(o.holidays_country if o.holidays_country is not None else self.business_holidays_country)
            or None,
            extra_holidays=frozenset(date.fromisoformat(d) for d in extra),
        )

    def schedule(self) -> Schedule | None:
        return self._build()

    def schedule_overrides(self) -> tuple[tuple[str, Schedule], ...]:
        """(``priority:<p>`` or ``channel:<c>``, its schedule), for those with a time zone."""
        built = ((key, self._build(o)) for key, o in sorted(self.business_overrides.items()))
        return tuple((key, s) for key, s in built if s is not None)
