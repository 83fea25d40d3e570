//! Time zones of a feed and the times written in them.
//!
//! A `TZID` is looked up the way mature readers do (python-icalendar's order): the IANA name
//! (without a leading `/`), else the feed's own `VTIMEZONE` of that name (Outlook's "Pacific
//! Standard Time", custom names, "UTC+11"), else a Windows zone name through CLDR's table (the
//! `localzone` crate), else the IANA name after a vendor prefix ("/mozilla.org/…/Europe/Berlin"),
//! else the IANA name in another case ("Europe/lisbon"). A name none of these knows reads as this
//! computer's local time, and says so.
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};

use super::parse::{Component, Prop};

/// Where a wall-clock time is.
#[derive(Debug, Clone)]
pub(super) enum Zone {
    Utc,
    Iana(chrono_tz::Tz),
    Custom(Arc<VTimezone>),
    /// Floating: this computer's local time.
    Local,
}

impl Zone {
    /// The instant of wall-clock `n` here. Of two instants (the hour repeated when clocks go
    /// back), the first; in the hour skipped when clocks go forward, the offset from before the
    /// change (what Python's zoneinfo does with fold=0).
    pub fn to_utc(&self, n: NaiveDateTime) -> NaiveDateTime {
        fn chrono_local<Z: TimeZone>(z: &Z, n: NaiveDateTime) -> NaiveDateTime {
            match z.from_local_datetime(&n).earliest() {
                Some(t) => t.naive_utc(),
                None => {
                    let before = z
                        .from_local_datetime(&(n - Duration::days(1)))
                        .earliest()
                        .map(|t| t.offset().fix().local_minus_utc())
                        .unwrap_or(0);
                    n - Duration::seconds(before.into())
                }
            }
        }
        match self {
            Zone::Utc => n,
            Zone::Iana(tz) => chrono_local(tz, n),
            Zone::Local => chrono_local(&chrono::Local, n),
            Zone::Custom(v) => v.to_utc(n),
        }
    }

    /// Wall-clock time here of the instant `u` (UTC).
    pub fn wall_of(&self, u: NaiveDateTime) -> NaiveDateTime {
        match self {
            Zone::Utc => u,
            Zone::Iana(tz) => tz.from_utc_datetime(&u).naive_local(),
            Zone::Local => chrono::Local.from_utc_datetime(&u).naive_local(),
            Zone::Custom(v) => u + Duration::seconds(v.offset_at(u).into()),
        }
    }

    /// Whether this is UTC itself (X-WR-TIMEZONE moves UTC times into the calendar's zone).
    pub fn is_utc(&self) -> bool {
        match self {
            Zone::Utc => true,
            Zone::Iana(tz) => matches!(tz.name(), "UTC" | "Etc/UTC" | "Etc/Universal" | "Zulu"),
            _ => false,
        }
    }
}

/// A DTSTART, DTEND, EXDATE, RDATE or RECURRENCE-ID value.
#[derive(Debug, Clone)]
pub(super) enum When {
    Date(NaiveDate),
    Floating(NaiveDateTime),
    Zoned(NaiveDateTime, Zone),
}

impl When {
    /// Wall-clock time (dates at midnight).
    pub fn wall(&self) -> NaiveDateTime {
        match self {
            When::Date(d) => d.and_hms_opt(0, 0, 0).expect("midnight"),
            When::Floating(n) | When::Zoned(n, _) => *n,
        }
    }

    /// The instant, UTC (floating and date values in local time).
    pub fn utc(&self) -> NaiveDateTime {
        match self {
            When::Zoned(n, z) => z.to_utc(*n),
            other => Zone::Local.to_utc(other.wall()),
        }
    }

    pub fn utc_ms(&self) -> i64 {
        self.utc().and_utc().timestamp_millis()
    }

    pub fn zone(&self) -> Option<&Zone> {
        match self {
            When::Zoned(_, z) => Some(z),
            _ => None,
        }
    }
}

/// One STANDARD or DAYLIGHT part of a VTIMEZONE.
#[derive(Debug)]
struct Observance {
    /// Onsets as UTC instants, sorted.
    onsets: Vec<NaiveDateTime>,
    from: i32,
    to: i32,
}

/// A feed's own VTIMEZONE definition (RFC 5545 §3.6.5).
#[derive(Debug)]
pub(super) struct VTimezone {
    /// (onset UTC, offset after it), sorted.
    transitions: Vec<(NaiveDateTime, i32)>,
    /// Offset before the first onset.
    initial: i32,
    offsets: Vec<i32>,
}

/// Transitions are computed up to this year (later times keep the last rule's offset).
const LAST_YEAR: i32 = 2100;
/// Most STANDARD/DAYLIGHT parts read per VTIMEZONE, and onsets per part (a yearly rule from 1601
/// to 2100 has 500).
const MAX_OBSERVANCES: usize = 16;
const MAX_ONSETS: usize = 1_000;
/// Most VTIMEZONEs read from one feed.
const MAX_ZONES: usize = 100;
/// Longest TZID looked up.
const MAX_TZID: usize = 256;

