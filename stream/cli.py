"""The `pulse` command line: worker, simulate, produce, demo, report, schemas.

Expected failures (broker down, bad flag, bad file) print one line and exit 2; tracebacks are
for bugs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stream.admin import BrokerUnreachable, ensure_topics, records_in
from stream.jsonl import FileFormatError, dump_line, iter_records
from stream.settings import PulseSettings, SettingsError, load_settings

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Pulse: streaming SaaS metrics.")
report_app = typer.Typer(no_args_is_help=True, help="Replay an event file through the metric code.")
app.add_typer(report_app, name="report")
err = Console(stderr=True)
out = Console()

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


def _fail(message: str) -> "typer.Exit":
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (SettingsError, BrokerUnreachable, FileFormatError) as exc:
        raise _fail(str(exc)) from None


def _settings(**overrides: Any) -> PulseSettings:
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if not overrides:
        return _guard(load_settings)
    base = _guard(load_settings)
    try:
        return PulseSettings(**{**base.model_dump(), **overrides})
    except Exception as exc:  # pydantic.ValidationError
        raise _fail(f"invalid option: {exc}") from None


# --- worker ---------------------------------------------------------------------------------


@app.command()
def worker(
    web_port: Optional[int] = typer.Option(None, help="Port of /metrics and the API (PULSE_WEB_PORT)"),
    app_id: Optional[str] = typer.Option(None, help="Faust app id / consumer group (PULSE_APP_ID)"),
    data_dir: Optional[str] = typer.Option(None, help="Faust data dir (PULSE_DATA_DIR)"),
) -> None:
    """Run a Pulse worker: consume the source topics and serve /metrics."""
    settings = _settings(web_port=web_port, app_id=app_id, data_dir=data_dir)
    _guard(lambda: asyncio.run(ensure_topics(settings)))
    from stream.worker import run_worker

    run_worker(settings)


# --- simulate -------------------------------------------------------------------------------


def _end_of(day: Optional[str]) -> datetime:
    if day is None:
        today = datetime.now(timezone.utc).date() + timedelta(days=1)
        return datetime.combine(today, dtime(0), tzinfo=timezone.utc)
    try:
        return datetime.combine(date.fromisoformat(day), dtime(0), tzinfo=timezone.utc)
    except ValueError:
        raise _fail(f"--end: expected YYYY-MM-DD, got {day!r}") from None


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


@app.command()
def simulate(
    customers: int = typer.Option(50, min=1, help="Customer accounts in the simulated company"),
    seed: int = typer.Option(7, help="Same seed, same stream"),
    days: int = typer.Option(30, min=1, max=3650, help="History mode: days of event time"),
    end: Optional[str] = typer.Option(
        None, help="History mode: UTC day the history ends (exclusive), YYYY-MM-DD; default tomorrow"
    ),
    out: Optional[Path] = typer.Option(None, help="Write JSON lines here instead of Kafka"),
    rate: Optional[float] = typer.Option(
        None, min=0.1, help="Live mode: events per second in real time, stamped now"
    ),
    duration: Optional[float] = typer.Option(None, min=0.1, help="Live mode: stop after seconds"),
) -> None:
    """Publish a realistic synthetic stream to all six topics (history or live)."""
    from stream.simulate import generate_history

    if rate is not None:
        if out is not None:
            raise _fail("--out is for history mode; drop --rate to write a file")
        _simulate_live(customers, seed, rate, duration)
        return

    end_at = _end_of(end)
    events = generate_history(customers=customers, days=days, end=end_at, seed=seed)
    if out is not None:
        with _progress() as progress, out.open("wb") as fh:
            task = progress.add_task(f"writing {out}", total=None)
            n = 0
            for ev in events:
                fh.write(dump_line(ev.topic, ev.key, ev.event))
                n += 1
                if n % 5000 == 0:
                    progress.update(task, completed=n)
            progress.update(task, completed=n, total=n)
        err.print(f"wrote {n} events to {out}")
        return

    settings = _settings()
    records = [(ev.topic, ev.key.encode() if ev.key else None, orjson.dumps(ev.event)) for ev in events]
    _send(settings, records, "publishing history")


def _send(settings: PulseSettings, records: list[tuple[str, bytes | None, bytes]], label: str) -> None:
    from stream.publish import publish

    _guard(lambda: asyncio.run(ensure_topics(settings)))
    with _progress() as progress:
        task = progress.add_task(label, total=len(records))
        n = _guard(
            lambda: asyncio.run(
                publish(settings, records, on_sent=lambda k: progress.advance(task, k))
            )
        )
    err.print(f"published {n} events to {settings.kafka_broker} (prefix {settings.topic_prefix!r})")


_ID_FIELDS = (
    "customer_id", "subscription_id", "account_id", "user_id", "anonymous_id", "ticket_id",
    "lead_id", "session_id",
)


def _namespaced(ev: Any, namespace: str) -> Any:
    """Prefix every id, so a live cycle never collides with the history or another cycle."""
    from stream.simulate import SimEvent

    event = {k: (f"{namespace}{v}" if k in _ID_FIELDS and isinstance(v, str) else v) for k, v in ev.event.items()}
    key = None if ev.key is None else (ev.key if ev.topic in ("marketing-spend",) else f"{namespace}{ev.key}")
    return SimEvent(ev.topic, key, event)


def _simulate_live(customers: int, seed: int, rate: float, duration: Optional[float]) -> None:
    from stream.publish import open_producer
    from stream.simulate import generate_history

    settings = _settings()
    _guard(lambda: asyncio.run(ensure_topics(settings)))

    def live_events() -> Iterator[Any]:
        cycle = 0
        while True:  # a year of simulated behaviour, replayed at `rate`, stamped with now
            start = datetime.now(timezone.utc)
            namespace = f"live{int(start.timestamp())}-"
            for ev in generate_history(
                customers=customers, days=365, end=start + timedelta(days=365), seed=seed + cycle
            ):
                yield _namespaced(ev, namespace)
            cycle += 1

    async def run() -> int:
        producer = await open_producer(settings)
        sent, started = 0, time.monotonic()
        try:
            for ev in live_events():
                if duration is not None and time.monotonic() - started >= duration:
                    break
                now = datetime.now(timezone.utc)
                event = dict(ev.event)
                event["occurred_at"] = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                event["event_id"] = f"live-{seed}-{int(started)}-{sent}"
                await producer.send(
                    settings.topic(ev.topic),
                    value=orjson.dumps(event),
                    key=ev.key.encode() if ev.key else None,
                )
                sent += 1
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await producer.flush()
        finally:
            await producer.stop()
        return sent

    err.print(f"simulating live at {rate:g} events/s to {settings.kafka_broker} (Ctrl-C stops)")
    try:
        n = _guard(lambda: asyncio.run(run()))
    except KeyboardInterrupt:
        err.print("simulator stopped")
        return
    err.print(f"published {n} live events")


# --- produce --------------------------------------------------------------------------------


@app.command()
def produce(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON-lines event file"),
    topic: Optional[str] = typer.Option(None, help="Every line is a bare event for this topic"),
) -> None:
    """Publish the events of a file (lines as written by `pulse simulate --out`)."""
    from stream.topics import SOURCE_TOPICS

    if topic is not None and topic not in SOURCE_TOPICS:
        raise _fail(f"--topic: unknown topic {topic!r}; expected one of {', '.join(SOURCE_TOPICS)}")
    records = _guard(lambda: list(iter_records(file, topic)))
    _send(_settings(), records, f"publishing {file.name}")


# --- report -------------------------------------------------------------------------------


def _bare_topic(file: Path) -> str | None:
    """Whether the file holds bare events (no {"topic", "event"} wrapper): "subscriptions"
    if so (the caller reads it as its own topic), None for wrapped lines."""
    from stream.jsonl import iter_lines

    for _, line in iter_lines(file):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return "subscriptions"
        return None if isinstance(obj, dict) and "topic" in obj and "event" in obj else "subscriptions"
    return None


def _replay(events: Path, format: str, topic: str) -> Any:
    """Replay the file's `topic` records with a progress bar; bare lines belong to `topic`."""
    from stream.replay import replay_file

    if format not in ("csv", "json"):
        raise _fail(f"--format: expected csv or json, got {format!r}")
    settings = _settings()
    with _progress() as progress:
        task = progress.add_task(f"replaying {events.name}", total=None)
        result = _guard(
            lambda: replay_file(
                events, settings, (topic,), topic if _bare_topic(events) else None,
                on_record=lambda: progress.advance(task),
            )
        )
    for (name, reason), n in sorted(result.rejected.items()):
        err.print(f"{n} {name} events rejected ({reason})")
    processor = result.pipelines[topic].processor
    return [processor.ledgers[p] for p in sorted(processor.ledgers)]


