"""Engagement state of one partition of `product-events`: the reducer the engine and replay run.

Distinct counts are HyperLogLog sketches (Apache DataSketches) per UTC day, merged for
rolling windows and across partitions; everything else is an additive counter per day.
State is bounded: days older than ``keep_days`` behind the partition's event-time watermark,
sessions closed for longer than the grace period and signups whose activation window has
passed are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from datasketches import hll_sketch, tgt_hll_type

from stream.fastpath import ProductFacts
from stream.state import RAW, Codec, PartitionState

__all__ = ["EngagementConfig", "EngagementLedger", "SKETCH_TYPE"]

SKETCH_TYPE = tgt_hll_type.HLL_4
DEFAULT_WEIGHTS = {"login": 1, "feature_used": 2, "report_exported": 3, "invite_sent": 5, "invite_accepted": 5}
_EPOCH = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class EngagementConfig:
    inactive_names: frozenset[str] = frozenset({"page_view"})
    key_features: tuple[str, ...] = ("dashboards", "reports", "alerts", "integrations")
    activation_names: frozenset[str] = frozenset({"invite_sent"})
    activation_days: int = 7
    session_gap_seconds: int = 1800
    grace_seconds: int = 2 * 86400
    keep_days: int = 35
    lg_k: int = 16  # relative standard error 1.04/sqrt(2^16) = 0.41%
    feature_lg_k: int = 12  # 1.6%: adoption ratios need less
    max_features_per_day: int = 50
    action_weights: Any = None  # event name -> weight of the engagement score

    def __post_init__(self) -> None:
        if self.action_weights is None:
            object.__setattr__(self, "action_weights", dict(DEFAULT_WEIGHTS))

    @classmethod
    def from_settings(cls, s: Any) -> "EngagementConfig":
        return cls(
            inactive_names=frozenset(s.inactive_event_names),
            key_features=tuple(s.key_features),
            activation_names=frozenset(s.activation_event_names),
            activation_days=s.activation_days,
            session_gap_seconds=s.session_gap_seconds,
            grace_seconds=s.grace_period_seconds,
            action_weights=dict(s.engagement_weights),
        )


class EngagementLedger:
    """``apply`` one validated product event; ``flush`` writes what changed into the stores.

    Hot path: about a million events a minute per core go through ``apply``, so days are
    integer arithmetic on epoch seconds and every store is a plain dict keyed per session,
    per signup and per day; ``flush`` turns what a batch touched into changelog records
    (one per touched key; sketches in full, so a recovered sketch is bit-identical).
    """

    STORES: dict[str, Codec] = {"sketch": RAW}

    def __init__(self, config: EngagementConfig, state: PartitionState) -> None:
        self.config = config
        self.state = state
        self.sketches: dict[str, hll_sketch] = {}
        for key, blob in state.store("sketch").items():
            self.sketches[key] = hll_sketch.deserialize(blob)
        self.days: dict[str, dict[str, Any]] = dict(state.store("day").items())
        self.sessions: dict[str, tuple[int, int, int]] = {
            k: tuple(v) for k, v in state.store("session").items()  # type: ignore[misc]
        }
        self.signups: dict[str, tuple[int, int]] = {k: tuple(v) for k, v in state.store("signup").items()}  # type: ignore[misc]
        self.watermark: int | None = state.store("meta").get("watermark")
        # "<account>|<day>" -> {"w": weighted actions, "u": {user: 1 active / 0 only seen},
        #                       "f": [key features used]}: one small record per account and day,
        # so a batch rewrites only today's activity of the accounts it touched.
        self.accounts: dict[str, dict[str, Any]] = dict(state.store("account").items())
        self._touched: dict[str, set[str]] = {
            "sketch": set(), "day": set(), "session": set(), "signup": set(), "account": set()
        }
        self._account_events: list[tuple[str, str, str, str | None, int]] = []
        self._activators = frozenset(config.activation_names)
        self._key_features = frozenset(config.key_features)

    # --- the reducer ----------------------------------------------------------------------

    def apply(self, e: ProductFacts) -> str | None:
        ts = int(e.occurred_at.timestamp())
        mark = self.watermark
        if mark is not None and ts < mark - self.config.grace_seconds:
            return "late"
        if mark is None or ts > mark:
            self._advance(ts)
        c = self.config
        day = ts // 86400 + _EPOCH
        user, name = e.user_id, e.name
        who = user or e.anonymous_id
        assert who is not None
        if user is not None and name not in c.inactive_names:
            self._sketch(f"dau:{day}", c.lg_k).update(user)
        if name == "page_view":
            self._sketch(f"vis:{day}", c.lg_k).update(who)
        elif name == "signed_up":
            self._sketch(f"sig:{day}", c.lg_k).update(who)
            self._signup(who, ts, day)
        elif name == "feature_used" and e.feature is not None:
            counts = self._day(day).setdefault("feature_events", {})
            feature = e.feature
            if feature not in counts and feature not in self._key_features and len(counts) >= c.max_features_per_day:
                feature = "other"
            counts[feature] = counts.get(feature, 0) + 1
            if user is not None:
                self._sketch(f"feat:{feature}:{day}", c.feature_lg_k).update(user)
        if user is not None and (name in self._activators or (name == "feature_used" and e.feature in self._key_features)):
            self._activate(user, ts)
        self._session(who, e.session_id, ts)
        if e.account_id is not None and user is not None:
            # Account scores only take maxima and sums, so they are applied once per batch
            # (in flush) from this list: same result, a fraction of the per-event cost.
            self._account_events.append((e.account_id, user, name, e.feature, day))
        return None

    def _apply_account_events(self) -> None:
        """Fold this batch's (account, user, event, feature, day) into account-day records."""
        pending, self._account_events = self._account_events, []
        inactive, weights, key_features = self.config.inactive_names, self.config.action_weights, self._key_features
        for account, user, name, feature, day in pending:
            key = f"{account}|{day}"
            r = self.accounts.get(key)
            if r is None:
                r = self.accounts[key] = {"w": 0, "u": {}, "f": []}
            if name not in inactive:
                r["u"][user] = 1
            elif user not in r["u"]:
                r["u"][user] = 0
            r["w"] += weights.get(name, 0)
            if name == "feature_used" and feature in key_features and feature not in r["f"]:
                r["f"].append(feature)
            self._touched["account"].add(key)

    # --- pieces -----------------------------------------------------------------------------

    def _sketch(self, key: str, lg_k: int) -> hll_sketch:
        sketch = self.sketches.get(key)
        if sketch is None:
            sketch = self.sketches[key] = hll_sketch(lg_k, SKETCH_TYPE)
        self._touched["sketch"].add(key)
        return sketch

    def _day(self, day: int) -> dict[str, Any]:
        key = str(day)
        self._touched["day"].add(key)
        found = self.days.get(key)
        if found is None:
            found = self.days[key] = {}
        return found

    def _signup(self, user: str, ts: int, day: int) -> None:
        if user in self.signups:
            return
        self.signups[user] = (ts, 0)
        self._touched["signup"].add(user)
        d = self._day(day)
        d["cohort_signups"] = d.get("cohort_signups", 0) + 1

    def _activate(self, user: str, ts: int) -> None:
        record = self.signups.get(user)
        if record is None or record[1] or ts < record[0]:
            return
        if ts - record[0] <= self.config.activation_days * 86400:
            self.signups[user] = (record[0], 1)
            self._touched["signup"].add(user)
            d = self._day(record[0] // 86400 + _EPOCH)
            d["cohort_activated"] = d.get("cohort_activated", 0) + 1

    def _session(self, who: str, session_id: str | None, ts: int) -> None:
        """Sessions by session_id (first to last event), else by a gap of inactivity.

        Spans are (first, last, events) tuples (not lists: tuples of ints are not tracked by
        the garbage collector, which matters with millions of them).
        """
        key = f"s:{who}:{session_id}" if session_id else f"u:{who}"
        span = self.sessions.pop(key, None)  # re-inserted below: ordered by last update
        if span is not None and session_id is None:
            gap = self.config.session_gap_seconds
            if not span[0] - gap <= ts <= span[1] + gap:
                span = None  # that span stays counted as it was; a new one starts
        if span is None:
            new = (ts, ts, 1)
            self._count_span(new, 1)
        else:
            first, last, n = span
            if first <= ts <= last and n > 1:
                new = (first, last, n + 1)  # inside the span: no figure changes
            else:
                new = (first if first < ts else ts, last if last > ts else ts, n + 1)
                self._count_span(span, -1)
                self._count_span(new, 1)
        self.sessions[key] = new
        self._touched["session"].add(key)

    def _count_span(self, span: tuple[int, int, int], sign: int) -> None:
        """A session counts on the UTC day of its last event."""
        d = self._day(span[1] // 86400 + _EPOCH)
        d["sessions"] = d.get("sessions", 0) + sign
        if span[2] == 1:
            d["single_event_sessions"] = d.get("single_event_sessions", 0) + sign
        else:
            d["session_seconds"] = d.get("session_seconds", 0) + sign * (span[1] - span[0])

    def _advance(self, ts: int) -> None:
        """The watermark moved: forget what can no longer change."""
        old = self.watermark
        self.watermark = ts
        if old is not None and old // 3600 == ts // 3600:
            return  # expire at most once an hour of event time
        if old is None or old // 86400 != ts // 86400:
            self._expire_days(ts // 86400 + _EPOCH - self.config.keep_days)
        # Both dicts are ordered by last update, so expiry reads from the front and stops at the
        # first live entry: O(expired), not O(all).
        horizon = ts - self.config.grace_seconds - self.config.session_gap_seconds
        for key, span in list(_until(self.sessions, lambda span: span[1] >= horizon)):
            del self.sessions[key]
            self._touched["session"].add(key)
        signup_horizon = ts - self.config.grace_seconds - self.config.activation_days * 86400
        for user, _ in list(_until(self.signups, lambda record: record[0] >= signup_horizon)):
            del self.signups[user]
            self._touched["signup"].add(user)

    def _expire_days(self, oldest: int) -> None:
        """A new UTC day: drop sketches, counters and account days older than ``keep_days``."""
        self._apply_account_events()
        for key in [k for k in self.sketches if int(k.rsplit(":", 1)[1]) < oldest]:
            del self.sketches[key]
            self._touched["sketch"].add(key)
        for key in [k for k in self.days if int(k) < oldest]:
            del self.days[key]
            self._touched["day"].add(key)
        for key in [k for k in self.accounts if int(k.rsplit("|", 1)[1]) < oldest]:
            del self.accounts[key]
            self._touched["account"].add(key)

    # --- durability ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Serialize what this batch changed into the partition's stores (no figure changes)."""
        self._apply_account_events()
        sketches = self.state.store("sketch")
        for key in self._touched["sketch"]:
            if key in self.sketches:
                sketches[key] = self.sketches[key].serialize_compact()
            elif key in sketches:
                del sketches[key]
        for name, source in (("day", self.days), ("session", self.sessions), ("signup", self.signups),
                             ("account", self.accounts)):
            store = self.state.store(name)
            for key in self._touched[name]:
                if key in source:
                    store[key] = source[key]
                elif key in store:
                    del store[key]
        for touched in self._touched.values():
            touched.clear()
        if self.watermark is not None:
            self.state.store("meta")["watermark"] = self.watermark

    def dirty_sketch_keys(self) -> set[str]:
        return set(self._touched["sketch"])

    def dirty_accounts(self) -> set[str]:
        return set(self._touched["account"])


def _until(entries: dict[str, Any], alive: Any) -> Any:
    for key, value in entries.items():
        if alive(value):
            return
        yield key, value
