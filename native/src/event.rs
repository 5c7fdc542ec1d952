//! Decoding and validation of product events from raw JSON bytes.
//!
//! The rule: accept only what `orjson.loads` + the pydantic model `stream.events.ProductEvent`
//! accept, with the same values; anything unusual returns `None` so the record takes the
//! Python path (pydantic), which gives the verdict and the error message. A property test
//! (tests/consumers/test_engagement_kernel.py) checks this against pydantic.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The largest SDK batch (a JSON array of events in one record): stream.decoding.MAX_BATCH.
pub const MAX_BATCH: usize = 1000;

/// What engagement metrics read of a product event (stream.fastpath.ProductFacts).
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub event_id: Cow<'a, str>,
    pub micros: i64, // occurred_at, microseconds since the Unix epoch, UTC
    pub name: Cow<'a, str>,
    pub user_id: Option<Cow<'a, str>>,
    pub account_id: Option<Cow<'a, str>>,
    pub anonymous_id: Option<Cow<'a, str>>,
    pub feature: Option<Cow<'a, str>>,
    pub session_id: Option<Cow<'a, str>>,
}

/// One record: (is it an SDK batch, its events). `None`: let pydantic decide.
pub fn decode_record(raw: &[u8]) -> Option<(bool, Vec<Facts<'_>>)> {
    let first = raw.iter().find(|b| !b.is_ascii_whitespace())?;
    // One UTF-8 check of the whole record (orjson refuses invalid UTF-8 anywhere too) instead
    // of one per string: the strings are then read without checking them again.
    let text = std::str::from_utf8(raw).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let out = match first {
        b'{' => {
            let one = RawEventSeed.deserialize(&mut de).ok()?;
            (false, vec![one.into_facts()?])
        }
        b'[' => {
            let many = de.deserialize_seq(BatchVisitor).ok()?;
            if many.is_empty() || many.len() > MAX_BATCH {
                return None;
            }
            let mut out = Vec::with_capacity(many.len());
            for e in many {
                out.push(e.into_facts()?);
            }
            (true, out)
        }
        _ => return None,
    };
    de.end().ok()?;
    Some(out)
}

#[derive(Default)]
struct RawEvent<'a> {
    event_id: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    occurred_at: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    account_id: Option<Cow<'a, str>>,
    anonymous_id: Option<Cow<'a, str>>,
    feature: Option<Cow<'a, str>>,
    session_id: Option<Cow<'a, str>>,
}

impl<'a> RawEvent<'a> {
    fn into_facts(self) -> Option<Facts<'a>> {
        let event_id = self.event_id?;
        let name = self.name?;
        if self.kind.as_deref() != Some("track") || !chars_within(&event_id, 128) || !chars_within(&name, 256) {
            return None;
        }
        let micros = parse_rfc3339(self.occurred_at?.as_bytes())?;
        for v in [&self.user_id, &self.account_id, &self.anonymous_id, &self.feature, &self.session_id]
            .into_iter()
            .flatten()
        {
            if !chars_within(v, 256) {
                return None;
            }
        }
        if self.user_id.is_none() && self.anonymous_id.is_none() {
            return None;
        }
        Some(Facts {
            event_id,
            micros,
            name,
            user_id: self.user_id,
            account_id: self.account_id,
            anonymous_id: self.anonymous_id,
            feature: self.feature,
            session_id: self.session_id,
        })
    }
}

/// 1..=max characters (pydantic counts code points, like Python's len).
fn chars_within(s: &str, max: usize) -> bool {
    !s.is_empty() && (s.len() <= max || s.chars().count() <= max)
}

/// A JSON string, borrowed from the record unless it has escapes (serde's own `Cow<str>`
/// always copies).
struct Text<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

struct RawEventSeed;

impl<'de> DeserializeSeed<'de> for RawEventSeed {
    type Value = RawEvent<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

struct BatchVisitor;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = Vec<RawEvent<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(e) = seq.next_element_seed(RawEventSeed)? {
            if out.len() >= MAX_BATCH {
                return Err(de::Error::custom("batch too large"));
            }
            out.push(e);
        }
        Ok(out)
    }
}

struct EventVisitor;

fn set_once<'a, E: de::Error>(slot: &mut Option<Cow<'a, str>>, seen: &mut bool, v: Option<Cow<'a, str>>) -> Result<(), E> {
    if *seen {
        return Err(E::custom("duplicate key")); // orjson keeps the last: let pydantic see it
    }
    *seen = true;
    *slot = v;
    Ok(())
}

