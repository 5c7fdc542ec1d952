"""Every acquisition figure of docs/metrics.md ("Acquisition"), once, over summed inputs.

Inputs are additive and joined only here, at read time: spend per UTC day and channel (this
family's partitions of ``marketing-spend``, in the reporting currency) and new customers and
their new MRR per UTC day and acquisition channel (the revenue family's day buckets,
``acq_customers:<channel>`` and ``acq_mrr:<channel>``). LTV is the revenue family's
definition (``consumers.revenue.definitions.ltv``), not a second one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from consumers.revenue.definitions import ltv, money

__all__ = [
    "ALL",
    "UNKNOWN",
    "WINDOWS",
    "MONTHLY_COLUMNS",
    "ACQ_CUSTOMERS",
    "ACQ_MRR",
    "Inputs",
    "ChannelFigures",
    "acquired_of",
    "channel_figures",
    "cac",
    "payback_months",
    "roi",
    "ltv_to_cac",
    "days_of_month",
    "days_ending",
    "monthly_row",
    "DAILY_COLUMNS",
    "daily_point",
    "FUNNEL_STEPS",
    "funnel",
    "lead_velocity",
]

ZERO = Decimal(0)
ALL = "all"
#: the channel of new customers without an acquisition_channel (it has no spend)
UNKNOWN = "unknown"
#: rolling windows, days ending with the watermark's UTC day
WINDOWS = {"30d": 30, "90d": 90}
MONTHLY_COLUMNS = ("month", "channel", "spend", "new_customers", "cac", "ltv_to_cac", "payback_months")
#: a daily point of the rolling 30-day figures (the history drift baselines read)
DAILY_COLUMNS = ("date", "channel", "spend_30d", "new_customers_30d", "cac_30d", "roi_30d")
#: revenue day-bucket fields of new customers by acquisition channel (consumers/revenue/buckets.py)
ACQ_CUSTOMERS = "acq_customers:"
ACQ_MRR = "acq_mrr:"


@dataclass(frozen=True)
class Inputs:
    """A window's inputs, summed over its days and over partitions."""

    #: channel -> spend in the reporting currency (acquisition channels only)
    spend: Mapping[str, Decimal]
    #: channel -> (new customers, their new MRR)
    acquired: Mapping[str, tuple[int, Decimal]]
    #: spend of the channels marked as retention spend (not in CAC)
    retention_spend: Decimal = ZERO


@dataclass(frozen=True)
class ChannelFigures:
    channel: str
    spend: Decimal
    new_customers: int
    new_mrr: Decimal
    cac: Decimal | None
    payback_months: Decimal | None
    roi: Decimal | None
    ltv: Decimal | None
    ltv_to_cac: Decimal | None


def cac(spend: Decimal, new_customers: int) -> Decimal | None:
    """Spend / new customers; None (undefined) without new customers — never 0, never ∞."""
    return None if new_customers == 0 else spend / new_customers


def payback_months(cac_value: Decimal | None, arpa_new: Decimal | None, gross_margin: Decimal) -> Decimal | None:
    """CAC / (ARPA of the window's new customers × gross margin); None when either is
    undefined or the new customers pay nothing."""
    if cac_value is None or not arpa_new:
        return None
    return cac_value / (arpa_new * gross_margin)


def roi(new_mrr: Decimal, spend: Decimal, gross_margin: Decimal) -> Decimal | None:
    """(New MRR of the channel's new customers × 12 × gross margin − spend) / spend; None
    without spend."""
    return None if spend == 0 else (new_mrr * 12 * gross_margin - spend) / spend


def ltv_to_cac(ltv_value: Decimal | None, cac_value: Decimal | None) -> Decimal | None:
    """LTV / CAC; None when either is undefined or CAC is 0 (customers with no spend)."""
    return None if ltv_value is None or not cac_value else ltv_value / cac_value


def acquired_of(fields: Mapping[str, Decimal]) -> dict[str, tuple[int, Decimal]]:
    """channel -> (new customers, new MRR) of one (summed) revenue bucket."""
    out: dict[str, tuple[int, Decimal]] = {}
    for name, value in fields.items():
        if name.startswith(ACQ_CUSTOMERS):
            channel = name[len(ACQ_CUSTOMERS) :]
            n, mrr = out.get(channel, (0, ZERO))
            out[channel] = (n + int(value), mrr)
        elif name.startswith(ACQ_MRR):
            channel = name[len(ACQ_MRR) :]
            n, mrr = out.get(channel, (0, ZERO))
            out[channel] = (n, mrr + value)
    return out