fn offset(v: &str) -> Option<i32> {
    let v = v.trim();
    let (sign, rest) = match v.as_bytes().first()? {
        b'-' => (-1, &v[1..]),
        b'+' => (1, &v[1..]),
        _ => (1, v),
    };
    if rest.len() < 4 || !rest.is_ascii() {
        return None;
    }
    let h: i32 = rest[0..2].parse().ok()?;
    let m: i32 = rest[2..4].parse().ok()?;
    let s: i32 = if rest.len() >= 6 {
        rest[4..6].parse().ok()?
    } else {
        0
    };
    Some(sign * (h * 3600 + m * 60 + s))
}

impl VTimezone {
    /// The zone `c` defines, taking its rule work from `steps`.
    fn from_component(c: &Component, steps: &mut usize) -> Option<VTimezone> {
        let mut obs = Vec::new();
        for o in c
            .children
            .iter()
            .filter(|o| o.name == "STANDARD" || o.name == "DAYLIGHT")
            .take(MAX_OBSERVANCES)
        {
            // A broken part is left out; the rest of the zone still counts.
            let (Some(from), Some(to), Some(start)) = (
                o.value("TZOFFSETFROM").and_then(offset),
                o.value("TZOFFSETTO").and_then(offset),
                o.value("DTSTART").and_then(naive_date_time),
            ) else {
                continue;
            };
            let mut locals = vec![start];
            if let Some(rule) = o.value("RRULE") {
                let rule = super::rules::split_rule(rule);
                let until = rule.until.as_deref().and_then(super::rules::until_digits);
                let upto = NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31)?.and_hms_opt(0, 0, 0)?;
                let upto = until.map_or(upto, |u| upto.min(u));
                // A rule that yields nothing more (the crate gave up) still keeps what it found.
                if let Ok(onsets) =
                    super::rules::expand_wall(start, &rule.body, start, upto, MAX_ONSETS, steps)
                {
                    locals.extend(onsets);
                }
            }
            for p in o.props("RDATE").take(MAX_OBSERVANCES) {
                locals.extend(
                    p.value
                        .split(',')
                        .take(MAX_ONSETS)
                        .filter_map(naive_date_time),
                );
            }
            let mut onsets: Vec<NaiveDateTime> = locals
                .into_iter()
                .map(|l| l - Duration::seconds(from.into()))
                .collect();
            onsets.sort();
            onsets.dedup();
            obs.push(Observance { onsets, from, to });
        }
        let mut transitions: Vec<(NaiveDateTime, i32)> = obs
            .iter()
            .flat_map(|o| o.onsets.iter().map(move |t| (*t, o.to)))
            .collect();
        transitions.sort();
        let initial = obs
            .iter()
            .min_by_key(|o| o.onsets.first().copied())
            .map(|o| o.from)?;
        let mut offsets: Vec<i32> = obs.iter().flat_map(|o| [o.from, o.to]).collect();
        offsets.sort_unstable();
        offsets.dedup();
        Some(VTimezone {
            transitions,
            initial,
            offsets,
        })
    }

    /// UTC offset (seconds) at the instant `u`.
    fn offset_at(&self, u: NaiveDateTime) -> i32 {
        match self.transitions.partition_point(|(t, _)| *t <= u) {
            0 => self.initial,
            i => self.transitions[i - 1].1,
        }
    }

    fn to_utc(&self, n: NaiveDateTime) -> NaiveDateTime {
        let fits = self
            .offsets
            .iter()
            .map(|o| n - Duration::seconds((*o).into()))
            .filter(|u| n - *u == Duration::seconds(self.offset_at(*u).into()))
            .min();
        fits.unwrap_or_else(|| {
            let before = self.offset_at(n - Duration::days(1));
            n - Duration::seconds(before.into())
        })
    }
}

fn naive_date_time(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim();
    let v = v.strip_suffix('Z').unwrap_or(v);
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(v, "%Y%m%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
        })
}

/// The time zones a feed can refer to, resolved once per name.
pub(super) struct Zones {
    own: HashMap<String, Arc<VTimezone>>,
    cache: HashMap<String, Option<Zone>>,
    /// The calendar's X-WR-TIMEZONE (Google's exports), when it names a known zone.
    pub calendar: Option<Zone>,
    /// Names read as local time because nothing knows them.
    pub unknown: Vec<String>,
    /// Rule steps the feed may still take ([`super::rules::MAX_FEED_STEPS`] in all).
    pub steps_left: usize,
}

fn iana(name: &str) -> Option<chrono_tz::Tz> {
    name.parse::<chrono_tz::Tz>().ok()
}

