//! Engagement state of one partition of `product-events`: dedupe, event-time watermark,
//! per-day counters, sessions, signup cohorts and per-account daily activity.
//!
//! HyperLogLog sketches stay in Python (Apache DataSketches): this reducer hands over, per
//! sketch, the distinct ids of the batch in first-seen order, which gives the same sketch
//! (same registers, same HIP estimate) as updating it event by event. The definitions are
//! those of docs/metrics.md; tests/reference/engagement_ledger.py is the same reducer in plain
//! Python and a property test checks that both produce the same state.

use ahash::RandomState;
use indexmap::{IndexMap, IndexSet};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

use crate::event::Facts;

// hashbrown's maps rather than std's: `entry_ref` finds or inserts a borrowed key with one probe.
type Map<K, V> = hashbrown::HashMap<K, V, RandomState>;
type Key = Arc<str>;
type Set<K> = hashbrown::HashSet<K, RandomState>;
/// An account-day's users in first-seen order (the order of their changelog records).
type Users = IndexMap<String, u8, RandomState>;

/// Fixed seeds: iteration orders are the same in every process (replay == streaming).
fn hasher() -> RandomState {
    RandomState::with_seeds(0x5eed_0001, 0x5eed_0002, 0x5eed_0003, 0x5eed_0004)
}

/// date(1970, 1, 1).toordinal(): days are Python date ordinals, as in the stores' keys.
pub const EPOCH_ORDINAL: i64 = 719_163;
const SEP: char = '\x1f';
/// Every changelog value is framed `v<version>|<payload>` (stream/state.py, `framed`): a later
/// build can still read what this one wrote. This build writes and reads version 1.
const FORMAT: &[u8] = b"v1|";

pub struct Config {
    /// What the reducer needs to know of an event name, found with one lookup per event.
    pub names: Map<String, NameInfo>,
    pub key_features: Set<String>,
    pub activation_seconds: i64,
    pub gap: i64,
    pub grace: i64,
    pub keep_days: i64,
    pub lg_k: u8,
    pub feature_lg_k: u8,
    pub max_features_per_day: usize,
    pub dedupe_retention_days: i64,
}

/// The names the reducer treats apart (docs/metrics.md, engagement).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum Special {
    #[default]
    None,
    PageView,
    SignedUp,
    FeatureUsed,
    InviteSent,
    InviteAccepted,
}

/// An event name's part in the figures; a name nobody configured: active, weight 0, not special.
#[derive(Clone, Copy, Default)]
pub struct NameInfo {
    pub inactive: bool,
    pub activates: bool,
    pub weight: i64,
    pub special: Special,
}

impl Config {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inactive: Vec<String>, key_features: Vec<String>, activators: Vec<String>, activation_days: i64,
        gap: i64, grace: i64, keep_days: i64, lg_k: u8, feature_lg_k: u8, max_features_per_day: usize,
        weights: HashMap<String, i64>, dedupe_retention_days: i64,
    ) -> Self {
        let mut names: Map<String, NameInfo> = Map::with_hasher(hasher());
        for (name, special) in [
            ("page_view", Special::PageView),
            ("signed_up", Special::SignedUp),
            ("feature_used", Special::FeatureUsed),
            ("invite_sent", Special::InviteSent),
            ("invite_accepted", Special::InviteAccepted),
        ] {
            names.entry(name.to_owned()).or_default().special = special;
        }
        for name in inactive {
            names.entry(name).or_default().inactive = true;
        }
        for name in activators {
            names.entry(name).or_default().activates = true;
        }
        for (name, weight) in weights {
            names.entry(name).or_default().weight = weight;
        }
        let mut features = Set::with_hasher(hasher());
        features.extend(key_features);
        Config {
            names,
            key_features: features,
            activation_seconds: activation_days * 86400,
            gap,
            grace,
            keep_days,
            lg_k,
            feature_lg_k,
            max_features_per_day,
            dedupe_retention_days,
        }
    }

    fn name(&self, name: &str) -> NameInfo {
        self.names.get(name).copied().unwrap_or_default()
    }
}

/// Additive counters of one UTC day; a field is absent until first written (as in the JSON).
#[derive(Default, Clone, Debug, PartialEq)]
pub struct Day {
    feature_events: Option<IndexMap<String, i64>>,
    cohort_signups: Option<i64>,
    cohort_activated: Option<i64>,
    sessions: Option<i64>,
    single_event_sessions: Option<i64>,
    session_seconds: Option<i64>,
    invites_sent: Option<i64>,
    invites_accepted: Option<i64>,
}

struct Span {
    first: i64,
    last: i64,
    n: i64,
    dirty: bool,
}

struct Signup {
    ts: i64,
    activated: bool,
    dirty: bool,
}

#[derive(Default)]
struct AccountDay {
    w: i64,
    u: Users,        // user -> 1 active, 0 only seen
    f: Vec<String>,  // key features used
    dirty: bool,
    changed: Vec<usize>, // indices in `u` first seen or turned active since the last flush
}

pub enum Outcome {
    Applied,
    Duplicate,
    Late,
}

/// A sketch's pending ids: (kind, day, feature id) -> ids in first-seen order.
type SketchKey = (u8, i64, u32);
const DAU: u8 = 0;
const VISITORS: u8 = 1;
const SIGNUPS: u8 = 2;
const FEATURE: u8 = 3;
const NO_FEATURE: u32 = u32::MAX;

pub struct SketchUpdate {
    pub key: String,
    pub lg_k: u8,
    pub ids: Vec<Box<str>>,
}

