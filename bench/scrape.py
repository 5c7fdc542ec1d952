"""/metrics cost at scale: the worker's scrape over deployment-wide state, measured in process.

    .venv/bin/python bench/scrape.py                   # 100k customers, 1M users, 50 plans, 20 channels
    .venv/bin/python bench/scrape.py --customers 5000,10000,25000 --simulated 1000,2500 --runs 5 \\
        --no-profile --no-aged --redis                 # how it grows; the 25k scrape read from Redis

State is built by the workers' own code: events go through the pipelines a worker runs
(validation, dedupe, each family's processor with its worker retention, a flush after each
batch), partitioned as Kafka would (murmur2 of the entity key over 6 partitions); then every
partition's state is published to a :class:`~stream.memory_snapshots.MemorySnapshotStore`
(``processor.publish``, as alerts/backtest.py does), each family's view is built on it, and
the collectors are registered as stream/app.py does (the ingest registry, every family
collector wrapped in ``FreshOnly``, the Kafka signals collector). No Kafka; no Redis unless
``--redis`` (in memory a snapshot read is a dict copy, not a network round trip).

Two kinds of state:

* ``--simulated N,…`` (realistic, small): ``pulse simulate --out`` (N customers, ``--days``)
  replayed with ``stream.replay.replay_file``, the code of ``pulse report``. The simulator
  has 6 plans, 6 acquisition channels, 6 features and ~5 users per account.
* ``--customers N,…`` (full scale; default 100,000): the simulator's own code for accounts,
  subscriptions, support tickets, surveys and leads (leads at a tenth of its rate: ~2,500 a
  weekday for 100k customers), with users per account raised to ~10 (1M users for 100k),
  plans renamed into 50 (9 price books of the 5 main plans, 5 of the add-on), acquisition
  channels into 20 and countries into 40, consistently per customer; spend for the 18 paid
  channels and the product events generated here: on each day an account is active (its
  trial or paid spans, as the simulator decides) each of its users is active with the
  simulator's chance (its engagement, a fifth on weekends) and sends one ``feature_used``
  (40 features, the 4 key ones most used; 1% are ``invite_sent``), users who join send
  ``signed_up``, and 0.4 anonymous page views a day per customer (0.15 on weekends). One
  event per active user-day is all the account-day records need (the simulator sends ~14).
  Subscriptions, tickets, surveys, leads and spend go through their pipelines in a forked
  process while this one runs the product events (two cores); batches of 20,000 records
  (the engine's largest), which changes no figure, only how often state is encoded.

Each run: one batch later on every partition (today's engagement sketches rewritten at a new
position, as a worker publishes after a batch), each family view's ``refresh()`` timed on its
own (a /metrics request refreshes every view when the last refresh is 0.5 s old, so every
Prometheus scrape pays them), then ``render(registry)``. Baselines measured in the same run:
the same scrape of an empty deployment, and ``generate_latest`` of the very same metric
families collected beforehand (the exposition floor: formatting only, nothing computed).
Results go to stdout as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import multiprocessing
import os
import platform
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from bisect import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

# The simulator prices in USD, EUR and GBP: every currency needs a rate (else `currency`).
os.environ.setdefault("PULSE_FX_RATES", '{"USD": 1, "EUR": "1.08", "GBP": "1.27"}')

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.metrics_core import Metric  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

from stream.app import build_pipelines  # noqa: E402
from stream.exporter import FreshOnly, IngestMetrics, SnapshotClock, render  # noqa: E402
from stream.family import FamilyView  # noqa: E402
from stream.kafka_signals import KafkaSignals  # noqa: E402
from stream.memory_snapshots import MemorySnapshotStore  # noqa: E402
from stream.pipeline import Pipeline, partition_for  # noqa: E402
from stream.registry import FamilyRegistry  # noqa: E402
from stream.replay import replay_file  # noqa: E402
from stream.settings import PulseSettings  # noqa: E402
from stream.snapshots import SnapshotStore  # noqa: E402
from stream.state import PartitionState  # noqa: E402
from stream.topics import SOURCE_TOPICS  # noqa: E402

DAY = 86400
BATCH = 20_000  # records of one partition between flushes: the engine's largest batch
PRODUCT = "product-events"
APP_ID = "bench-scrape"

# --- state built from events ----------------------------------------------------------------


@dataclass
class Deployment:
    """Every partition published to one snapshot store, and what it took."""

    label: str
    snapshots: MemorySnapshotStore
    events: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    build_seconds: float = 0.0
    detail: str = ""


def hashes(store: MemorySnapshotStore) -> dict[str, dict[bytes, bytes]]:
    """The Redis hashes a memory snapshot store holds: key -> field -> value."""
    data: dict[str, dict[bytes, bytes]] = getattr(store.client, "data")  # noqa: B009 (typed as a Redis client)
    return data


class Feeder:
    """Events to their partition's pipeline as :func:`stream.replay.replay_file` does, from
    memory: each partition's records in order, in batches with a flush after each."""

    def __init__(self, settings: PulseSettings, topics: Iterable[str]) -> None:
        self.partitions = settings.topic_partitions
        processors = FamilyRegistry.installed(settings).processors()  # a worker's: its retention
        self.pipelines: dict[str, Pipeline] = build_pipelines(settings, {t: processors[t] for t in topics})
        self.states = {
            topic: [PartitionState(p, codecs=pl.codecs) for p in range(self.partitions)]
            for topic, pl in self.pipelines.items()
        }
        for topic, pipeline in self.pipelines.items():
            for state in self.states[topic]:
                pipeline.loaded(state)
        self.pending: dict[tuple[str, int], list[bytes | None]] = {}
        self.events: dict[str, int] = {}
        self.refused = 0
        self._partition_of: dict[bytes, int] = {}

    def add(self, topic: str, key: bytes, values: list[bytes]) -> None:
        """Records of one entity key, in order."""
        p = self._partition_of.get(key)
        if p is None:
            p = self._partition_of[key] = partition_for(key, self.partitions)
        pending = self.pending.get((topic, p))
        if pending is None:
            pending = self.pending[(topic, p)] = []
        pending.extend(values)
        if len(pending) >= BATCH:
            self._run(topic, p)

    def _run(self, topic: str, p: int) -> None:
        values = self.pending.pop((topic, p), [])
        if not values:
            return
        pipeline, state = self.pipelines[topic], self.states[topic][p]
        outcome = pipeline.handle_many(state, values, None)  # no record time: the wall clock limits
        self.events[topic] = self.events.get(topic, 0) + len(values)
        self.refused += len(outcome.rejected) + len(outcome.expired) + len(outcome.forwards)
        state.next_offset = (state.next_offset or 0) + len(values)
        pipeline.flush(state)
        state.discard_changes()

    def publish(self) -> MemorySnapshotStore:
        for topic, p in list(self.pending):
            self._run(topic, p)
        snapshots = MemorySnapshotStore(APP_ID)

        async def publish() -> None:
            for topic, pipeline in self.pipelines.items():
                for state in self.states[topic]:
                    await pipeline.processor.publish(state, snapshots)

        asyncio.run(publish())
        return snapshots


