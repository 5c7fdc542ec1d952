"""Alerting on the real stack: two workers, Kafka, Redis, Alertmanager and a local webhook
receiver. CAC of one channel rises 40% above its baseline (rebuilt in Redis by `pulse alerts
backfill`): exactly one firing notification reaches the webhook, Alertmanager and the Kafka
topic, and exactly one resolved notification when CAC returns. The webhook is down for a
minute meanwhile, and the worker that evaluates is SIGKILLed while the alert fires."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import redis
import yaml

from alerts.settings import DEFAULT_RULES
from stream.jsonl import iter_records
from stream.progress import WorkerProgress
from tests.alerts.streams import CacRise, write_cac_stream
from tests.integration.harness import REDIS_URL, Deployment, Worker, free_port, run_cli, wait_for

ALERTMANAGER = "http://127.0.0.1:9093"
SECRET = "s3cret-for-the-test"


class Receiver:
    """A webhook receiver on a fixed port that can be down (not listening) and up again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def payloads(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in self.received]


def alertmanager_alerts(run: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"filter": f'run="{run}"'})
    with urllib.request.urlopen(f"{ALERTMANAGER}/api/v2/alerts?{query}", timeout=5) as r:
        alerts: list[dict[str, Any]] = orjson.loads(r.read())
    return alerts


def kafka_notifications(d: Deployment) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in d.read_all("alerts")]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Receiver, str, list[Worker]]]:
    tmp = tmp_path_factory.mktemp("alerts")
    run = uuid.uuid4().hex[:10]
    receiver = Receiver()
    shipped = yaml.safe_load(DEFAULT_RULES.read_text())
    [cac] = [r for r in shipped["rules"] if r["name"] == "cac_drift"]
    cac["labels"] = {**cac["labels"], "run": run}
    cac["channels"] = ["hook", "alertmanager", "kafka"]
    rules = {
        "external_url": "http://pulse.test/api/v1/alerts",
        "channels": {**shipped["channels"], "hook": {"type": "webhook", "url": f"http://127.0.0.1:{receiver.port}/hook",
                                                     "secret_env": "ALERT_TEST_SECRET"}},
        "rules": [cac],
    }  # fmt: skip
    rules_file = tmp / "rules.yml"
    rules_file.write_text(yaml.safe_dump(rules))
    d = Deployment(tmp, extra_env={"PULSE_ALERT_RULES_FILE": str(rules_file), "PULSE_ALERT_INTERVAL_SECONDS": "2",
                                   "PULSE_ALERT_LEASE_SECONDS": "6", "ALERT_TEST_SECRET": SECRET})  # fmt: skip
    d.create_topics()
    # 120 flat days ending yesterday, published and backfilled into the baseline history
    today = datetime.now(UTC).date()
    history = write_cac_stream(tmp / "history.jsonl", CacRise(start=today - timedelta(days=120), days=120, factor=1.0))
    d.publish(list(iter_records(history)))
    assert "daily points written" in run_cli("alerts", "backfill", "--events", str(history), env=d.env)
    workers: list[Worker] = []
    try:
        a = d.worker("a").start()
        workers.append(a)
        wait_for(lambda: a.get_json("/api/v1/alerts")["evaluated_by"] is not None, timeout=60, what="a evaluates")
        workers.append(d.worker("b").start())  # a holds the lease; b waits for it
        yield d, receiver, run, workers
    finally:
        for w in workers:
            w.stop()
        receiver.down()


def ads_cac_rows(w: Worker) -> list[dict[str, Any]]:
    return [dict(r) for r in w.get_json("/api/v1/alerts")["alerts"] if r["labels"] == "channel=ads;window=30d"]


def ads_cac(w: Worker) -> dict[str, Any]:
    [row] = ads_cac_rows(w)
    return row


