"""Alerting in a worker: evaluate the rules on a timer and after batches that changed figures,
on exactly one worker of the deployment (the lease holder), and deliver what they notify."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from alerts.channels.dispatcher import Dispatcher, build_channels
from alerts.channels.outbox import RedisOutbox
from alerts.evaluator import Evaluator, samples_of
from alerts.history import RedisHistory
from alerts.lease import Lease
from alerts.machine import AlertRecord
from alerts.model import AlertState, NotificationStatus
from alerts.render import notification_of
from alerts.rules import KafkaChannel, RulesError, load_rules, parse_duration
from alerts.settings import AlertSettings
from alerts.status import rule_status
from alerts.store import RedisAlertStore, Silence
from stream.family import Reply, Request, Route
from stream.progress import deployment_progress
from stream.service import WorkerService
from stream.settings import PulseSettings, SettingsError
from stream.web import refresh_views

if TYPE_CHECKING:
    from stream.app import Runtime

__all__ = ["AlertService"]

log = logging.getLogger("pulse.alerts")

FIRING_HELP = (
    "Alerts of a rule firing now (one per matching label set), by rule and severity, as of the last evaluation."
)

#: alerts from Alertmanager kept for GET /api/v1/alerts/received
RECEIVED_KEPT = 200

#: the shortest time between two evaluations woken by batches (the timer is the setting's)
MIN_GAP_SECONDS = 1.0
#: longest wait, from when the deployment was first seen catching up, before judging anyway
CATCH_UP_WAIT_SECONDS = 120.0


def judging(caught_up: bool, catching_up_since: float, now: float) -> bool:
    """Whether to evaluate the rules now. Not while a worker of the deployment reads a backlog
    it started with or gained in a rebalance, nor while a partition has no owner: half-read
    windows would fire (and resolve) alerts that are not true. Under a load the deployment
    never catches up with, it judges anyway CATCH_UP_WAIT_SECONDS after."""
    return caught_up or now - catching_up_since >= CATCH_UP_WAIT_SECONDS


class AlertService(WorkerService):
    name = "alerts"
    settings_model = AlertSettings

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.section = AlertSettings.load()
        try:
            self.rules = load_rules(self.section.alert_rules_file)
        except RulesError as exc:  # fail the worker's start, naming the rule and field
            raise SettingsError(f"PULSE_ALERT_RULES_FILE: {exc}") from None
        snapshots = runtime.engine.snapshots
        client, prefix = snapshots.client, snapshots.prefix
        self.store = RedisAlertStore(client, prefix)
        self.evaluator = Evaluator(self.rules, RedisHistory(client, prefix), self.store)
        self.lease = Lease(client, f"{prefix}:alerts:lease", runtime.engine.worker_id, self.section.alert_lease_seconds)
        self.outbox = RedisOutbox(client, prefix)
        self.dispatcher = Dispatcher(
            build_channels(dict(self.rules.channels), runtime.settings), self.outbox, runtime.metrics.registry
        )
        self.leader = False
        self.problem: str | None = None
        #: when the deployment was first seen catching up, since it last was caught up
        #: (monotonic; see CATCH_UP_WAIT_SECONDS)
        self.behind_since: float | None = None
        #: why the rules are not judged now (None: they are)
        self.waiting: str | None = None
        #: (rule, severity) -> alerts firing, as of the last evaluation or read
        self.firing: dict[tuple[str, str], int] = {}
        self.evaluations = 0
        #: the last alerts Alertmanager sent to this worker's receiver
        self.received: deque[dict[str, Any]] = deque(maxlen=RECEIVED_KEPT)

    @classmethod
    def topics(cls, settings: PulseSettings) -> dict[str, dict[str, str]]:
        """The topics of the rules' Kafka channels."""
        section = AlertSettings.load()
        try:
            rules = load_rules(section.alert_rules_file)
        except RulesError as exc:
            raise SettingsError(f"PULSE_ALERT_RULES_FILE: {exc}") from None
        return {settings.topic(c.topic): {} for c in rules.channels.values() if isinstance(c, KafkaChannel)}

    # --- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        if self.section.alert_enabled and self.rules.rules:
            self.add_future(self._run())

    async def on_stop(self) -> None:
        if self.leader:
            try:
                await self.lease.release()
            except (RedisError, OSError):
                pass
        await self.dispatcher.close()

    async def _run(self) -> None:
        await self.dispatcher.start()
        published = self.runtime.engine.published
        while not self.should_stop:
            started = time.monotonic()
            try:
                await self.tick()
                self._state(None)
            except (RedisError, OSError) as exc:
                self._state(f"redis: {exc}")
            except Exception as exc:  # noqa: BLE001 - a bug must not stop alerting for good
                log.exception("alerts: evaluation failed")
                self._state(f"{type(exc).__name__}: {exc}")
            published.clear()
            try:
                await asyncio.wait_for(published.wait(), self.section.alert_interval_seconds)
            except TimeoutError:
                pass
            gap = MIN_GAP_SECONDS - (time.monotonic() - started)
            if gap > 0:
                await asyncio.sleep(gap)

    def _state(self, problem: str | None) -> None:
        if problem != self.problem:
            if problem is None:
                log.info("alerts: state=ok")
            else:
                log.error("alerts: state=failing reason=%r (retried every %.0fs)", problem,
                          self.section.alert_interval_seconds)  # fmt: skip
            self.problem = problem

    # --- one evaluation --------------------------------------------------------------------

    async def tick(self) -> None:
        engine = self.runtime.engine
        if not engine.ready:  # recovering: not the worker to judge the figures
            await self._read_firing()
            return
        caught_up = await self._caught_up()
        now = time.monotonic()
        if not judging(caught_up, now if self.behind_since is None else self.behind_since, now):
            await self._read_firing()
            return
        held = await self.lease.hold()
        if held != self.leader:
            log.info("alerts: leader=%s worker=%s", "yes" if held else "no", self.runtime.engine.worker_id)
            self.leader = held
        if not held:
            await self._read_firing()
            return
        down, _ = await refresh_views(self.runtime.views)
        if down is not None:
            raise down
        self.runtime.clock.mark()
        samples = samples_of([self.runtime.metrics.registry], self.evaluator.metrics)
        now = time.time()
        day = datetime.fromtimestamp(now, UTC).date().toordinal()
        changes = await self.evaluator.evaluate(samples, now, day)
        for change in changes:
            n = change.notification
            if n is not None and await self.store.first_time(n.id):
                await self.outbox.put(n)  # durable before the state that says it was made
                log.info("alerts: rule=%s status=%s labels=%s value=%s baseline=%s", n.rule, n.status.value,
                         change.record.labels, n.value, n.baseline)  # fmt: skip
        await self.store.save([c.record for c in changes])
        self._count([c.record for c in changes])
        self.evaluations += 1
        await self.dispatcher.retry_pending()
        # Alertmanager forgets a firing alert it is not sent again (see alerts/channels/alertmanager.py)
        firing = [notification_of(c.rule, c.record, NotificationStatus.FIRING, self.rules.external_url)
                  for c in changes if c.record.state is AlertState.FIRING and c.record.notifications]  # fmt: skip
        await self.dispatcher.refresh(firing)

    async def _caught_up(self) -> bool:
        """Whether every worker has read its partitions to their end (stream/progress.py):
        the figures judged are the whole deployment's, not this worker's."""
        engine = self.runtime.engine
        now = time.time()
        progress = deployment_progress(await engine.progress.read(now), engine.source_partitions(), now)
        caught_up = progress.caught_up
        waiting = None if caught_up else progress.reason()
        if caught_up:
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = time.monotonic()
        if waiting != self.waiting:
            if waiting is None:
                log.info("alerts: judging: every partition read to its end by its owner")
            else:
                log.info("alerts: not judging until the deployment catches up (at most %.0fs): %s",
                         CATCH_UP_WAIT_SECONDS, waiting)  # fmt: skip
            self.waiting = waiting
        return caught_up

    async def _read_firing(self) -> None:
        records: list[AlertRecord] = []
        for rule in self.evaluator.rules:
            records.extend((await self.store.records(rule.name)).values())
        self._count(records)

    def _count(self, records: Iterable[AlertRecord]) -> None:
        severity: dict[str, str] = {r.name: r.severity for r in self.evaluator.rules}
        counts: dict[tuple[str, str], int] = {(r.name, r.severity): 0 for r in self.evaluator.rules}
        for record in records:
            if record.state is AlertState.FIRING and record.rule in severity:
                counts[(record.rule, severity[record.rule])] += 1
        self.firing = counts

    # --- gauges and routes -----------------------------------------------------------------

    def collectors(self) -> Iterable[Collector]:
        return [_FiringCollector(self)]

    def routes(self) -> Iterable[Route]:
        return [
            Route("/api/v1/alerts", self._list, fresh=False),
            Route("/api/v1/alerts/silences", self._silence, fresh=False, method="POST"),
            Route("/api/v1/alerts/webhook", self._received_webhook, fresh=False, method="POST"),
            Route("/api/v1/alerts/received", self._list_received, fresh=False),
        ]

    async def _received_webhook(self, request: Request) -> Reply:
        """Alertmanager's receiver on the local stack (deploy/alerts/alertmanager.yml): what
        Prometheus's rules on Pulse's gauges fired, logged and kept for the API."""
        try:
            body: Any = orjson.loads(request.body or b"")
        except orjson.JSONDecodeError as exc:
            return Reply({"error": f"body: not JSON: {exc}"}, 400)
        alerts = body.get("alerts") if isinstance(body, dict) else None
        if not isinstance(alerts, list):
            return Reply({"error": "body: expected Alertmanager's webhook format (version 4), with alerts"}, 400)
        for alert in alerts:
            if not isinstance(alert, dict):
                continue
            raw = alert.get("labels")
            labels: dict[str, Any] = raw if isinstance(raw, dict) else {}
            status = str(alert.get("status", "unknown"))
            log.info("alerts: received from alertmanager alertname=%s status=%s labels=%s",
                     labels.get("alertname"), status, labels)  # fmt: skip
            self.received.append({"status": status, "labels": labels, "startsAt": alert.get("startsAt"),
                                  "endsAt": alert.get("endsAt"), "received_at": time.time()})  # fmt: skip
        return Reply({"received": len(alerts)})

    async def _list_received(self, request: Request) -> Reply:
        return Reply({"received": list(self.received)})

    async def _list(self, request: Request) -> Reply:
        rows = await rule_status(self.rules, self.store, time.time())
        holder = await self.lease.holder_now()
        return Reply({"evaluated_by": holder, "waiting_for": self.waiting, "alerts": rows})

    async def _silence(self, request: Request) -> Reply:
        try:
            body: Any = orjson.loads(request.body or b"{}")
        except orjson.JSONDecodeError as exc:
            return Reply({"error": f"body: not JSON: {exc}"}, 400)
        if not isinstance(body, dict):
            return Reply({"error": "body: expected an object with rule, for and optional match, comment"}, 400)
        rule, match, comment = body.get("rule"), body.get("match") or {}, body.get("comment") or ""
        if rule not in {r.name for r in self.rules.rules}:
            return Reply({"error": f"rule: unknown rule {rule!r}"}, 400)
        if not isinstance(match, dict) or not all(isinstance(v, str) for v in match.values()):
            return Reply({"error": "match: expected an object of label -> value"}, 400)
        try:
            seconds = parse_duration(body.get("for", "2h"))
        except ValueError as exc:
            return Reply({"error": f"for: {exc}"}, 400)
        silence = Silence(str(rule), time.time() + seconds, {str(k): v for k, v in match.items()}, str(comment))
        await self.store.add_silence(silence)
        return Reply({"id": silence.id, "rule": silence.rule, "match": silence.match, "until": silence.until}, 201)


class _FiringCollector:
    def __init__(self, service: AlertService) -> None:
        self.service = service

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("pulse_alerts_firing", FIRING_HELP, labels=["rule", "severity"])
        for (rule, severity), n in sorted(self.service.firing.items()):
            g.add_metric([rule, severity], n)
        yield g
