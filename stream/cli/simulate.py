"""`pulse simulate`: a realistic synthetic stream to a file or to Kafka (history or live)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import orjson
import typer

from stream.admin import ensure_topics
from stream.cli.common import err, fail, guard, progress, settings_with
from stream.jsonl import dump_line
from stream.publish import Record
from stream.settings import PulseSettings

__all__ = ["simulate", "send"]


def _end_of(day: str | None) -> datetime:
    if day is None:  # now: a history has no events yet to happen (they would be refused as future)
        return datetime.now(UTC).replace(microsecond=0)
    try:
        return datetime.combine(date.fromisoformat(day), dtime(0), tzinfo=UTC)
    except ValueError:
        raise fail(f"--end: expected YYYY-MM-DD, got {day!r}") from None


def simulate(
    customers: int = typer.Option(50, min=1, help="Customer accounts in the simulated company"),
    seed: int = typer.Option(7, help="Same seed, same stream"),
    days: int = typer.Option(30, min=1, max=3650, help="History mode: days of event time"),
    end: str | None = typer.Option(
        None, help="History mode: UTC day the history ends (exclusive), YYYY-MM-DD; default now"
    ),
    out: Path | None = typer.Option(None, help="Write JSON lines here instead of Kafka"),
    rate: float | None = typer.Option(
        None,
        min=0.1,
        help="Live mode: events per second in real time, stamped now (a ticket's replies, resolution and CSAT "
        "come as long after its opening as they would in real life)",
    ),
    duration: float | None = typer.Option(None, min=0.1, help="Live mode: stop after seconds"),
) -> None:
    """Publish a realistic synthetic stream to all six topics (history or live)."""
    from stream.simulate import generate_history

    if rate is not None:
        if out is not None:
            raise fail("--out is for history mode; drop --rate to write a file")
        _simulate_live(customers, seed, rate, duration)
        return

    end_at = _end_of(end)
    events = generate_history(customers=customers, days=days, end=end_at, seed=seed)
    if out is not None:
        with progress() as bar, out.open("wb") as fh:
            task = bar.add_task(f"writing {out}", total=None)
            n = 0
            for ev in events:
                fh.write(dump_line(ev.topic, ev.key, ev.event))
                n += 1
                if n % 5000 == 0:
                    bar.update(task, completed=n)
            bar.update(task, completed=n, total=n)
        err.print(f"wrote {n} events to {out}")
        return

    settings = settings_with()
    records = [(ev.topic, ev.key.encode() if ev.key else None, orjson.dumps(ev.event)) for ev in events]
    send(settings, records, "publishing history")


def send(settings: PulseSettings, records: Sequence[Record], label: str) -> None:
    from stream.publish import publish

    guard(lambda: asyncio.run(ensure_topics(settings)))
    with progress() as bar:
        task = bar.add_task(label, total=len(records))
        n = guard(lambda: asyncio.run(publish(settings, records, on_sent=lambda k: bar.advance(task, k))))
    err.print(f"published {n} events to {settings.kafka_broker} (prefix {settings.topic_prefix!r})")


_ID_FIELDS = (
    "customer_id",
    "subscription_id",
    "account_id",
    "user_id",
    "anonymous_id",
    "ticket_id",
    "lead_id",
    "session_id",
)


def _namespaced(ev: Any, namespace: str) -> Any:
    """Prefix every id, so a live cycle never collides with the history or another cycle."""
    from stream.simulate import SimEvent

    event = {k: (f"{namespace}{v}" if k in _ID_FIELDS and isinstance(v, str) else v) for k, v in ev.event.items()}
    key = None if ev.key is None else (ev.key if ev.topic in ("marketing-spend",) else f"{namespace}{ev.key}")
    return SimEvent(ev.topic, key, event)


def _simulate_live(customers: int, seed: int, rate: float, duration: float | None) -> None:
    from stream.publish import open_producer
    from stream.simulate import generate_history
    from stream.simulate.live import TicketClock

    settings = settings_with()
    guard(lambda: asyncio.run(ensure_topics(settings)))

    def live_events() -> Iterator[Any]:
        cycle = 0
        while True:  # a year of simulated behaviour, replayed at `rate`, stamped with now
            start = datetime.now(UTC)
            namespace = f"live{int(start.timestamp())}-"
            for ev in generate_history(
                customers=customers, days=365, end=start + timedelta(days=365), seed=seed + cycle
            ):
                yield _namespaced(ev, namespace)
            cycle += 1

    async def run() -> int:
        producer = await open_producer(settings)
        clock = TicketClock()
        sent, started = 0, time.monotonic()

        async def send(ev: Any) -> None:
            nonlocal sent
            event = dict(ev.event)
            event["occurred_at"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            event["event_id"] = f"live-{seed}-{int(started)}-{sent}"
            await producer.send(
                settings.topic(ev.topic), value=orjson.dumps(event), key=ev.key.encode() if ev.key else None
            )
            sent += 1

        try:
            for ev in live_events():
                if duration is not None and time.monotonic() - started >= duration:
                    break
                now = time.time()
                for held in clock.due(now):  # a ticket's replies and resolution, at their time
                    await send(held)
                if clock.place(ev.topic, ev.event, ev, now):
                    await send(ev)
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await producer.flush()
        finally:
            await producer.stop()
        return sent

    err.print(f"simulating live at {rate:g} events/s to {settings.kafka_broker} (Ctrl-C stops)")
    try:
        n = guard(lambda: asyncio.run(run()))
    except KeyboardInterrupt:
        err.print("simulator stopped")
        return
    err.print(f"published {n} live events")
