//! One UID's events → its occurrences in a window (RFC 5545 §3.8.5 with the readings mature
//! implementations agree on, python-recurring-ical-events being the reference the tests compare
//! with): every `RRULE` (a union), `RDATE` (date-time and period forms) and the `DTSTART` itself,
//! minus `EXDATE`s, with `RECURRENCE-ID` overrides (the highest `SEQUENCE` wins; `RANGE=THISANDFUTURE`
//! moves every later occurrence too). Rules are expanded in the start's wall-clock time, so a
//! weekly 22:00 set stays at 22:00 across daylight-saving changes.
use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::parse::{Component, unescape};
use super::rules::{MAX_RULE_STEPS, Rule, expand_wall, past_until, split_rule, until_digits};
use super::zone::{PeriodEnd, When, Zone, Zones};
use super::{Instance, Length, Parsed, SkipReason, Window, duration};

/// What a component says about itself.
struct Ev<'a> {
    c: &'a Component,
    title: String,
    seq: i64,
    start: When,
    /// (length, in wall-clock time) or None when the calendar gives none.
    len: (Length, bool),
    has_len: bool,
    rid: Option<When>,
    future: bool,
    cancelled: bool,
}

fn wall_len(a: &When, b: &When) -> (Length, bool) {
    match (a, b) {
        (When::Zoned(x, za), When::Zoned(y, zb)) if same_zone(za, zb) => (*y - *x, true),
        (When::Zoned(..), _) | (_, When::Zoned(..)) => {
            (Duration::milliseconds(b.utc_ms() - a.utc_ms()), false)
        }
        _ => (b.wall() - a.wall(), true),
    }
}

fn same_zone(a: &Zone, b: &Zone) -> bool {
    match (a, b) {
        (Zone::Utc, Zone::Utc) | (Zone::Local, Zone::Local) => true,
        (Zone::Iana(x), Zone::Iana(y)) => x == y,
        (Zone::Custom(x), Zone::Custom(y)) => std::sync::Arc::ptr_eq(x, y),
        _ => false,
    }
}

fn read<'a>(c: &'a Component, zones: &mut Zones) -> Result<Ev<'a>, (SkipReason, String)> {
    let bad = |e: String| (SkipReason::Unreadable, e);
    let start_p = c
        .prop("DTSTART")
        .ok_or((SkipReason::Unreadable, "no DTSTART".to_owned()))?;
    let mut start = zones
        .values(start_p)
        .map_err(bad)?
        .into_iter()
        .next()
        .ok_or_else(|| bad("empty DTSTART".into()))?;
    let end = match (c.prop("DTEND"), c.value("DURATION")) {
        (Some(p), _) => Some(
            zones
                .values(p)
                .map_err(bad)?
                .into_iter()
                .next()
                .ok_or_else(|| bad("empty DTEND".into()))?,
        ),
        (None, Some(d)) => {
            let d = duration(d).ok_or_else(|| bad(format!("bad DURATION '{d}'")))?;
            Some(match &start {
                When::Date(x) if d.num_seconds() % 86_400 == 0 => When::Date(*x + d),
                When::Date(x) => When::Floating(x.and_hms_opt(0, 0, 0).expect("midnight") + d),
                When::Floating(n) => When::Floating(*n + d),
                When::Zoned(n, z) => When::Zoned(*n + d, z.clone()),
            })
        }
        (None, None) => None,
    };
    let rid = match c.prop("RECURRENCE-ID") {
        Some(p) => zones.values(p).map_err(bad)?.into_iter().next(),
        None => None,
    };
    let future = c
        .prop("RECURRENCE-ID")
        .and_then(|p| p.param("RANGE"))
        .is_some_and(|r| r.eq_ignore_ascii_case("THISANDFUTURE"));
    let (mut len, has_len) = match &end {
        Some(e) => (wall_len(&start, e), true),
        None => ((Duration::zero(), true), false),
    };
    if len.0 < Duration::zero() {
        // DTEND before DTSTART: the two are swapped (what every mature reader does).
        if let Some(e) = end {
            start = e;
        }
        len.0 = -len.0;
    }
    Ok(Ev {
        c,
        title: title_of(c),
        seq: c
            .value("SEQUENCE")
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1),
        start,
        len,
        has_len,
        rid,
        future,
        cancelled: c
            .value("STATUS")
            .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED")),
    })
}

