"""Each account's support and survey signals of the health score, computed directly from an
event file as docs/metrics.md ("Health score") defines them, sharing no code with consumers/:
open tickets at the end of the file, the mean first response time of the tickets first
answered in the 30 UTC days ending ``today``, and CSAT (answers 4-5 / answers) of those days."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ORDER = {"ticket_opened": 0, "agent_replied": 1, "customer_replied": 2, "ticket_resolved": 3, "ticket_reopened": 4}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _day(ts: float) -> int:
    return datetime.fromtimestamp(ts, UTC).date().toordinal()


def exact_account_signals(path: Path, today: int) -> dict[str, dict[str, Any]]:
    tickets: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    account_of: dict[str, str] = {}
    csat: dict[str, list[int]] = defaultdict(list)
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        wrapped = orjson.loads(line)
        e = wrapped["event"]
        if wrapped["topic"] == "support-tickets":
            tickets[e["ticket_id"]][e["event_id"]] = (_ts(e["occurred_at"]), e["type"])
            if e["type"] == "ticket_opened":
                account_of[e["ticket_id"]] = e["account_id"]
        elif (
            wrapped["topic"] == "surveys" and e["kind"] == "csat" and today - 29 <= _day(_ts(e["occurred_at"])) <= today
        ):
            csat[e["account_id"]].append(e["score"])
    open_now: dict[str, int] = defaultdict(int)
    frt: dict[str, list[float]] = defaultdict(list)
    for ticket, events in tickets.items():
        if ticket not in account_of:
            continue
        ordered = sorted(events.values(), key=lambda e: (e[0], ORDER[e[1]]))
        start = next(ts for ts, kind in ordered if kind == "ticket_opened")
        is_open, first_reply = True, None
        for ts, kind in ordered:
            if kind == "agent_replied" and first_reply is None:
                first_reply = max(ts, start)
            elif kind == "ticket_resolved":
                is_open = False
            elif kind == "ticket_reopened":
                is_open = True
        account = account_of[ticket]
        open_now[account] += is_open
        if first_reply is not None and today - 29 <= _day(first_reply) <= today:
            frt[account].append(first_reply - start)
    out = {}
    for account in set(open_now) | set(frt) | set(csat):
        scores = csat.get(account, [])
        out[account] = {
            "open_tickets": open_now.get(account, 0),
            "frt_avg_seconds_30d": sum(frt[account]) / len(frt[account]) if frt.get(account) else None,
            "csat_30d": 100 * sum(1 for s in scores if s >= 4) / len(scores) if scores else None,
        }
    return out
