"""Every rule's alerts as `pulse alerts list` and the alerts API show them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alerts.model import AlertState, labels_key
from alerts.rules import RulesFile
from alerts.store import AlertStore, silenced

__all__ = ["rule_status"]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def rule_status(rules: RulesFile, store: AlertStore, now: float) -> list[dict[str, Any]]:
    """One row per rule and label set (a rule with none yet: one row saying so)."""
    silences = await store.silences()
    rows: list[dict[str, Any]] = []
    for rule in rules.rules:
        records = await store.records(rule.name)
        if not records:
            note = "disabled" if not rule.enabled else "not evaluated yet, or its metric has no series"
            rows.append({"rule": rule.name, "labels": "", "state": AlertState.INACTIVE.value, "value": None,
                         "baseline": None, "since": None, "note": note, "silenced": False})  # fmt: skip
            continue
        for labels, r in sorted(records.items()):
            muted = silenced(silences, rule.name, rule.alert_labels(dict(labels)), now)
            since = {AlertState.FIRING: r.fired_at, AlertState.PENDING: r.active_since,
                     AlertState.RESOLVED: r.resolved_at}.get(r.state)  # fmt: skip
            notes = [n for n in (r.silent, "silenced" if muted else None) if n]
            rows.append({
                "rule": rule.name, "labels": labels_key(labels), "state": r.state.value, "value": r.value,
                "baseline": r.baseline, "since": _iso(since), "note": "; ".join(notes), "silenced": muted,
                "evaluated_at": _iso(r.evaluated_at),
            })  # fmt: skip
    return rows
