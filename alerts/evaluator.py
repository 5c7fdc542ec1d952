"""One evaluation of every rule over the exported samples: the same code in a worker and in
a backtest, which differ only in their clock, history and store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from prometheus_client.registry import Collector

from alerts.conditions import Verdict, judge
from alerts.history import KEEP_DAYS, History
from alerts.machine import AlertRecord, Step, step
from alerts.model import AlertState, LabelSet, Notification, Sample
from alerts.render import notification_of
from alerts.rules import DriftCondition, Every, Rule, RulesFile
from alerts.store import AlertStore, silenced

__all__ = ["Change", "Evaluator", "samples_of"]


def samples_of(collectors: Iterable[Collector], metrics: set[str] | None = None) -> list[Sample]:
    """The samples of some collectors as /metrics shows them (a counter as ``<name>_total``);
    only those named in ``metrics`` when given."""
    out = []
    for collector in collectors:
        for family in collector.collect():
            for s in family.samples:
                if metrics is None or s.name in metrics:
                    out.append(Sample(s.name, tuple(sorted(s.labels.items())), float(s.value)))
    return out


@dataclass(frozen=True, slots=True)
class Change:
    rule: Rule
    record: AlertRecord
    #: FIRING or RESOLVED when the record changed to it
    transition: AlertState | None
    notification: Notification | None


class Evaluator:
    def __init__(self, rules: RulesFile, history: History, store: AlertStore) -> None:
        self.rules = [r for r in rules.rules if r.enabled]
        self.url = rules.external_url
        self.history, self.store = history, store

    @property
    def metrics(self) -> set[str]:
        return {r.metric for r in self.rules}

    async def evaluate(self, samples: Sequence[Sample], now: float, day: int) -> list[Change]:
        """Every rule's next records at ``now`` (epoch seconds; ``day``: the UTC day ordinal the
        values are the point of). Drift series get today's point. The records are not saved:
        the caller saves them (after making their notifications durable)."""
        silences = await self.store.silences()
        by_metric: dict[str, list[Sample]] = {}
        for sample in samples:
            by_metric.setdefault(sample.metric, []).append(sample)
        recorded: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        changes: list[Change] = []
        for rule in self.rules:
            records = await self.store.records(rule.name)
            seen = set()
            for sample in by_metric.get(rule.metric, ()):
                labels = dict(sample.labels)
                if not rule.selects(labels):
                    continue
                seen.add(sample.labels)
                record = records.get(sample.labels) or AlertRecord(rule.name, sample.labels)
                points: list[float] = []
                if isinstance(rule.condition, DriftCondition):
                    points = await self._baseline(rule.condition, rule.metric, sample.labels, day)
                    if (rule.metric, sample.labels) not in recorded:
                        recorded.add((rule.metric, sample.labels))
                        await self.history.put(rule.metric, sample.labels, day, sample.value)
                verdict = judge(rule.condition, sample.value, points, record.state is AlertState.FIRING)
                muted = silenced(silences, rule.name, rule.alert_labels(labels), now)
                changes.append(self._change(rule, step(record, verdict, sample.value, now, rule, muted)))
            for labels_set, record in records.items():  # series gone: the condition no longer holds
                if labels_set not in seen and record.state in (AlertState.PENDING, AlertState.FIRING):
                    muted = silenced(silences, rule.name, rule.alert_labels(dict(labels_set)), now)
                    gone = step(record, Verdict(False), None, now, rule, muted)
                    changes.append(self._change(rule, gone))
        return changes

    async def _baseline(self, c: DriftCondition, metric: str, labels: LabelSet, day: int) -> list[float]:
        if c.every is Every.DAY:
            return [v for _, v in await self.history.points(metric, labels, day, c.baseline_points)]
        this_month = date.fromordinal(day).replace(day=1).toordinal()
        last_of_month: dict[tuple[int, int], float] = {}
        for d, v in await self.history.points(metric, labels, this_month, KEEP_DAYS):
            when = date.fromordinal(d)
            last_of_month[(when.year, when.month)] = v  # oldest first: the month's last wins
        return [last_of_month[m] for m in sorted(last_of_month)][-c.baseline_points :]

    def _change(self, rule: Rule, s: Step) -> Change:
        note = notification_of(rule, s.record, s.notify, self.url) if s.notify is not None else None
        return Change(rule, s.record, s.transition, note)
