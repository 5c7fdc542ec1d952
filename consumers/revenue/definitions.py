"""Every revenue formula of docs/metrics.md ("Revenue"), once, over summed buckets: the
monthly table, window figures and ratios. The collector, the HTTP API and
``pulse report monthly-mrr`` call these functions and compute nothing themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "MONTHLY_COLUMNS",
    "monthly_rows",
    "month_row",
    "month_ratios",
    "window_sums",
    "ltv",
    "lifetime_months",
    "previous_month",
    "money",
    "months_between",
    "mrr_at_end",
    "now_figures",
    "pending_scheduled",
]

from consumers.revenue.buckets import NOW as NOW_KEY
from consumers.revenue.buckets import BucketKind, kind_of, month_key, period_of

ZERO = Decimal(0)
CENT = Decimal("0.01")

#: (column of the monthly report, key of :func:`month_ratios`): the month's ratios as numbers
RATIO_COLUMNS = (
    ("customer_churn_rate", "customer_churn_ratio"),
    ("customer_retention_rate", "customer_retention_ratio"),
    ("nrr", "nrr_ratio"),
    ("grr", "grr_ratio"),
    ("gross_revenue_churn_rate", "gross_revenue_churn_ratio"),
    ("net_revenue_churn_rate", "net_revenue_churn_ratio"),
    ("mrr_churn_rate", "mrr_churn_ratio"),
    ("quick_ratio", "quick_ratio"),
    ("ltv", "ltv"),
)

MONTHLY_COLUMNS = (
    "month",
    "mrr",
    "active_customers",
    "new_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "reactivation_mrr",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
    *(column for column, _ in RATIO_COLUMNS),
)

Buckets = Mapping[str, Mapping[str, Decimal]]


#: ISO 4217 minor units that are not 2 (the rest have cents).
MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
                     "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}  # fmt: skip


def money(value: Decimal, currency: str | None = None) -> str:
    """Fixed point with the currency's minor units (2 when not given), half up: never an
    exponent (``0E-10``, ``2E+1``) or 28 digits."""
    places = MINOR_UNITS.get(currency or "", 2)
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"


def _get(buckets: Buckets, bucket: str, name: str) -> Decimal:
    return buckets.get(bucket, {}).get(name, ZERO)


def months_between(first: str, last: str) -> list[str]:
    """Inclusive list of YYYY-MM from first to last."""
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _cumulative(buckets: Buckets, kind: BucketKind, upto: str, name: str) -> Decimal:
    return sum(
        (f.get(name, ZERO) for b, f in buckets.items() if kind_of(b) is kind and period_of(b) <= upto),
        ZERO,
    )


def mrr_at_end(buckets: Buckets, month: str) -> tuple[Decimal, int]:
    """MRR and active customers at the end of a month: the sum of all changes up to it."""
    return (
        _cumulative(buckets, BucketKind.MONTH, month, "net_mrr"),
        int(_cumulative(buckets, BucketKind.MONTH, month, "active_delta")),
    )


def previous_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y - 1:04d}-12" if m == 1 else f"{y:04d}-{m - 1:02d}"


def month_row(buckets: Buckets, month: str, gross_margin: Decimal = Decimal(1)) -> dict[str, Any]:
    """The month's row of ``pulse report monthly-mrr`` (and of the API): money as fixed-point
    strings, counts as integers, the month's ratios (:func:`month_ratios`) as numbers or None."""
    b = month_key(month)
    mrr, active = mrr_at_end(buckets, month)
    ratios = month_ratios(buckets, month, gross_margin)
    return {
        "month": month,
        "mrr": money(mrr),
        "active_customers": active,
        "new_mrr": money(_get(buckets, b, "new_mrr")),
        "expansion_mrr": money(_get(buckets, b, "expansion_mrr")),
        "contraction_mrr": money(_get(buckets, b, "contraction_mrr")),
        "churned_mrr": money(_get(buckets, b, "churn_mrr")),
        "reactivation_mrr": money(_get(buckets, b, "reactivation_mrr")),
        "new_customers": int(_get(buckets, b, "new_customers")),
        "churned_customers": int(_get(buckets, b, "churn_customers")),
        "reactivated_customers": int(_get(buckets, b, "reactivation_customers")),
        **{column: _number(ratios[name]) for column, name in RATIO_COLUMNS},
    }


def _number(value: Decimal | None) -> float | None:
    """A ratio as a plain number, 12 significant digits (so a report reads the same anywhere)."""
    return None if value is None else float(f"{value:.12g}")


def monthly_rows(buckets: Buckets, first: str, last: str, gross_margin: Decimal = Decimal(1)) -> list[dict[str, Any]]:
    return [month_row(buckets, m, gross_margin) for m in months_between(first, last)]


def _ratio(num: Decimal, den: Decimal) -> Decimal | None:
    return None if den == 0 else num / den