def simulated(customers: int, days: int, end: date, seed: int, settings: PulseSettings, workdir: Path) -> Deployment:
    """``pulse simulate --out`` then ``replay_file`` (``pulse report``'s code), published."""
    started = time.perf_counter()
    path = workdir / f"sim-{customers}.jsonl"
    pulse = Path(sys.executable).with_name("pulse")
    subprocess.run(
        [str(pulse), "simulate", "--customers", str(customers), "--days", str(days), "--seed", str(seed),
         "--end", end.isoformat(), "--out", str(path)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    registry = FamilyRegistry.installed(settings)
    replay = replay_file(path, settings, tuple(t for f in registry for t in f.topics), registry=registry)
    path.unlink()
    snapshots = MemorySnapshotStore(APP_ID)

    async def publish() -> None:
        for topic, pipeline in replay.pipelines.items():
            for state in replay.states[topic]:
                await pipeline.processor.publish(state, snapshots)

    asyncio.run(publish())
    return Deployment(
        f"simulated {customers:,}",
        snapshots,
        dict(replay.processed),
        sum(replay.rejected.values()),
        time.perf_counter() - started,
        f"`pulse simulate --customers {customers} --days {days}` replayed",
    )


# Full scale: the simulator's domains, with more plans, channels, countries and users.
PRICE_BOOKS = 9  # x 5 main plans = 45, + 5 add-on variants = 50 plans
ADDON_VARIANTS = 5
CHANNELS = (
    "organic", "referral", "google_ads", "google_brand", "bing_ads", "linkedin", "meta", "instagram",
    "tiktok", "youtube", "reddit", "x_ads", "capterra", "g2", "events", "webinars", "podcasts",
    "affiliates", "partners", "outbound",
)  # fmt: skip
UNPAID = ("organic", "referral")
COUNTRIES = (
    "US", "DE", "GB", "FR", "CN", "PL", "RO", "NL", "ES", "IT", "CA", "AU", "BR", "IN", "JP", "SE", "CH",
    "AT", "BE", "DK", "NO", "FI", "IE", "PT", "CZ", "HU", "GR", "MX", "AR", "CL", "CO", "ZA", "NG", "KE",
    "SG", "KR", "TW", "NZ", "IL", "TR",
)  # fmt: skip
FEATURES = ("dashboards", "reports", "alerts", "integrations") + tuple(f"feature-{i:02d}" for i in range(36))
#: users per account by segment (the simulator's: 2-6, 4-10, 8-15, ~5 an account)
USERS = {"smb": (3, 13), "mid": (7, 21), "enterprise": (17, 40)}


def _zipf(n: int, s: float) -> list[float]:
    return [1 / (rank + 1) ** s for rank in range(n)]


def _other_topics(feeder: Feeder, rows: Iterator[Any], days: range, customers: int, rng: random.Random) -> None:
    for ev in rows:
        feeder.add(ev.topic, ev.key.encode(), [orjson.dumps(ev.event)])
    paid = [c for c in CHANNELS if c not in UNPAID]  # spend: 2 USD per customer a day in all
    weights = _zipf(len(paid), 0.7)
    total = sum(weights)
    dates: dict[int, str] = {}
    for day in days:
        for channel, w in zip(paid, weights, strict=True):
            amount = customers * 2.0 * w / total * rng.uniform(0.7, 1.3)
            event = {"event_id": f"spend-{day // DAY}-{channel}", "type": "spend_recorded", "channel": channel,
                     "occurred_at": _clock(day + 23 * 3600 + 50 * 60, dates),
                     "amount": f"{amount:.2f}", "currency": "USD"}  # fmt: skip
            feeder.add("marketing-spend", channel.encode(), [orjson.dumps(event)])


def _child(conn: Any, settings: PulseSettings, topics: list[str], rows: Iterator[Any], days: range,
           customers: int, rng: random.Random) -> None:  # fmt: skip
    feeder = Feeder(settings, topics)
    _other_topics(feeder, rows, days, customers, rng)
    snapshots = feeder.publish()
    conn.send((hashes(snapshots), feeder.events, feeder.refused))
    conn.close()


def synthetic(customers: int, days: int, end: date, seed: int, settings: PulseSettings) -> Deployment:
    from stream.simulate import accounts as sim_accounts
    from stream.simulate.accounts import Account
    from stream.simulate.clock import Window
    from stream.simulate.common import seeded
    from stream.simulate.leads import leads
    from stream.simulate.sink import Sink
    from stream.simulate.subscriptions import SubscriptionLife
    from stream.simulate.support import support
    from stream.simulate.surveys import surveys

    started = time.perf_counter()
    window = Window.before(datetime.combine(end, datetime.min.time(), tzinfo=UTC), days)
    sink = Sink(window)
    accounts = [Account.draw(i, seeded(seed, "profile", i), window) for i in range(1, customers + 1)]
    for acct in accounts:
        SubscriptionLife(acct, seeded(seed, "subscriptions", acct.number), sink).run()
    saved_users = dict(sim_accounts._USERS)
    sim_accounts._USERS.update(USERS)
    try:
        for acct in accounts:
            acct.draw_users(seeded(seed, "users", acct.number))
    finally:
        sim_accounts._USERS.update(saved_users)
    support(accounts, seed, sink)
    surveys(accounts, seed, sink)
    leads(seeded(seed, "leads", 0), sink, max(1, customers // 10))
    rng = random.Random(f"bench-scrape/{seed}")
    channel_of = {a.id: rng.choices(CHANNELS, _zipf(len(CHANNELS), 0.8))[0] for a in accounts}
    country_of = {a.id: rng.choices(COUNTRIES, _zipf(len(COUNTRIES), 1.1))[0] for a in accounts}
    for _, _, topic, fields in sink.rows:  # renamed per customer (or lead), so each stays consistent
        if topic == "subscriptions":
            number, base = int(fields["customer_id"][1:]), fields["plan"]
            variant = number % ADDON_VARIANTS if base == "addon-analytics" else number % PRICE_BOOKS
            fields["plan"] = f"{base}-pb{variant}"
            if "acquisition_channel" in fields:
                fields["acquisition_channel"] = channel_of[fields["customer_id"]]
                fields["attributes"] = {**fields["attributes"], "country": country_of[fields["customer_id"]]}
        elif topic == "leads":
            fields["channel"] = CHANNELS[int(fields["lead_id"].rsplit("-", 1)[1]) * 7919 % len(CHANNELS)]
    simulator = time.perf_counter() - started

    # the other topics in a child process (fork: it inherits the rows), product events here
    others = [t for t in SOURCE_TOPICS if t != PRODUCT]
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_child, args=(send, settings, others, sink.events(seed), window.days(), customers, rng)
    )
    child.start()
    send.close()
    sink.rows.clear()
    feeder = Feeder(settings, [PRODUCT])
    users = product(feeder, accounts, window.days(), window.hi, customers, rng)
    snapshots = feeder.publish()
    product_seconds = time.perf_counter() - started - simulator
    data, events, refused = receive.recv()
    child.join()
    for key, values in data.items():
        assert key not in hashes(snapshots)
        hashes(snapshots)[key] = values
    events.update(feeder.events)
    print(f"<!-- build of {customers:,}: simulator domains {simulator:.0f} s, product events + publish "
          f"{product_seconds:.0f} s, all {time.perf_counter() - started:.0f} s -->", flush=True)  # fmt: skip
    detail = (
        f"{customers:,} customers, {users:,} users: the simulator's accounts, subscriptions, tickets, "
        "surveys and leads, with product events and spend generated here"
    )
    return Deployment(f"synthetic {customers:,}", snapshots, events, refused + feeder.refused,
                      time.perf_counter() - started, detail)  # fmt: skip


def _clock(ts: int, dates: dict[int, str]) -> str:
    d, sod = divmod(ts, DAY)
    text = dates.get(d)
    if text is None:
        text = dates[d] = (date(1970, 1, 1) + timedelta(days=d)).isoformat()
    return f"{text}T{sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}Z"


def product(feeder: Feeder, accounts: list[Any], days: range, end: int, customers: int, rng: random.Random) -> int:
    """Product events day by day (see the module's docstring); returns the users drawn."""
    cum: list[float] = []
    acc = 0.0
    for w in [30.0, 22.0, 15.0, 10.0] + _zipf(len(FEATURES) - 4, 1.0):
        acc += w
        cum.append(acc)
    dates: dict[int, str] = {}
    seq = 0
    rand = rng.random
    times = [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(DAY)]
    with_users = [(a, a.id, a.id.encode()) for a in accounts if a.spans and a.users]
    visitors = max(1, 3 * customers)  # anonymous ids: returning visitors of the website
    for day in days:
        weekend = (day // DAY + 3) % 7 >= 5
        factor = 0.2 if weekend else 1.0
        stamp = _clock(day, dates)[:10]
        for acct, aid, key in with_users:
            activity = acct.activity(day + 12 * 3600)
            if activity <= 0:
                continue
            values = []
            for user in acct.users:
                joined = user.joined
                if joined is not None and joined >= day:
                    if joined < day + DAY:  # joins today
                        seq += 1
                        values.append(
                            f'{{"event_id":"p{seq}","type":"track","name":"signed_up",'
                            f'"occurred_at":"{_clock(min(joined, end - 1), dates)}",'
                            f'"user_id":"{user.id}","account_id":"{aid}"}}'.encode()
                        )
                    continue
                if rand() >= user.engagement * factor * activity:
                    continue
                seq += 1
                name = "invite_sent" if rand() < 0.01 else "feature_used"
                feature = FEATURES[bisect(cum, rand() * acc, 0, len(cum) - 1)]
                values.append(
                    f'{{"event_id":"p{seq}","type":"track","name":"{name}",'
                    f'"occurred_at":"{stamp}{times[28800 + int(rand() * 36000)]}",'  # 08:00-18:00 UTC
                    f'"user_id":"{user.id}","account_id":"{aid}","feature":"{feature}"}}'.encode()
                )
            if values:
                feeder.add(PRODUCT, key, values)
        for _ in range(int(customers * (0.15 if weekend else 0.4))):
            seq += 1
            anonymous = f"anon-{int(rand() * visitors)}"
            feeder.add(PRODUCT, anonymous.encode(), [
                f'{{"event_id":"p{seq}","type":"track","name":"page_view",'
                f'"occurred_at":"{stamp}{times[int(rand() * DAY)]}","anonymous_id":"{anonymous}",'
                f'"properties":{{"path":"/pricing"}}}}'.encode()])  # fmt: skip
    return sum(len(a.users) for a in accounts)


# --- the scrape ------------------------------------------------------------------------------


class Frozen(Collector):
    """Metric families collected once: rendering them costs the exposition and nothing else."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


@dataclass
class Worker:
    """What a worker's /metrics is made of (stream/app.py create_app, without Kafka)."""

    views: dict[str, FamilyView]
    registry: CollectorRegistry
    clock: SnapshotClock
    collectors: dict[str, list[Collector]]  # family -> its collectors (unwrapped)
    ingest: CollectorRegistry  # an identical ingest registry without the families
    signals: KafkaSignals


def ingest_registry(events: dict[str, int]) -> CollectorRegistry:
    metrics = IngestMetrics()
    for topic in SOURCE_TOPICS:  # the ingest counters of a worker that processed these events
        metrics.processed.labels(topic=topic).inc(events.get(topic, 0))
        for counter in (metrics.duplicate, metrics.late, metrics.conflicting, metrics.forwarded):
            counter.labels(topic=topic).inc(0)
    return metrics.registry


def worker(settings: PulseSettings, snapshots: SnapshotStore, events: dict[str, int]) -> Worker:
    families = FamilyRegistry.installed(settings)
    registry = ingest_registry(events)
    clock = SnapshotClock(settings.snapshot_stale_seconds)
    views = {family.name: family.view(snapshots) for family in families}
    collectors: dict[str, list[Collector]] = {}
    for name, view in views.items():
        collectors[name] = list(view.collectors())
        for collector in collectors[name]:
            registry.register(FreshOnly(collector, clock))
    signals = KafkaSignals(settings, topics=list(families.processors()))  # never polled: no lag series
    registry.register(signals)
    return Worker(views, registry, clock, collectors, ingest_registry(events), signals)


async def age(snapshots: SnapshotStore, history_days: int) -> str:
    """The day-keyed payloads grown to what a worker holds once it has run for a year: each
    partition's days copied back in steps of ``history_days`` until the family's retention
    (support and surveys 120 days, spend and leads 400, revenue's day buckets a year: it keeps
    every day). Account-day records and sketches are already at their 35 days."""
    from consumers.acquisition.leads import LeadsConfig
    from consumers.acquisition.ledger import SpendConfig
    from consumers.support.ledger import SupportConfig
    from consumers.surveys.ledger import SurveysConfig

    def older(day: str, back: int) -> str:
        if "-" in day:  # YYYY-MM-DD
            return (date.fromisoformat(day) - timedelta(days=back)).isoformat()
        return str(int(day) - back)  # a day ordinal

    def grown(days: dict[str, Any], keep: int, prefix: str = "") -> dict[str, Any]:
        out = dict(days)
        for key, value in days.items():
            if key.startswith(prefix):
                for back in range(history_days, keep, history_days):
                    out.setdefault(prefix + older(key.removeprefix(prefix), back), value)
        return out

    keeps = {
        "support-tickets": SupportConfig.keep_days,
        "surveys": SurveysConfig.keep_days,
        "marketing-spend": SpendConfig.keep_days,
        "leads": LeadsConfig.keep_days,
        "subscriptions": 365,
    }
    for topic, keep in keeps.items():
        for p, payload in (await snapshots.partitions(topic)).items():
            rest = {k: v for k, v in payload.items() if k not in ("epoch", "published_at")}
            if topic == "subscriptions":
                rest["buckets"] = grown(rest["buckets"], keep, "d:")
            else:
                rest["days"] = grown(rest.get("days", {}), keep)
            await snapshots.put_partition(topic, p, rest)
    return ", ".join(f"{t} {k} days" for t, k in keeps.items())


async def touch(snapshots: SnapshotStore) -> None:
    """One batch later on every product-events partition: the watermark day's sketches
    rewritten at a new position, as their owner publishes them (so the views fetch and
    deserialize those, as in a running deployment, rather than nothing)."""
    for p, payload in (await snapshots.partitions(PRODUCT)).items():
        mark = payload.get("watermark")
        if mark is None:
            continue
        offset, _, repartition = str(payload.get("position") or "0/0").partition("/")
        position = f"{int(offset) + BATCH}/{repartition}"  # what PartitionState.position says then
        today = f":{datetime.fromtimestamp(mark, UTC).date().toordinal()}"
        blobs, _, _ = await snapshots.changed_sketches(PRODUCT, p, {})
        todays = {k: v for k, v in blobs.items() if k.endswith(today)}
        await snapshots.put_sketches(PRODUCT, p, todays, [], version=position)
        rest = {k: v for k, v in payload.items() if k not in ("epoch", "published_at")}
        await snapshots.put_partition(PRODUCT, p, {**rest, "position": position})


#: share of the accounts a batch touches between two health passes (their versions move)
TOUCHED_ACCOUNTS = 0.01


async def touch_accounts(snapshots: SnapshotStore) -> int:
    """A new version for every 100th account, as if a batch changed its records: what the
    next health pass reads and scores again."""
    from consumers.engagement.health import ACCOUNT_VERSIONS

    versions = await snapshots.entities(ACCOUNT_VERSIONS)
    some = sorted(versions)[:: round(1 / TOUCHED_ACCOUNTS)]
    await snapshots.put_entities(ACCOUNT_VERSIONS, {a: f"{versions[a]}+" for a in some})
    return len(some)


async def stalls(work: Any) -> tuple[float, float]:
    """(seconds ``work`` took, the longest the event loop went without serving another task
    meanwhile): what a /metrics request or a Kafka heartbeat would have waited at worst."""
    done, longest = False, 0.0

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    tick = asyncio.ensure_future(ticker())
    t = time.perf_counter()
    await work
    took = time.perf_counter() - t
    done = True
    await tick
    return took, longest


@dataclass
class Background:
    """A view's background pass (``refresh_background``): the first (everything), then after
    each later batch (1% of the accounts changed), and the longest event-loop stall of any."""

    first: float
    later: list[float]
    stall: float
    touched: int


@dataclass
class Figures:
    cold: dict[str, float]  # family -> seconds of a worker's first refresh (every sketch)
    refresh: dict[str, list[float]]  # family -> seconds, each run
    render: list[float]
    floor: list[float]
    series: int
    bytes: int
    by_family: dict[str, int]
    collect: dict[str, float]  # family -> seconds of its collectors' collect(), once
    background: dict[str, Background]  # family -> its background pass, for views with one
    profile: str = ""

    def scrape(self) -> float:
        return sum(statistics.median(v) for v in self.refresh.values()) + statistics.median(self.render)


def measure(w: Worker, snapshots: SnapshotStore, runs: int, profile: bool, close: bool = False) -> Figures:
    loop = asyncio.new_event_loop()
    try:
        cold = {}
        for name, view in w.views.items():
            t = time.perf_counter()
            loop.run_until_complete(view.refresh())
            cold[name] = time.perf_counter() - t
        passes = {name: view for name, view in w.views.items() if view.background_interval > 0}
        background: dict[str, Background] = {}
        for name, view in passes.items():
            first, stall = loop.run_until_complete(stalls(view.refresh_background()))
            background[name] = Background(first, [], stall, 0)
        refresh: dict[str, list[float]] = {name: [] for name in w.views}
        rendered: list[float] = []
        body = b""
        for _ in range(runs):
            loop.run_until_complete(touch(snapshots))
            touched = loop.run_until_complete(touch_accounts(snapshots))
            gc.collect()
            for name, view in w.views.items():
                t = time.perf_counter()
                loop.run_until_complete(view.refresh())
                refresh[name].append(time.perf_counter() - t)
            for name, view in passes.items():
                took, stall = loop.run_until_complete(stalls(view.refresh_background()))
                b = background[name]
                b.later.append(took)
                b.stall, b.touched = max(b.stall, stall), touched
            w.clock.mark()  # as stream/web.py does after a successful refresh
            t = time.perf_counter()
            body = render(w.registry)
            rendered.append(time.perf_counter() - t)
        # once more, family by family: where render's time goes, and the metrics for the floor
        collected: list[Metric] = list(w.ingest.collect())
        collect, by_family = {}, {}
        for name, collectors in w.collectors.items():
            t = time.perf_counter()
            metrics = [m for c in collectors for m in c.collect()]
            collect[name] = time.perf_counter() - t
            by_family[name] = sum(len(m.samples) for m in metrics)
            collected += metrics
        frozen = CollectorRegistry(auto_describe=False)
        frozen.register(Frozen(collected + list(w.signals.collect())))
        floor = []
        for _ in range(runs):
            t = time.perf_counter()
            same = generate_latest(frozen)
            floor.append(time.perf_counter() - t)
        assert same == body, "the frozen families render another exposition"
        text = ""
        if profile:
            loop.run_until_complete(touch(snapshots))
            profiler = cProfile.Profile()
            profiler.enable()
            for view in w.views.values():
                loop.run_until_complete(view.refresh())
            w.clock.mark()
            profiled = render(w.registry)
            profiler.disable()
            assert len(profiled) == len(body), "the profiled scrape rendered another exposition"
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(12)
            stats.sort_stats("cumulative").print_stats(r"consumers|stream|exposition", 16)
            text = "\n".join(line for line in out.getvalue().splitlines() if line.strip())
        series = sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
        return Figures(cold, refresh, rendered, floor, series, len(body), by_family, collect, background, text)
    finally:
        if close:  # a Redis client belongs to the loop it connected on
            loop.run_until_complete(snapshots.close())
        loop.close()


def from_redis(settings: PulseSettings, d: Deployment, runs: int) -> Figures:
    """The same scrape with the snapshots in the local Redis (a unique app id, deleted after)."""
    import redis

    app_id = f"bench-scrape-{uuid.uuid4().hex[:8]}"
    old, new = f"pulse:{APP_ID}", f"pulse:{app_id}"
    client = redis.Redis.from_url(settings.redis_url)
    written: list[str] = []
    try:
        for key, values in hashes(d.snapshots).items():
            target = new + key.removeprefix(old)
            written.append(target)
            items = list(values.items())
            for i in range(0, len(items), 20_000):
                client.hset(target, mapping=dict(items[i : i + 20_000]))
        store = SnapshotStore(settings.redis_url, app_id)
        return measure(worker(settings, store, d.events), store, runs, profile=False, close=True)
    finally:
        for i in range(0, len(written), 100):
            client.delete(*written[i : i + 100])
        client.close()


# --- worst case, from the code ---------------------------------------------------------------


def worst_case() -> dict[str, tuple[int, str]]:
    """The most series each family's collector can export with these settings (family ->
    (count, formula)), read off the collectors' loops."""
    from consumers.acquisition.definitions import FUNNEL_STEPS
    from consumers.acquisition.definitions import WINDOWS as ACQ_WINDOWS
    from consumers.acquisition.leads import STAGES
    from consumers.acquisition.settings import AcquisitionSettings
    from consumers.engagement.settings import EngagementSettings
    from consumers.revenue.buckets import KINDS
    from consumers.revenue.settings import RevenueSettings
    from consumers.support.definitions import CATEGORIES, PRIORITIES, QUANTILES
    from consumers.support.definitions import CHANNELS as TICKET_CHANNELS
    from consumers.support.definitions import WINDOWS as SUPPORT_WINDOWS
    from consumers.surveys.definitions import TOUCHPOINTS
    from consumers.surveys.definitions import WINDOWS as SURVEY_WINDOWS

    rev, eng, acq = RevenueSettings.load(), EngagementSettings.load(), AcquisitionSettings.load()
    n, a = rev.segment_top_n, len(rev.segment_attributes)
    # mrr/arr/arpa, customers, committed/scheduled, movement kinds x 3 windows, net new x 3,
    # 7 ratios x 2 months, revenue churn 2x2, renewal 2x2, trials x 2, ltv/undefined/lifetime
    fixed = 3 + 1 + 2 + len(KINDS) * 3 + 3 + 7 * 2 + 4 + 4 + 2 + 3
    revenue = fixed + 2 * (n + 1) + 2 * a * (n + 1)
    k, f = len(eng.key_features), eng.feature_top_n
    engagement = 16 + 5 * (k + f)  # users, visitors, signups x 3 windows + 7 single; 5 per feature
    q, w, g = len(QUANTILES), len(SUPPORT_WINDOWS), 1 + len(TICKET_CHANNELS) + len(PRIORITIES)
    c = len(CATEGORIES)
    support_rest = w * (q + 1) + 2 * w + len(PRIORITIES) + c * w + c + 2
    support = 2 * 2 * w * g * (q + 1) + support_rest
    sw, t = len(SURVEY_WINDOWS), len(TOUCHPOINTS) + 1
    surveys = sw * (2 * t + 1 + 3 + 2)  # nps, csat (+ticket), responses x 3, ces, ces mean
    channels = acq.acquisition_channel_top_n + 1  # the top N and `all`
    aw = len(ACQ_WINDOWS) + 1  # the rolling windows and the month
    retention = len(ACQ_WINDOWS) if acq.retention_spend_channels else 0
    acq_rest = aw * (len(STAGES) + len(FUNNEL_STEPS)) + 2 + retention
    acquisition = (4 * aw + 2) * channels + acq_rest
    return {
        "revenue": (revenue, f"{fixed} + 2(N+1) plans + 2·A·(N+1) segments; N={n}, A={a}"),
        "engagement": (engagement, f"16 + 5(K+F) features; K={k}, F={f}"),
        "support": (support, f"2 timings × 2 clocks × {w} windows × {g} groups × ({q} quantiles + mean) "
                             f"+ {support_rest}"),
        "surveys": (surveys, f"{sw} windows × ({t} NPS + {t + 1} CSAT groups + 3 NPS categories + 2 CES)"),
        "acquisition": (acquisition, f"({4 * aw} + 2)·C + {acq_rest}; C = top N + all = {channels}"),
    }  # fmt: skip


# --- output ----------------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    return f"{min(values) * 1e3:,.1f} / {statistics.median(values) * 1e3:,.1f}"


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares y = a + b·x."""
    mx, my = statistics.fmean(x for x, _ in points), statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - b * mx, b


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as fh:
        model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{cores} cores (nproc), {model}, Python {platform.python_version()}"


def report(rows: list[tuple[Deployment, Figures]], worst: dict[str, tuple[int, str]]) -> Iterator[str]:
    names = list(rows[0][1].refresh)
    empty = rows[0][1]
    yield "| state | events | build s | series | bytes | render ms, min / median | floor ms | render ÷ floor |"
    yield "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for d, f in rows:
        yield (f"| {d.label} | {sum(d.events.values()):,} | {d.build_seconds:,.0f} | {f.series:,} | {f.bytes:,} "
               f"| {ms(f.render)} | {ms(f.floor)} | {min(f.render) / min(f.floor):,.1f} |")  # fmt: skip
    yield ""
    yield ("Each family view's `refresh()`, ms (min / median); the scrape = every refresh + render "
           "(medians), and its ratio to the empty deployment's:")  # fmt: skip
    yield ""
    yield "| state | " + " | ".join(names) + " | scrape ms | scrape ÷ empty |"
    yield "| --- |" + " ---: |" * (len(names) + 2)
    for d, f in rows:
        cells = " | ".join(ms(f.refresh[n]) for n in names)
        yield f"| {d.label} | {cells} | {f.scrape() * 1e3:,.1f} | {f.scrape() / empty.scrape():,.0f} |"
    yield ""
    yield "Where render's time goes (each family's `collect()`, ms, once) and a worker's first refresh (ms):"
    yield ""
    yield "| state | " + " | ".join(f"{n} collect" for n in names) + " | first refresh, all views |"
    yield "| --- |" + " ---: |" * (len(names) + 1)
    for d, f in rows:
        cells = " | ".join(f"{f.collect[n] * 1e3:,.1f}" for n in names)
        yield f"| {d.label} | {cells} | {sum(f.cold.values()) * 1e3:,.0f} |"
    yield ""
    yield ("Background passes, off the scrape (`refresh_background`, a worker runs them every "
           "`PULSE_HEALTH_REFRESH_SECONDS`): the first reads every account, each later one the 1% a "
           "batch changed; the stall is the longest the event loop went without serving anything else:")  # fmt: skip
    yield ""
    yield "| state | view | first pass ms | later pass ms, min / median | accounts changed | longest stall ms |"
    yield "| --- | --- | ---: | ---: | ---: | ---: |"
    for d, f in rows:
        for name, b in f.background.items():
            later = ms(b.later) if b.later else "–"
            yield (f"| {d.label} | {name} | {b.first * 1e3:,.1f} | {later} | {b.touched:,} "
                   f"| {b.stall * 1e3:,.1f} |")  # fmt: skip
    yield ""
    d, last = rows[-1]
    yield f"Series by family, {d.label} and the worst case from the code (default settings):"
    yield ""
    yield "| family | measured | worst case | formula |"
    yield "| --- | ---: | ---: | --- |"
    for name, (count, formula) in worst.items():
        yield f"| {name} | {last.by_family.get(name, 0):,} | {count:,} | {formula} |"
    yield f"| runtime (ingest counters, Kafka signals) | {last.series - sum(last.by_family.values()):,} | | |"
    yield ""
    for d, _ in rows[1:]:
        refused = f"{d.refused:,} refused" if d.refused else "none refused"
        yield f"- {d.label}: {d.detail}; {', '.join(f'{t} {n:,}' for t, n in d.events.items())}; {refused}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", default="100000", help="synthetic full-scale states, comma-separated")
    ap.add_argument("--simulated", default="", help="`pulse simulate` states (customers), comma-separated")
    ap.add_argument("--days", type=int, default=35, help="days of event time (the engagement kernel keeps 35)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile of the last state's scrape")
    ap.add_argument("--redis", action="store_true", help="also scrape the last state from the local Redis")
    ap.add_argument("--no-aged", action="store_true", help="skip the last state grown to a year's retention")
    ap.add_argument("--gc-threshold", default="", help="gc.set_threshold for the measurements, e.g. 50000,20,100")
    args = ap.parse_args()
    settings = PulseSettings(app_id=APP_ID)
    end = datetime.now(UTC).date()  # the history ends at today's UTC midnight: nothing is future
    builds = [("simulated", int(n)) for n in args.simulated.split(",") if n.strip()]
    builds += [("synthetic", int(n)) for n in args.customers.split(",") if n.strip()]
    if args.gc_threshold:
        gc.set_threshold(*(int(x) for x in args.gc_threshold.split(",")))
    print(f"{machine()}; {args.days} days of history ending {end}; {args.runs} runs; "
          f"gc threshold {gc.get_threshold()}\n", flush=True)  # fmt: skip
    empty = Deployment("empty deployment", MemorySnapshotStore(APP_ID))
    rows = [(empty, measure(worker(settings, empty.snapshots, {}), empty.snapshots, args.runs, profile=False))]
    redis_figures: Figures | None = None
    with tempfile.TemporaryDirectory(prefix="pulse-scrape-") as tmp:
        for i, (kind, n) in enumerate(builds):
            if kind == "simulated":
                d = simulated(n, args.days, end, args.seed, settings, Path(tmp))
            else:
                d = synthetic(n, args.days, end, args.seed, settings)
            gc.collect()
            last = i == len(builds) - 1
            f = measure(worker(settings, d.snapshots, d.events), d.snapshots, args.runs, last and not args.no_profile)
            rows.append((d, f))
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
            print(f"<!-- {d.label}: built in {d.build_seconds:.0f} s, scrape {f.scrape() * 1e3:,.0f} ms, "
                  f"peak RSS {rss:.1f} GB -->", flush=True)  # fmt: skip
            if last and args.redis:
                redis_figures = from_redis(settings, d, args.runs)
            if last and not args.no_aged:
                kept = asyncio.run(age(d.snapshots, args.days))
                detail = f"the same state, day payloads copied back to a worker's retention ({kept})"
                aged = Deployment(f"{d.label}, aged", d.snapshots, d.events, d.refused, 0.0, detail)
                rows.append((aged, measure(worker(settings, d.snapshots, d.events), d.snapshots, args.runs, False)))
            d.snapshots = MemorySnapshotStore(APP_ID)  # let the state go
            gc.collect()
    print()
    for line in report(rows, worst_case()):
        print(line)
    synth = [(int(d.label.removeprefix("synthetic ").replace(",", "")), f.scrape())
             for d, f in rows if d.label.startswith("synthetic") and not d.label.endswith("aged")]  # fmt: skip
    if len(synth) >= 2:
        a, b = fit(synth)
        print(f"\nLinear fit of the scrape over the synthetic states: {a * 1e3:,.0f} ms + {b * 1e6:,.1f} ms "
              f"per 1,000 customers (100,000: {(a + b * 100_000):,.1f} s)")  # fmt: skip
    if redis_figures is not None:
        d = rows[-1][0]
        names = list(redis_figures.refresh)
        print(f"\nThe same scrape of {d.label} read from Redis ({settings.redis_url}): refresh ms (min / median) "
              + ", ".join(f"{n} {ms(redis_figures.refresh[n])}" for n in names)
              + f"; render {ms(redis_figures.render)}; scrape {redis_figures.scrape() * 1e3:,.0f} ms")  # fmt: skip
    for d, f in rows:
        if f.profile:
            print(f"\ncProfile of one scrape (every refresh, then render) of {d.label}:\n\n```")
            print(f.profile)
            print("```")


if __name__ == "__main__":
    main()