/// A recurrence id: an instant, or a wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Id {
    Utc(NaiveDateTime),
    Wall(NaiveDateTime),
}

/// Recurrence ids of a time: its UTC instant and its wall-clock time, so an EXDATE or
/// RECURRENCE-ID an exporter wrote in either form is understood (as recurring-ical-events does);
/// an instant only matches an instant and a wall-clock time a wall-clock time.
fn ids(w: &When) -> Vec<Id> {
    match w {
        When::Zoned(n, z) => vec![Id::Utc(z.to_utc(*n)), Id::Wall(*n)],
        other => vec![Id::Wall(other.wall())],
    }
}

struct Occ<'a> {
    ev: &'a Ev<'a>,
    /// Whether the calendar gives this occurrence a length (its event's, or an RDATE period's).
    has_len: bool,
    original_ms: i64,
    start_ms: i64,
    end_ms: i64,
}

fn end_of(start: &When, len: (Length, bool)) -> i64 {
    if len.1 {
        match start {
            When::Zoned(n, z) => z.to_utc(*n + len.0).and_utc().timestamp_millis(),
            other => super::zone::Zone::Local
                .to_utc(other.wall() + len.0)
                .and_utc()
                .timestamp_millis(),
        }
    } else {
        start.utc_ms() + len.0.num_milliseconds()
    }
}