pub struct Ledger {
    cfg: Config,
    // dedupe by 64-bit xxh3 of event_id (one changelog record per batch and day)
    ids: Map<u64, i64>,
    by_day: BTreeMap<i64, Vec<u64>>,
    new_ids: BTreeMap<i64, Vec<u64>>,
    dedupe_mark: Option<i64>,
    // (day, batch, scoped): a record's key is `<day>:<batch>:s`, or `<day>:<batch>` when written
    // by a build that hashed the bare event_id (its hashes are in `legacy_ids` until they expire)
    dedupe_records: BTreeSet<(i64, i64, bool)>,
    loading_dedupe: Vec<(i64, i64, bool, Vec<u64>)>,
    legacy_ids: Map<u64, i64>,
    // engagement
    watermark: Option<i64>,
    days: BTreeMap<i64, Day>,
    dirty_days: BTreeSet<i64>,
    // Keys shared (Arc) between the map and its hour index and dirty lists: one copy each.
    sessions: Map<Key, Span>,
    // who -> keys of its open gap sessions (`g:` keys; a user's may be several, within grace)
    gap_sessions: Map<Key, Vec<Key>>,
    session_hours: BTreeMap<i64, Vec<Key>>,
    dirty_sessions: Vec<Key>,
    deleted_sessions: Vec<Key>,
    // Sessions go to the changelog as one log record per batch (`session_log`, key: the batch),
    // not one record per session: batch -> the latest `last` in it, to know when it can go.
    session_logs: BTreeMap<(i64, i64), i64>, // (batch, chunk) -> latest `last` in it
    session_horizon: Option<i64>, // of the latest expiry pass: recovery expires up to it
    loading_session_logs: Vec<((i64, i64), Vec<LogEntry>)>,
    last_batch: Option<i64>,
    signups: Map<Key, Signup>,
    signup_hours: BTreeMap<i64, Vec<Key>>,
    dirty_signups: Vec<Key>,
    deleted_signups: Vec<Key>,
    accounts: Map<String, AccountDay>,
    account_days: BTreeMap<i64, Vec<String>>,
    dirty_accounts: Vec<String>,
    deleted_accounts: Vec<(String, Vec<String>)>, // with the users whose records go too
    // sketches
    pending: IndexMap<SketchKey, IndexSet<Box<str>, RandomState>, RandomState>,
    features: IndexSet<String, RandomState>,
    expired_before: Option<i64>,
    key: String,
}

fn day_of(ts: i64) -> i64 {
    ts.div_euclid(86400) + EPOCH_ORDINAL
}

/// A session's (first, last, events) once it takes an event at `ts`.
fn extended((first, last, n): (i64, i64, i64), ts: i64) -> (i64, i64, i64) {
    (first.min(ts), last.max(ts), n + 1)
}

impl Ledger {
    pub fn new(cfg: Config) -> Self {
        Ledger {
            cfg,
            ids: Map::with_hasher(hasher()),
            by_day: BTreeMap::new(),
            new_ids: BTreeMap::new(),
            dedupe_mark: None,
            dedupe_records: BTreeSet::new(),
            loading_dedupe: Vec::new(),
            legacy_ids: Map::with_hasher(hasher()),
            watermark: None,
            days: BTreeMap::new(),
            dirty_days: BTreeSet::new(),
            sessions: Map::with_hasher(hasher()),
            gap_sessions: Map::with_hasher(hasher()),
            session_hours: BTreeMap::new(),
            dirty_sessions: Vec::new(),
            deleted_sessions: Vec::new(),
            session_logs: BTreeMap::new(),
            session_horizon: None,
            loading_session_logs: Vec::new(),
            last_batch: None,
            signups: Map::with_hasher(hasher()),
            signup_hours: BTreeMap::new(),
            dirty_signups: Vec::new(),
            deleted_signups: Vec::new(),
            accounts: Map::with_hasher(hasher()),
            account_days: BTreeMap::new(),
            dirty_accounts: Vec::new(),
            deleted_accounts: Vec::new(),
            pending: IndexMap::with_hasher(hasher()),
            features: IndexSet::with_hasher(hasher()),
            expired_before: None,
            key: String::new(),
        }
    }

    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    // --- the reducer ----------------------------------------------------------------------

    /// One validated event: dedupe, then the engagement reducer.
    pub fn apply(&mut self, e: &Facts) -> Outcome {
        let entity = e.account_id.as_deref().or(e.anonymous_id.as_deref()).or(e.user_id.as_deref()).unwrap_or("");
        let Some((h, bucket)) = self.seen(entity, &e.event_id, e.micros.div_euclid(86_400_000_000) + EPOCH_ORDINAL)
        else {
            return Outcome::Duplicate;
        };
        let ts = e.micros.div_euclid(1_000_000);
        if let Some(mark) = self.watermark {
            if ts < mark - self.cfg.grace {
                self.unsee(h, bucket); // only accepted events are remembered
                return Outcome::Late;
            }
        }
        if self.watermark.is_none_or(|m| ts > m) {
            self.advance(ts);
        }
        let day = day_of(ts);
        let info = self.cfg.name(&e.name);
        let user = e.user_id.as_deref();
        let who = user.or(e.anonymous_id.as_deref()).expect("validated: user_id or anonymous_id");
        let feature = match info.special {
            Special::FeatureUsed => e.feature.as_deref(),
            _ => None,
        };
        let key_feature = feature.filter(|f| self.cfg.key_features.contains(*f));
        if let Some(u) = user {
            if !info.inactive {
                self.sketch(DAU, day, None, u);
            }
        }
        match info.special {
            Special::PageView => self.sketch(VISITORS, day, None, who),
            Special::SignedUp => {
                self.sketch(SIGNUPS, day, None, who);
                self.signup(who, ts, day);
            }
            Special::FeatureUsed => {
                if let Some(f) = feature {
                    let max = self.cfg.max_features_per_day;
                    let counts = self.day_mut(day).feature_events.get_or_insert_with(IndexMap::new);
                    let full = !counts.contains_key(f) && key_feature.is_none() && counts.len() >= max;
                    let counted = if full { "other" } else { f };
                    match counts.get_mut(counted) {
                        Some(n) => *n += 1,
                        None => {
                            counts.insert(counted.to_owned(), 1);
                        }
                    }
                    if let Some(u) = user {
                        self.sketch(FEATURE, day, Some(counted), u);
                    }
                }
            }
            Special::InviteSent | Special::InviteAccepted => {
                let d = self.day_mut(day);
                let counter = if info.special == Special::InviteSent { &mut d.invites_sent } else { &mut d.invites_accepted };
                *counter.get_or_insert(0) += 1;
            }
            Special::None => {}
        }
        if let Some(u) = user {
            if info.activates || key_feature.is_some() {
                self.activate(u, ts);
            }
        }
        self.session(who, e.session_id.as_deref(), ts);
        if let (Some(account), Some(u)) = (e.account_id.as_deref(), user) {
            self.account_event(account, u, info, key_feature, day);
        }
        Outcome::Applied
    }