impl Zones {
    pub fn of(cal: &Component) -> Zones {
        let mut steps = super::rules::MAX_FEED_STEPS / 4;
        let own = cal
            .children
            .iter()
            .filter(|c| c.name == "VTIMEZONE")
            .take(MAX_ZONES)
            .filter_map(|c| {
                let id = c.value("TZID")?.to_owned();
                Some((id, Arc::new(VTimezone::from_component(c, &mut steps)?)))
            })
            .collect();
        let mut zones = Zones {
            own,
            cache: HashMap::new(),
            calendar: None,
            unknown: Vec::new(),
            steps_left: super::rules::MAX_FEED_STEPS,
        };
        if let Some(name) = cal.value("X-WR-TIMEZONE") {
            zones.calendar = zones.lookup(name);
        }
        zones
    }

    fn lookup(&self, name: &str) -> Option<Zone> {
        if name.len() > MAX_TZID {
            return None;
        }
        let clean = name.trim().trim_matches('/');
        if clean.eq_ignore_ascii_case("UTC") || clean.eq_ignore_ascii_case("Z") {
            return Some(Zone::Utc);
        }
        if let Some(tz) = iana(clean) {
            return Some(Zone::Iana(tz));
        }
        if let Some(v) = self.own.get(name).or_else(|| self.own.get(clean)) {
            return Some(Zone::Custom(v.clone()));
        }
        if let Some(tz) = localzone::win_zone_to_iana(clean, Some("001")).and_then(iana) {
            return Some(Zone::Iana(tz));
        }
        let parts: Vec<&str> = clean.split('/').collect();
        if let Some(tz) = (1..parts.len()).find_map(|i| iana(&parts[i..].join("/"))) {
            return Some(Zone::Iana(tz));
        }
        chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(clean))
            .map(|tz| Zone::Iana(*tz))
    }

    /// The zone called `name`; local time (and a note) when nothing knows it.
    pub fn get(&mut self, name: &str) -> Zone {
        if !self.cache.contains_key(name) {
            let z = self.lookup(name);
            if z.is_none() {
                let shown: String = name.chars().take(64).collect();
                self.unknown.push(if shown.len() < name.len() {
                    format!("{shown}…")
                } else {
                    shown
                });
            }
            self.cache.insert(name.to_owned(), z);
        }
        self.cache[name].clone().unwrap_or(Zone::Local)
    }

    /// The values of a date/date-time property; with X-WR-TIMEZONE, UTC and floating times move
    /// into the calendar's zone (as Google means them).
    pub fn values(&mut self, p: &Prop) -> Result<Vec<When>, String> {
        Ok(self.periods(p)?.into_iter().map(|(w, _)| w).collect())
    }

    /// [`Zones::values`] with each value's PERIOD end (RDATE `start/end` or `start/duration`),
    /// `None` for plain date-times. One pass over the value list.
    pub fn periods(&mut self, p: &Prop) -> Result<Vec<(When, Option<PeriodEnd>)>, String> {
        let tz = p.param("TZID").map(|n| self.get(n));
        let is_date = p
            .param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
        let cal = self.calendar.clone();
        p.value
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| {
                let (start, end) = match v.split_once('/') {
                    Some((s, e)) => (s, Some(e)),
                    None => (v, None),
                };
                let w = match (parse_one(start, is_date, tz.clone())?, &cal) {
                    (When::Zoned(n, z), Some(c)) if z.is_utc() => {
                        When::Zoned(c.wall_of(n), c.clone())
                    }
                    (When::Floating(n), Some(c)) => When::Zoned(n, c.clone()),
                    (w, _) => w,
                };
                let end = end.and_then(|e| {
                    if e.starts_with(['P', '+', '-']) {
                        super::duration(e).map(PeriodEnd::Length)
                    } else {
                        parse_one(e, false, tz.clone()).ok().map(PeriodEnd::At)
                    }
                });
                Ok((w, end))
            })
            .collect()
    }
}

/// The end of an RDATE period.
#[derive(Debug, Clone)]
pub(super) enum PeriodEnd {
    At(When),
    Length(super::Length),
}

fn parse_one(v: &str, is_date: bool, tz: Option<Zone>) -> Result<When, String> {
    if is_date || v.len() == 8 {
        return NaiveDate::parse_from_str(v, "%Y%m%d")
            .map(When::Date)
            .map_err(|e| format!("bad date '{v}': {e}"));
    }
    if let Some(z) = v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) {
        return NaiveDateTime::parse_from_str(z, "%Y%m%dT%H%M%S")
            .map(|n| When::Zoned(n, Zone::Utc))
            .map_err(|e| format!("bad date-time '{v}': {e}"));
    }
    let n = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
        .map_err(|e| format!("bad date-time '{v}': {e}"))?;
    Ok(match tz {
        Some(tz) => When::Zoned(n, tz),
        None => When::Floating(n),
    })
}

/// Unix ms → UTC.
pub(super) fn from_ms(ms: i64) -> NaiveDateTime {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .naive_utc()
}