def channel_figures(
    inputs: Inputs, churn_rate: Decimal | None, blended_ltv: Decimal | None, gross_margin: Decimal
) -> list[ChannelFigures]:
    """One row per channel with spend or new customers (sorted), then ``all``. A channel's LTV
    is the revenue definition with the ARPA of the channel's new customers of the window and
    the deployment's customer churn rate of the month; ``all`` has the revenue family's LTV."""
    channels = sorted(c for c in set(inputs.spend) | set(inputs.acquired) if c != ALL)
    rows = []
    for channel in [*channels, ALL]:
        if channel == ALL:
            spend = sum(inputs.spend.values(), ZERO)
            n = sum(c for c, _ in inputs.acquired.values())
            mrr = sum((m for _, m in inputs.acquired.values()), ZERO)
        else:
            spend = inputs.spend.get(channel, ZERO)
            n, mrr = inputs.acquired.get(channel, (0, ZERO))
        arpa_new = mrr / n if n else None
        c = cac(spend, n)
        value = blended_ltv if channel == ALL else ltv(arpa_new, churn_rate, gross_margin)
        rows.append(
            ChannelFigures(
                channel=channel,
                spend=spend,
                new_customers=n,
                new_mrr=mrr,
                cac=c,
                payback_months=payback_months(c, arpa_new, gross_margin),
                roi=roi(mrr, spend, gross_margin),
                ltv=value,
                ltv_to_cac=ltv_to_cac(value, c),
            )
        )
    return rows


def days_of_month(month: str) -> list[date]:
    first = date.fromisoformat(f"{month}-01")
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((nxt - first).days)]


def days_ending(day: date, length: int) -> list[date]:
    return [day - timedelta(days=i) for i in range(length)]


def _number(value: Decimal | None, places: int = 4) -> float | None:
    return None if value is None else round(float(value), places)


def monthly_row(month: str, f: ChannelFigures) -> dict[str, Any]:
    """A row of ``pulse report monthly-acquisition`` (and of the API)."""
    return {
        "month": month,
        "channel": f.channel,
        "spend": money(f.spend),
        "new_customers": f.new_customers,
        "cac": None if f.cac is None else money(f.cac),
        "ltv_to_cac": _number(f.ltv_to_cac),
        "payback_months": _number(f.payback_months),
    }


def sum_days(days: Iterable[Mapping[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for fields in days:
        for name, value in fields.items():
            out[name] = out.get(name, ZERO) + value
    return out


#: funnel steps: (numerator, denominator) counters of a window (leads' stages; the revenue
#: family's trial outcomes). Ratios of counts in the same window, not of a cohort.
FUNNEL_STEPS = {
    "visitor_to_signup": ("signups", "visitors"),
    "signup_to_trial": ("trials_started", "signups"),
    "lead_to_mql": ("mql", "created"),
    "mql_to_sql": ("sql", "mql"),
    "trial_to_paid": ("trials_converted", "trials_ended"),
}


def funnel(
    leads: Mapping[str, float],
    revenue: Mapping[str, Decimal],
    signups: float | None = None,
    visitors: float | None = None,
) -> dict[str, Any]:
    """A window's funnel: counts (visitors, a HyperLogLog estimate, and signups, from the
    engagement family, None where it does not hold the whole window; trials started, ended
    and converted; leads created, MQL, SQL, PQL) and each step's ratio (None without its
    numerator's or denominator's data)."""
    counts: dict[str, float | None] = {stage: leads.get(stage, 0) for stage in ("created", "mql", "sql", "pql")}
    counts["visitors"] = visitors
    counts["signups"] = signups
    counts["trials_started"] = float(revenue.get("trials_started", ZERO))
    counts["trials_converted"] = float(revenue.get("trials_converted", ZERO))
    counts["trials_ended"] = float(
        sum((revenue.get(f"trials_{o}", ZERO) for o in ("converted", "expired", "free")), ZERO)
    )
    ratios = {}
    for step, (num, den) in FUNNEL_STEPS.items():
        top, bottom = counts[num], counts[den]
        ratios[step] = top / bottom if top is not None and bottom else None
    return {"counts": {k: None if v is None else round(v) for k, v in counts.items()}, "ratios": ratios}


def lead_velocity(this: float, before: float) -> float | None:
    """(Qualified leads of a period − of the period before) / of the period before (1,100 vs
    1,000: 0.1); None when the period before had none."""
    return None if not before else (this - before) / before


def daily_point(day: date, f: ChannelFigures) -> dict[str, Any]:
    """A row of ``pulse report daily-acquisition`` (and of the history API): the 30 days
    ending with ``day``."""
    return {
        "date": day.isoformat(),
        "channel": f.channel,
        "spend_30d": money(f.spend),
        "new_customers_30d": f.new_customers,
        "cac_30d": None if f.cac is None else money(f.cac),
        "roi_30d": _number(f.roi),
    }
