"""`pulse demo`: the local stack, a worker and the live simulator, until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.parse

import typer

from stream.admin import ensure_topics, records_in
from stream.cli.common import REPO, fail, guard, out, settings_with
from stream.settings import load_settings

__all__ = ["demo", "prometheus_graph", "GRAPHS"]

PROMETHEUS = "http://127.0.0.1:9090"
ALERTMANAGER = "http://127.0.0.1:9093"
#: ready-made Prometheus graph views of a few figures (every worker exports the same value)
GRAPHS = (
    ("MRR", "max without(instance) (pulse_mrr)"),
    ("DAU/WAU/MAU", "max without(instance) (pulse_active_users)"),
    ("FRT p90", 'max without(instance) (pulse_first_response_seconds{quantile="0.9",window="1d",channel="all",'
                'priority="all",clock="calendar"})'),
    ("CAC by channel", 'max without(instance) (pulse_cac{window="30d"})'),
)  # fmt: skip


def prometheus_graph(expr: str, range_input: str = "1h") -> str:
    return f"{PROMETHEUS}/graph?" + urllib.parse.urlencode(
        {"g0.expr": expr, "g0.tab": "0", "g0.range_input": range_input}
    )


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
    settings = settings_with()
    stack = REPO / "scripts" / "stack"
    if stack.exists():
        if subprocess.call([str(stack), "up", "--with-observability"]) != 0:
            raise fail("the local stack did not start; see the lines above")
    guard(lambda: asyncio.run(ensure_topics(settings)))
    pulse = [sys.executable, "-m", "stream.cli"]
    children: list[subprocess.Popen[bytes]] = []
    logs = REPO / ".stack" / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def spawn(args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(logs / log_name, "ab")
        proc = subprocess.Popen(pulse + args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        children.append(proc)
        return proc

    def stop_on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (a supervisor, `timeout`) stops the children too

    signal.signal(signal.SIGTERM, stop_on_term)
    try:
        spawn(["worker"], "demo-worker.log")
        already = history_days and guard(lambda: asyncio.run(records_in(settings, settings.topic("subscriptions"))))
        if already:
            # Publishing it again would put month-old events behind the live ones: dead-lettered
            # as late, one warning each. The worker's state already holds the first copy.
            out.print(f"history already published ({already} subscription records): not publishing it again")
        elif history_days:
            out.print(f"publishing {history_days} days of history for {customers} customers…")
            subprocess.check_call(pulse + ["simulate", "--customers", str(customers), "--days", str(history_days)])
        spawn(["simulate", "--customers", str(customers), "--rate", str(rate)], "demo-simulator.log")
        url = f"http://{settings.web_host}:{settings.web_port}"
        graphs = "\n".join(f"  {name + ':':<16}{prometheus_graph(expr)}" for name, expr in GRAPHS)
        out.print(
            f"\n[bold green]Pulse is running.[/] The numbers, in Prometheus (they fill in as the history "
            f"is processed):\n{graphs}\n"
            f"The JSON API:\n"
            f"  revenue:      {url}/api/v1/revenue\n"
            f"  acquisition:  {url}/api/v1/acquisition\n"
            f"  alerts:       {url}/api/v1/alerts   (Alertmanager: {ALERTMANAGER})\n"
            f"  health:       {url}/health   metrics: {url}/metrics\n"
            f'Dashboards: `docker compose up` starts Grafana on http://127.0.0.1:3000 (open "Pulse / Revenue" first).\n'
            f"  logs:     {logs}/demo-worker.log, demo-simulator.log\n"
            f"Ctrl-C stops the worker and the simulator (the stack stays up: scripts/stack down).\n",
            soft_wrap=True,
        )
        while all(p.poll() is None for p in children):
            time.sleep(1)
        dead = [p for p in children if p.poll() is not None]
        raise fail(f"a demo process exited with code {dead[0].returncode}; see {logs}")
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
