//! iCalendar (RFC 5545) feeds → concrete set instances in UTC.
//!
//! Handles what Twitch and Google Calendar exports contain: folded lines, escaped text,
//! `DTSTART`/`DTEND`/`DURATION` in UTC, with an IANA `TZID` or floating (the companion's local
//! time), recurring events (`RRULE`, expanded by the maintained `rrule` crate), `EXDATE`,
//! `RECURRENCE-ID` overrides (moved or cancelled instances) and `STATUS:CANCELLED`. Anything it
//! cannot schedule (all-day events, unknown time zones, broken rules) is reported in
//! [`Parsed::problems`] instead of guessed.
//!
//! Pure functions; no I/O. Called from the feed refresher on the tokio blocking pool.
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// One occurrence of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Stable identity across refreshes: the event's UID plus its original start (ms).
    pub key: String,
    /// SUMMARY.
    pub title: String,
    /// Start (Unix ms, UTC).
    pub start_ms: i64,
    /// End (Unix ms, UTC).
    pub end_ms: i64,
}

/// The instances in a window plus what could not be scheduled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Instances that overlap the window, by start.
    pub instances: Vec<Instance>,
    /// Human-readable reasons for skipped events.
    pub problems: Vec<String>,
}

/// The feed is not iCalendar at all.
#[derive(Debug, thiserror::Error)]
#[error("not an iCalendar feed: {0}")]
pub struct IcsError(String);

#[derive(Debug, Clone)]
struct Prop {
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl Prop {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cont) = raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t'))
            && let Some(last) = lines.last_mut()
        {
            last.push_str(cont);
            continue;
        }
        if !raw.is_empty() {
            lines.push(raw.to_owned());
        }
    }
    lines
}

fn parse_line(line: &str) -> Option<Prop> {
    // The value starts at the first ':' outside double quotes.
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next()?.trim().to_ascii_uppercase();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_uppercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect();
    Some(Prop {
        name,
        params,
        value: value.to_owned(),
    })
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push(' '),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_owned()
}

/// When a DTSTART/DTEND/EXDATE/RECURRENCE-ID value is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum When {
    Utc(DateTime<Utc>),
    Zoned(NaiveDateTime, chrono_tz::Tz),
    Floating(NaiveDateTime),
    Date(NaiveDate),
}

impl When {
    fn utc(self) -> Option<DateTime<Utc>> {
        match self {
            When::Utc(t) => Some(t),
            When::Zoned(n, tz) => tz
                .from_local_datetime(&n)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            When::Floating(n) => chrono::Local
                .from_local_datetime(&n)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            When::Date(_) => None,
        }
    }
}

fn time_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    let n = name.trim_start_matches('/');
    if let Ok(tz) = n.parse::<chrono_tz::Tz>() {
        return Ok(tz);
    }
    // Some exporters prefix the IANA name with a vendor path ("/mozilla.org/.../Europe/Berlin").
    let parts: Vec<&str> = n.split('/').collect();
    (1..parts.len())
        .find_map(|i| parts[i..].join("/").parse::<chrono_tz::Tz>().ok())
        .ok_or_else(|| format!("unknown time zone '{name}'"))
}

fn parse_values(p: &Prop) -> Result<Vec<When>, String> {
    let tz = p.param("TZID").map(time_zone).transpose()?;
    let is_date = p
        .param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
    p.value
        .split(',')
        .map(|v| {
            let v = v.trim();
            if is_date || v.len() == 8 {
                return NaiveDate::parse_from_str(v, "%Y%m%d")
                    .map(When::Date)
                    .map_err(|e| format!("bad date '{v}': {e}"));
            }
            if let Some(z) = v.strip_suffix('Z') {
                return NaiveDateTime::parse_from_str(z, "%Y%m%dT%H%M%S")
                    .map(|n| When::Utc(Utc.from_utc_datetime(&n)))
                    .map_err(|e| format!("bad date-time '{v}': {e}"));
            }
            let n = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
                .map_err(|e| format!("bad date-time '{v}': {e}"))?;
            Ok(match tz {
                Some(tz) => When::Zoned(n, tz),
                None => When::Floating(n),
            })
        })
        .collect()
}

