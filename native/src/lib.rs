//! `consumers.engagement._kernel`: the compiled per-event reducer of the product-events topic.
//!
//! Python keeps the HyperLogLog sketches (DataSketches), the changelog and the figures; this
//! module does the per-event work (JSON decoding, validation, dedupe, sessions, cohorts,
//! account activity) that costs 10+ µs an event in Python. See consumers/engagement/ledger.py.

mod event;
mod ledger;
mod partition;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::borrow::Cow;
use std::collections::HashMap;

use event::{decode_record, Facts};
use ledger::{Config, Ledger, Outcome, Record};

type FactsTuple = (String, i64, String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
/// (record index, element index in an SDK batch or None, occurred_at in epoch microseconds)
/// (record index, index inside a batched record, occurred_at in epoch µs)
type Late = (usize, Option<usize>, i64);
/// (record index, index inside a batched record, the partition of the event's entity key)
type Misplaced = (usize, Option<usize>, u32);
/// (record index, home partition, its first event's entity key, the bytes to forward, events)
type Forwarded<'py> = (usize, u32, Bound<'py, PyBytes>, Bound<'py, PyBytes>, usize);
/// What an owned home partition took in the same pass: (home, processed, duplicates, late,
/// the indexes of the records that gave it events, events routed to it)
type HomeTaken = (u32, u64, u64, Vec<Late>, Vec<usize>, u64);
/// (processed, duplicates, late, future, misplaced, forwards, the record to hand to Python,
/// the record not applied for its time (index, its latest occurred_at), the latest occurred_at
/// of the records taken, what each home kernel took)
type Applied<'py> = (
    u64,
    u64,
    Vec<Late>,
    Vec<Late>,
    Vec<Misplaced>,
    Vec<Forwarded<'py>>,
    Option<usize>,
    Option<(usize, i64)>,
    Option<i64>,
    Vec<HomeTaken>,
);

/// A home partition's kernel borrowed for one `apply_records` call, and what it took.
struct Home<'py> {
    partition: u32,
    /// the first record index whose events it takes (it holds the earlier ones already)
    from: usize,
    kernel: PyRefMut<'py, EngagementKernel>,
    processed: u64,
    duplicates: u64,
    late: Vec<Late>,
    records: Vec<usize>,
    events: u64,
}

impl Home<'_> {
    fn taken(self) -> HomeTaken {
        (self.partition, self.processed, self.duplicates, self.late, self.records, self.events)
    }
}

/// One record's misplaced events for one home partition: (home, first event's key, element indexes).
type Group = (u32, Vec<u8>, Vec<usize>);

/// A record's events for one home, as bytes of the record itself: the record when it is one
/// event, else its elements' own bytes (as sent) joined into a JSON array. `None`: the array
/// did not split (it decoded a moment ago, so this does not happen).
fn forwarded_values(raw: &[u8], is_batch: bool, groups: &[Group]) -> Option<Vec<Vec<u8>>> {
    if !is_batch {
        return Some(vec![raw.to_vec()]);
    }
    let text = std::str::from_utf8(raw).ok()?;
    let elements: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).ok()?;
    let mut out = Vec::with_capacity(groups.len());
    for (_, _, indexes) in groups {
        let mut value = Vec::new();
        if let [one] = indexes[..] {
            value.extend_from_slice(elements.get(one)?.get().as_bytes());
        } else {
            value.push(b'[');
            for (n, &index) in indexes.iter().enumerate() {
                if n > 0 {
                    value.push(b',');
                }
                value.extend_from_slice(elements.get(index)?.get().as_bytes());
            }
            value.push(b']');
        }
        out.push(value);
    }
    Some(out)
}

/// An event for a ledger to apply: its record, its index in an SDK batch (None for a single
/// event), and where its facts are (`decoded[slot][event]`).
#[derive(Clone, Copy)]
struct Work {
    record: usize,
    index: Option<usize>,
    slot: u32,
    event: u32,
}

/// What one ledger made of its events: (processed, duplicates, late).
type Outcomes = (u64, u64, Vec<Late>);

/// Whether this process may run on two cores or more: asked once (the answer reads cgroup files).
fn two_cores() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2))
}