    /// None for a resend; else the id's hash and day, now remembered. An id is unique within
    /// its entity key (account_id, else anonymous_id, else user_id), so any partition count agrees.
    fn seen(&mut self, entity: &str, event_id: &str, day: i64) -> Option<(u64, i64)> {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.push_str(entity);
        key.push('\x1f');
        key.push_str(event_id);
        let h = xxh3_64(key.as_bytes());
        self.key = key;
        if !self.legacy_ids.is_empty() && self.legacy_ids.contains_key(&xxh3_64(event_id.as_bytes())) {
            return None;
        }
        let mark = match self.dedupe_mark {
            Some(m) if day <= m => {
                // The window does not move: one probe finds the id or takes its place.
                match self.ids.entry(h) {
                    hashbrown::hash_map::Entry::Occupied(_) => return None,
                    hashbrown::hash_map::Entry::Vacant(place) => place.insert(Self::bucket(day, m, self.cfg.dedupe_retention_days)),
                };
                m
            }
            _ => {
                // A new day moves the window, after the id was looked for among those it expires.
                if self.ids.contains_key(&h) {
                    return None;
                }
                self.dedupe_mark = Some(day);
                self.expire_dedupe(day);
                self.ids.insert(h, Self::bucket(day, day, self.cfg.dedupe_retention_days));
                day
            }
        };
        let bucket = Self::bucket(day, mark, self.cfg.dedupe_retention_days);
        self.by_day.entry(bucket).or_default().push(h);
        self.new_ids.entry(bucket).or_default().push(h);
        Some((h, bucket))
    }

    /// The day an id is remembered under: its own, or a late event's as of the window's first
    /// day, so it is kept for a whole window.
    fn bucket(day: i64, mark: i64, retention: i64) -> i64 {
        if day > mark - retention {
            day
        } else {
            mark - retention + 1
        }
    }

    /// Forget the id `seen` just remembered (the event was refused after all).
    fn unsee(&mut self, h: u64, bucket: i64) {
        self.ids.remove(&h);
        for index in [&mut self.by_day, &mut self.new_ids] {
            if let Some(hashes) = index.get_mut(&bucket) {
                if hashes.last() == Some(&h) {
                    hashes.pop();
                }
                if hashes.is_empty() {
                    index.remove(&bucket);
                }
            }
        }
    }

    fn expire_dedupe(&mut self, mark: i64) {
        let keep_from = mark - self.cfg.dedupe_retention_days;
        if !self.legacy_ids.is_empty() {
            self.legacy_ids.retain(|_, day| *day > keep_from - 1);
        }
        while let Some((&day, _)) = self.by_day.first_key_value() {
            if day > keep_from - 1 {
                break;
            }
            for h in self.by_day.remove(&day).unwrap_or_default() {
                if self.ids.get(&h) == Some(&day) {
                    self.ids.remove(&h);
                }
            }
        }
    }

    fn sketch(&mut self, kind: u8, day: i64, feature: Option<&str>, id: &str) {
        let fid = match feature {
            None => NO_FEATURE,
            Some(f) => match self.features.get_index_of(f) {
                Some(i) => i as u32,
                None => self.features.insert_full(f.to_owned()).0 as u32,
            },
        };
        let ids = self.pending.entry((kind, day, fid)).or_insert_with(|| IndexSet::with_hasher(hasher()));
        if !ids.contains(id) {
            ids.insert(id.into());
        }
    }

    fn day_mut(&mut self, day: i64) -> &mut Day {
        self.dirty_days.insert(day);
        self.days.entry(day).or_default()
    }

    fn signup(&mut self, who: &str, ts: i64, day: i64) {
        if self.signups.contains_key(who) {
            return;
        }
        let key: Key = Arc::from(who);
        self.signups.insert(key.clone(), Signup { ts, activated: false, dirty: true });
        self.dirty_signups.push(key.clone());
        self.signup_hours.entry(ts.div_euclid(3600)).or_default().push(key);
        let d = self.day_mut(day);
        *d.cohort_signups.get_or_insert(0) += 1;
    }

    fn activate(&mut self, user: &str, ts: i64) {
        let window = self.cfg.activation_seconds;
        let Some(record) = self.signups.get_mut(user) else { return };
        if record.activated || ts < record.ts || ts - record.ts > window {
            return;
        }
        record.activated = true;
        if !record.dirty {
            record.dirty = true;
            self.dirty_signups.push(Arc::from(user));
        }
        let cohort = day_of(record.ts);
        let d = self.day_mut(cohort);
        *d.cohort_activated.get_or_insert(0) += 1;
    }

    /// Sessions by session_id (first to last event), else by a gap of inactivity.
    fn session(&mut self, who: &str, session_id: Option<&str>, ts: i64) {
        let Some(s) = session_id else {
            return self.gap_session(who, ts);
        };
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        // s:<bytes of who>:<who>:<session id>: ids may hold ':' themselves
        key.push_str("s:");
        key.push_str(itoa::Buffer::new().format(who.len()));
        key.push(':');
        key.push_str(who);
        key.push(':');
        key.push_str(s);
        // One lookup: the span is updated in place, its counts and indexes after.
        let found = self.sessions.get_key_value_mut(key.as_str()).map(|(k, s)| {
            let old = (s.first, s.last, s.n);
            let new = extended(old, ts);
            (s.first, s.last, s.n) = new;
            (k.clone(), old, new, !std::mem::replace(&mut s.dirty, true))
        });
        match found {
            Some((shared, old, new, newly_dirty)) => {
                self.recount_span(old, new);
                self.index_extended(shared, old.1, new.1, newly_dirty);
            }
            None => self.open_session(Arc::from(key.as_str()), ts),
        }
        self.key = key;
    }

    /// A session whose last event moved from `was` to `last`: indexed under its new last hour
    /// (for expiry), and written with this batch if it was not already.
    fn index_extended(&mut self, key: Key, was: i64, last: i64, newly_dirty: bool) {
        if was.div_euclid(3600) != last.div_euclid(3600) {
            self.session_hours.entry(last.div_euclid(3600)).or_default().push(key.clone());
        }
        if newly_dirty {
            self.dirty_sessions.push(key);
        }
    }