/// `P1DT2H30M`, `PT90M`, `P1W` → milliseconds.
fn parse_duration(v: &str) -> Option<i64> {
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
                total += n * match (unit, in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    num.is_empty().then_some(sign * total * 1000)
}

#[derive(Debug, Default, Clone)]
struct Event {
    uid: String,
    summary: String,
    start: Option<Prop>,
    end: Option<Prop>,
    duration: Option<String>,
    rrule: Option<String>,
    exdates: Vec<Prop>,
    recurrence_id: Option<Prop>,
    cancelled: bool,
}

fn events(text: &str) -> Result<Vec<Event>, IcsError> {
    let lines = unfold(text);
    if !lines
        .first()
        .is_some_and(|l| l.trim().eq_ignore_ascii_case("BEGIN:VCALENDAR"))
    {
        return Err(IcsError("it does not start with BEGIN:VCALENDAR".into()));
    }
    let mut out = Vec::new();
    let mut cur: Option<Event> = None;
    let mut depth_other = 0usize;
    for line in &lines {
        let Some(p) = parse_line(line) else { continue };
        match (p.name.as_str(), p.value.to_ascii_uppercase().as_str()) {
            ("BEGIN", "VEVENT") => cur = Some(Event::default()),
            ("END", "VEVENT") => {
                if let Some(e) = cur.take() {
                    out.push(e);
                }
            }
            ("BEGIN", _) if cur.is_some() => depth_other += 1, // VALARM inside an event
            ("END", _) if cur.is_some() && depth_other > 0 => depth_other -= 1,
            _ => {
                let Some(e) = cur.as_mut() else { continue };
                if depth_other > 0 {
                    continue;
                }
                match p.name.as_str() {
                    "UID" => e.uid = p.value.trim().to_owned(),
                    "SUMMARY" => e.summary = unescape(&p.value),
                    "DTSTART" => e.start = Some(p),
                    "DTEND" => e.end = Some(p),
                    "DURATION" => e.duration = Some(p.value.clone()),
                    "RRULE" => e.rrule = Some(p.value.trim().to_owned()),
                    "EXDATE" => e.exdates.push(p),
                    "RECURRENCE-ID" => e.recurrence_id = Some(p),
                    "STATUS" => e.cancelled = p.value.trim().eq_ignore_ascii_case("CANCELLED"),
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

fn first(p: &Prop) -> Result<When, String> {
    parse_values(p)?
        .into_iter()
        .next()
        .ok_or_else(|| "empty value".to_owned())
}

/// Start (UTC ms) and length (ms) of an event's first occurrence.
fn span(e: &Event) -> Result<(When, i64, i64), String> {
    let start_prop = e.start.as_ref().ok_or("no DTSTART")?;
    let start = first(start_prop)?;
    if matches!(start, When::Date(_)) {
        return Err("all-day event (no start time)".into());
    }
    let start_ms = start
        .utc()
        .ok_or("start time does not exist in its time zone")?
        .timestamp_millis();
    let len = match (&e.end, &e.duration) {
        (Some(end), _) => {
            first(end)?
                .utc()
                .ok_or("end time does not exist in its time zone")?
                .timestamp_millis()
                - start_ms
        }
        (None, Some(d)) => parse_duration(d).ok_or_else(|| format!("bad DURATION '{d}'"))?,
        (None, None) => return Err("no DTEND or DURATION".into()),
    };
    if len <= 0 {
        return Err("ends before it starts".into());
    }
    Ok((start, start_ms, len))
}

/// Occurrence starts (UTC ms) of a recurring event, between `from` and `to`.
fn recurrences(
    e: &Event,
    start: When,
    rule: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<i64>, String> {
    let dtstart = match start {
        When::Zoned(n, tz) => format!("DTSTART;TZID={}:{}", tz.name(), n.format("%Y%m%dT%H%M%S")),
        other => format!(
            "DTSTART:{}Z",
            other.utc().ok_or("bad start")?.format("%Y%m%dT%H%M%S")
        ),
    };
    let set: rrule::RRuleSet = format!("{dtstart}\nRRULE:{rule}")
        .parse()
        .map_err(|e| format!("bad RRULE '{rule}': {e}"))?;
    let utc = rrule::Tz::UTC;
    let after = utc
        .timestamp_millis_opt(from_ms)
        .single()
        .ok_or("bad window")?;
    let before = utc
        .timestamp_millis_opt(to_ms)
        .single()
        .ok_or("bad window")?;
    let mut starts: Vec<i64> = set
        .after(after)
        .before(before)
        .all(1000)
        .dates
        .into_iter()
        .map(|d| d.timestamp_millis())
        .collect();
    let mut excluded = Vec::new();
    for p in &e.exdates {
        for w in parse_values(p)? {
            if let Some(t) = w.utc() {
                excluded.push(t.timestamp_millis());
            }
        }
    }
    starts.retain(|s| !excluded.contains(s));
    Ok(starts)
}

/// Most events read from one feed (more are skipped, with a problem saying so).
pub const MAX_EVENTS: usize = 2_000;
/// Most sets kept from one feed: the earliest in the window (a feed with a minutely rule must
/// not fill the schedule).
pub const MAX_INSTANCES: usize = 500;

/// Instances of every event in `text` that overlap `[from_ms, to_ms)`: at most
/// [`MAX_INSTANCES`], the earliest, from at most [`MAX_EVENTS`] events.
pub fn instances(text: &str, from_ms: i64, to_ms: i64) -> Result<Parsed, IcsError> {
    let mut all = events(text)?;
    let mut parsed = Parsed::default();
    if all.len() > MAX_EVENTS {
        parsed.problems.push(format!(
            "the feed has {} events; only the first {MAX_EVENTS} are read",
            all.len()
        ));
        all.truncate(MAX_EVENTS);
    }
    let mut dropped = false;
    // RECURRENCE-ID overrides by (uid, original start).
    let mut overrides: HashMap<(String, i64), &Event> = HashMap::new();
    for e in all.iter().filter(|e| e.recurrence_id.is_some()) {
        let rid = e.recurrence_id.as_ref().map(first);
        match rid {
            Some(Ok(w)) => match w.utc() {
                Some(t) => {
                    overrides.insert((e.uid.clone(), t.timestamp_millis()), e);
                }
                None => parsed
                    .problems
                    .push(format!("'{}': RECURRENCE-ID is not a date-time", e.summary)),
            },
            Some(Err(why)) => parsed.problems.push(format!("'{}': {why}", e.summary)),
            None => {}
        }
    }
    let push =
        |parsed: &mut Parsed, uid: &str, original: i64, e: &Event, start_ms: i64, len: i64| {
            let end_ms = start_ms + len;
            if end_ms > from_ms && start_ms < to_ms {
                parsed.instances.push(Instance {
                    key: format!("{uid}#{original}"),
                    title: if e.summary.is_empty() {
                        "Untitled set".into()
                    } else {
                        e.summary.clone()
                    },
                    start_ms,
                    end_ms,
                });
            }
        };
    for e in all.iter().filter(|e| e.recurrence_id.is_none()) {
        if e.cancelled {
            continue;
        }
        let (start, start_ms, len) = match span(e) {
            Ok(s) => s,
            Err(why) => {
                parsed
                    .problems
                    .push(format!("'{}' skipped: {why}", e.summary));
                continue;
            }
        };
        let starts = match &e.rrule {
            None => vec![start_ms],
            // Reach back far enough to catch an instance that is running now.
            Some(rule) => match recurrences(e, start, rule, from_ms - len, to_ms) {
                Ok(s) => s,
                Err(why) => {
                    parsed
                        .problems
                        .push(format!("'{}' skipped: {why}", e.summary));
                    continue;
                }
            },
        };
        for original in starts {
            match overrides.remove(&(e.uid.clone(), original)) {
                Some(o) if o.cancelled => {}
                Some(o) => match span(o) {
                    Ok((_, s, l)) => push(&mut parsed, &e.uid, original, o, s, l),
                    Err(why) => parsed
                        .problems
                        .push(format!("'{}' skipped: {why}", o.summary)),
                },
                None => push(&mut parsed, &e.uid, original, e, original, len),
            }
        }
        // Memory stays bounded however many instances the rules make: keep the earliest.
        if parsed.instances.len() > 2 * MAX_INSTANCES {
            keep_earliest(&mut parsed.instances);
            dropped = true;
        }
    }
    // Overrides that moved an instance out of (or into) the window without a matching master
    // occurrence in it still count as their own instance.
    for ((uid, original), o) in overrides {
        if o.cancelled {
            continue;
        }
        if let Ok((_, s, l)) = span(o) {
            push(&mut parsed, &uid, original, o, s, l);
        }
    }
    if parsed.instances.len() > MAX_INSTANCES {
        dropped = true;
    }
    keep_earliest(&mut parsed.instances);
    if dropped {
        parsed.problems.push(format!(
            "the feed has more than {MAX_INSTANCES} sets in the window; only the first {MAX_INSTANCES} are kept"
        ));
    }
    Ok(parsed)
}

/// Sorts by start and keeps the first [`MAX_INSTANCES`].
fn keep_earliest(instances: &mut Vec<Instance>) {
    instances.sort_by(|a, b| (a.start_ms, &a.key).cmp(&(b.start_ms, &b.key)));
    instances.truncate(MAX_INSTANCES);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n\
BEGIN:VEVENT\r\nUID:weekly@example\r\nSUMMARY:Friday house\\, live\r\n\
DTSTART;TZID=Europe/Berlin:20261106T220000\r\nDTEND;TZID=Europe/Berlin:20261107T000000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=6\r\nEXDATE;TZID=Europe/Berlin:20261120T220000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly@example\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261113T220000\r\n\
SUMMARY:Friday house (late)\r\nDTSTART;TZID=Europe/Berlin:20261113T230000\r\n\
DTEND;TZID=Europe/Berlin:20261114T010000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly@example\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261127T220000\r\n\
STATUS:CANCELLED\r\nSUMMARY:Friday house\r\nDTSTART;TZID=Europe/Berlin:20261127T220000\r\n\
DTEND;TZID=Europe/Berlin:20261128T000000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:one@example\r\nSUMMARY:Guest mix\r\nDTSTART:20261125T180000Z\r\n\
DURATION:PT1H30M\r\nBEGIN:VALARM\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:gone@example\r\nSTATUS:CANCELLED\r\nSUMMARY:Called off\r\n\
DTSTART:20261126T180000Z\r\nDTEND:20261126T190000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:allday@example\r\nSUMMARY:Holiday\r\nDTSTART;VALUE=DATE:20261124\r\n\
DTEND;VALUE=DATE:20261125\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:tz@example\r\nSUMMARY:Mystery zone\r\nDTSTART;TZID=Mars/Olympus:20261124T100000\r\n\
DTEND;TZID=Mars/Olympus:20261124T110000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:folded@example\r\nSUMMARY:A very long title that the exporter fo\r\n lded over two lines\r\n\
DTSTART;TZID=America/New_York:20261231T230000\r\nDTEND;TZID=America/New_York:20270101T010000\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

    #[test]
    fn recurring_sets_follow_time_zones_exceptions_and_overrides() {
        let p = instances(FEED, ms("2026-11-01T00:00:00Z"), ms("2027-02-01T00:00:00Z")).unwrap();
        let got: Vec<(&str, i64, i64)> = p
            .instances
            .iter()
            .map(|i| (i.title.as_str(), i.start_ms, i.end_ms))
            .collect();
        assert_eq!(
            got,
            vec![
                // Berlin is UTC+1 in November (CET).
                (
                    "Friday house, live",
                    ms("2026-11-06T21:00:00Z"),
                    ms("2026-11-06T23:00:00Z")
                ),
                (
                    "Friday house (late)",
                    ms("2026-11-13T22:00:00Z"),
                    ms("2026-11-14T00:00:00Z")
                ),
                // 20 Nov: EXDATE. 27 Nov: cancelled instance.
                (
                    "Guest mix",
                    ms("2026-11-25T18:00:00Z"),
                    ms("2026-11-25T19:30:00Z")
                ),
                (
                    "Friday house, live",
                    ms("2026-12-04T21:00:00Z"),
                    ms("2026-12-04T23:00:00Z")
                ),
                (
                    "Friday house, live",
                    ms("2026-12-11T21:00:00Z"),
                    ms("2026-12-11T23:00:00Z")
                ),
                (
                    "A very long title that the exporter folded over two lines",
                    ms("2027-01-01T04:00:00Z"),
                    ms("2027-01-01T06:00:00Z")
                ),
            ]
        );
        // The moved instance keeps the identity of its original slot.
        assert_eq!(
            p.instances[1].key,
            format!("weekly@example#{}", ms("2026-11-13T21:00:00Z"))
        );
        assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
        assert!(p.problems.iter().any(|m| m.contains("all-day")));
        assert!(
            p.problems
                .iter()
                .any(|m| m.contains("unknown time zone 'Mars/Olympus'"))
        );
    }

    #[test]
    fn a_minutely_feed_keeps_only_the_earliest_sets() {
        let feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:spam@x\r\n\
SUMMARY:Spam\r\nDTSTART:20261201T000000Z\r\nDURATION:PT1M\r\nRRULE:FREQ=MINUTELY\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";
        let from = ms("2026-12-01T00:00:00Z");
        let p = instances(feed, from, from + 30 * 86_400_000).unwrap();
        assert_eq!(p.instances.len(), MAX_INSTANCES);
        assert_eq!(p.instances[0].start_ms, from);
        assert!(
            p.instances
                .windows(2)
                .all(|w| w[0].start_ms < w[1].start_ms)
        );
        assert!(
            p.problems.iter().any(|m| m.contains("only the first")),
            "{:?}",
            p.problems
        );
        let many: String = (0..MAX_EVENTS + 5)
            .map(|i| format!("BEGIN:VEVENT\r\nUID:e{i}\r\nSUMMARY:S\r\nDTSTART:20261201T000000Z\r\nDURATION:PT1H\r\nEND:VEVENT\r\n"))
            .collect();
        let p = instances(
            &format!("BEGIN:VCALENDAR\r\n{many}END:VCALENDAR\r\n"),
            from,
            from + 86_400_000,
        )
        .unwrap();
        assert!(
            p.problems
                .iter()
                .any(|m| m.contains("events; only the first")),
            "{:?}",
            p.problems
        );
        assert_eq!(p.instances.len(), MAX_INSTANCES);
    }

    #[test]
    fn summer_time_and_windows_limit_instances() {
        let feed = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:d\nSUMMARY:Daily\nDTSTART;TZID=Europe/London:20260327T200000\n\
DTEND;TZID=Europe/London:20260327T210000\nRRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR\n";
        // London moves to BST (UTC+1) on 29 March 2026.
        let p = instances(feed, ms("2026-03-28T00:00:00Z"), ms("2026-03-31T00:00:00Z")).unwrap();
        let starts: Vec<i64> = p.instances.iter().map(|i| i.start_ms).collect();
        assert_eq!(
            starts,
            vec![
                ms("2026-03-28T20:00:00Z"),
                ms("2026-03-29T19:00:00Z"),
                ms("2026-03-30T19:00:00Z")
            ]
        );
        // An instance running at the window's start is included.
        let p = instances(feed, ms("2026-03-28T20:30:00Z"), ms("2026-03-28T21:30:00Z")).unwrap();
        assert_eq!(p.instances.len(), 1);
    }

    #[test]
    fn garbage_is_refused_and_durations_parse() {
        assert!(instances("<html>nope</html>", 0, 1).is_err());
        assert_eq!(parse_duration("PT1H30M"), Some(5_400_000));
        assert_eq!(parse_duration("P1DT2H"), Some(93_600_000));
        assert_eq!(parse_duration("P1W"), Some(604_800_000));
        assert_eq!(parse_duration("1H"), None);
        assert_eq!(
            time_zone("/mozilla.org/20070129_1/Europe/Berlin").unwrap(),
            chrono_tz::Europe::Berlin
        );
    }
}
