"""Deployment-wide acquisition figures: this family's spend partitions and the revenue
family's buckets, both from Redis, joined at read time (exact with any number of workers)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client.registry import Collector

from consumers.acquisition.definitions import (
    ChannelFigures,
    Inputs,
    acquired_of,
    channel_figures,
    days_ending,
    days_of_month,
    monthly_row,
    sum_days,
)
from consumers.acquisition.processor import LEADS_TOPIC, TOPIC
from consumers.revenue.buckets import MergedBuckets
from stream.family import FamilyView, Route
from stream.snapshots import SnapshotStore

__all__ = ["AcquisitionView", "Joined", "merge_spend"]

#: the revenue family's topic, whose partitions' buckets carry the new customers
REVENUE_TOPIC = "subscriptions"

Spend = dict[str, dict[str, Decimal]]  # "YYYY-MM-DD" -> channel -> spend


def merge_spend(parts: Iterable[Mapping[str, Mapping[str, Decimal]]]) -> Spend:
    out: Spend = {}
    for part in parts:
        for day, spend in part.items():
            into = out.setdefault(day, {})
            for channel, amount in spend.items():
                into[channel] = into.get(channel, Decimal(0)) + amount
    return out


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Joined:
    """Summed spend days and revenue buckets, and the figures of any window over them."""

    def __init__(
        self,
        spend: Spend,
        buckets: Mapping[str, Mapping[str, Decimal]],
        retention_channels: frozenset[str],
        gross_margin: Decimal,
        leads: Mapping[str, Mapping[str, int]] | None = None,
        signups: Mapping[str, int] | None = None,
        signups_from: date | None = None,
        visitors: Callable[[list[date]], float] | None = None,
    ) -> None:
        self.spend, self.buckets = spend, buckets
        #: "YYYY-MM-DD" -> stage -> leads (created, mql, sql, pql)
        self.leads: Mapping[str, Mapping[str, int]] = leads if leads is not None else {}
        #: "YYYY-MM-DD" -> signups (the engagement family's cohort counters), held from
        #: ``signups_from`` on (None: every day, as in a replay)
        self.signups: Mapping[str, int] = signups if signups is not None else {}
        self.signups_from = signups_from
        #: distinct visitors of some days (HyperLogLog), where the engagement family runs
        self.visitors = visitors
        self.retention_channels = retention_channels
        self.gross_margin = gross_margin

    def inputs(self, days: Iterable[date], month: str | None = None) -> Inputs:
        """A window's inputs: the given days' spend; new customers from the month's bucket
        when the window is a calendar month, else from the days' buckets."""
        days = list(days)
        spend = sum_days(self.spend.get(d.isoformat(), {}) for d in days)
        retention = sum((v for c, v in spend.items() if c in self.retention_channels), Decimal(0))
        if month is not None:
            fields = self.buckets.get(f"m:{month}", {})
        else:
            fields = sum_days(self.buckets.get(f"d:{d.isoformat()}", {}) for d in days)
        return Inputs(
            {c: v for c, v in spend.items() if c not in self.retention_channels}, acquired_of(fields), retention
        )

    def month(self, month: str) -> list[ChannelFigures]:
        from consumers.revenue.definitions import month_ratios

        ratios = month_ratios(self.buckets, month, self.gross_margin)
        return channel_figures(
            self.inputs(days_of_month(month), month), ratios["customer_churn_ratio"], ratios["ltv"], self.gross_margin
        )

    def lead_counts(self, days: Iterable[date]) -> dict[str, float]:
        return {k: float(v) for k, v in sum_days(self.leads.get(d.isoformat(), {}) for d in days).items()}  # type: ignore[misc]

    def funnel(self, days: list[date], month: str | None = None) -> dict[str, Any]:
        """The window's funnel; trial outcomes from the month's bucket for a calendar month."""
        from consumers.acquisition.definitions import funnel

        revenue = (
            self.buckets.get(f"m:{month}", {})
            if month is not None
            else sum_days(self.buckets.get(f"d:{d.isoformat()}", {}) for d in days)
        )
        held = self.signups_from is None or (bool(days) and min(days) >= self.signups_from)
        signups = float(sum(self.signups.get(d.isoformat(), 0) for d in days)) if held else None
        visitors = self.visitors(days) if held and self.visitors is not None else None
        return funnel(self.lead_counts(days), revenue, signups, visitors)

    def month_rows(self, month: str) -> list[dict[str, Any]]:
        return [monthly_row(month, f) for f in self.month(month)]

    def daily_points(self, first: date, last: date) -> list[dict[str, Any]]:
        """Each day's rolling 30-day figures, blended and by channel, from ``first`` to
        ``last``: the history an alert's drift baseline reads."""
        from consumers.acquisition.definitions import daily_point

        out: list[dict[str, Any]] = []
        day = first
        while day <= last:
            out.extend(daily_point(day, f) for f in self.rolling(day, 30)[1])
            day += timedelta(days=1)
        return out

    def rolling(self, end: date, length: int) -> tuple[Inputs, list[ChannelFigures]]:
        """The ``length`` days ending with ``end``, LTV as the revenue gauge's: ARPA now and
        the customer churn of the month before ``end``'s."""
        from consumers.revenue.buckets import month_of
        from consumers.revenue.definitions import ltv, month_ratios, now_figures, previous_month

        inputs = self.inputs(days_ending(end, length))
        churn = month_ratios(self.buckets, previous_month(month_of(end)), self.gross_margin)["customer_churn_ratio"]
        now = now_figures(self.buckets, end)
        arpa = now["mrr"] / now["customers"] if now["customers"] else None
        return inputs, channel_figures(inputs, churn, ltv(arpa, churn, self.gross_margin), self.gross_margin)