def _emit(rows: list[dict[str, Any]], columns: tuple[str, ...], format: str) -> None:
    import csv

    if format == "json":
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


@report_app.command("monthly-mrr")
def monthly_mrr(
    events: Path = typer.Option(..., "--events", exists=True, dir_okay=False, help="JSON-lines file"),
    format: str = typer.Option("csv", "--format", help="csv or json"),
) -> None:
    """MRR, active customers and movements per UTC calendar month, by the workers' code."""
    from consumers.revenue.buckets import merge
    from consumers.revenue.report import MONTHLY_COLUMNS, monthly_rows

    ledgers = _replay(events, format, "subscriptions")
    buckets = merge(ledger.buckets for ledger in ledgers)
    firsts = [c["e"][0]["t"] for lg in ledgers for c in lg.customers.values()]
    lasts = [c["e"][-1]["t"] for lg in ledgers for c in lg.customers.values()]
    rows = monthly_rows(buckets, min(firsts)[:7], max(lasts)[:7]) if firsts else []
    _emit(rows, MONTHLY_COLUMNS, format)


@report_app.command("daily-engagement")
def daily_engagement(
    events: Path = typer.Option(..., "--events", exists=True, dir_okay=False, help="JSON-lines file"),
    format: str = typer.Option("csv", "--format", help="csv or json"),
) -> None:
    """DAU, WAU, MAU, stickiness, visitors, signups and sessions per UTC day, by the workers' code."""
    from consumers.engagement.figures import DAILY_COLUMNS, EngagementFigures, Partition

    ledgers = _replay(events, format, "product-events")
    figures = EngagementFigures([Partition(lg.sketches, lg.days, lg.watermark) for lg in ledgers])
    days = figures.days_with_data()
    rows = [figures.daily_row(d) for d in range(days[0], days[-1] + 1)] if days else []
    _emit(rows, DAILY_COLUMNS, format)


