"""Factory fixtures shared by the unit tests: events, ledgers and views built from small fixtures.

Each fixture returns a *function* (the factory-fixture pattern of quix-streams' tests), so a
test builds exactly the state it needs, in as many partitions as it likes, with no Kafka and
no Redis: views get their state assigned directly, never through ``refresh()``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import pytest
from prometheus_client import CollectorRegistry

from tests.factories import make_subscription

if TYPE_CHECKING:  # imported where used, so a broken consumer module fails only its own tests
    from consumers.engagement.facts import ProductFacts
    from consumers.engagement.ledger import EngagementLedger
    from consumers.engagement.view import EngagementView
    from consumers.revenue.ledger import RevenueLedger
    from consumers.revenue.view import RevenueView
    from stream.snapshots import SnapshotStore

#: Reporting currency USD; EUR converts at 1.10 USD per EUR.
FX_RATES: dict[str, Decimal] = {"USD": Decimal(1), "EUR": Decimal("1.10")}
_PRICED = ("subscription_started", "subscription_changed")
_ids = itertools.count(1)


def _never_contacted_snapshots() -> SnapshotStore:
    """A store the views hold but never read: tests assign view state directly."""
    from stream.snapshots import SnapshotStore

    return SnapshotStore("redis://127.0.0.1:1/0", "unit-tests")


# --- revenue -------------------------------------------------------------------------------------

#: (type, occurred_at, customer_id, subscription_id) or the same plus a dict of event fields.
RevenueRow = tuple[Any, ...]


class RevenueEventFactory(Protocol):
    def __call__(self, kind: str, at: str, customer: str, sub: str, **fields: Any) -> Any: ...


@pytest.fixture
def revenue_event() -> RevenueEventFactory:
    """A subscription event that went through the real decoder (so it is a valid contract)."""

    def factory(kind: str, at: str, customer: str, sub: str, **fields: Any) -> Any:
        from stream.decoding import Accepted, decode_record
        from stream.topics import spec_for

        raw = make_subscription(
            event_id=f"rev-{next(_ids)}",
            type=kind,
            occurred_at=at,
            customer_id=customer,
            subscription_id=sub,
            **fields,
        )
        if kind not in _PRICED:  # only priced events carry amount, currency and interval
            for name in ("amount", "currency", "interval"):
                raw.pop(name, None)
        (result,) = decode_record(spec_for("subscriptions"), orjson.dumps(raw))
        assert isinstance(result, Accepted), result
        return result.event

    return factory


class RevenueLedgerFactory(Protocol):
    def __call__(self, rows: Iterable[RevenueRow], **config: Any) -> RevenueLedger: ...


@pytest.fixture
def revenue_ledger(revenue_event: RevenueEventFactory) -> RevenueLedgerFactory:
    """One partition's RevenueLedger from (type, at, customer, sub[, fields]) rows, all applied."""

    def factory(rows: Iterable[RevenueRow], **config: Any) -> RevenueLedger:
        from consumers.revenue.ledger import RevenueConfig, RevenueLedger
        from stream.outcomes import APPLIED

        ledger = RevenueLedger(RevenueConfig(fx_rates=config.pop("fx_rates", FX_RATES), **config))
        for row in rows:
            kind, at, customer, sub, *rest = row
            fields: dict[str, Any] = rest[0] if rest else {}
            verdict = ledger.apply(revenue_event(kind, at, customer, sub, **fields))
            assert verdict is APPLIED, (row, verdict)  # a fixture event must never be dropped
        return ledger

    return factory


class RevenueViewFactory(Protocol):
    def __call__(
        self, *ledgers: RevenueLedger, currency: str = "USD", gross_margin: Decimal = Decimal(1), top_n: int = 10
    ) -> RevenueView: ...


@pytest.fixture
def revenue_view() -> RevenueViewFactory:
    """A RevenueView holding the sum of these partitions, as refresh() would build it from Redis."""

    def factory(
        *ledgers: RevenueLedger, currency: str = "USD", gross_margin: Decimal = Decimal(1), top_n: int = 10
    ) -> RevenueView:
        from consumers.revenue.buckets import merge
        from consumers.revenue.view import RevenueView

        view = RevenueView(_never_contacted_snapshots(), currency, gross_margin, top_n)
        view.buckets = merge(lg.buckets for lg in ledgers)
        marks = [lg.watermark for lg in ledgers if lg.watermark is not None]
        view.watermark = max(marks) if marks else None
        view.partitions = {i: None for i in range(len(ledgers))}
        return view

    return factory