/// From this many bytes, a window of records is decoded ahead on two threads.
const SIDE_BY_SIDE_BYTES: usize = 256 * 1024;
/// A pass reads its records a window at a time: the first of `SIDE_BY_SIDE_BYTES`, decoded
/// record by record as they are routed; each next one twice the last, up to the largest,
/// decoded ahead. A pass that stops (at a record for Python, or one after `until`) has decoded
/// at most as many bytes it does not use as it took before, so a stream with many records for
/// Python, or stopping often for time, does not decode the rest of the batch again each time.
const FIRST_WINDOW_BYTES: usize = SIDE_BY_SIDE_BYTES;
const LARGEST_WINDOW_BYTES: usize = 4 * 1024 * 1024;

/// Each record decoded, the second half of them (by bytes) on a second thread.
fn decode_side_by_side<'a>(raws: &[Option<&'a [u8]>]) -> Vec<Option<(bool, Vec<Facts<'a>>)>> {
    let decode = |part: &[Option<&'a [u8]>]| -> Vec<Option<(bool, Vec<Facts<'a>>)>> {
        part.iter().map(|raw| raw.and_then(decode_record)).collect()
    };
    let total: usize = raws.iter().flatten().map(|r| r.len()).sum();
    let mut seen = 0;
    let half = raws.iter().position(|raw| {
        seen += raw.map_or(0, |r| r.len());
        seen * 2 >= total
    });
    let (first, second) = raws.split_at(half.map_or(raws.len(), |h| h + 1));
    std::thread::scope(|scope| {
        let later = scope.spawn(|| decode(second));
        let mut out = decode(first);
        out.extend(later.join().expect("decoding panicked"));
        out
    })
}

/// Below this many events in a window, its ledgers apply them on this thread: a thread costs more.
const SIDE_BY_SIDE_EVENTS: usize = 1_000;

/// A window's records as decoded: (is it an SDK batch, its events), None for Python.
type Decoded<'a> = [Option<(bool, Vec<Facts<'a>>)>];

fn apply_all(ledger: &mut Ledger, work: &[Work], decoded: &Decoded<'_>) -> Outcomes {
    let (mut processed, mut duplicates, mut late) = (0u64, 0u64, Vec::new());
    for w in work {
        let (_, events) = decoded[w.slot as usize].as_ref().expect("work only for decoded records");
        let e = &events[w.event as usize];
        match ledger.apply(e) {
            Outcome::Applied => processed += 1,
            Outcome::Duplicate => duplicates += 1,
            Outcome::Late => late.push((w.record, w.index, e.micros)),
        }
    }
    (processed, duplicates, late)
}

/// Each ledger applies its own events in order; with enough events and more than one ledger
/// holding them, two threads share the ledgers (by events, largest first). The ledgers share no
/// state, so the outcome is the same as applying them one after the other.
fn apply_side_by_side(ledgers: Vec<&mut Ledger>, work: &[Vec<Work>], decoded: &Decoded<'_>) -> Vec<Outcomes> {
    let busy = work.iter().filter(|w| !w.is_empty()).count();
    let total: usize = work.iter().map(Vec::len).sum();
    if busy < 2 || total < SIDE_BY_SIDE_EVENTS || !two_cores() {
        return ledgers.into_iter().zip(work).map(|(l, w)| apply_all(l, w, decoded)).collect();
    }
    // Greedy split by events: the largest ledger first, each to the lighter side.
    let mut order: Vec<usize> = (0..work.len()).collect();
    order.sort_by_key(|&n| std::cmp::Reverse(work[n].len()));
    let mut side = vec![false; work.len()];
    let (mut here, mut there) = (0usize, 0usize);
    for n in order {
        if there < here {
            side[n] = true;
            there += work[n].len();
        } else {
            here += work[n].len();
        }
    }
    on_two_threads(ledgers, &side, |n, l| apply_all(l, &work[n], decoded))
}