    /// A session's counts move from its `old` span to its `new` one (one more event): what
    /// `count_span(old, -1)` then `count_span(new, 1)` do, with one day lookup when both count
    /// on the same day (the common case). Unchanged when the event fell inside a span of two
    /// or more events.
    fn recount_span(&mut self, old: (i64, i64, i64), new: (i64, i64, i64)) {
        if old.0 == new.0 && old.1 == new.1 && old.2 > 1 {
            return; // inside the span: no figure changes
        }
        if day_of(old.1) != day_of(new.1) {
            self.count_span(old, -1);
            self.count_span(new, 1);
            return;
        }
        let d = self.day_mut(day_of(new.1));
        *d.sessions.get_or_insert(0) += 0; // one less and one more, the same day
        for ((first, last, n), sign) in [(old, -1), (new, 1)] {
            if n == 1 {
                *d.single_event_sessions.get_or_insert(0) += sign;
            } else {
                *d.session_seconds.get_or_insert(0) += sign * (last - first);
            }
        }
    }

    /// A user's events without a session id, sessions of the events no more than the gap apart:
    /// an event joins every open session it is within the gap of, merging them, so the sessions
    /// do not depend on the order events arrive in within the grace period.
    fn gap_session(&mut self, who: &str, ts: i64) {
        let gap = self.cfg.gap;
        let mut hits: Vec<(Key, (i64, i64, i64))> = self
            .gap_sessions
            .get(who)
            .into_iter()
            .flatten()
            .filter_map(|k| self.sessions.get(k).map(|s| (k.clone(), (s.first, s.last, s.n))))
            .filter(|(_, (first, last, _))| first - gap <= ts && ts <= last + gap)
            .collect();
        if hits.is_empty() {
            let key: Key = Arc::from(gap_session_key(who, ts).as_str());
            match self.gap_sessions.get_mut(who) {
                Some(open) => open.push(key.clone()),
                None => {
                    self.gap_sessions.insert(Arc::from(who), vec![key.clone()]);
                }
            }
            return self.open_session(key, ts);
        }
        hits.sort_by_key(|(_, (first, _, _))| *first); // the earliest session keeps its key
        let (target, span) = hits.remove(0);
        for (key, _) in &hits {
            self.sessions.remove(key);
            self.deleted_sessions.push(key.clone());
        }
        if !hits.is_empty() {
            if let Some(keys) = self.gap_sessions.get_mut(who) {
                keys.retain(|k| !hits.iter().any(|(h, _)| h == k));
            }
        }
        let merged: Vec<(i64, i64, i64)> = hits.into_iter().map(|(_, span)| span).collect();
        self.extend_session(target, span, &merged, ts);
    }

    fn open_session(&mut self, key: Key, ts: i64) {
        self.count_span((ts, ts, 1), 1);
        self.session_hours.entry(ts.div_euclid(3600)).or_default().push(key.clone());
        self.dirty_sessions.push(key.clone());
        self.sessions.insert(key, Span { first: ts, last: ts, n: 1, dirty: true });
    }

    /// The session `key` (`span`) takes the event at `ts` and the sessions `merged` (removed).
    fn extend_session(&mut self, key: Key, span: (i64, i64, i64), merged: &[(i64, i64, i64)], ts: i64) {
        let new = if merged.is_empty() {
            let new = extended(span, ts);
            self.recount_span(span, new);
            new
        } else {
            self.count_span(span, -1);
            let mut new = extended(span, ts);
            for &other in merged {
                self.count_span(other, -1);
                new = (new.0.min(other.0), new.1.max(other.1), new.2 + other.2);
            }
            self.count_span(new, 1);
            new
        };
        let s = self.sessions.get_mut(&key).expect("an open session");
        (s.first, s.last, s.n) = new;
        let newly_dirty = !std::mem::replace(&mut s.dirty, true);
        self.index_extended(key, span.1, new.1, newly_dirty);
    }

    /// Expired or merged gap sessions leave their user's index.
    fn forget_gap_sessions(&mut self, keys: &[Key]) {
        for key in keys {
            if let Some(who) = gap_session_who(key) {
                if let Some(open) = self.gap_sessions.get_mut(who) {
                    open.retain(|k| k != key);
                    if open.is_empty() {
                        self.gap_sessions.remove(who);
                    }
                }
            }
        }
    }

    /// A session counts on the UTC day of its last event.
    fn count_span(&mut self, (first, last, n): (i64, i64, i64), sign: i64) {
        let d = self.day_mut(day_of(last));
        *d.sessions.get_or_insert(0) += sign;
        if n == 1 {
            *d.single_event_sessions.get_or_insert(0) += sign;
        } else {
            *d.session_seconds.get_or_insert(0) += sign * (last - first);
        }
    }

    fn account_event(&mut self, account: &str, user: &str, info: NameInfo, key_feature: Option<&str>, day: i64) {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.push_str(account);
        key.push('|');
        key.push_str(itoa::Buffer::new().format(day));
        let active = !info.inactive;
        let weight = info.weight;
        let r = match self.accounts.entry_ref(key.as_str()) {
            hashbrown::hash_map::EntryRef::Occupied(found) => found.into_mut(),
            hashbrown::hash_map::EntryRef::Vacant(place) => {
                self.account_days.entry(day).or_default().push(key.clone());
                place.insert(AccountDay::default())
            }
        };
        match r.u.get_full_mut(user) {
            Some((index, _, seen)) => {
                if active && *seen == 0 {
                    *seen = 1;
                    r.changed.push(index);
                }
            }
            None => {
                let (index, _) = r.u.insert_full(user.to_owned(), active as u8);
                r.changed.push(index);
            }
        }
        r.w += weight;
        if let Some(f) = key_feature {
            if !r.f.iter().any(|x| x == f) {
                r.f.push(f.to_owned());
            }
        }
        if !r.dirty {
            r.dirty = true;
            self.dirty_accounts.push(key.clone());
        }
        self.key = key;
    }

