"""The acquisition family's settings section (``PULSE_<FIELD>`` variables). Currencies, rates
and gross margin are the revenue family's (PULSE_FX_RATES, PULSE_REPORTING_CURRENCY,
PULSE_GROSS_MARGIN): one setting each for the deployment."""

from __future__ import annotations

from pydantic import Field

from stream.settings import CommaList, FamilySettings

__all__ = ["AcquisitionSettings"]


class AcquisitionSettings(FamilySettings):
    retention_spend_channels: CommaList = Field(
        (), description="Spend channels that are retention spend: not in CAC, in the customer retention cost"
    )
    acquisition_channel_top_n: int = Field(
        20, ge=1, le=200, description="Channels exported as gauge labels (by 90-day spend and new customers)"
    )
