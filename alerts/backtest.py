"""When each rule would have fired on a file of history: the file replayed through the
workers' metric code (processor -> snapshot -> view -> gauges), the rules evaluated by the
live evaluator at the end of each UTC day of event time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from alerts.evaluator import Evaluator, samples_of
from alerts.history import History, MemoryHistory
from alerts.model import AlertState, LabelSet, Sample, labels_key
from alerts.rules import DriftCondition, RulesFile
from alerts.store import MemoryAlertStore
from stream.family import FamilyView
from stream.memory_snapshots import MemorySnapshotStore
from stream.registry import FamilyRegistry
from stream.replay import Replay, replay_file
from stream.settings import PulseSettings

__all__ = ["Transition", "COLUMNS", "run_backtest", "day_end", "DayPoints"]

COLUMNS = ("rule", "labels", "state", "at", "value", "baseline")
_EPOCH = date(1970, 1, 1).toordinal()


def day_end(day: int) -> float:
    """The evaluation time of UTC day ordinal ``day``: the midnight that ends it."""
    return float((day + 1 - _EPOCH) * 86400)


@dataclass(frozen=True, slots=True)
class Transition:
    rule: str
    labels: LabelSet
    state: AlertState
    at: float
    value: float | None
    #: None for threshold rules
    baseline: float | None

    def row(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "labels": labels_key(self.labels),
            "state": self.state.value,
            "at": datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "value": "" if self.value is None else _number(self.value),
            "baseline": "" if self.baseline is None else _number(self.baseline),
        }


def _number(x: float) -> str:
    return f"{x:.6g}" if abs(x) < 1e15 else repr(x)


#: (metric, labels, day ordinal, value): the history points a backtest leaves
DayPoints = list[tuple[str, LabelSet, int, float]]


class _DayEvaluation:
    """What runs at each day's end: publish every partition, refresh the views that export
    the rules' metrics, collect, evaluate."""

    def __init__(self, registry: FamilyRegistry, settings: PulseSettings, evaluator: Evaluator,
                 history: History) -> None:  # fmt: skip
        self.loop = asyncio.new_event_loop()
        self.snapshots = MemorySnapshotStore(settings.app_id)
        self.views: dict[str, FamilyView] = {f.name: f.view(self.snapshots) for f in registry}
        self.evaluator, self.history = evaluator, history
        self.needed: list[FamilyView] | None = None  # the views exporting a rule's metric
        self.transitions: list[Transition] = []
        self.points: DayPoints = []
        self.drift = [r for r in evaluator.rules if isinstance(r.condition, DriftCondition)]
        self.days = 0

    def __call__(self, day: int, replay: Replay) -> None:
        self.loop.run_until_complete(self._evaluate(day, replay))

    async def _evaluate(self, day: int, replay: Replay) -> None:
        for topic, pipeline in replay.pipelines.items():
            for state in replay.states[topic]:
                await pipeline.processor.publish(state, self.snapshots)
        if self.needed is None:
            self.needed = []
            for view in self.views.values():
                await view.refresh()
                await view.refresh_background()
                if samples_of(view.collectors(), self.evaluator.metrics):
                    self.needed.append(view)
            samples = samples_of([c for v in self.needed for c in v.collectors()], self.evaluator.metrics)
            if not samples:
                self.needed = None  # no family exports them yet: look at all again tomorrow
        else:
            for view in self.needed:
                await view.refresh()
                await view.refresh_background()
            samples = samples_of([c for v in self.needed for c in v.collectors()], self.evaluator.metrics)
        await self._judge(samples, day)

    async def _judge(self, samples: list[Sample], day: int) -> None:
        now = day_end(day)
        self.days += 1
        changes = await self.evaluator.evaluate(samples, now, day)
        await self.evaluator.store.save([c.record for c in changes])
        self.points.extend(
            (s.metric, s.labels, day, s.value)
            for s in samples
            if any(r.metric == s.metric and r.selects(dict(s.labels)) for r in self.drift)
        )
        for c in changes:
            if c.transition in (AlertState.FIRING, AlertState.RESOLVED):
                drift = isinstance(c.rule.condition, DriftCondition)
                self.transitions.append(
                    Transition(
                        c.rule.name,
                        c.record.labels,
                        c.transition,
                        now,
                        c.record.value,
                        c.record.baseline if drift else None,
                    )  # fmt: skip
                )


@dataclass
class BacktestResult:
    transitions: list[Transition]
    #: days evaluated
    days: int
    #: the drift rules' daily points (what `pulse alerts backfill` writes to Redis)
    points: DayPoints
    replay: Replay


def run_backtest(
    path: Path,
    settings: PulseSettings,
    rules: RulesFile,
    registry: FamilyRegistry | None = None,
    on_record: Callable[[], None] | None = None,
    topics: Iterable[str] | None = None,
) -> BacktestResult:
    registry = registry if registry is not None else FamilyRegistry.installed(settings)
    history = MemoryHistory()
    evaluator = Evaluator(rules, history, MemoryAlertStore())
    evaluation = _DayEvaluation(registry, settings, evaluator, history)
    wanted = tuple(topics) if topics is not None else tuple(t for f in registry for t in f.topics)
    try:
        replay = replay_file(path, settings, wanted, on_record=on_record, registry=registry, on_day_end=evaluation)
    finally:
        evaluation.loop.close()
    return BacktestResult(evaluation.transitions, evaluation.days, evaluation.points, replay)
