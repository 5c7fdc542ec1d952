"""Every query of every generated Grafana dashboard, run on the real Prometheus of the local
stack against a real worker: none may fail and none may come back empty, so a dashboard never
ships a misspelt metric, a wrong label value or a window that does not exist.

The stack's Prometheus scrapes 127.0.0.1:6066 every 15 s (deploy/prometheus/prometheus.yml):
one worker of a fresh deployment serves there, fed with simulated history plus a few records
that make the rarer series exist (a malformed record, a resend, a late and a conflicting event,
keyless records, a ticket nobody answers, a signup) and an alert rule that always fires, so the
alert panels have data. Each operand of a top-level ``or`` must have data on its own.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import yaml

from dashboards import OUT_DIR
from dashboards.common import metric_docs
from stream.jsonl import iter_records
from tests.factories import make_subscription
from tests.integration.harness import REPO, Deployment, Worker, port_open, run_cli, wait_for

PROMETHEUS = "http://127.0.0.1:9090"
PORT = 6066
TARGET = f"127.0.0.1:{PORT}"
SCRAPE_SECONDS = 15
FX = '{"USD": 1, "EUR": "1.08", "GBP": "1.27"}'
SOURCE_TOPICS = ("subscriptions", "product-events", "support-tickets", "surveys", "marketing-spend", "leads")
#: Grafana's interval variables, as Grafana would expand them for a 15 s scrape interval
BUILTINS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}

#: (dashboard uid, panel title) whose queries may return nothing, and why. Only a metric that is
#: documented (docs/metrics.md) and legitimately has no series in a healthy run belongs here.
MAY_BE_EMPTY = {
    # (metric, why): a batch is re-read only after the broker was unreachable past the producer's
    # timeout; none is in a healthy run, and a labelled counter has no series before its first count
    ("pulse-engine", "Partition reloads (last hour)"): ("pulse_partition_reloads_total", "no broker outage"),
}

Record = tuple[str, bytes | None, bytes]

#: a rule that fires as soon as there is revenue, delivered to a Kafka topic of the deployment
PROBE_RULES = {
    "channels": {"kafka": {"type": "kafka", "topic": "alerts"}},
    "rules": [
        {
            "name": "dashboard_probe",
            "metric": "pulse_mrr",
            "condition": {"type": "threshold", "above": 0},
            "severity": "info",
            "channels": ["kafka"],
        }
    ],
}


class PromQLError(AssertionError):
    """Prometheus answered with an error."""


def prometheus(path: str, **params: Any) -> Any:
    """``data`` of a Prometheus HTTP API answer; raises PromQLError with Prometheus's message."""
    url = f"{PROMETHEUS}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            body = orjson.loads(r.read())
    except urllib.error.HTTPError as exc:
        body = orjson.loads(exc.read())
    if body.get("status") != "success":
        raise PromQLError(f"{body.get('errorType', '')}: {body.get('error', body)}")
    return body["data"]


