"""The support family's settings section (``PULSE_<FIELD>`` variables)."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import Field, field_validator

from consumers.support.business import DAYS, Schedule
from stream.settings import CommaList, FamilySettings

__all__ = ["SupportSettings"]


class SupportSettings(FamilySettings):
    business_timezone: str | None = Field(
        None, description="IANA time zone of the support schedule; business-hours FRT only when set"
    )
    business_days: CommaList = Field(("mon", "tue", "wed", "thu", "fri"), description="Working days")
    business_hours: str = Field("09:00-17:00", description="Working hours, local time, HH:MM-HH:MM")
    business_holidays_country: str | None = Field(None, description="Country whose public holidays are off (ISO code)")
    business_extra_holidays: CommaList = Field((), description="More days off, YYYY-MM-DD")

    @field_validator("business_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Warsaw)") from None
        return value

    @field_validator("business_days")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in value if d.lower() not in DAYS]
        if bad:
            raise ValueError(f"expected days among {','.join(DAYS)}, got {','.join(bad)}")
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        opens, _, closes = value.partition("-")
        try:
            if time.fromisoformat(opens) >= time.fromisoformat(closes):
                raise ValueError
        except ValueError:
            raise ValueError(f"expected HH:MM-HH:MM with the opening first, got {value!r}") from None
        return value

    @field_validator("business_holidays_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(f"no public holidays known for {value!r} (an ISO 3166 code such as PL)")
        return value

    @field_validator("business_extra_holidays")
    @classmethod
    def _extra(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"expected YYYY-MM-DD dates, got {text!r}") from None
        return value

    def schedule(self) -> Schedule | None:
        if self.business_timezone is None:
            return None
        opens, _, closes = self.business_hours.partition("-")
        return Schedule(
            timezone=self.business_timezone,
            working_days=frozenset(DAYS.index(d.lower()) for d in self.business_days),
            opens=time.fromisoformat(opens),
            closes=time.fromisoformat(closes),
            holiday_country=self.business_holidays_country,
            extra_holidays=frozenset(date.fromisoformat(d) for d in self.business_extra_holidays),
        )
