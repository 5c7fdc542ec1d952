"""Every account's health score, kept current off the scrape.

Scoring every account on each /metrics request scaled with account-days (35 s at 100,000
customers, holding the worker's event loop). Instead a worker task re-scores, every
``PULSE_HEALTH_REFRESH_SECONDS``, only the accounts whose records or signals changed since
they were last scored, and all of them when the watermark day moves (their windows moved).
Each partition's owner publishes a version per account (``ACCOUNT_VERSIONS``) so a reader
finds the changed ones without reading every record; it then reads those accounts' 30
window days (HMGET), a chunk of accounts at a time, yielding to the event loop in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from typing import Any

from consumers.account_signals import KINDS, SUPPORT_KIND, Record, merge_signals, window_signals
from consumers.engagement.definitions import account_scores
from stream.snapshots import SnapshotStore

__all__ = ["ACCOUNT_VERSIONS", "ACCOUNTS", "AccountHealth", "account_day_key", "window_keys"]

#: Redis entity kind of the account-day records (``<account>|<day ordinal>`` -> record)
ACCOUNTS = "accounts"
#: Redis entity kind: account -> the version (writer epoch and partition position) of the
#: last change to any of its account-day records; absent once it has none left
ACCOUNT_VERSIONS = "account-versions"
#: accounts read and scored between two yields to the event loop (30 HMGET fields each)
CHUNK = 250
WINDOW_DAYS = 30


def account_day_key(account: str, day: int) -> str:
    return f"{account}|{day}"


def window_keys(account: str, today: int) -> list[str]:
    """The account-day keys of the 30 UTC days ending with ``today`` (what the scores read)."""
    return [account_day_key(account, d) for d in range(today - WINDOW_DAYS + 1, today + 1)]


def account_record(
    account: str,
    days: Mapping[int, Mapping[str, Any]],
    today: int,
    key_features: int,
    signals: Record | None,
    support_reports: bool,
    frt_target_seconds: float,
) -> dict[str, Any]:
    """What the API says of an account: its active users and its health as of ``today``."""

    def active(span: int) -> int:
        return len({u for d, r in days.items() if today - span < d <= today for u, on in r["u"].items() if on})

    return {
        "account_id": account,
        "as_of": date.fromordinal(today).isoformat(),
        "dau": active(1),
        "wau": active(7),
        "mau": active(WINDOW_DAYS),
        **account_scores(
            days, today, key_features, window_signals(signals, today, support_reports), frt_target_seconds
        ),
    }


class AccountHealth:
    """Health scores by account, updated incrementally from the snapshots."""

    def __init__(
        self, snapshots: SnapshotStore, key_features: int, threshold: float, frt_target_seconds: float
    ) -> None:
        self.snapshots = snapshots
        self.key_features = key_features
        self.threshold = threshold
        self.frt_target_seconds = frt_target_seconds
        #: the day every score is as of (None before the first complete pass)
        self.today: int | None = None
        self.support_reports = False
        #: account -> its summed support and survey signals, as of the last pass
        self.signals: dict[str, Record] = {}
        #: account -> health score
        self.scores: dict[str, float] = {}
        #: account -> its API record, for the accounts below the threshold only
        self.risky: dict[str, dict[str, Any]] = {}
        #: account -> (record version, signal record) it was scored with, on ``_scored_day``
        self._scored: dict[str, tuple[str, Record | None]] = {}
        self._scored_day: int | None = None

    # --- reading ------------------------------------------------------------------------------

    def at_risk(self) -> list[dict[str, Any]]:
        return sorted(self.risky.values(), key=lambda s: (s["health_score"], s["account_id"]))

    def at_risk_count(self) -> int | None:
        """Accounts below the threshold; None before a pass has completed."""
        return None if self.today is None else len(self.risky)

    # --- updating -----------------------------------------------------------------------------

    async def update(self, today: int | None) -> None:
        """Re-score what changed since the last pass, as of ``today`` (the watermark day)."""
        if today is None:
            return
        versions = {a: str(v) for a, v in (await self.snapshots.entities(ACCOUNT_VERSIONS)).items()}
        by_kind = {kind: await self.snapshots.entities(kind) for kind in KINDS}
        signals = merge_signals(by_kind)
        support = bool(by_kind[SUPPORT_KIND])
        if today != self._scored_day or support != self.support_reports:
            self._scored.clear()  # every window moved (or open tickets became known): all again
            self._scored_day = today
        self.support_reports = support
        for gone in (self._scored.keys() | self.scores.keys()) - versions.keys():
            self._forget(gone)
        redo = [a for a, v in versions.items() if self._scored.get(a) != (v, signals.get(a))]
        for start in range(0, len(redo), CHUNK):
            chunk = redo[start : start + CHUNK]
            records = await self.snapshots.entities_at(ACCOUNTS, [k for a in chunk for k in window_keys(a, today)])
            for account in chunk:
                days = {}
                for day in range(today - WINDOW_DAYS + 1, today + 1):
                    record = records.get(account_day_key(account, day))
                    if record is not None:
                        days[day] = record
                self._score(account, days, today, signals.get(account))
                self._scored[account] = (versions[account], signals.get(account))
            await asyncio.sleep(0)  # the engine and the web server share this loop
        self.signals = signals
        self.today = today

    def score_all(self, by_account: Mapping[str, Mapping[int, Any]], today: int, signals: dict[str, Record],
                  support_reports: bool) -> None:  # fmt: skip
        """Score these accounts' records at once (a process holding every record: tests, replays)."""
        self.scores.clear()
        self.risky.clear()
        self._scored.clear()
        self.signals, self.support_reports = signals, support_reports
        for account, days in by_account.items():
            self._score(account, days, today, signals.get(account))
        self.today = self._scored_day = today

    def _score(self, account: str, days: Mapping[int, Any], today: int, signals: Record | None) -> None:
        scored = account_scores(
            days,
            today,
            self.key_features,
            window_signals(signals, today, self.support_reports),
            self.frt_target_seconds,
        )
        self.scores[account] = scored["health_score"]
        if scored["health_score"] < self.threshold:
            self.risky[account] = account_record(
                account,
                days,
                today,
                self.key_features,
                signals,
                self.support_reports,
                self.frt_target_seconds,
            )
        else:
            self.risky.pop(account, None)

    def _forget(self, account: str) -> None:
        self.scores.pop(account, None)
        self.risky.pop(account, None)
        self._scored.pop(account, None)