    /// The watermark moved: forget what can no longer change (at most once an hour of event time).
    fn advance(&mut self, ts: i64) {
        let old = self.watermark;
        self.watermark = Some(ts);
        if let Some(o) = old {
            if o.div_euclid(3600) == ts.div_euclid(3600) {
                return;
            }
        }
        if old.is_none_or(|o| o.div_euclid(86400) != ts.div_euclid(86400)) {
            self.expire_days(day_of(ts) - self.cfg.keep_days);
        }
        let horizon = ts - self.cfg.grace - self.cfg.gap;
        let before = self.deleted_sessions.len();
        expire_by_hour(&mut self.session_hours, &mut self.sessions, &mut self.deleted_sessions, horizon, |s| s.last);
        let expired = self.deleted_sessions[before..].to_vec();
        self.forget_gap_sessions(&expired);
        self.session_horizon = Some(horizon);
        let horizon = ts - self.cfg.grace - self.cfg.activation_seconds;
        expire_by_hour(&mut self.signup_hours, &mut self.signups, &mut self.deleted_signups, horizon, |s| s.ts);
    }

    /// A new UTC day: drop sketches, counters and account days older than `keep_days`.
    fn expire_days(&mut self, oldest: i64) {
        let old: Vec<i64> = self.days.range(..oldest).map(|(d, _)| *d).collect();
        for d in old {
            self.days.remove(&d);
            self.dirty_days.insert(d);
        }
        while let Some((&day, _)) = self.account_days.first_key_value() {
            if day >= oldest {
                break;
            }
            for key in self.account_days.remove(&day).unwrap_or_default() {
                if let Some(a) = self.accounts.remove(&key) {
                    self.deleted_accounts.push((key, a.u.into_keys().collect()));
                }
            }
        }
        self.pending.retain(|(_, day, _), _| *day >= oldest);
        self.expired_before = Some(self.expired_before.map_or(oldest, |o| o.max(oldest)));
    }

    // --- handing over ---------------------------------------------------------------------------

    /// Sketch updates since the last call: first drop sketches of days before the returned day
    /// (if any), then apply the updates in order.
    pub fn take_sketch_updates(&mut self) -> (Option<i64>, Vec<SketchUpdate>) {
        let features = std::mem::replace(&mut self.features, IndexSet::with_hasher(hasher()));
        let pending = std::mem::replace(&mut self.pending, IndexMap::with_hasher(hasher()));
        let mut out = Vec::with_capacity(pending.len());
        for ((kind, day, fid), ids) in pending {
            let (key, lg_k) = match kind {
                DAU => (format!("dau:{day}"), self.cfg.lg_k),
                VISITORS => (format!("vis:{day}"), self.cfg.lg_k),
                SIGNUPS => (format!("sig:{day}"), self.cfg.lg_k),
                _ => (format!("feat:{}:{day}", features[fid as usize]), self.cfg.feature_lg_k),
            };
            out.push(SketchUpdate { key, lg_k, ids: ids.into_iter().collect() });
        }
        (self.expired_before.take(), out)
    }

    /// Changelog records (`<store>\x1f<key>`, JSON value or None) for everything changed since
    /// the last flush, and the account-day keys among them.
    pub fn flush(&mut self, batch: i64) -> (Vec<Record>, Vec<String>) {
        let mut out: Vec<Record> = Vec::new();
        // Batch ids are source offsets; without one (replay) they still must never repeat, or a
        // batch's record would replace an earlier batch's hashes.
        let batch = match self.last_batch {
            Some(last) if batch <= last => last + 1,
            _ => batch,
        };
        self.last_batch = Some(batch);
        let rec = record_key;
        for (day, hashes) in std::mem::take(&mut self.new_ids) {
            let mut v = Vec::with_capacity(hashes.len() * 8);
            for h in hashes {
                v.extend_from_slice(&h.to_le_bytes());
            }
            out.push((rec("dedupe_log", &format!("{day}:{batch}:s")), Some(v)));
            self.dedupe_records.insert((day, batch, true));
        }
        if let Some(mark) = self.dedupe_mark {
            let last = mark - self.cfg.dedupe_retention_days - 1;
            let old: Vec<(i64, i64, bool)> =
                self.dedupe_records.iter().take_while(|(d, _, _)| *d <= last).copied().collect();
            for (d, b, scoped) in old {
                self.dedupe_records.remove(&(d, b, scoped));
                let key = if scoped { format!("{d}:{b}:s") } else { format!("{d}:{b}") };
                out.push((rec("dedupe_log", &key), None));
            }
        }
        for day in std::mem::take(&mut self.dirty_days) {
            let value = self.days.get(&day).map(encode_day);
            out.push((rec("day", &day.to_string()), value));
        }
        self.flush_sessions(&mut out, batch);
        let deleted = std::mem::take(&mut self.deleted_signups);
        let dirty = std::mem::take(&mut self.dirty_signups);
        flush_keyed(&mut out, "signup", &mut self.signups, deleted, dirty, |s| &mut s.dirty, |s| {
            format!("[{},{}]", s.ts, s.activated as u8).into_bytes()
        });
        let mut touched = Vec::new();
        // An account-day is one small record (weights, key features) plus one record per user,
        // written when the user is first seen or turns active: a batch writes what changed, not
        // every user of a big account again.
        for (key, users) in std::mem::take(&mut self.deleted_accounts) {
            let now = self.accounts.get(&key);
            for user in users {
                if now.is_none_or(|a| !a.u.contains_key(&user)) {
                    out.push((rec("account_user", &account_user_key(&key, &user)), None));
                }
            }
            if now.is_none() {
                out.push((rec("account", &key), None));
                touched.push(key);
            }
        }
        for key in std::mem::take(&mut self.dirty_accounts) {
            if let Some(a) = self.accounts.get_mut(&key) {
                if a.dirty {
                    a.dirty = false;
                    out.push((rec("account", &key), Some(encode_account(a, false))));
                    for index in std::mem::take(&mut a.changed) {
                        let (user, active) = a.u.get_index(index).expect("indices of u only grow");
                        let value = if *active == 1 { b"1".to_vec() } else { b"0".to_vec() };
                        out.push((rec("account_user", &account_user_key(&key, user)), Some(value)));
                    }
                    touched.push(key);
                }
            }
        }
        if let Some(h) = self.session_horizon {
            out.push((rec("meta", "session_horizon"), Some(h.to_string().into_bytes())));
        }
        if let Some(w) = self.watermark {
            out.push((rec("meta", "watermark"), Some(w.to_string().into_bytes())));
        }
        for (_, value) in out.iter_mut() {
            if let Some(payload) = value {
                let mut framed = Vec::with_capacity(FORMAT.len() + payload.len());
                framed.extend_from_slice(FORMAT);
                framed.extend_from_slice(payload);
                *payload = framed;
            }
        }
        (out, touched)
    }