# --- schemas --------------------------------------------------------------------------------


@app.command()
def schemas(
    check: bool = typer.Option(False, help="Fail if the committed files differ from the models"),
    directory: Path = typer.Option(REPO / "schemas", help="Where the JSON Schema files live"),
) -> None:
    """Write the JSON Schema of each topic's contract (generated from the pydantic models)."""
    from stream.schemas import render_schemas

    stale = []
    for name, text in render_schemas().items():
        path = directory / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        raise _fail(f"schemas out of date: {', '.join(stale)}; run `pulse schemas`")
    out.print("schemas up to date" if check else f"wrote schemas to {directory}")


# --- demo -----------------------------------------------------------------------------------


@app.command()
def demo(
    customers: int = typer.Option(50, min=1),
    rate: float = typer.Option(200.0, min=1, help="Live events per second after the history"),
    history_days: int = typer.Option(30, min=0, help="Days of history published first"),
) -> None:
    """Start the local stack if needed, a worker and the simulator; Ctrl-C stops them."""
    # The simulator prices some plans in EUR and GBP: give the demo worker rates for them
    # (illustrative, not market data) unless the user configured their own.
    os.environ.setdefault("PULSE_FX_RATES", '{"USD": 1, "EUR": "1.08", "GBP": "1.27"}')
    load_settings.cache_clear()
    settings = _settings()
    stack = REPO / "scripts" / "stack"
    if stack.exists():
        if subprocess.call([str(stack), "up"]) != 0:
            raise _fail("the local stack did not start; see the lines above")
    _guard(lambda: asyncio.run(ensure_topics(settings)))
    pulse = [sys.executable, "-m", "stream.cli"]
    children: list[subprocess.Popen[bytes]] = []
    logs = REPO / ".stack" / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def spawn(args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(logs / log_name, "ab")
        proc = subprocess.Popen(pulse + args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        children.append(proc)
        return proc

    try:
        spawn(["worker"], "demo-worker.log")
        already = history_days and _guard(lambda: asyncio.run(records_in(settings, settings.topic("subscriptions"))))
        if already:
            # Publishing it again would put month-old events behind the live ones: dead-lettered
            # as late, one warning each. The worker's state already holds the first copy.
            out.print(f"history already published ({already} subscription records): not publishing it again")
        elif history_days:
            out.print(f"publishing {history_days} days of history for {customers} customers…")
            subprocess.check_call(
                pulse + ["simulate", "--customers", str(customers), "--days", str(history_days)]
            )
        spawn(["simulate", "--customers", str(customers), "--rate", str(rate)], "demo-simulator.log")
        url = f"http://{settings.web_host}:{settings.web_port}"
        out.print(
            f"\n[bold green]Pulse is running.[/]\n"
            f"  metrics:  {url}/metrics\n"
            f"  health:   {url}/health\n"
            f"  logs:     {logs}/demo-worker.log, demo-simulator.log\n"
            f"Ctrl-C stops the worker and the simulator (the stack stays up: scripts/stack down).\n"
        )
        while all(p.poll() is None for p in children):
            time.sleep(1)
        dead = [p for p in children if p.poll() is not None]
        raise _fail(f"a demo process exited with code {dead[0].returncode}; see {logs}")
    except KeyboardInterrupt:
        out.print("stopping…")
    finally:
        for p in children:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in children:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        out.print("demo stopped")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