impl<'de> Visitor<'de> for EventVisitor {
    type Value = RawEvent<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut e = RawEvent::default();
        let mut seen = [false; 10];
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match key.0.as_ref() {
                // Required strings: null or another type is pydantic's to refuse.
                "event_id" => { let v = map.next_value::<Text<'de>>()?.0; set_once(&mut e.event_id, &mut seen[0], Some(v))? }
                "type" => { let v = map.next_value::<Text<'de>>()?.0; set_once(&mut e.kind, &mut seen[1], Some(v))? }
                "occurred_at" => { let v = map.next_value::<Text<'de>>()?.0; set_once(&mut e.occurred_at, &mut seen[2], Some(v))? }
                "name" => { let v = map.next_value::<Text<'de>>()?.0; set_once(&mut e.name, &mut seen[3], Some(v))? }
                "user_id" => { let v = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0); set_once(&mut e.user_id, &mut seen[4], v)? }
                "account_id" => { let v = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0); set_once(&mut e.account_id, &mut seen[5], v)? }
                "anonymous_id" => { let v = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0); set_once(&mut e.anonymous_id, &mut seen[6], v)? }
                "feature" => { let v = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0); set_once(&mut e.feature, &mut seen[7], v)? }
                "session_id" => { let v = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0); set_once(&mut e.session_id, &mut seen[8], v)? }
                "properties" => {
                    if seen[9] {
                        return Err(de::Error::custom("duplicate key"));
                    }
                    seen[9] = true;
                    map.next_value_seed(Checked { object_only: true })?;
                }
                // Extra fields are kept by the model; only their JSON must read as orjson reads it.
                _ => map.next_value_seed(Checked { object_only: false })?,
            }
        }
        Ok(e)
    }
}

/// Any JSON value that orjson also reads the same way; `object_only` for `properties` (a dict).
/// serde_json reads integers beyond 64 bits as floats where orjson refuses them: such numbers
/// (and floats that large) are refused here, so the record goes to the Python path.
#[derive(Clone, Copy)]
struct Checked {
    object_only: bool,
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.object_only {
            d.deserialize_map(self)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.object_only { "an object" } else { "a JSON value" })
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> { self.scalar() }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> { self.scalar() }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> { self.scalar() }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if !v.is_finite() || v.abs() >= 9.0e18 {
            return Err(E::custom("number out of orjson's range"));
        }
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> { self.scalar() }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> { self.scalar() }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.object_only {
            return Err(de::Error::custom("not an object"));
        }
        while seq.next_element_seed(Checked { object_only: false })?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<Text<'de>>()?.is_some() {
            map.next_value_seed(Checked { object_only: false })?;
        }
        Ok(())
    }
}

impl Checked {
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.object_only {
            Err(E::custom("not an object"))
        } else {
            Ok(())
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)` to epoch microseconds, or None for anything else
/// (lower-case separators, 7–9 fraction digits, odd offsets: pydantic decides those).
pub fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    let n = s.len();
    if n < 20 || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let num = |a: usize, b: usize| -> Option<i64> {
        let mut v = 0i64;
        for &c in &s[a..b] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as i64;
        }
        Some(v)
    };
    let (y, mo, d, h, mi, se) = (num(0, 4)?, num(5, 7)?, num(8, 10)?, num(11, 13)?, num(14, 16)?, num(17, 19)?);
    // Years near the contract's bounds (stream/events.py: 1970 to 2199, in UTC) go to pydantic.
    if !(1971..=2198).contains(&y) || !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0i64;
    if s[i] == b'.' {
        let start = i + 1;
        let mut j = start;
        while j < n && s[j].is_ascii_digit() {
            j += 1;
        }
        let digits = j - start;
        if digits == 0 || digits > 6 {
            return None;
        }
        frac = num(start, j)? * 10i64.pow((6 - digits) as u32);
        i = j;
    }
    let offset = match &s[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = ((h1.wrapping_sub(b'0')) as i64, (h2.wrapping_sub(b'0')) as i64);
            let om = ((m1.wrapping_sub(b'0')) as i64, (m2.wrapping_sub(b'0')) as i64);
            if oh.0 > 9 || oh.1 > 9 || om.0 > 9 || om.1 > 9 {
                return None;
            }
            let (hh, mm) = (oh.0 * 10 + oh.1, om.0 * 10 + om.1);
            if hh > 14 || mm > 59 {
                return None;
            }
            let secs = hh * 3600 + mm * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86400 + h * 3600 + mi * 60 + se - offset) * 1_000_000) + frac)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 { 29 } else { 28 }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(parse_rfc3339(b"1971-01-01T00:00:00Z"), Some(365 * 86400 * 1_000_000));
        assert_eq!(parse_rfc3339(b"2026-01-15T10:00:00.5Z"), parse_rfc3339(b"2026-01-15T12:00:00.500000+02:00"));
        assert_eq!(parse_rfc3339(b"2026-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339(b"2026-01-15t10:00:00Z"), None);
        assert_eq!(parse_rfc3339(b"2026-01-15T10:00:00.1234567Z"), None);
    }
}