    /// This batch's changed sessions as records `[[key, first, last, events], ...]`; the oldest
    /// logs, once every session in them has expired, are deleted (a session still alive was
    /// rewritten by a later log, since every change rewrites the session).
    fn flush_sessions(&mut self, out: &mut Vec<Record>, batch: i64) {
        /// A log record stays well below the producer's batch and the broker's message limits.
        const CHUNK_BYTES: usize = 200_000;
        let mut log = b"[".to_vec();
        let mut latest = i64::MIN;
        let mut chunk = 0i64;
        let mut close = |log: &mut Vec<u8>, latest: &mut i64, chunk: &mut i64, logs: &mut BTreeMap<(i64, i64), i64>| {
            if log.len() > 1 {
                log.push(b']');
                out.push((record_key("session_log", &format!("{batch}:{chunk}")), Some(std::mem::replace(log, b"[".to_vec()))));
                logs.insert((batch, *chunk), *latest);
                *latest = i64::MIN;
                *chunk += 1;
            }
        };
        // Expired sessions first, as `[key]`: without it a recovery could bring back an older
        // write of the same key (its span, replaced in this batch, may end later).
        for key in std::mem::take(&mut self.deleted_sessions) {
            if self.sessions.contains_key(&key) {
                continue; // started again since: its new span follows
            }
            if log.len() > 1 {
                log.push(b',');
            }
            log.push(b'[');
            json_str(&mut log, &key);
            log.push(b']');
            if log.len() >= CHUNK_BYTES {
                close(&mut log, &mut latest, &mut chunk, &mut self.session_logs);
            }
        }
        for key in std::mem::take(&mut self.dirty_sessions) {
            let Some(s) = self.sessions.get_mut(&key) else { continue };
            if !std::mem::replace(&mut s.dirty, false) {
                continue;
            }
            if log.len() > 1 {
                log.push(b',');
            }
            log.push(b'[');
            json_str(&mut log, &key);
            for n in [s.first, s.last, s.n] {
                log.push(b',');
                log.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            }
            log.push(b']');
            latest = latest.max(s.last);
            if log.len() >= CHUNK_BYTES {
                close(&mut log, &mut latest, &mut chunk, &mut self.session_logs);
            }
        }
        close(&mut log, &mut latest, &mut chunk, &mut self.session_logs);
        // Oldest first, and only while every log before has gone too: a session's later write can
        // hold an earlier `last` (a late event starts a new span), so deleting a newer log alone
        // could bring an older write of the same session back at recovery.
        if let Some(horizon) = self.session_horizon {
            while let Some((&(b, c), &latest)) = self.session_logs.first_key_value() {
                if latest >= horizon {
                    break;
                }
                self.session_logs.remove(&(b, c));
                out.push((record_key("session_log", &format!("{b}:{c}")), None));
            }
        }
    }

    // --- recovery ---------------------------------------------------------------------------------

    /// One record of a recovered store (framed JSON, or packed hashes, as written by `flush`).
    pub fn load(&mut self, store: &str, key: &str, value: &[u8]) -> Result<(), String> {
        let bad = |why: &str| format!("changelog record {store}/{key}: {why}");
        let value = unframe(value).map_err(|why| bad(&why))?;
        match store {
            "dedupe_log" => {
                let mut parts = key.split(':');
                let day = parts.next().and_then(|d| d.parse::<i64>().ok()).ok_or_else(|| bad("key is not <day>:<batch>[:s]"))?;
                let batch = parts.next().and_then(|b| b.parse::<i64>().ok()).ok_or_else(|| bad("batch"))?;
                let scoped = match parts.next() {
                    None => false,
                    Some("s") if parts.next().is_none() => true,
                    Some(_) => return Err(bad("key is not <day>:<batch>[:s]")),
                };
                if value.len() % 8 != 0 {
                    return Err(bad("hashes are not 8-byte aligned"));
                }
                let hashes = value.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
                self.loading_dedupe.push((day, batch, scoped, hashes));
            }
            "meta" => {
                let v = || serde_json::from_slice::<i64>(value).map_err(|e| bad(&e.to_string()));
                match key {
                    "watermark" => self.watermark = Some(v()?),
                    "session_horizon" => self.session_horizon = Some(v()?),
                    _ => {}
                }
            }
            "session_log" => {
                let parsed = key.split_once(':').and_then(|(b, c)| Some((b.parse::<i64>().ok()?, c.parse::<i64>().ok()?)));
                let batch = parsed.ok_or_else(|| bad("key is not <batch>:<chunk>"))?;
                let entries: Vec<LogEntry> = serde_json::from_slice(value).map_err(|e| bad(&e.to_string()))?;
                self.loading_session_logs.push((batch, entries));
            }
            "day" => {
                let day = key.parse::<i64>().map_err(|_| bad("day"))?;
                self.days.insert(day, decode_day(value).map_err(|e| bad(&e))?);
            }
            "signup" => {
                let [ts, activated]: [i64; 2] = serde_json::from_slice(value).map_err(|e| bad(&e.to_string()))?;
                let key: Key = Arc::from(key);
                self.signup_hours.entry(ts.div_euclid(3600)).or_default().push(key.clone());
                self.signups.insert(key, Signup { ts, activated: activated != 0, dirty: false });
            }
            "account" => {
                let loaded = decode_account(value).map_err(|e| bad(&e))?;
                if !loaded.u.is_empty() {
                    return Err(bad("users inline: account users have records of their own (account_user)"));
                }
                let a = self.account_entry(key).ok_or_else(|| bad("key is not <account>|<day>"))?;
                a.w = loaded.w;
                a.f = loaded.f;
            }
            "account_user" => {
                let (account_day, user) = split_account_user_key(key).ok_or_else(|| bad("key is not <n>:<account>|<day>|<user>"))?;
                let active: u8 = serde_json::from_slice(value).map_err(|e| bad(&e.to_string()))?;
                let a = self.account_entry(account_day).ok_or_else(|| bad("key is not <n>:<account>|<day>|<user>"))?;
                a.u.insert(user.to_owned(), active.min(1));
            }
            other => return Err(format!("unknown engagement store {other:?}")),
        }
        Ok(())
    }

