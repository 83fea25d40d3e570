//! iCalendar (RFC 5545) feeds → concrete set instances in UTC, and what could not be scheduled.
//!
//! Reads what real calendars contain (Google, Outlook/Exchange, Apple, hand-made): folded lines,
//! a byte-order mark, escaped text, times in UTC, floating, with an IANA, Windows or custom
//! `TZID` (the feed's own `VTIMEZONE`, see [`zone`]), `X-WR-TIMEZONE`; recurring events with any
//! number of `RRULE`s, `RDATE`s (date-times and periods), `EXDATE`s and `RECURRENCE-ID` overrides
//! ([`series`]). Events without a length take the feed's default set length. Whatever it does not
//! schedule (all-day events, cancelled occurrences, unreadable rules) is in [`Parsed::skipped`]
//! with a reason a person understands; guesses (an unknown zone read as local time) are in
//! [`Parsed::notes`]. Nothing is dropped silently.
//!
//! Pure functions; no I/O. Called from the feed refresher and the preview on the tokio blocking
//! pool, and by `deckcast feeds preview`.
use std::collections::HashMap;

use serde::Serialize;

mod parse;
mod rules;
mod series;
mod zone;

/// The window read and what an occurrence needs to be scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start (Unix ms): occurrences that end after it are in.
    pub from_ms: i64,
    /// End (Unix ms, exclusive).
    pub to_ms: i64,
    /// Length (ms) given to occurrences the calendar gives no length; 0: they are skipped.
    pub default_len_ms: i64,
}

impl Window {
    /// Whether an occurrence from `s` to `e` (Unix ms) is in the window (one that ends at its
    /// start counts where it starts; as recurring-ical-events' `between`).
    fn contains(&self, s: i64, e: i64) -> bool {
        if s == e {
            self.from_ms <= s && s < self.to_ms
        } else {
            s < self.to_ms && self.from_ms < e
        }
    }
}

/// A length as a calendar writes it (added to wall-clock time).
pub(crate) type Length = chrono::Duration;

/// One occurrence of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = FeedInstance)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Stable identity across refreshes: the event's UID plus its original start (ms).
    pub key: String,
    /// The event's UID.
    pub uid: String,
    /// SUMMARY.
    pub title: String,
    /// Start (Unix ms, UTC).
    pub start_ms: i64,
    /// End (Unix ms, UTC).
    pub end_ms: i64,
    /// False when the calendar gives no length (or a zero one) and the feed's default set
    /// length made the end.
    pub length_from_calendar: bool,
}

/// Why an event or an occurrence is not scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// A date without a time: Deckcast does not guess when a set starts.
    AllDay,
    /// `STATUS:CANCELLED`.
    Cancelled,
    /// No length in the calendar and no default set length.
    NoLength,
    /// A time, duration or rule that cannot be read.
    Unreadable,
    /// An older copy of an event another one with the same UID replaces.
    Duplicate,
    /// Past the limits on events or sets per feed.
    Limit,
}

impl SkipReason {
    /// A short phrase for lists ("not scheduled: all-day").
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AllDay => "all-day",
            SkipReason::Cancelled => "cancelled",
            SkipReason::NoLength => "no length",
            SkipReason::Unreadable => "unreadable",
            SkipReason::Duplicate => "replaced by a newer copy",
            SkipReason::Limit => "over the limit",
        }
    }
}

/// An event (or one occurrence of it) that is not scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = FeedSkip)]
#[serde(rename_all = "camelCase")]
pub struct Skip {
    /// The event's UID.
    pub uid: String,
    /// SUMMARY.
    pub title: String,
    /// The occurrence's start (Unix ms), or none when the whole event is skipped.
    #[schema(required)]
    pub start_ms: Option<i64>,
    /// Why, as a kind.
    pub reason: SkipReason,
    /// Why, as a sentence.
    pub detail: String,
}