def settled_ads_cac(w: Worker) -> dict[str, Any] | None:
    """The ads row once evaluated on the whole history: inactive, its value and baseline near
    1,000 (the history's CAC); None while the row is missing or the figures still move."""
    rows = ads_cac_rows(w)
    if len(rows) != 1:
        return None
    [row] = rows
    value, baseline = row.get("value"), row.get("baseline")
    settled = row["state"] == "inactive" and value is not None and baseline is not None
    return row if settled and 900 < value < 1100 and 900 < baseline < 1100 else None


def source_topics(d: Deployment) -> list[str]:
    return [d.topic(t) for t in ("leads", "marketing-spend", "product-events", "subscriptions", "support-tickets",
                                 "surveys")]  # fmt: skip


def two_caught_up(d: Deployment) -> list[WorkerProgress] | None:
    """The two workers' entries in Redis, once both are of one generation and caught up."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        raw = client.hgetall(f"pulse:{d.env['PULSE_APP_ID']}:progress")
    finally:
        client.close()
    entries = [WorkerProgress.model_validate(orjson.loads(v)) for v in raw.values()]
    ok = len(entries) == 2 and len({e.generation for e in entries}) == 1 and all(e.caught_up for e in entries)
    return entries if ok else None


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_one_firing_and_one_resolved_notification_everywhere(
    setup: tuple[Deployment, Receiver, str, list[Worker]],
) -> None:
    d, receiver, run, workers = setup
    a, b = workers
    # every channel's 30-day figures settled from the history, baseline from the backfill
    # (a row judged on a half-read history never settles: the wait times out; alerting may wait
    # up to 120 s for the backlog to be read, so the wait leaves a loaded machine as long again)
    row = wait_for(lambda: settled_ads_cac(a), timeout=240, what="cac_drift for ads settled near 1,000")
    assert row["state"] == "inactive" and 900 < row["value"] < 1100 and 900 < row["baseline"] < 1100, row
    spend = a.metric("pulse_marketing_spend", channel="ads", window="30d")
    customers = a.metric("pulse_new_customers", channel="ads", window="30d")
    assert spend > 0 and customers > 0
    # judged once both workers said they read their partitions to the end (stream/progress.py)
    board = wait_for(lambda: two_caught_up(d), timeout=60, what="both workers' progress entries caught up")
    owned = [set(e.partitions) for e in board]
    assert not owned[0] & owned[1] and len(owned[0] | owned[1]) == 6 * len(source_topics(d))
    wait_for(lambda: a.get_json("/api/v1/alerts")["waiting_for"] is None, timeout=30,
             what="a judging again (it reads the entries at its next evaluation)")  # fmt: skip

    # CAC of ads rises 40% (blended: about 13%, below the rule's 20%); the webhook is down
    rise = {"event_id": f"rise-{run}", "type": "spend_recorded", "channel": "ads", "amount": f"{0.4 * spend:.2f}",
            "currency": "USD", "occurred_at": now_iso()}  # fmt: skip
    d.publish([("marketing-spend", b"ads", orjson.dumps(rise))])
    fired = wait_for(lambda: (r := ads_cac(b))["state"] == "firing" and r, timeout=60, what="cac_drift firing")
    fired_at = time.monotonic()
    assert fired["value"] > 1.2 * fired["baseline"]
    wait_for(lambda: len(kafka_notifications(d)) >= 1, timeout=30, what="the notification on Kafka")
    [on_kafka] = kafka_notifications(d)
    assert on_kafka["status"] == "firing" and on_kafka["labels"]["channel"] == "ads"
    [in_am] = wait_for(lambda: alertmanager_alerts(run), timeout=30, what="the alert in Alertmanager")
    assert in_am["labels"]["alertname"] == "cac_drift" and in_am["labels"]["channel"] == "ads"
    assert in_am["status"]["state"] == "active"
    for w in (a, b):  # the evaluator's gauge, and the other worker's, read from the saved states
        wait_for(lambda w=w: w.metric("pulse_alerts_firing", rule="cac_drift", severity="warning") == 1, timeout=20,
                 what=f"pulse_alerts_firing on {w.name}")  # fmt: skip
    assert all(r["state"] == "inactive" for r in a.get_json("/api/v1/alerts")["alerts"]
               if r["labels"] == "channel=all;window=30d")  # fmt: skip

    # the evaluating worker dies while the alert fires; it comes back; nothing is sent twice
    leader = a.get_json("/api/v1/alerts")["evaluated_by"]
    a.kill()
    a.start()
    wait_for(lambda: b.get_json("/api/v1/alerts")["evaluated_by"] not in (None, leader), timeout=60,
             what="the lease taken over")  # fmt: skip
    # the receiver comes back after a minute down: the notification kept in the outbox arrives
    time.sleep(max(0.0, 60 - (time.monotonic() - fired_at)))
    assert receiver.received == []
    receiver.up()
    wait_for(lambda: len(receiver.received) >= 1, timeout=60, what="the firing notification at the webhook")
    time.sleep(6)  # a few more evaluations: nothing more arrives
    [(headers, body)] = receiver.received
    payload = orjson.loads(body)
    assert payload["version"] == "4" and payload["status"] == "firing"
    [alert] = payload["alerts"]
    assert alert["labels"]["channel"] == "ads" and alert["labels"]["alertname"] == "cac_drift"
    assert alert["fingerprint"] == on_kafka["fingerprint"]
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-pulse-signature"] == f"sha256={signature}"
    assert len(kafka_notifications(d)) == 1

    # new ads customers bring CAC back below +10%: one resolved notification everywhere
    n = math.ceil(0.5 * customers)
    back = [orjson.dumps({
        "event_id": f"back-{run}-{i}", "type": "subscription_started", "customer_id": f"back-{run}-{i}",
        "subscription_id": f"back-sub-{run}-{i}", "plan": "team", "amount": "100.00", "currency": "USD",
        "interval": "month", "acquisition_channel": "ads", "occurred_at": now_iso()})
        for i in range(n)]  # fmt: skip
    d.publish([("subscriptions", f"back-{run}-{i}".encode(), line) for i, line in enumerate(back)])
    wait_for(lambda: len(receiver.received) >= 2, timeout=90, what="the resolved notification at the webhook")
    time.sleep(6)
    statuses = [p["status"] for p in receiver.payloads()]
    assert statuses == ["firing", "resolved"]
    assert [k["status"] for k in kafka_notifications(d)] == ["firing", "resolved"]
    assert ads_cac(a)["state"] == "resolved"

    def resolved_there() -> bool:
        return all(x["status"]["state"] != "active" or x["endsAt"] <= now_iso() for x in alertmanager_alerts(run))

    wait_for(resolved_there, timeout=30, what="Alertmanager sees it resolved")


def test_silences_from_the_api_and_the_cli(setup: tuple[Deployment, Receiver, str, list[Worker]]) -> None:
    d, _, _, workers = setup
    w = workers[1]

    def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(f"{w.url}/api/v1/alerts/silences", data=orjson.dumps(body), method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, orjson.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, orjson.loads(exc.read())

    status, made = post({"rule": "cac_drift", "match": {"channel": "seo"}, "for": "1h", "comment": "campaign"})
    assert status == 201 and made["rule"] == "cac_drift" and made["match"] == {"channel": "seo"}
    assert made["until"] == pytest.approx(time.time() + 3600, abs=60)
    assert post({"rule": "no_such_rule", "for": "1h"}) == (400, {"error": "rule: unknown rule 'no_such_rule'"})
    status, error = post({"rule": "cac_drift", "for": "soon"})
    assert status == 400 and error["error"].startswith("for: expected a duration")
    assert "silence" in run_cli(
        "alerts", "silence", "cac_drift", "--match", "channel=events", "--for", "30m", env=d.env
    )
    rows = orjson.loads(run_cli("alerts", "list", "--format", "json", env=d.env))
    assert {r["labels"] for r in rows if r["silenced"]} == {"channel=seo;window=30d", "channel=events;window=30d"}
    assert {r["labels"] for r in rows} >= {"channel=all;window=30d", "channel=ads;window=30d"}