/// `work(n, item)` of each item, in the order given: the items marked in `other` on a second
/// thread, the rest on this one. The items must share no state.
fn on_two_threads<T: Send, R: Send>(items: Vec<T>, other: &[bool], work: impl Fn(usize, T) -> R + Sync) -> Vec<R> {
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    for (n, item) in items.into_iter().enumerate() {
        if other[n] {
            theirs.push((n, item));
        } else {
            mine.push((n, item));
        }
    }
    let mut out: Vec<Option<R>> = Vec::new();
    out.resize_with(mine.len() + theirs.len(), || None);
    std::thread::scope(|scope| {
        let there = scope.spawn(|| theirs.into_iter().map(|(n, item)| (n, work(n, item))).collect::<Vec<_>>());
        for (n, item) in mine {
            out[n] = Some(work(n, item));
        }
        for (n, done) in there.join().expect("work on the second thread panicked") {
            out[n] = Some(done);
        }
    });
    out.into_iter().map(|o| o.expect("every item done")).collect()
}

/// Each ledger's flush (changelog records, touched account-days), with two or more ledgers
/// shared between two threads (alternately, in order). Ledgers share no state, so each gets what
/// its own `flush` would give.
fn flush_side_by_side(ledgers: Vec<(&mut Ledger, i64)>) -> Vec<(Vec<Record>, Vec<String>)> {
    if ledgers.len() < 2 || !two_cores() {
        return ledgers.into_iter().map(|(l, batch)| l.flush(batch)).collect();
    }
    let other: Vec<bool> = (0..ledgers.len()).map(|n| n % 2 == 1).collect();
    on_two_threads(ledgers, &other, |_, (l, batch)| l.flush(batch))
}

/// A flush's records as Python objects: [(key, value or None)].
fn records_list<'py>(py: Python<'py>, records: Vec<Record>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for (key, value) in records {
        let value = value.map(|v| PyBytes::new(py, &v));
        out.append((PyBytes::new(py, &key), value))?;
    }
    Ok(out)
}

