"""A metric family registered through the registry alone is served end to end.

The toy family below lives only in this test: no runtime file knows its name. It is handed
to replay and to a worker's web app as a registry, and must come out of ``pulse report``'s
replay path, out of /metrics (its gauge, read back from the real Redis) and out of its HTTP
route. This is the contract "adding a family = one package plus one registry line" rests on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from stream.app import create_app
from stream.family import FamilyView, MetricFamily, Processor, Reply, Report, Request, Route
from stream.jsonl import dump_line
from stream.outcomes import APPLIED, ApplyResult
from stream.registry import FamilyRegistry
from stream.replay import replay_file
from stream.settings import PulseSettings
from stream.snapshots import SnapshotStore
from stream.state import PartitionState
from tests.integration.harness import REDIS_URL

TOPIC = "surveys"


class ToyProcessor(Processor):
    """Counts survey responses per kind in one partition."""

    def __init__(self) -> None:
        self.counts: dict[int, dict[str, int]] = {}

    def loaded(self, state: PartitionState) -> None:
        self.counts[state.partition] = dict(state.store("toy"))

    def apply(self, state: PartitionState, event: Any) -> ApplyResult:
        counts = self.counts[state.partition]
        counts[event.kind] = counts.get(event.kind, 0) + 1
        state.store("toy")[event.kind] = counts[event.kind]
        return APPLIED

    async def publish(self, state: PartitionState, snapshots: SnapshotStore) -> None:
        await snapshots.put_partition(TOPIC, state.partition, {"counts": self.counts[state.partition]})


def toy_rows(processor: Processor) -> list[dict[str, Any]]:
    assert isinstance(processor, ToyProcessor)
    total: dict[str, int] = {}
    for counts in processor.counts.values():
        for kind, n in counts.items():
            total[kind] = total.get(kind, 0) + n
    return [{"kind": k, "responses": n} for k, n in sorted(total.items())]


class ToyView(FamilyView):
    def __init__(self, snapshots: SnapshotStore) -> None:
        self.snapshots = snapshots
        self.total: dict[str, int] = {}

    async def refresh(self) -> None:
        self.total = {}
        for payload in (await self.snapshots.partitions(TOPIC)).values():
            for kind, n in payload["counts"].items():
                self.total[kind] = self.total.get(kind, 0) + n

    def collectors(self) -> Iterable[Collector]:
        view = self

        class ToyCollector(Collector):
            def collect(self) -> Iterator[GaugeMetricFamily]:
                g = GaugeMetricFamily("pulse_toy_responses", "Survey responses by kind.", labels=["kind"])
                for kind, n in sorted(view.total.items()):
                    g.add_metric([kind], float(n))
                yield g

        return [ToyCollector()]

    def routes(self) -> Iterable[Route]:
        async def by_kind(request: Request) -> Reply:
            kind = request.params["kind"]
            if kind not in self.total:
                return Reply({"error": f"no responses of kind {kind}"}, 404)
            return Reply({"kind": kind, "responses": self.total[kind], "as": request.query.get("as", "")})

        return [Route("/api/v1/toy/{kind}", by_kind)]


class ToyFamily(MetricFamily):
    name: ClassVar[str] = "toy"
    topics: ClassVar[tuple[str, ...]] = (TOPIC,)
    reports: ClassVar[Sequence[Report]] = (
        Report("toy-responses", "Survey responses by kind.", TOPIC, ("kind", "responses"), toy_rows),
    )

    def processor(self, topic: str, *, replay: bool = False) -> Processor:
        return ToyProcessor()

    def view(self, snapshots: SnapshotStore) -> FamilyView:
        return ToyView(snapshots)


def survey(n: int, kind: str, account: str) -> bytes:
    event = {
        "event_id": f"s{n}",
        "type": "survey_response",
        "occurred_at": f"2026-07-0{1 + n % 5}T10:00:00Z",
        "account_id": account,
        "kind": kind,
        "score": 7 if kind == "nps" else 4,
    }
    return dump_line(TOPIC, account, event)


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    lines = [survey(i, "nps" if i % 3 else "csat", f"acct-{i % 7}") for i in range(30)]
    lines.append(lines[4])  # a resend: the runtime dedupes it before the toy sees it
    path.write_bytes(b"".join(lines))
    return path


def test_a_registered_family_is_replayed_and_served_by_the_web_app(stack: None, events: Path) -> None:
    import asyncio

    settings = PulseSettings(redis_url=REDIS_URL, app_id=f"toy-{uuid.uuid4().hex[:8]}", topic_partitions=3)
    registry = FamilyRegistry([ToyFamily(settings)])
    (report,) = ToyFamily.reports

    # replay: the runtime's pipelines, partitioned as Kafka would, then the family's report
    result = replay_file(events, settings, (TOPIC,), registry=registry)
    rows = report.rows(result.pipelines[TOPIC].processor)
    assert rows == [{"kind": "csat", "responses": 10}, {"kind": "nps", "responses": 20}]
    assert result.duplicates == {TOPIC: 1} and result.processed == {TOPIC: 30}
    used = [s for s in result.states[TOPIC] if s.data.get("toy")]
    assert len(used) > 1  # the 7 accounts spread over several partitions

    async def serve() -> None:
        runtime = create_app(settings, registry)
        # what each partition's owner does after a batch: share its summary via Redis
        for state in result.states[TOPIC]:
            await result.pipelines[TOPIC].processor.publish(state, runtime.engine.snapshots)
        client = TestClient(TestServer(await runtime.app.web.wsgi()))
        await client.start_server()
        try:
            metrics = await (await client.get("/metrics")).text()
            samples = {
                (s.name, s.labels.get("kind")): s.value
                for family in text_string_to_metric_families(metrics)
                for s in family.samples
            }
            assert samples[("pulse_toy_responses", "nps")] == 20.0
            assert samples[("pulse_toy_responses", "csat")] == 10.0
            ok = await client.get("/api/v1/toy/nps", params={"as": "json"})
            assert ok.status == 200 and orjson.loads(await ok.read()) == {"kind": "nps", "responses": 20, "as": "json"}
            missing = await client.get("/api/v1/toy/ces")
            assert missing.status == 404 and "no responses of kind ces" in (await missing.text())
        finally:
            await client.close()
            await runtime.engine.snapshots.client.delete(f"pulse:{settings.app_id}:{TOPIC}:partitions")
            await runtime.engine.snapshots.close()

    asyncio.run(serve())
