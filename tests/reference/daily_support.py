"""Daily support figures computed directly from an event file, written from docs/metrics.md
("Support") and sharing no code with consumers/support: every ticket's events sorted, exact
values (sorted lists for the quantiles)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

ORDER = {"ticket_opened": 0, "agent_replied": 1, "customer_replied": 2, "ticket_resolved": 3, "ticket_reopened": 4}


def _day(ts: float) -> int:
    return datetime.fromtimestamp(ts, UTC).date().toordinal()


def exact_daily_support(path: Path) -> list[dict[str, Any]]:
    tickets: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)  # ticket -> event_id -> (ts, type)
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        wrapped = orjson.loads(line)
        if wrapped.get("topic") != "support-tickets":
            continue
        e = wrapped["event"]
        ts = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")).timestamp()
        tickets[e["ticket_id"]][e["event_id"]] = (ts, e["type"])  # a resend is the same event
    opened: dict[int, int] = defaultdict(int)
    resolved: dict[int, int] = defaultdict(int)
    backlog: dict[int, int] = defaultdict(int)
    frt: dict[int, list[float]] = defaultdict(list)
    res: dict[int, list[float]] = defaultdict(list)
    fcr: dict[int, int] = defaultdict(int)
    for events in tickets.values():
        ordered = sorted(events.values(), key=lambda e: (e[0], ORDER[e[1]]))
        start = next((ts for ts, kind in ordered if kind == "ticket_opened"), None)
        if start is None:
            continue
        opened[_day(start)] += 1
        backlog[_day(start)] += 1
        is_open, replies, first_reply, first_res, reopens, replies_then = True, 0, None, None, 0, 0
        for ts, kind in ordered:
            at = max(ts, start)
            if kind == "agent_replied":
                replies += 1
                if first_reply is None:
                    first_reply = at
                    frt[_day(at)].append(at - start)
            elif kind == "ticket_resolved" and is_open:
                is_open = False
                resolved[_day(at)] += 1
                backlog[_day(at)] -= 1
                if first_res is None:
                    first_res, replies_then = at, replies
                    res[_day(at)].append(at - start)
            elif kind == "ticket_reopened" and not is_open:
                is_open = True
                reopens += 1
                backlog[_day(at)] += 1
        if first_res is not None and replies_then == 1 and reopens == 0:
            fcr[_day(first_res)] += 1
    days = set(opened) | set(resolved) | set(frt) | set(res) | {d for d, n in backlog.items() if n}
    rows = []
    running = 0
    for day in range(min(days), max(days) + 1) if days else []:
        running += backlog.get(day, 0)

        def q(values: list[float], p: float) -> float | None:
            return sorted(values)[math.floor(p * (len(values) - 1))] if values else None

        rows.append({
            "date": date.fromordinal(day).isoformat(),
            "tickets_opened": opened.get(day, 0),
            "tickets_resolved": resolved.get(day, 0),
            "frt_avg_seconds": sum(frt[day]) / len(frt[day]) if frt.get(day) else None,
            "frt_p50_seconds": q(frt.get(day, []), 0.5),
            "frt_p90_seconds": q(frt.get(day, []), 0.9),
            "resolution_avg_seconds": sum(res[day]) / len(res[day]) if res.get(day) else None,
            "fcr_rate": fcr.get(day, 0) / len(res[day]) if res.get(day) else None,
            "backlog_end_of_day": running,
        })  # fmt: skip
    return rows