def month_ratios(buckets: Buckets, month: str, gross_margin: Decimal = Decimal(1)) -> dict[str, Any]:
    """Churn, retention, NRR/GRR, revenue churn, quick ratio, trials, renewals of a month.

    The cohort ratios come from the state of the month's *start cohort* (the customers paying
    when it began): what they pay at its end, whatever happened between, so each pair adds up
    to 1 by construction. A ratio whose denominator is zero is None (not 0, not infinity).
    """
    b = month_key(month)
    start_mrr, start_customers = mrr_at_end(buckets, previous_month(month))
    end_mrr, end_customers = mrr_at_end(buckets, month)

    def g(name: str) -> Decimal:
        return _get(buckets, b, name)

    start_c = Decimal(start_customers)
    retention = _ratio(start_c - g("cohort_lost_customers"), start_c)
    churn_rate = None if retention is None else 1 - retention
    nrr = _ratio(start_mrr + g("cohort_net_mrr"), start_mrr)
    grr = _ratio(start_mrr - g("cohort_decline_mrr"), start_mrr)
    lost = g("churn_mrr") + g("contraction_mrr")
    gained = g("new_mrr") + g("expansion_mrr") + g("reactivation_mrr")
    trials_ended = g("trials_converted") + g("trials_expired") + g("trials_free")
    terms = g("terms_renewed") + g("terms_cancelled")
    terms_mrr = g("terms_renewed_mrr") + g("terms_cancelled_mrr")
    arpa = _ratio(end_mrr, Decimal(end_customers))
    return {
        "month": month,
        "mrr_start": start_mrr,
        "customers_start": start_customers,
        "mrr_end": end_mrr,
        "customers_end": end_customers,
        "arr": end_mrr * 12,
        "arpa": arpa,
        "customer_churn_ratio": churn_rate,
        "customer_retention_ratio": retention,
        "gross_revenue_churn_ratio": None if grr is None else 1 - grr,
        "net_revenue_churn_ratio": None if nrr is None else 1 - nrr,
        "nrr_ratio": nrr,
        "grr_ratio": grr,
        "mrr_churn_ratio": _ratio(lost, start_mrr),
        "quick_ratio": _ratio(gained, lost),
        "trials_started": int(g("trials_started")),
        "trial_conversion_ratio": _ratio(g("trials_converted"), trials_ended),
        "renewal_ratio_count": _ratio(g("terms_renewed"), terms),
        "renewal_ratio_amount": _ratio(g("terms_renewed_mrr"), terms_mrr),
        "ltv": ltv(arpa, churn_rate, gross_margin),
        "lifetime_months": lifetime_months(churn_rate),
    }


def ltv(arpa: Decimal | None, churn_rate: Decimal | None, gross_margin: Decimal) -> Decimal | None:
    """ARPA × gross margin / churn rate; None when churn is zero or unknown (no infinity)."""
    if arpa is None or not churn_rate:
        return None
    return arpa * gross_margin / churn_rate


def lifetime_months(churn_rate: Decimal | None) -> Decimal | None:
    """1 / churn rate, in months; None when churn is zero or unknown."""
    return None if not churn_rate else 1 / churn_rate


def pending_scheduled(buckets: Buckets, today: date | None, within_month: str | None = None) -> dict[str, Decimal]:
    """The movements of scheduled changes that take effect after ``today`` (the watermark's
    UTC day), summed; only those in ``within_month`` (YYYY-MM) when given."""
    out: dict[str, Decimal] = {}
    if today is None:
        return out
    after = today.isoformat()
    for bucket, fields in buckets.items():
        if kind_of(bucket) is not BucketKind.SCHEDULED or period_of(bucket) <= after:
            continue
        if within_month is not None and not period_of(bucket).startswith(within_month):
            continue
        for name, value in fields.items():
            out[name] = out.get(name, ZERO) + value
    return out


def now_figures(buckets: Buckets, today: date | None) -> dict[str, Decimal]:
    """MRR and active customers now (the watermark's day), and what is committed: every
    customer's end state counts the changes scheduled after today, which "now" leaves out."""
    committed = buckets.get(NOW_KEY, {})
    pending = pending_scheduled(buckets, today)
    mrr = committed.get("mrr", ZERO) - pending.get("net_mrr", ZERO)
    return {
        "mrr": mrr,
        "customers": committed.get("customers", ZERO) - pending.get("active_delta", ZERO),
        "committed_mrr": committed.get("mrr", ZERO),
        "scheduled_churn_mrr": pending.get("churn_mrr", ZERO),
        "scheduled_churn_customers": pending.get("churn_customers", ZERO),
    }


def window_sums(buckets: Buckets, end: date, days: int) -> dict[str, Decimal]:
    """Sum of the daily buckets of the `days` UTC days ending with `end` (inclusive)."""
    first = (end - timedelta(days=days - 1)).isoformat()
    last = end.isoformat()
    out: dict[str, Decimal] = {}
    for bucket, fields in buckets.items():
        if kind_of(bucket) is BucketKind.DAY and first <= period_of(bucket) <= last:
            for name, value in fields.items():
                out[name] = out.get(name, ZERO) + value
    return out
