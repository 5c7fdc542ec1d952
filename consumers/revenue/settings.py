"""The revenue family's settings section (``PULSE_<FIELD>`` variables)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator

from stream.settings import CommaList, FamilySettings

__all__ = ["RevenueSettings"]


class RevenueSettings(FamilySettings):
    reporting_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    fx_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {"USD": Decimal(1)},
        description="Units of reporting currency per unit of each currency (JSON object)",
    )
    movement_grouping_seconds: int = Field(0, ge=0, le=86400)
    gross_margin: Decimal = Field(Decimal(1), gt=0, le=1)
    segment_attributes: CommaList = Field(
        ("country", "acquisition_channel", "segment"),
        description="Customer attributes that label MRR by segment (comma-separated)",
    )
    segment_top_n: int = Field(10, ge=1, le=100, description="Label values kept per attribute")

    @field_validator("fx_rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, rate in value.items():
            if len(code) != 3 or not code.isupper():
                raise ValueError(f"currency code {code!r} is not ISO 4217")
            if not rate.is_finite() or rate <= 0:
                raise ValueError(f"rate for {code} must be a finite number > 0")
        return value