impl Skip {
    /// One line for the feed's problem list.
    pub fn sentence(&self) -> String {
        let title = if self.title.is_empty() {
            "Untitled"
        } else {
            &self.title
        };
        let when = self
            .start_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        format!(
            "'{title}'{when}: not scheduled: {} — {}",
            self.reason.as_str(),
            self.detail
        )
    }
}

/// What a feed schedules in a window, what it does not, and what was guessed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = FeedPreview)]
#[serde(rename_all = "camelCase")]
pub struct Parsed {
    /// Instances that overlap the window, by start.
    pub instances: Vec<Instance>,
    /// What is not scheduled, with reasons (at most [`MAX_SKIPS`]).
    pub skipped: Vec<Skip>,
    /// Skips past [`MAX_SKIPS`], counted.
    pub more_skipped: usize,
    /// Readings the user should know about (an unknown time zone read as local time, an override
    /// without its recurring event).
    pub notes: Vec<String>,
    /// Whether sets past [`MAX_INSTANCES`] were dropped.
    #[serde(skip)]
    trimmed: bool,
}

/// The feed is not iCalendar at all.
#[derive(Debug, thiserror::Error)]
#[error("not an iCalendar feed: {0}")]
pub struct IcsError(String);

/// `P1DT2H30M`, `PT90M`, `P1W`, `-PT15M` → a length.
pub(crate) fn duration(v: &str) -> Option<Length> {
    let v = v.trim();
    let (sign, v) = match v.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, v.strip_prefix('+').unwrap_or(v)),
    };
    let v = v.strip_prefix('P')?;
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut in_time = false;
    for c in v.chars() {
        match c {
            'T' => in_time = true,
            '0'..='9' => num.push(c),
            unit => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                total = total.checked_add(n.checked_mul(match (unit, in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                })?)?;
            }
        }
    }
    (num.is_empty() && total < 100 * 365 * 86_400).then(|| Length::seconds(sign * total))
}

/// Most events read from one feed (more are skipped, with a problem saying so).
pub const MAX_EVENTS: usize = 2_000;
/// Most sets kept from one feed: the earliest in the window (a feed with a minutely rule must
/// not fill the schedule).
pub const MAX_INSTANCES: usize = 500;
/// Most skips listed one by one (the rest are counted).
pub const MAX_SKIPS: usize = 500;