/// `flush(batch)` of several kernels at once, their encoding on two threads: [(records,
/// touched account-days)] in the order given. A kernel given twice is a borrow error.
#[pyfunction]
fn flush_many<'py>(
    py: Python<'py>, kernels: Vec<(Bound<'py, EngagementKernel>, i64)>,
) -> PyResult<Vec<(Bound<'py, PyList>, Vec<String>)>> {
    let mut borrowed: Vec<(PyRefMut<'py, EngagementKernel>, i64)> =
        kernels.iter().map(|(k, batch)| Ok((k.try_borrow_mut()?, *batch))).collect::<PyResult<_>>()?;
    let flushed = flush_side_by_side(borrowed.iter_mut().map(|(k, batch)| (&mut k.ledger, *batch)).collect());
    flushed.into_iter().map(|(records, touched)| Ok((records_list(py, records)?, touched))).collect()
}

#[pyclass(module = "consumers.engagement._kernel")]
struct EngagementKernel {
    ledger: Ledger,
}

fn owned(s: &Option<Cow<'_, str>>) -> Option<String> {
    s.as_ref().map(|v| v.to_string())
}

#[pymethods]
impl EngagementKernel {
    #[new]
    #[pyo3(signature = (*, inactive_names, key_features, activation_names, activation_days, session_gap_seconds,
                        grace_seconds, keep_days, lg_k, feature_lg_k, max_features_per_day, weights,
                        dedupe_retention_days))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        inactive_names: Vec<String>, key_features: Vec<String>, activation_names: Vec<String>, activation_days: i64,
        session_gap_seconds: i64, grace_seconds: i64, keep_days: i64, lg_k: u8, feature_lg_k: u8,
        max_features_per_day: usize, weights: HashMap<String, i64>, dedupe_retention_days: i64,
    ) -> Self {
        EngagementKernel {
            ledger: Ledger::new(Config::new(
                inactive_names, key_features, activation_names, activation_days, session_gap_seconds, grace_seconds,
                keep_days, lg_k, feature_lg_k, max_features_per_day, weights, dedupe_retention_days,
            )),
        }
    }

    /// Apply records `values[start:]` in order until one needs the Python path. `limits[i]` is
    /// the latest occurred_at (epoch µs) record i may carry: a later event is in the future of
    /// its record, refused before it touches dedupe, watermark or state. With `partitions` > 0,
    /// an event whose entity key (account_id, else anonymous_id, else user_id) belongs to another partition
    /// than `partition` is not applied but returned, to be forwarded there: one by one as
    /// misplaced events, or with `group` as forwards, one per record and home partition (in
    /// the order of their first events) holding those events' own bytes. A record whose latest
    /// event (within its limit) is after `until` stops the call before it changes anything.
    /// Returns (processed, duplicates, late events, future events, misplaced events, forwards,
    /// index of the record to hand to Python or None, (index, latest occurred_at) of the record
    /// left for its time or None, the latest occurred_at of the records taken or None, and
    /// what each of `homes` took).
    ///
    /// `homes` ({partition: (kernel, first record index)}): owned partitions that take their
    /// events in this pass, applied to their kernel as they come instead of being forwarded
    /// (the records before a home's first index give it nothing: it holds their events).
    #[pyo3(signature = (values, limits, start, partition = 0, partitions = 0, group = false, until = i64::MAX,
                        homes = None))]
    #[allow(clippy::too_many_arguments)]
    fn apply_records<'py>(
        &mut self, py: Python<'py>, values: &Bound<'py, PyList>, limits: &Bound<'py, PyList>, start: usize,
        partition: u32, partitions: u32, group: bool, until: i64, homes: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Applied<'py>> {
        let (mut future, mut misplaced, mut forwards) = (Vec::new(), Vec::new(), Vec::new());
        let mut latest: Option<i64> = None;
        let mut groups: Vec<Group> = Vec::new();
        let mut taking: Vec<Home<'py>> = Vec::new();
        // home partition -> its index in `taking`
        let mut home_at: Vec<Option<usize>> = vec![None; partitions as usize];
        if let Some(homes) = homes {
            for (key, value) in homes.iter() {
                let home: u32 = key.extract()?;
                let (kernel, from): (Bound<'py, EngagementKernel>, usize) = value.extract()?;
                if home == partition || home >= partitions {
                    return Err(PyValueError::new_err(format!("home {home} is not another of {partitions} partitions")));
                }
                home_at[home as usize] = Some(taking.len());
                let kernel = kernel.try_borrow_mut()?;
                taking.push(Home { partition: home, from, kernel, processed: 0, duplicates: 0, late: Vec::new(),
                                   records: Vec::new(), events: 0 });
            }
        }
        // A window of records at a time: each record read and each of its events given to the
        // ledger that applies it (this partition's, or an owned home's) or set aside to forward;
        // then the ledgers apply the window's events, each in record order, side by side (they
        // share no state).
        let (mut processed, mut duplicates, mut late) = (0u64, 0u64, Vec::new());
        let (mut deferred, mut stopped) = (None, None);
        let mut next = start;
        let mut window = FIRST_WINDOW_BYTES;
        while next < values.len() && deferred.is_none() && stopped.is_none() {
            let mut held: Vec<(Bound<'py, PyAny>, i64)> = Vec::new();
            let mut bytes = 0;
            while next + held.len() < values.len() {
                let i = next + held.len();
                let item = values.get_item(i)?;
                let limit: i64 = limits.get_item(i)?.extract()?;
                bytes += item.downcast::<PyBytes>().map_or(0, |b| b.as_bytes().len());
                held.push((item, limit));
                if bytes >= window {
                    break;
                }
            }
            let raws: Vec<Option<&[u8]>> =
                held.iter().map(|(item, _)| item.downcast::<PyBytes>().ok().map(|b| b.as_bytes())).collect();
            // a big window after the first is decoded ahead, on two threads; the first, or a
            // small one, record by record as it is routed (a stop decodes nothing beyond it)
            let ahead = window > FIRST_WINDOW_BYTES && bytes >= SIDE_BY_SIDE_BYTES && two_cores();
            let mut decoded = if ahead { decode_side_by_side(&raws) } else { Vec::with_capacity(raws.len()) };
            // per ledger (0: this partition's, 1 + n: taking[n]): the window's events for it, in order
            let mut work: Vec<Vec<Work>> = vec![Vec::new(); 1 + taking.len()];
            for (offset, raw) in raws.iter().enumerate() {
                let i = next + offset;
                if !ahead {
                    decoded.push(raw.and_then(decode_record));
                }
                let (Some(raw), Some((is_batch, events))) = (raw, &decoded[offset]) else {
                    deferred = Some(i);
                    break;
                };
                let (is_batch, limit) = (*is_batch, held[offset].1);
                if let Some(head) = events.iter().map(|e| e.micros).filter(|&m| m <= limit).max() {
                    if head > until {
                        stopped = Some((i, head));
                        break;
                    }
                    latest = Some(latest.map_or(head, |l| l.max(head)));
                }
                groups.clear();
                for (index, e) in events.iter().enumerate() {
                    let at = Work { record: i, index: is_batch.then_some(index), slot: offset as u32, event: index as u32 };
                    if e.micros > limit {
                        future.push((i, at.index, e.micros));
                        continue;
                    }
                    if partitions > 0 {
                        if let Some(key) = e.account_id.as_deref().or(e.anonymous_id.as_deref()).or(e.user_id.as_deref()) {
                            let home = partition::partition_of(key.as_bytes(), partitions);
                            if home != partition {
                                if let Some(n) = home_at[home as usize] {
                                    let taker = &mut taking[n];
                                    taker.events += 1;
                                    if i < taker.from {
                                        continue; // it holds this record's events already
                                    }
                                    if taker.records.last() != Some(&i) {
                                        taker.records.push(i);
                                    }
                                    work[1 + n].push(at);
                                    continue;
                                }
                                if !group {
                                    misplaced.push((i, at.index, home));
                                } else if let Some(known) = groups.iter_mut().find(|g| g.0 == home) {
                                    known.2.push(index);
                                } else {
                                    groups.push((home, key.as_bytes().to_vec(), vec![index]));
                                }
                                continue;
                            }
                        }
                    }
                    work[0].push(at);
                }
                if groups.is_empty() {
                    continue;
                }
                match forwarded_values(raw, is_batch, &groups) {
                    Some(split) => {
                        for ((home, key, indexes), value) in groups.drain(..).zip(split) {
                            forwards.push((i, home, PyBytes::new(py, &key), PyBytes::new(py, &value), indexes.len()));
                        }
                    }
                    None => {
                        for (home, _, indexes) in groups.drain(..) {
                            misplaced.extend(indexes.into_iter().map(|index| (i, is_batch.then_some(index), home)));
                        }
                    }
                }
            }
            let mut ledgers: Vec<&mut Ledger> = Vec::with_capacity(work.len());
            ledgers.push(&mut self.ledger);
            ledgers.extend(taking.iter_mut().map(|t| &mut t.kernel.ledger));
            let mut outcomes = apply_side_by_side(ledgers, &work, &decoded).into_iter();
            let own = outcomes.next().expect("this partition's ledger");
            processed += own.0;
            duplicates += own.1;
            late.extend(own.2);
            for (home, outcome) in taking.iter_mut().zip(outcomes) {
                home.processed += outcome.0;
                home.duplicates += outcome.1;
                home.late.extend(outcome.2);
            }
            next += held.len();
            window = (window * 2).min(LARGEST_WINDOW_BYTES);
        }
        Ok((processed, duplicates, late, future, misplaced, forwards, deferred, stopped, latest,
            taking.into_iter().map(Home::taken).collect()))
    }

    /// One event validated by pydantic (the Python path): None, "duplicate" or "late".
    #[pyo3(signature = (event_id, micros, name, user_id, account_id, anonymous_id, feature, session_id))]
    #[allow(clippy::too_many_arguments)]
    fn apply_event(
        &mut self, event_id: &str, micros: i64, name: &str, user_id: Option<&str>, account_id: Option<&str>,
        anonymous_id: Option<&str>, feature: Option<&str>, session_id: Option<&str>,
    ) -> PyResult<Option<&'static str>> {
        if user_id.is_none() && anonymous_id.is_none() {
            return Err(PyValueError::new_err("a product event needs user_id or anonymous_id"));
        }
        let facts = Facts {
            event_id: Cow::Borrowed(event_id),
            micros,
            name: Cow::Borrowed(name),
            user_id: user_id.map(Cow::Borrowed),
            account_id: account_id.map(Cow::Borrowed),
            anonymous_id: anonymous_id.map(Cow::Borrowed),
            feature: feature.map(Cow::Borrowed),
            session_id: session_id.map(Cow::Borrowed),
        };
        Ok(match self.ledger.apply(&facts) {
            Outcome::Applied => None,
            Outcome::Duplicate => Some("duplicate"),
            Outcome::Late => Some("late"),
        })
    }

    /// What the compiled validator reads of a record (for tests): facts per event, or None.
    #[staticmethod]
    fn validate(raw: &[u8]) -> Option<Vec<FactsTuple>> {
        let (_, events) = decode_record(raw)?;
        Some(
            events
                .iter()
                .map(|e| {
                    (e.event_id.to_string(), e.micros, e.name.to_string(), owned(&e.user_id), owned(&e.account_id),
                     owned(&e.anonymous_id), owned(&e.feature), owned(&e.session_id))
                })
                .collect(),
        )
    }

    /// (drop sketches of days before this day or None, [(sketch key, lg_k, ids in first-seen order)])
    fn take_sketch_updates<'py>(&mut self, py: Python<'py>) -> PyResult<(Option<i64>, Bound<'py, PyList>)> {
        let (expired, updates) = self.ledger.take_sketch_updates();
        let out = PyList::empty(py);
        for u in updates {
            let ids: Vec<&str> = u.ids.iter().map(|s| &**s).collect();
            out.append((u.key, u.lg_k, PyList::new(py, ids)?))?;
        }
        Ok((expired, out))
    }

    /// Changelog records of everything changed since the last flush, and the touched account-days.
    fn flush<'py>(&mut self, py: Python<'py>, batch: i64) -> PyResult<(Bound<'py, PyList>, Vec<String>)> {
        let (records, touched) = self.ledger.flush(batch);
        Ok((records_list(py, records)?, touched))
    }

    fn load(&mut self, store: &str, key: &str, value: &[u8]) -> PyResult<()> {
        self.ledger.load(store, key, value).map_err(PyValueError::new_err)
    }

    fn finish_load(&mut self) {
        self.ledger.finish_load()
    }

    #[getter]
    fn watermark(&self) -> Option<i64> {
        self.ledger.watermark()
    }

    fn days_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.ledger.days_json())
    }

    fn accounts_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.ledger.accounts_json())
    }

    /// [(account-day key, its JSON)] for the keys that exist: published to Redis as they are.
    fn accounts_encoded<'py>(&self, py: Python<'py>, keys: Vec<String>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for key in keys {
            if let Some(json) = self.ledger.account_json(&key) {
                out.append((key, PyBytes::new(py, &json)))?;
            }
        }
        Ok(out)
    }

    fn account_keys(&self) -> Vec<String> {
        self.ledger.account_keys()
    }

    fn sessions_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.ledger.sessions_json())
    }

    fn signups_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.ledger.signups_json())
    }

    /// Entry counts of the state (sizes for logs and benchmarks).
    fn sizes(&self) -> HashMap<&'static str, usize> {
        self.ledger.sizes().into_iter().collect()
    }
}

/// Kafka's default partition of `key` among `partitions` (as the kernel computes it).
#[pyfunction]
fn partition_of(key: &[u8], partitions: u32) -> PyResult<u32> {
    if partitions == 0 {
        return Err(PyValueError::new_err("partitions must be > 0"));
    }
    Ok(partition::partition_of(key, partitions))
}

#[pymodule]
fn _kernel(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EngagementKernel>()?;
    m.add_function(wrap_pyfunction!(partition_of, m)?)?;
    m.add_function(wrap_pyfunction!(flush_many, m)?)?;
    m.add("MAX_BATCH", event::MAX_BATCH)?;
    m.add("SIDE_BY_SIDE_EVENTS", SIDE_BY_SIDE_EVENTS)?;
    m.add("SIDE_BY_SIDE_BYTES", SIDE_BY_SIDE_BYTES)?;
    Ok(())
}
