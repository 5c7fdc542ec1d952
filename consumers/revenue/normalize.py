"""Normalized MRR of one subscription, in the reporting currency."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

__all__ = ["MONTHS_PER_PERIOD", "normalized_mrr", "MissingRate", "convert"]

#: One billing period expressed in months: a day is 12/365 of a month, so a daily price
#: times 365/12 is its monthly price; a year is 12 months, so a yearly price is divided by 12.
MONTHS_PER_PERIOD: dict[str, Decimal] = {
    "day": Decimal(365) / Decimal(12),
    "week": Decimal(52) / Decimal(12),
    "month": Decimal(1),
    "quarter": Decimal(1) / Decimal(3),
    "year": Decimal(1) / Decimal(12),
}


class MissingRate(Exception):
    """The event's currency has no configured rate into the reporting currency."""


def normalized_mrr(
    amount: Decimal,
    interval: str,
    interval_count: int = 1,
    quantity: int = 1,
    discount_percent: Decimal = Decimal(0),
) -> Decimal:
    """amount × quantity × (1 − discount/100) × f / interval_count, in the event's currency."""
    factor = MONTHS_PER_PERIOD[interval]
    return amount * quantity * (Decimal(1) - discount_percent / Decimal(100)) * factor / interval_count


def convert(value: Decimal, currency: str, rates: Mapping[str, Decimal]) -> Decimal:
    """Into the reporting currency; ``rates`` are reporting-currency units per unit."""
    try:
        return value * rates[currency]
    except KeyError:
        raise MissingRate(currency) from None