    fn account_entry(&mut self, key: &str) -> Option<&mut AccountDay> {
        let day = key.rsplit_once('|').and_then(|(_, d)| d.parse::<i64>().ok())?;
        if !self.accounts.contains_key(key) {
            self.account_days.entry(day).or_default().push(key.to_owned());
            self.accounts.insert(key.to_owned(), AccountDay::default());
        }
        self.accounts.get_mut(key)
    }

    /// All records are loaded: replay session logs in batch order (the latest write of a
    /// session wins), forget what the last expiry pass forgot, rebuild the indexes.
    pub fn finish_load(&mut self) {
        let mut logs = std::mem::take(&mut self.loading_session_logs);
        logs.sort_by_key(|(b, _)| *b);
        for ((batch, chunk), entries) in logs {
            let mut latest = i64::MIN;
            for entry in entries {
                match entry {
                    LogEntry::Put(key, first, last, n) => {
                        latest = latest.max(last);
                        self.sessions.insert(Arc::from(key.as_str()), Span { first, last, n, dirty: false });
                    }
                    LogEntry::Gone([key]) => {
                        self.sessions.remove(key.as_str());
                    }
                }
            }
            self.session_logs.insert((batch, chunk), latest);
            self.last_batch = Some(self.last_batch.map_or(batch, |l| l.max(batch)));
        }
        if let Some(horizon) = self.session_horizon {
            self.sessions.retain(|_, s| s.last >= horizon);
        }
        self.migrate_user_sessions();
        self.session_hours.clear();
        self.gap_sessions.clear();
        for (key, s) in self.sessions.iter() {
            self.session_hours.entry(s.last.div_euclid(3600)).or_default().push(key.clone());
            if let Some(who) = gap_session_who(key) {
                self.gap_sessions.entry(Arc::from(who)).or_default().push(key.clone());
            }
        }
        let mut entries = std::mem::take(&mut self.loading_dedupe);
        entries.sort_by_key(|(d, b, _, _)| (*d, *b));
        for (day, batch, scoped, hashes) in entries {
            if !scoped {
                // hashes of bare event_ids (an earlier build): still resends until they expire
                for &h in &hashes {
                    self.legacy_ids.insert(h, day);
                }
                self.dedupe_records.insert((day, batch, false));
                self.last_batch = Some(self.last_batch.map_or(batch, |l| l.max(batch)));
                continue;
            }
            for &h in &hashes {
                self.ids.insert(h, day);
            }
            self.by_day.entry(day).or_default().extend(hashes);
            self.dedupe_records.insert((day, batch, true));
            self.last_batch = Some(self.last_batch.map_or(batch, |l| l.max(batch)));
        }
        let legacy_mark = self.legacy_ids.values().max().copied();
        self.dedupe_mark = self.by_day.last_key_value().map(|(d, _)| *d).max(legacy_mark);
    }

    /// Changelogs written before gap sessions could merge hold one `u:<who>` session per user:
    /// it becomes a `g:` session, and the next flush writes the change.
    fn migrate_user_sessions(&mut self) {
        let old: Vec<Key> = self.sessions.keys().filter(|k| k.starts_with("u:")).cloned().collect();
        for key in old {
            let s = self.sessions.remove(&key).expect("listed above");
            let new: Key = Arc::from(gap_session_key(&key[2..], s.first).as_str());
            self.deleted_sessions.push(key);
            self.dirty_sessions.push(new.clone());
            self.sessions.insert(new, Span { dirty: true, ..s });
        }
    }

    // --- reading -------------------------------------------------------------------------------------

    pub fn days_json(&self) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (i, (day, d)) in self.days.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(format!("\"{day}\":").as_bytes());
            out.extend_from_slice(&encode_day(d));
        }
        out.push(b'}');
        out
    }

    pub fn accounts_json(&self) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (i, (key, a)) in self.accounts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, key);
            out.push(b':');
            out.extend_from_slice(&encode_account(a, true));
        }
        out.push(b'}');
        out
    }

    pub fn account_json(&self, key: &str) -> Option<Vec<u8>> {
        self.accounts.get(key).map(|a| encode_account(a, true))
    }

    pub fn account_keys(&self) -> Vec<String> {
        self.accounts.keys().cloned().collect()
    }

    pub fn sessions_json(&self) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (i, (k, s)) in self.sessions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, k);
            out.extend_from_slice(format!(":[{},{},{}]", s.first, s.last, s.n).as_bytes());
        }
        out.push(b'}');
        out
    }

    pub fn signups_json(&self) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (i, (k, s)) in self.signups.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, k);
            out.extend_from_slice(format!(":[{},{}]", s.ts, s.activated as u8).as_bytes());
        }
        out.push(b'}');
        out
    }

    pub fn sizes(&self) -> [(&'static str, usize); 5] {
        [
            ("dedupe_ids", self.ids.len() + self.legacy_ids.len()),
            ("sessions", self.sessions.len()),
            ("signups", self.signups.len()),
            ("account_days", self.accounts.len()),
            ("days", self.days.len()),
        ]
    }
}

/// A changelog record: (key, value or None for a deletion).
pub type Record = (Vec<u8>, Option<Vec<u8>>);

/// An entry of a session log: `[key, first, last, events]`, or `[key]` for an expired session.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum LogEntry {
    Put(String, i64, i64, i64),
    Gone([String; 1]),
}

/// The payload of a framed changelog value, or why it cannot be read.
fn unframe(value: &[u8]) -> Result<&[u8], String> {
    if let Some(payload) = value.strip_prefix(FORMAT) {
        return Ok(payload);
    }
    let bar = value.iter().take(8).position(|&b| b == b'|');
    match bar {
        Some(i) if i >= 2 && value[0] == b'v' && value[1..i].iter().all(u8::is_ascii_digit) => Err(format!(
            "format version {}; this build reads 1",
            String::from_utf8_lossy(&value[1..i])
        )),
        _ => Err("no format version: written by a pre-release build; start with fresh state (a new \
                  PULSE_APP_ID, or delete the app's changelog topics)"
            .to_owned()),
    }
}

/// `<store>\x1f<key>`: the changelog key of a store's entry (stream/state.py).
fn record_key(store: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(store.len() + 1 + key.len());
    out.extend_from_slice(store.as_bytes());
    out.push(SEP as u8);
    out.extend_from_slice(key.as_bytes());
    out
}

