"""The engagement reducer in plain Python, written from docs/metrics.md: the oracle that the
compiled kernel (consumers.engagement._kernel) must agree with, state for state.

Deliberately simple rather than fast: dicts scanned in full for expiry, one sketch update per
event. It shares nothing with the kernel but the definitions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from datasketches import hll_sketch
from xxhash import xxh3_64_intdigest

from consumers.engagement.definitions import SKETCH_TYPE
from consumers.engagement.facts import ProductFacts
from consumers.engagement.ledger import EngagementConfig

EPOCH = date(1970, 1, 1).toordinal()
_EPOCH_DT = datetime(1970, 1, 1, tzinfo=UTC)


class ReferenceLedger:
    def __init__(self, config: EngagementConfig) -> None:
        self.c = config
        self.sketches: dict[str, hll_sketch] = {}
        self.days: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, tuple[int, int, int]] = {}
        self.gap_keys: dict[str, set[str]] = {}  # who -> keys of its gap sessions (some expired)
        self.signups: dict[str, tuple[int, int]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.watermark: int | None = None
        # dedupe: hash -> the day it is remembered under; the latest day seen
        self.ids: dict[int, int] = {}
        self.dedupe_mark: int | None = None

    # --- dedupe: remembered for `dedupe_retention_days` of event time ---------------------------

    def _seen(self, entity: str, event_id: str, day: int) -> bool:
        h = xxh3_64_intdigest(f"{entity}\x1f{event_id}".encode())  # an id is unique within its entity
        if h in self.ids:
            return True
        keep = self.c.dedupe_retention_days
        if self.dedupe_mark is None or day > self.dedupe_mark:
            self.dedupe_mark = day
            self.ids = {k: d for k, d in self.ids.items() if d > day - keep - 1}
        mark = self.dedupe_mark
        self.ids[h] = day if day > mark - keep else mark - keep + 1
        return False

    # --- the reducer -------------------------------------------------------------------------------

    def apply(self, e: ProductFacts) -> str | None:
        micros = (e.occurred_at - _EPOCH_DT) // datetime.resolution
        entity = e.account_id or e.anonymous_id or e.user_id or ""
        if self._seen(entity, e.event_id, micros // 86_400_000_000 + EPOCH):
            return "duplicate"
        ts = micros // 1_000_000
        c = self.c
        if self.watermark is not None and ts < self.watermark - c.grace_seconds:
            del self.ids[xxh3_64_intdigest(f"{entity}\x1f{e.event_id}".encode())]  # only accepted ones are remembered
            return "late"
        if self.watermark is None or ts > self.watermark:
            self._advance(ts)
        day = ts // 86400 + EPOCH
        user, name = e.user_id, e.name
        who = user or e.anonymous_id
        assert who is not None
        if user is not None and name not in c.inactive_names:
            self._sketch(f"dau:{day}", c.lg_k).update(user)
        if name == "page_view":
            self._sketch(f"vis:{day}", c.lg_k).update(who)
        elif name == "signed_up":
            self._sketch(f"sig:{day}", c.lg_k).update(who)
            if who not in self.signups:
                self.signups[who] = (ts, 0)
                self._bump(day, "cohort_signups", 1)
        elif name == "feature_used" and e.feature is not None:
            counts = self._day(day).setdefault("feature_events", {})
            feature = e.feature
            if feature not in counts and feature not in c.key_features and len(counts) >= c.max_features_per_day:
                feature = "other"
            counts[feature] = counts.get(feature, 0) + 1
            if user is not None:
                self._sketch(f"feat:{feature}:{day}", c.feature_lg_k).update(user)
        if name in ("invite_sent", "invite_accepted"):
            self._bump(day, "invites_sent" if name == "invite_sent" else "invites_accepted", 1)
        if user is not None and (
            name in c.activation_names or (name == "feature_used" and e.feature in c.key_features)
        ):
            record = self.signups.get(user)
            if record is not None and not record[1] and record[0] <= ts <= record[0] + c.activation_days * 86400:
                self.signups[user] = (record[0], 1)
                self._bump(record[0] // 86400 + EPOCH, "cohort_activated", 1)
        self._session(who, e.session_id, ts)
        if e.account_id is not None and user is not None:
            r = self.accounts.setdefault(f"{e.account_id}|{day}", {"w": 0, "u": {}, "f": []})
            if name not in c.inactive_names:
                r["u"][user] = 1
            elif user not in r["u"]:
                r["u"][user] = 0
            r["w"] += c.action_weights.get(name, 0)
            if name == "feature_used" and e.feature in c.key_features and e.feature not in r["f"]:
                r["f"].append(e.feature)
        return None

    def _sketch(self, key: str, lg_k: int) -> hll_sketch:
        if key not in self.sketches:
            self.sketches[key] = hll_sketch(lg_k, SKETCH_TYPE)
        return self.sketches[key]

    def _day(self, day: int) -> dict[str, Any]:
        return self.days.setdefault(str(day), {})

    def _bump(self, day: int, name: str, by: int) -> None:
        d = self._day(day)
        d[name] = d.get(name, 0) + by

    def _session(self, who: str, session_id: str | None, ts: int) -> None:
        if session_id:
            key = f"s:{len(who.encode())}:{who}:{session_id}"
            touching = [key] if key in self.sessions else []
        else:
            # every open session of the user that the event is within the gap of: it joins
            # them all (merging them into the earliest one)
            prefix, gap = f"g:{len(who.encode())}:{who}:", self.c.session_gap_seconds
            mine = [k for k in self.gap_keys.get(who, ()) if k in self.sessions]  # expired ones are gone
            self.gap_keys[who] = set(mine)
            touching = sorted(
                (k for k in mine if self.sessions[k][0] - gap <= ts <= self.sessions[k][1] + gap),
                key=lambda k: self.sessions[k][0],
            )
            key = touching[0] if touching else f"{prefix}{ts}"
            self.gap_keys[who].add(key)
        if not touching:
            new = (ts, ts, 1)
            self._count(new, 1)
        elif len(touching) == 1 and (span := self.sessions[key])[0] <= ts <= span[1] and span[2] > 1:
            new = (span[0], span[1], span[2] + 1)
        else:
            spans = [self.sessions.pop(k) for k in touching]
            for span in spans:
                self._count(span, -1)
            new = (min(ts, *(s[0] for s in spans)), max(ts, *(s[1] for s in spans)), 1 + sum(s[2] for s in spans))
            self._count(new, 1)
        self.sessions[key] = new

    def _count(self, span: tuple[int, int, int], sign: int) -> None:
        day = span[1] // 86400 + EPOCH  # a session counts on the day of its last event
        self._bump(day, "sessions", sign)
        if span[2] == 1:
            self._bump(day, "single_event_sessions", sign)
        else:
            self._bump(day, "session_seconds", sign * (span[1] - span[0]))

    def _advance(self, ts: int) -> None:
        old, self.watermark = self.watermark, ts
        if old is not None and old // 3600 == ts // 3600:
            return  # expiry runs when the watermark enters a new hour
        c = self.c
        if old is None or old // 86400 != ts // 86400:
            oldest = ts // 86400 + EPOCH - c.keep_days
            self.sketches = {k: v for k, v in self.sketches.items() if int(k.rsplit(":", 1)[1]) >= oldest}
            self.days = {k: v for k, v in self.days.items() if int(k) >= oldest}
            self.accounts = {k: v for k, v in self.accounts.items() if int(k.rsplit("|", 1)[1]) >= oldest}
        horizon = ts - c.grace_seconds - c.session_gap_seconds
        self.sessions = {k: s for k, s in self.sessions.items() if s[1] >= horizon}
        horizon = ts - c.grace_seconds - c.activation_days * 86400
        self.signups = {k: s for k, s in self.signups.items() if s[0] >= horizon}