/// Occurrences of one UID's components in the window, into `out`.
pub(super) fn expand(
    group: &str,
    comps: &[&Component],
    zones: &mut Zones,
    win: &Window,
    out: &mut Parsed,
) {
    // The UID as the feed writes it ("" when absent); `group` is unique.
    let uid = if group.starts_with('\0') { "" } else { group };
    let mut evs: Vec<Ev> = Vec::new();
    for c in comps {
        match read(c, zones) {
            Ok(e) => evs.push(e),
            Err((reason, why)) => out.skip(uid, title_of(c), None, reason, why),
        }
    }
    // The master: highest SEQUENCE, the first of equals; other masters of the UID are older
    // copies.
    let mut core: Option<usize> = None;
    for (i, e) in evs.iter().enumerate() {
        if e.rid.is_none() && core.is_none_or(|c| e.seq > evs[c].seq) {
            core = Some(i);
        }
    }
    for (i, e) in evs.iter().enumerate() {
        if e.rid.is_none() && Some(i) != core {
            out.skip(
                uid,
                e.title.clone(),
                Some(e.start.utc_ms()),
                SkipReason::Duplicate,
                "another event with the same UID and a newer or equal SEQUENCE replaces it".into(),
            );
        }
    }
    // Overrides by recurrence id (the highest SEQUENCE wins).
    let mut mods: HashMap<Id, usize> = HashMap::new();
    let mut future: Vec<(i64, usize)> = Vec::new();
    for (i, e) in evs.iter().enumerate() {
        let Some(rid) = &e.rid else { continue };
        for id in ids(rid) {
            if mods.get(&id).is_none_or(|m| e.seq >= evs[*m].seq) {
                mods.insert(id, i);
            }
        }
        if e.future {
            future.push((rid.utc_ms(), i));
        }
    }
    future.sort();
    let mut emitted: HashSet<usize> = HashSet::new();
    let mut occs: Vec<Occ> = Vec::new();
    let mut excluded_ids: HashSet<Id> = HashSet::new();
    if let Some(ci) = core {
        let c = &evs[ci];
        if matches!(c.start, When::Date(_)) {
            out.skip(
                uid,
                c.title.clone(),
                None,
                SkipReason::AllDay,
                "the calendar gives a date, not a start time".into(),
            );
            return;
        }
        match core_starts(c, zones, win, &future, &evs) {
            Ok((starts, periods, ex_ids, ex_dates)) => {
                excluded_ids = ex_ids.clone();
                let mut seen: HashSet<i64> = HashSet::new();
                for s in starts {
                    let s_ms = s.utc_ms();
                    let sid = ids(&s);
                    if seen.contains(&s_ms)
                        || ex_dates.contains(&s.wall().date())
                        || sid.iter().any(|i| ex_ids.contains(i))
                    {
                        continue;
                    }
                    // The instant first: a wall-clock match is the exporter-compatibility guess.
                    let m = sid.iter().find_map(|i| mods.get(i).copied());
                    match m {
                        Some(mi) => {
                            if emitted.insert(mi) {
                                let m = &evs[mi];
                                occs.push(Occ {
                                    ev: m,
                                    has_len: m.has_len,
                                    original_ms: s_ms,
                                    start_ms: m.start.utc_ms(),
                                    end_ms: end_of(&m.start, m.len),
                                });
                            }
                        }
                        None => {
                            seen.insert(s_ms);
                            // RANGE=THISANDFUTURE: the latest such override before it shapes it.
                            let base = future
                                .iter()
                                .rfind(|(r, _)| *r < s_ms)
                                .map(|(_, i)| &evs[*i]);
                            let (ev, shift) = match base {
                                Some(b) => {
                                    (b, b.start.utc_ms() - b.rid.as_ref().map_or(0, When::utc_ms))
                                }
                                None => (c, 0),
                            };
                            let period = sid.iter().find_map(|k| periods.get(k).copied());
                            let len = period.unwrap_or(ev.len);
                            let start = shift_when(&s, shift);
                            occs.push(Occ {
                                ev,
                                has_len: period.is_some() || ev.has_len,
                                original_ms: s_ms,
                                start_ms: start.utc_ms(),
                                end_ms: end_of(&start, len),
                            });
                        }
                    }
                }
            }
            Err(why) => {
                out.skip(uid, c.title.clone(), None, SkipReason::Unreadable, why);
                return;
            }
        }
    }
    // Overrides no generated occurrence claimed: they stand on their own (a moved occurrence,
    // or an override whose recurring event is not in the feed).
    for (i, e) in evs.iter().enumerate() {
        let Some(rid) = &e.rid else { continue };
        if emitted.contains(&i) || ids(rid).iter().any(|x| excluded_ids.contains(x)) {
            continue;
        }
        if !ids(rid).iter().any(|x| mods.get(x) == Some(&i)) {
            out.skip(
                uid,
                e.title.clone(),
                Some(rid.utc_ms()),
                SkipReason::Duplicate,
                "a newer copy of this change (higher SEQUENCE) replaces it".into(),
            );
            continue;
        }
        if core.is_none() {
            out.note(format!(
                "'{}' changes one occurrence of a recurring event that is not in the feed; it is scheduled on its own",
                display(&e.title)
            ));
        }
        emitted.insert(i);
        occs.push(Occ {
            ev: e,
            has_len: e.has_len,
            original_ms: rid.utc_ms(),
            start_ms: e.start.utc_ms(),
            end_ms: end_of(&e.start, e.len),
        });
    }
    for o in occs {
        if !win.contains(o.start_ms, o.end_ms) {
            continue;
        }
        let e = o.ev;
        if matches!(e.start, When::Date(_)) {
            out.skip(
                uid,
                e.title.clone(),
                Some(o.start_ms),
                SkipReason::AllDay,
                "the calendar gives a date, not a start time".into(),
            );
            continue;
        }
        if e.cancelled {
            out.skip(
                uid,
                e.title.clone(),
                Some(o.start_ms),
                SkipReason::Cancelled,
                "cancelled in the calendar".into(),
            );
            continue;
        }
        let mut end_ms = o.end_ms;
        let from_calendar = o.has_len && o.end_ms > o.start_ms;
        if !from_calendar {
            if win.default_len_ms <= 0 {
                let why = if o.has_len {
                    "it ends when it starts"
                } else {
                    "it has no DTEND or DURATION"
                };
                out.skip(
                    uid,
                    e.title.clone(),
                    Some(o.start_ms),
                    SkipReason::NoLength,
                    format!("{why}, and the feed has no default set length"),
                );
                continue;
            }
            end_ms = o.start_ms + win.default_len_ms;
        }
        out.instances.push(Instance {
            // Without a UID the title names the series (stable when the feed is reordered).
            key: if uid.is_empty() {
                format!("~{}#{}", e.title, o.original_ms)
            } else {
                format!("{uid}#{}", o.original_ms)
            },
            uid: uid.to_owned(),
            title: if e.title.is_empty() {
                "Untitled set".into()
            } else {
                e.title.clone()
            },
            start_ms: o.start_ms,
            end_ms,
            length_from_calendar: from_calendar,
        });
        // Memory stays bounded however many occurrences one series makes.
        if out.instances.len() > 2 * super::MAX_INSTANCES {
            out.keep_earliest();
        }
    }
}