class AcquisitionView(FamilyView):
    def __init__(self, snapshots: SnapshotStore, retention_channels: frozenset[str], gross_margin: Decimal,
                 top_n: int = 20) -> None:  # fmt: skip
        self.snapshots = snapshots
        self.retention_channels, self.gross_margin, self.top_n = retention_channels, gross_margin, top_n
        self.joined = Joined({}, {}, retention_channels, gross_margin)
        self.watermark: float | None = None
        self._engagement: Any = None  # an EngagementView, for the visitors' sketches
        self._revenue = MergedBuckets()  # the revenue family's buckets, merged

    async def refresh(self) -> None:
        signups, signups_from, visitors = await self._engagement_inputs()
        spend_parts = await self.snapshots.partitions(TOPIC)
        lead_parts = await self.snapshots.partitions(LEADS_TOPIC)
        leads: dict[str, dict[str, int]] = {}
        for part in lead_parts.values():
            for day, counters in part.get("days", {}).items():
                into = leads.setdefault(day, {})
                for stage, n in counters.items():
                    into[stage] = into.get(stage, 0) + n
        revenue_parts = await self.snapshots.partitions(REVENUE_TOPIC)
        spend = merge_spend(
            {d: {c: Decimal(v) for c, v in s.items()} for d, s in p.get("days", {}).items()}
            for p in spend_parts.values()
        )
        buckets = self._revenue.update([revenue_parts[p].get("buckets", {}) for p in sorted(revenue_parts)])
        self.joined = Joined(
            spend, buckets, self.retention_channels, self.gross_margin, leads, signups, signups_from, visitors
        )
        # spend's watermark is epoch seconds, the revenue family's an ISO 8601 time
        marks = [float(p["watermark"]) for p in (*spend_parts.values(), *lead_parts.values())
                 if p.get("watermark") is not None]  # fmt: skip
        marks += [_epoch(p["watermark"]) for p in revenue_parts.values() if p.get("watermark")]
        self.watermark = max(marks) if marks else None

    async def _engagement_inputs(self) -> tuple[dict[str, int], date, Callable[[list[date]], float]]:
        """From the engagement family's partitions, read once through its own view (which
        fetches only the sketches that changed): signups per day, the first day every partition
        still holds (date.max: none holds any), and the distinct visitors of some days."""
        from consumers.engagement.ledger import EngagementConfig
        from consumers.engagement.view import EngagementView

        if self._engagement is None:
            self._engagement = EngagementView(
                self.snapshots, key_features=(), top_n=0, activation_days=7, keep_days=EngagementConfig.keep_days
            )
        await self._engagement.refresh_figures()
        figures = self._engagement.figures
        signups = {
            date.fromordinal(d).isoformat(): figures.counter(d, "cohort_signups") for d in figures.days_with_data()
        }
        oldest = figures.oldest_kept_day(self._engagement.keep_days)
        held_from = date.max if oldest is None else date.fromordinal(max(1, oldest))
        return signups, held_from, lambda days: figures.distinct("vis", [d.toordinal() for d in days])

    def watermark_day(self) -> date | None:
        return None if self.watermark is None else datetime.fromtimestamp(self.watermark, UTC).date()

    def collectors(self) -> Iterable[Collector]:
        from consumers.acquisition.collector import AcquisitionCollector

        return [AcquisitionCollector(self)]

    def routes(self) -> Iterable[Route]:
        from consumers.acquisition.routes import acquisition_routes

        return acquisition_routes(self)