def query(expr: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = prometheus("/api/v1/query", query=expr, time=f"{time.time():.3f}")["result"]
    return result


def served(worker: Worker, name: str, **labels: str) -> float:
    """The sum of a metric's samples on the worker's /metrics that carry ``labels``."""
    return sum(
        value
        for (metric, sample_labels), value in worker.metrics().items()
        if metric == name and set(labels.items()) <= set(sample_labels)
    )


def present(worker: Worker, name: str, **labels: str) -> bool:
    """Whether the worker's /metrics has a sample of the metric carrying ``labels``."""
    return any(
        metric == name and set(labels.items()) <= set(sample_labels) for metric, sample_labels in worker.metrics()
    )


def probes() -> tuple[list[Record], list[Record]]:
    """Records that give the series a healthy simulated history may leave absent one, as
    (published before the history, after it). Before: events dated before most of the history,
    which only then are within their partition's grace period."""
    # the latest final activation cohort is the watermark's day (2026-11-15) - 7 - 1, a Saturday
    # without signups in this history: one signup makes its ratio defined
    signup = {
        "event_id": "dash-signup",
        "type": "track",
        "occurred_at": "2026-11-07T12:00:00Z",
        "name": "signed_up",
        "user_id": "dash-user",
        "account_id": "dash-account",
    }
    # a ticket nobody answers: the oldest unanswered ticket's age is defined
    unanswered = {
        "event_id": "dash-ticket-opened",
        "type": "ticket_opened",
        "occurred_at": "2026-11-15T20:00:00Z",
        "ticket_id": "dash-ticket",
        "account_id": "dash-account",
        "channel": "email",
        "category": "question",
        "priority": "normal",
    }
    customer = "dash-late"
    latest = make_subscription(
        event_id="dash-latest", customer_id=customer, subscription_id="dash-s1", occurred_at="2026-11-10T00:00:00Z"
    )
    late = make_subscription(
        event_id="dash-late", customer_id=customer, subscription_id="dash-s2", occurred_at="2026-11-01T00:00:00Z"
    )
    conflicting = {**latest, "amount": "199.00"}  # the same event_id with other content
    keyless = [
        make_subscription(
            event_id=f"dash-keyless-{i}",
            customer_id=f"dash-keyless-{i}",
            subscription_id=f"dash-keyless-s{i}",
            occurred_at="2026-11-12T00:00:00Z",
        )
        for i in range(12)
    ]
    key = customer.encode()
    before: list[Record] = [
        ("product-events", b"dash-account", orjson.dumps(signup)),
        ("support-tickets", b"dash-ticket", orjson.dumps(unanswered)),
    ]
    after: list[Record] = [
        ("subscriptions", key, orjson.dumps(latest)),
        ("subscriptions", key, orjson.dumps(latest)),  # a producer resend: duplicate
        ("subscriptions", key, orjson.dumps(late)),  # 9 days behind the customer's latest: late
        ("subscriptions", key, orjson.dumps(conflicting)),  # conflict
        ("subscriptions", key, b'{"event_id": "dash-broken", "type": '),  # invalid_json
        *(("subscriptions", None, orjson.dumps(e)) for e in keyless),  # forwarded to their partition
    ]
    return before, after


@dataclass
class Scraped:
    """The worker whose figures Prometheus has scraped, and when it started (epoch seconds): label
    values older than that are other deployments' stale series."""

    worker: Worker
    since: float


@pytest.fixture(scope="module")
def scraped(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert TARGET in targets, f"deploy/prometheus/prometheus.yml no longer scrapes {TARGET}: {targets}"
    assert not port_open("127.0.0.1", PORT), (
        f"port {PORT} is in use: the stack's Prometheus scrapes only {TARGET}, so this test needs it free "
        f"(stop `make demo` or whatever listens there: `ss -ltnp 'sport = :{PORT}'`) and run it again"
    )
    tmp = tmp_path_factory.mktemp("dashboards")
    rules = tmp / "rules.yml"
    rules.write_text(yaml.safe_dump(PROBE_RULES))
    deployment = Deployment(
        tmp,
        extra_env={"PULSE_FX_RATES": FX, "PULSE_ALERT_RULES_FILE": str(rules), "PULSE_ALERT_INTERVAL_SECONDS": "5"},
    )
    history = tmp / "events.jsonl"
    # a fixed end: the same history, hence the same figures, whatever the time of day
    run_cli("simulate", "--out", str(history), "--seed", "11", "--customers", "60", "--days", "60",
            "--end", "2026-11-16", env=deployment.env)  # fmt: skip
    deployment.create_topics()
    started_at = time.time()
    worker = Worker(deployment.env, "dashboards", port=PORT)
    worker.start()
    try:
        before, after = probes()
        deployment.publish([*before, *iter_records(history), *after])

        def settled() -> bool:
            lags = {
                dict(labels)["topic"]: value
                for (name, labels), value in worker.metrics().items()
                if name == "pulse_consumer_lag_records"
            }
            return (
                set(SOURCE_TOPICS) <= set(lags)
                and not any(lags.values())
                and served(worker, "pulse_mrr") > 0
                and present(worker, "pulse_oldest_unanswered_ticket_age_seconds")
                and present(worker, "pulse_activation_ratio", cohort="latest_final")
                and served(worker, "pulse_events_rejected_total", reason="late") >= 1
                and served(worker, "pulse_events_conflicting_total") >= 1
                and served(worker, "pulse_events_duplicate_total", topic="subscriptions") >= 1
                and served(worker, "pulse_events_forwarded_total") >= 1
                and served(worker, "pulse_alerts_firing", rule="dashboard_probe") >= 1
                and served(worker, "pulse_alert_notifications_total", outcome="delivered") >= 1
            )

        wait_for(settled, timeout=120, interval=1, what="the history processed and the probe alert delivered")
        settled_at = time.time()

        def scraped_twice_since() -> bool:
            # the latest scrape at least one interval after settling: two scrapes since, so rate() has two points
            result = query(f'timestamp(pulse_worker_ready{{instance="{TARGET}"}})')
            return bool(result) and float(result[0]["value"][1]) >= settled_at + SCRAPE_SECONDS

        try:
            wait_for(scraped_twice_since, timeout=4 * SCRAPE_SECONDS, interval=2, what=f"Prometheus scraping {TARGET}")
        except TimeoutError:
            active = [
                (t["scrapeUrl"], t["health"], t["lastError"]) for t in prometheus("/api/v1/targets")["activeTargets"]
            ]
            raise AssertionError(f"Prometheus does not scrape {TARGET} as expected; its targets: {active}") from None

        def same_mrr() -> bool:
            result = query(f'pulse_mrr{{instance="{TARGET}"}}')
            return bool(result) and float(result[0]["value"][1]) == pytest.approx(served(worker, "pulse_mrr"))

        wait_for(same_mrr, timeout=2 * SCRAPE_SECONDS, interval=1, what="Prometheus holding the worker's MRR")
        yield Scraped(worker, started_at)
    finally:
        worker.stop()


def boards() -> list[dict[str, Any]]:
    """The committed dashboards: what Grafana loads (tests/dashboards checks they are generated)."""
    return [json.loads(p.read_text()) for p in sorted(OUT_DIR.glob("*.json"))]


def variable_values(board: dict[str, Any], since: float) -> dict[str, str]:
    """A value each query variable offers now: the first of its label's values on its metric."""
    values = {}
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["query"])
        assert m is not None, f"{board['uid']}: ${var['name']}: unexpected query {var['query']!r}"
        metric, label = m.groups()
        offered = prometheus(f"/api/v1/label/{label}/values", **{"match[]": metric, "start": f"{since:.0f}"})
        assert offered, f"{board['uid']}: ${var['name']} offers nothing: no {label} on {metric} in Prometheus"
        values[var["name"]] = sorted(offered)[0]
    return values


def expand(expr: str, variables: dict[str, str]) -> str:
    """The expr as Grafana sends it: interval variables expanded, each ``=~"$var"`` matcher given
    ``variables[var]`` (a regex: All is ``.*``)."""
    for name, value in BUILTINS.items():
        expr = expr.replace(name, value)
    for name, regex in variables.items():
        expr = expr.replace(f'=~"${name}"', f'=~"{regex}"').replace(f'=~"${{{name}}}"', f'=~"{regex}"')
    leftover = re.findall(r"\$\{?\w+", expr)
    assert not leftover, f"unexpanded variables {leftover} in {expr}"
    return expr


def operands(expr: str) -> list[str]:
    """The operands of an expr's top-level ``or``s: each must have data on its own, so ``or``
    never hides a wrong name behind another operand (``... or vector(0)``)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(expr):
        if ch == '"' and expr[i - 1] != "\\":
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and expr.startswith(" or ", i):
            parts.append(expr[start:i])
            start = i + 4
    return [p.strip() for p in [*parts, expr[start:]]]


def regex_of(value: str) -> str:
    """A label value as an RE2 regex inside a PromQL string literal."""
    return re.escape(value).replace("\\", "\\\\")


def test_every_panel_query_returns_data_on_prometheus(scraped: Scraped) -> None:
    docs = metric_docs()
    failures: list[str] = []
    checked, panels_seen = 0, set()
    for board in boards():
        offered = variable_values(board, scraped.since)
        everything = {name: ".*" for name in offered}
        one_value = {name: regex_of(value) for name, value in offered.items()}
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            key = (board["uid"], panel["title"])
            panels_seen.add(key)
            for target in panel["targets"]:
                where = f"{board['uid']} / {panel['title']!r} / {target['refId']}: {target['expr']}"
                try:
                    results = [query(part) for part in operands(expand(target["expr"], everything))]
                    if any(f"${name}" in target["expr"] for name in offered):
                        query(expand(target["expr"], one_value))  # a single selected value parses too
                except PromQLError as exc:
                    failures.append(f"{where}\n    error: {exc}")
                    continue
                checked += 1
                if all(results):
                    continue
                if key in MAY_BE_EMPTY:
                    metric, _reason = MAY_BE_EMPTY[key]
                    assert metric in docs, f"{where}: may be empty, but {metric} is not in docs/metrics.md"
                    assert metric in target["expr"], f"{where}: MAY_BE_EMPTY names {metric}, the panel reads another"
                    continue
                empty = [part for part, result in zip(operands(target["expr"]), results, strict=True) if not result]
                failures.append(f"{where}\n    empty result of {empty}")
    stale = set(MAY_BE_EMPTY) - panels_seen
    assert not stale, f"MAY_BE_EMPTY names panels no dashboard has: {sorted(stale)}"
    assert checked > 50, f"only {checked} queries checked"
    assert not failures, f"{len(failures)} of the dashboards' queries fail on Prometheus:\n" + "\n".join(failures)


def test_the_dashboards_show_this_workers_figures(scraped: Scraped) -> None:
    """What the panels read is the worker's deployment-wide figure, once (max over workers, not a sum)."""
    for name in ("pulse_mrr", "pulse_customers_active", "pulse_tickets_awaiting_first_response"):
        result = query(f"max without(instance) ({name})")
        assert len(result) == 1, (name, result)
        assert float(result[0]["value"][1]) == pytest.approx(served(scraped.worker, name)), name


def test_the_probe_alert_and_its_delivery_are_on_the_alerts_dashboard(scraped: Scraped) -> None:
    firing = query('max by (rule, severity) (pulse_alerts_firing{rule="dashboard_probe"})')
    assert [r["metric"] for r in firing] == [{"rule": "dashboard_probe", "severity": "info"}]
    delivered = query('sum by (outcome) (pulse_alert_notifications_total{channel="kafka", outcome="delivered"})')
    assert delivered and float(delivered[0]["value"][1]) >= 1


def test_the_demos_graph_views_show_data(scraped: Scraped) -> None:
    """The Prometheus graph views `make demo` prints query what this worker exports."""
    from urllib.parse import parse_qs, urlsplit

    from stream.cli.demo import GRAPHS, prometheus_graph

    for name, expr in GRAPHS:
        url = prometheus_graph(expr)
        assert parse_qs(urlsplit(url).query)["g0.expr"] == [expr]
        if name == "FRT p90":  # the fixed history ended days ago: no ticket answered "today"
            expr = expr.replace('window="1d"', 'window="30d"')
        assert query(expr), (name, expr)


def test_alertmanager_routes_to_pulses_receiver(scraped: Scraped) -> None:
    """The stack's Alertmanager (deploy/alertmanager/alertmanager.yml) sends what it gets to the
    worker on the web port: an alert posted to it arrives at /api/v1/alerts/received."""
    import urllib.request
    import uuid

    probe = f"receiver_probe_{uuid.uuid4().hex[:8]}"
    alert = [{"labels": {"alertname": probe, "severity": "info"}, "annotations": {"summary": "a probe"}}]
    request = urllib.request.Request("http://127.0.0.1:9093/api/v2/alerts", data=json.dumps(alert).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200

    def arrived() -> list[dict[str, Any]]:
        got = scraped.worker.get_json("/api/v1/alerts/received")["received"]
        return [a for a in got if a["labels"].get("alertname") == probe]

    [received] = wait_for(arrived, timeout=90, interval=2, what="Alertmanager's notification at Pulse's receiver")
    assert received["status"] == "firing" and received["labels"]["severity"] == "info"