# --- engagement ----------------------------------------------------------------------------------


class ProductEventFactory(Protocol):
    def __call__(
        self,
        at: datetime,
        name: str,
        user: str | None = None,
        *,
        account: str | None = None,
        anon: str | None = None,
        feature: str | None = None,
        session: str | None = None,
    ) -> ProductFacts: ...


@pytest.fixture
def product_event() -> ProductEventFactory:
    """What the engagement ledger reads of one product event, with a fresh event_id."""

    def factory(
        at: datetime,
        name: str,
        user: str | None = None,
        *,
        account: str | None = None,
        anon: str | None = None,
        feature: str | None = None,
        session: str | None = None,
    ) -> ProductFacts:
        from consumers.engagement.facts import ProductFacts

        return ProductFacts(f"pe-{next(_ids)}", at, name, user, account, anon, feature, session)

    return factory


class EngagementLedgerFactory(Protocol):
    def __call__(self, events: Iterable[ProductFacts], **config: Any) -> EngagementLedger: ...


@pytest.fixture
def engagement_ledger() -> EngagementLedgerFactory:
    """One partition's EngagementLedger with these events applied in event-time order and flushed
    (account-day records are applied per batch, at flush)."""

    def factory(events: Iterable[ProductFacts], **config: Any) -> EngagementLedger:
        from consumers.engagement.ledger import EngagementConfig, EngagementLedger
        from stream.outcomes import APPLIED
        from stream.state import PartitionState

        ledger = EngagementLedger(EngagementConfig(**config), PartitionState(0, codecs=EngagementLedger.STORES))
        for event in sorted(events, key=lambda e: e.occurred_at):
            verdict = ledger.apply(event)
            assert verdict is APPLIED, (event, verdict)
        ledger.flush()
        return ledger

    return factory


class EngagementViewFactory(Protocol):
    def __call__(
        self,
        *ledgers: EngagementLedger,
        key_features: Sequence[str] | None = None,
        top_n: int = 10,
        activation_days: int = 7,
        health_threshold: float = 40.0,
    ) -> EngagementView: ...


@pytest.fixture
def engagement_view() -> EngagementViewFactory:
    """An EngagementView over these partitions, filled the way refresh() fills it from Redis."""

    def factory(
        *ledgers: EngagementLedger,
        key_features: Sequence[str] | None = None,
        top_n: int = 10,
        activation_days: int = 7,
        health_threshold: float = 40.0,
    ) -> EngagementView:
        from consumers.engagement.definitions import EngagementFigures, Partition, split_account_day
        from consumers.engagement.ledger import EngagementConfig
        from consumers.engagement.view import EngagementView

        features = tuple(key_features) if key_features is not None else EngagementConfig.key_features
        view = EngagementView(_never_contacted_snapshots(), features, top_n, activation_days, health_threshold)
        view.figures = EngagementFigures(
            [Partition(lg.sketches, lg.days, lg.watermark) for lg in ledgers],
            view.lg_k,
            view.feature_lg_k,
            activation_days,
        )
        by_account: dict[str, dict[int, Any]] = {}
        for lg in ledgers:
            for key, value in lg.account_records_encoded(lg.account_keys()).items():
                account, day = split_account_day(key)
                by_account.setdefault(account, {})[day] = orjson.loads(value)
        today = view.figures.watermark_day
        if today is not None:
            view.health.score_all(by_account, today, {}, support_reports=False)
        return view

    return factory


# --- prometheus ----------------------------------------------------------------------------------


@pytest.fixture
def registry_of() -> Callable[..., CollectorRegistry]:
    """A fresh CollectorRegistry with these collectors registered (no global state shared)."""

    def factory(*collectors: Any) -> CollectorRegistry:
        registry = CollectorRegistry()
        for collector in collectors:
            registry.register(collector)
        return registry

    return factory