/// Instances of every event in `text` that overlap the window: at most [`MAX_INSTANCES`], the
/// earliest, from at most [`MAX_EVENTS`] events.
pub fn read(text: &str, win: &Window) -> Result<Parsed, IcsError> {
    let (cal, wrapped) = parse::calendar(text).map_err(IcsError)?;
    let mut zones = zone::Zones::of(&cal);
    let mut parsed = Parsed::default();
    if wrapped {
        parsed
            .note("the feed is not wrapped in BEGIN:VCALENDAR; its events are read anyway".into());
    }
    if cal.value("X-WR-TIMEZONE").is_some() && zones.calendar.is_none() {
        parsed.note(format!(
            "the calendar's time zone (X-WR-TIMEZONE '{}') is unknown; its UTC times stay UTC",
            cal.value("X-WR-TIMEZONE").unwrap_or_default()
        ));
    }
    // Events anywhere but inside another event (a vendor wrapper holds them too).
    let mut events: Vec<&parse::Component> = Vec::new();
    let mut stack: Vec<&parse::Component> = cal.children.iter().rev().collect();
    while let Some(c) = stack.pop() {
        if c.name == "VEVENT" {
            events.push(c);
            // One left open (a missing END:VEVENT) holds the next ones.
            stack.extend(c.children.iter().rev().filter(|x| x.name == "VEVENT"));
        } else {
            stack.extend(c.children.iter().rev());
        }
    }
    if events.len() > MAX_EVENTS {
        parsed.note(format!(
            "the feed has {} events; only the first {MAX_EVENTS} are read",
            events.len()
        ));
        for e in &events[MAX_EVENTS..] {
            parsed.skip(
                e.value("UID").unwrap_or_default(),
                e.value("SUMMARY").map(parse::unescape).unwrap_or_default(),
                None,
                SkipReason::Limit,
                format!("the feed has more than {MAX_EVENTS} events"),
            );
        }
        events.truncate(MAX_EVENTS);
    }
    // Group by UID, in feed order (an event without UID is its own series).
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<&parse::Component>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        // Keys without a UID are made unique with a NUL that no real UID contains.
        let uid = e
            .value("UID")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("\0{i}"));
        let g = groups.entry(uid.clone()).or_default();
        if g.is_empty() {
            order.push(uid);
        }
        g.push(e);
    }
    for uid in &order {
        series::expand(uid, &groups[uid], &mut zones, win, &mut parsed);
        // Memory stays bounded however many instances the rules make: keep the earliest.
        if parsed.instances.len() > 2 * MAX_INSTANCES {
            parsed.keep_earliest();
        }
    }
    for name in &zones.unknown {
        parsed.note(format!(
            "time zone '{name}' is unknown (not an IANA or Windows name, and the feed does not define it); its times are read as this computer's local time"
        ));
    }
    // One set per key: copies (the same UID-less title and start twice) are said, not merged.
    let mut keys = std::collections::HashSet::new();
    let mut copies = Vec::new();
    parsed.instances.retain(|i| {
        let first = keys.insert(i.key.clone());
        if !first {
            copies.push((i.uid.clone(), i.title.clone(), i.start_ms));
        }
        first
    });
    for (uid, title, start) in copies {
        parsed.skip(
            &uid,
            title,
            Some(start),
            SkipReason::Duplicate,
            "the same set (title and start) is in the feed twice".into(),
        );
    }
    parsed.keep_earliest();
    if parsed.trimmed {
        parsed.note(format!(
            "the feed has more than {MAX_INSTANCES} sets in the window; only the first {MAX_INSTANCES} are kept"
        ));
    }
    Ok(parsed)
}

impl Parsed {
    /// Skips and notes as sentences (the feed's problem list).
    pub fn problems(&self) -> Vec<String> {
        let mut p: Vec<String> = self.skipped.iter().map(Skip::sentence).collect();
        if self.more_skipped > 0 {
            p.push(format!("{} more not scheduled", self.more_skipped));
        }
        p.extend(self.notes.iter().cloned());
        p
    }

    /// Records a skip (the first [`MAX_SKIPS`]; the rest are counted).
    pub(super) fn skip(
        &mut self,
        uid: &str,
        title: String,
        start_ms: Option<i64>,
        reason: SkipReason,
        detail: String,
    ) {
        if self.skipped.len() < MAX_SKIPS {
            self.skipped.push(Skip {
                uid: uid.to_owned(),
                title,
                start_ms,
                reason,
                detail,
            });
        } else {
            self.more_skipped += 1;
        }
    }

    /// Records a note once (at most [`MAX_SKIPS`]).
    pub(super) fn note(&mut self, n: String) {
        if !self.notes.contains(&n) && self.notes.len() < MAX_SKIPS {
            self.notes.push(n);
        }
    }

    /// Sorts by start and keeps the first [`MAX_INSTANCES`]; the rest are skips.
    fn keep_earliest(&mut self) {
        self.instances
            .sort_by(|a, b| (a.start_ms, &a.key).cmp(&(b.start_ms, &b.key)));
        if self.instances.len() <= MAX_INSTANCES {
            return;
        }
        self.trimmed = true;
        for i in self.instances.split_off(MAX_INSTANCES) {
            self.skip(
                &i.uid,
                i.title,
                Some(i.start_ms),
                SkipReason::Limit,
                format!("more than {MAX_INSTANCES} sets in the window; the earliest are kept"),
            );
        }
    }
}

#[cfg(test)]
mod tests;