/// Tombstones for deleted keys (unless recreated since), then the entries marked dirty.
fn flush_keyed<V>(
    out: &mut Vec<Record>, store: &str, entries: &mut Map<Key, V>, deleted: Vec<Key>, dirty: Vec<Key>,
    flag: impl Fn(&mut V) -> &mut bool, encode: impl Fn(&V) -> Vec<u8>,
) {
    for key in deleted {
        if !entries.contains_key(&key) {
            out.push((record_key(store, &key), None));
        }
    }
    for key in dirty {
        if let Some(v) = entries.get_mut(&key) {
            let was_dirty = std::mem::replace(flag(v), false);
            if was_dirty {
                out.push((record_key(store, &key), Some(encode(v))));
            }
        }
    }
}

/// Forget entries whose time is before `horizon`: exactly those, whatever order they came in.
/// `hours` indexes every entry under the hour of its current time (stale entries are skipped).
fn expire_by_hour<V>(
    hours: &mut BTreeMap<i64, Vec<Key>>, entries: &mut Map<Key, V>, deleted: &mut Vec<Key>, horizon: i64,
    time: impl Fn(&V) -> i64,
) {
    let horizon_hour = horizon.div_euclid(3600);
    while let Some((&hour, _)) = hours.first_key_value() {
        if hour > horizon_hour {
            break;
        }
        let keys = hours.remove(&hour).unwrap_or_default();
        let mut keep = Vec::new();
        for key in keys {
            let Some(t) = entries.get(&key).map(&time) else { continue };
            if t < horizon {
                entries.remove(&key);
                deleted.push(key);
            } else if t.div_euclid(3600) == hour {
                keep.push(key);
            }
        }
        if hour == horizon_hour {
            if !keep.is_empty() {
                hours.insert(hour, keep);
            }
            break;
        }
    }
}

/// `g:<bytes of who>:<who>:<time of its first event>`; the key stays when the session grows.
fn gap_session_key(who: &str, ts: i64) -> String {
    let mut key = String::with_capacity(who.len() + 26);
    key.push_str("g:");
    key.push_str(itoa::Buffer::new().format(who.len()));
    key.push(':');
    key.push_str(who);
    key.push(':');
    key.push_str(itoa::Buffer::new().format(ts));
    key
}

fn gap_session_who(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("g:")?;
    let (len, rest) = rest.split_once(':')?;
    rest.get(..len.parse::<usize>().ok()?)
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("a str always serializes");
}

fn encode_day(d: &Day) -> Vec<u8> {
    let mut out = b"{".to_vec();
    let mut sep = false;
    let mut field = |out: &mut Vec<u8>, name: &str| {
        if sep {
            out.push(b',');
        }
        sep = true;
        out.extend_from_slice(format!("\"{name}\":").as_bytes());
    };
    if let Some(f) = &d.feature_events {
        field(&mut out, "feature_events");
        out.push(b'{');
        for (i, (k, v)) in f.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, k);
            out.extend_from_slice(format!(":{v}").as_bytes());
        }
        out.push(b'}');
    }
    for (name, v) in [
        ("cohort_signups", d.cohort_signups),
        ("cohort_activated", d.cohort_activated),
        ("sessions", d.sessions),
        ("single_event_sessions", d.single_event_sessions),
        ("session_seconds", d.session_seconds),
        ("invites_sent", d.invites_sent),
        ("invites_accepted", d.invites_accepted),
    ] {
        if let Some(v) = v {
            field(&mut out, name);
            out.extend_from_slice(v.to_string().as_bytes());
        }
    }
    out.push(b'}');
    out
}

fn decode_day(value: &[u8]) -> Result<Day, String> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    let int = |name: &str| -> Result<Option<i64>, String> {
        match v.get(name) {
            None => Ok(None),
            Some(x) => x.as_i64().map(Some).ok_or_else(|| format!("{name} is not an integer")),
        }
    };
    let feature_events = match v.get("feature_events") {
        None => None,
        Some(serde_json::Value::Object(m)) => {
            let mut out = IndexMap::new();
            for (k, n) in m {
                out.insert(k.clone(), n.as_i64().ok_or("feature count is not an integer")?);
            }
            Some(out)
        }
        Some(_) => return Err("feature_events is not an object".into()),
    };
    Ok(Day {
        feature_events,
        cohort_signups: int("cohort_signups")?,
        cohort_activated: int("cohort_activated")?,
        sessions: int("sessions")?,
        single_event_sessions: int("single_event_sessions")?,
        session_seconds: int("session_seconds")?,
        invites_sent: int("invites_sent")?,
        invites_accepted: int("invites_accepted")?,
    })
}

/// `{"w":..,"u":{user: 0|1,..},"f":[..]}`; without `users` (the changelog's account record:
/// users have records of their own) `{"w":..,"f":[..]}`.
fn encode_account(a: &AccountDay, users: bool) -> Vec<u8> {
    let mut out = format!("{{\"w\":{},", a.w).into_bytes();
    if users {
        out.extend_from_slice(b"\"u\":{");
        for (i, (user, active)) in a.u.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(&mut out, user);
            out.extend_from_slice(if *active == 1 { b":1" } else { b":0" });
        }
        out.extend_from_slice(b"},");
    }
    out.extend_from_slice(b"\"f\":[");
    for (i, f) in a.f.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(&mut out, f);
    }
    out.extend_from_slice(b"]}");
    out
}

fn decode_account(value: &[u8]) -> Result<AccountDay, String> {
    #[derive(serde::Deserialize)]
    struct Stored {
        w: i64,
        #[serde(default)]
        u: Users,
        f: Vec<String>,
    }
    let s: Stored = serde_json::from_slice(value).map_err(|e| e.to_string())?;
    Ok(AccountDay { w: s.w, u: s.u, f: s.f, ..AccountDay::default() })
}

/// `<length of account-day key>:<account>|<day>|<user>`: unambiguous whatever the ids hold.
fn account_user_key(account_day: &str, user: &str) -> String {
    format!("{}:{account_day}|{user}", account_day.len())
}

fn split_account_user_key(key: &str) -> Option<(&str, &str)> {
    let (n, rest) = key.split_once(':')?;
    let n: usize = n.parse().ok()?;
    let account_day = rest.get(..n)?;
    let user = rest.get(n..)?.strip_prefix('|')?;
    Some((account_day, user))
}
