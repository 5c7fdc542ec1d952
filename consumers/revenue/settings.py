"""The revenue family's settings section (``PULSE_<FIELD>`` variables)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator, model_validator

from stream.settings import CommaList, FamilySettings, SettingsError

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

    @model_validator(mode="after")
    def _reporting_currency_has_a_rate(self) -> RevenueSettings:
        # The default rates ({"USD": 1}) with PULSE_REPORTING_CURRENCY=EUR would count dollars
        # one for one as euros and refuse every euro event.
        if self.fx_rates.get(self.reporting_currency) != 1:
            raise ValueError(
                f"reporting_currency: PULSE_FX_RATES must give the reporting currency "
                f"{self.reporting_currency} the rate 1 (rates are units of it per unit of each currency); "
                f"it has {self.fx_rates.get(self.reporting_currency, 'none')}"
            )
        return self

    def check_currencies(self, accepted: frozenset[str]) -> None:
        """Every currency PULSE_CURRENCIES accepts must have a rate (else each of its events is
        refused as ``currency`` at run time)."""
        missing = sorted(accepted - set(self.fx_rates))
        if missing:
            raise SettingsError(
                f"invalid configuration: PULSE_FX_RATES: no rate for {', '.join(missing)}, "
                "which PULSE_CURRENCIES accepts"
            )