fn display(t: &str) -> &str {
    if t.is_empty() { "Untitled" } else { t }
}

/// Longest title kept (the schedule's own limit).
const MAX_TITLE: usize = 200;

/// SUMMARY, unescaped, at most [`MAX_TITLE`] characters.
fn title_of(c: &Component) -> String {
    let t = c.value("SUMMARY").map(unescape).unwrap_or_default();
    match t.char_indices().nth(MAX_TITLE) {
        Some((at, _)) => t[..at].to_owned(),
        None => t,
    }
}

fn shift_when(w: &When, ms: i64) -> When {
    if ms == 0 {
        return w.clone();
    }
    let u = w.utc() + Duration::milliseconds(ms);
    match w {
        When::Zoned(_, z) => When::Zoned(z.wall_of(u), z.clone()),
        _ => When::Zoned(u, Zone::Utc),
    }
}

type Starts = (
    Vec<When>,
    HashMap<Id, (Length, bool)>,
    HashSet<Id>,
    HashSet<NaiveDate>,
);

/// Most RDATE and EXDATE values, and RRULEs, read per event (more are reported).
const MAX_DATES: usize = 5_000;
const MAX_RULES: usize = 10;

/// Candidate starts of the master (rules, RDATEs, DTSTART), its period lengths, and its
/// exclusions (by recurrence id, and by date for date EXDATEs).
fn core_starts(
    c: &Ev,
    zones: &mut Zones,
    win: &Window,
    future: &[(i64, usize)],
    evs: &[Ev],
) -> Result<Starts, String> {
    let mut rdates: Vec<When> = Vec::new();
    let mut periods = HashMap::new();
    if c.c
        .props("RDATE")
        .chain(c.c.props("EXDATE"))
        .map(|p| p.value.matches(',').count() + 1)
        .sum::<usize>()
        > MAX_DATES
    {
        return Err(format!("it has more than {MAX_DATES} RDATE/EXDATE values"));
    }
    if c.c.props("RRULE").count() > MAX_RULES {
        return Err(format!("it has more than {MAX_RULES} RRULEs"));
    }
    for p in c.c.props("RDATE") {
        for (v, end) in zones.periods(p)? {
            if let Some(end) = end {
                let len = match end {
                    PeriodEnd::At(e) => wall_len(&v, &e),
                    PeriodEnd::Length(l) => (l, true),
                };
                for id in ids(&v) {
                    periods.insert(id, len);
                }
            }
            rdates.push(v);
        }
    }
    let mut exdates: Vec<When> = Vec::new();
    for p in c.c.props("EXDATE") {
        exdates.extend(zones.values(p)?);
    }
    // A floating start beside zoned EXDATEs/RDATEs takes their zone.
    let series_zone = std::iter::once(&c.start)
        .chain(rdates.iter())
        .chain(exdates.iter())
        .find_map(|w| w.zone().cloned());
    let fix = |w: When| match (w, &series_zone) {
        (When::Floating(n), Some(z)) => When::Zoned(n, z.clone()),
        (When::Date(d), Some(z)) => {
            When::Zoned(d.and_hms_opt(0, 0, 0).expect("midnight"), z.clone())
        }
        (w, _) => w,
    };
    let start = fix(c.start.clone());
    let mut ex_ids = HashSet::new();
    let mut ex_dates = HashSet::new();
    for x in &exdates {
        if let When::Date(d) = x {
            ex_dates.insert(*d);
        }
        ex_ids.extend(ids(x));
    }
    let zone = start.zone().cloned().unwrap_or(Zone::Local);
    let zoned = start.zone().is_some();
    // Generation range in the start's wall-clock, wide enough for offsets, the length and
    // THISANDFUTURE moves.
    let mut reach = c.len.0.num_milliseconds().max(0);
    for (r, i) in future {
        let e = &evs[*i];
        reach = reach.max((e.start.utc_ms() - r).abs() + e.len.0.num_milliseconds());
    }
    let slack = Duration::days(2) + Duration::milliseconds(reach);
    let lo = zone.wall_of(super::zone::from_ms(win.from_ms)) - slack;
    let hi = zone.wall_of(super::zone::from_ms(win.to_ms)) + slack;
    let mut starts: Vec<When> = Vec::new();
    let rules: Vec<Rule> = c.c.props("RRULE").map(|p| split_rule(&p.value)).collect();
    if let Some(bad) = rules
        .iter()
        .filter_map(|r| r.until.as_deref())
        .find(|u| until_digits(u).is_none())
    {
        return Err(format!("bad UNTIL '{bad}' in its RRULE"));
    }
    let base = start.wall();
    let base_utc = start.utc();
    for r in &rules {
        // A rule that ended long before the window need not be followed up to it.
        let hi = r
            .until
            .as_deref()
            .and_then(until_digits)
            .map_or(hi, |u| hi.min(u + Duration::days(2)));
        if hi < lo {
            continue;
        }
        let walls = expand_wall(base, &r.body, lo, hi, MAX_RULE_STEPS, &mut zones.steps_left)
            .map_err(|e| format!("bad RRULE '{}': {e}", r.body))?;
        for w in walls {
            let u = zone.to_utc(w);
            if let Some(until) = &r.until
                && past_until(until, zoned, w, u, &zone)
            {
                continue;
            }
            starts.push(match &start {
                When::Zoned(_, z) => When::Zoned(w, z.clone()),
                _ => When::Floating(w),
            });
        }
    }
    // The DTSTART counts unless it is past the latest UNTIL of the rules that have one.
    let untils: Vec<&String> = rules.iter().filter_map(|r| r.until.as_ref()).collect();
    let dtstart_past_until = !untils.is_empty()
        && untils
            .iter()
            .all(|u| past_until(u, zoned, base, base_utc, &zone));
    // RDATEs far outside the window are not candidates.
    let (near_lo, near_hi) = (
        win.from_ms - slack.num_milliseconds(),
        win.to_ms + slack.num_milliseconds(),
    );
    for r in rdates {
        let r = fix(r);
        if (near_lo..=near_hi).contains(&r.utc_ms()) {
            starts.push(r);
        }
    }
    if !dtstart_past_until {
        starts.push(start);
    }
    starts.sort_by_cached_key(When::utc_ms);
    Ok((starts, periods, ex_ids, ex_dates))
}
