//! RRULE mechanics: expanding one rule in wall-clock time with the `rrule` crate, and the
//! `UNTIL` the crate cannot take (a date or floating time beside a zoned start), with the step
//! limits that keep a hostile feed cheap. Used by [`super::series`] and [`super::zone`]
//! (VTIMEZONE onsets).
use chrono::{NaiveDate, NaiveDateTime};

use super::zone::Zone;

/// Most occurrences one rule may produce before the window ends (a minutely rule from 1990 is
/// refused with a reason, not expanded for minutes).
pub(super) const MAX_RULE_STEPS: usize = 200_000;
/// Most rule steps for a whole feed: bounds the time a broken or hostile feed can take (measured
/// in docs/BENCHMARKS.md).
pub(super) const MAX_FEED_STEPS: usize = 2_000_000;
/// What each rule costs from the feed's budget before its first step.
const RULE_COST: usize = 1_000;

/// Expands `rule` (no `UNTIL`) from wall-clock `base`, returning the wall-clock starts within
/// `[lo, hi]`. At most `cap` steps, which are taken from `budget`.
pub(super) fn expand_wall(
    base: NaiveDateTime,
    rule: &str,
    lo: NaiveDateTime,
    hi: NaiveDateTime,
    cap: usize,
    budget: &mut usize,
) -> Result<Vec<NaiveDateTime>, String> {
    let text = format!("DTSTART:{}Z\nRRULE:{rule}", base.format("%Y%m%dT%H%M%S"));
    let set: rrule::RRuleSet = text.parse().map_err(|e| format!("{e}"))?;
    // Every rule costs something, however few dates it yields (the crate's own search between
    // dates is bounded by its limit).
    *budget = budget.saturating_sub(RULE_COST);
    let limit = cap.min(*budget);
    let mut out = Vec::new();
    let mut steps = 0;
    let mut ended = true;
    for d in &set.limit() {
        let w = d.naive_utc();
        if w > hi {
            ended = false;
            break;
        }
        if steps == limit {
            *budget -= steps;
            return Err(if limit < cap {
                format!("the feed's rules together take more than {MAX_FEED_STEPS} steps")
            } else {
                format!("it makes more than {cap} occurrences before the window")
            });
        }
        steps += 1;
        if w >= lo {
            out.push(w);
        }
    }
    *budget -= steps;
    // Without COUNT (UNTIL is applied by the caller), a rule only runs out when the crate gave up
    // searching for its next date: later occurrences would vanish without a word.
    if ended && !rule.to_ascii_uppercase().contains("COUNT=") {
        return Err("it (almost) never matches: no next occurrence was found".into());
    }
    Ok(out)
}

/// An RRULE split into what the expander takes and its UNTIL (handled here, because exported
/// calendars write it as a date or a floating time beside a zoned DTSTART, which the RFC forbids
/// and the `rrule` crate refuses).
pub(super) struct Rule {
    pub body: String,
    pub until: Option<String>,
}

pub(super) fn split_rule(v: &str) -> Rule {
    let mut until = None;
    let parts: Vec<&str> = v
        .trim()
        .split(';')
        .filter(|p| {
            let p = p.trim();
            if p.is_empty() {
                return false;
            }
            let key = p.split('=').next().unwrap_or("").trim();
            if key.eq_ignore_ascii_case("UNTIL") {
                until = p.split_once('=').map(|(_, u)| u.trim().to_owned());
                return false;
            }
            // A negative COUNT (seen in the wild) means no count.
            !(key.eq_ignore_ascii_case("COUNT") && p.contains("=-"))
        })
        .collect();
    Rule {
        body: parts.join(";"),
        until,
    }
}

/// An UNTIL's date-time digits (a date at midnight), whatever its form.
pub(super) fn until_digits(until: &str) -> Option<NaiveDateTime> {
    let digits = until.trim_end_matches(['Z', 'z']);
    NaiveDateTime::parse_from_str(digits, "%Y%m%dT%H%M%S")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(digits, "%Y%m%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// Whether an occurrence at wall-clock `wall` / instant `utc` is past the rule's UNTIL.
pub(super) fn past_until(
    until: &str,
    start_zoned: bool,
    wall: NaiveDateTime,
    utc: NaiveDateTime,
    z: &Zone,
) -> bool {
    let Some(t) = until_digits(until) else {
        return false;
    };
    if !start_zoned {
        // Floating start: the digits are wall-clock time.
        return wall > t;
    }
    if until.ends_with(['Z', 'z']) {
        return utc > t;
    }
    // A date or floating UNTIL beside a zoned start: read both as UTC and in the start's zone,
    // and end at the earlier (what python-dateutil and recurring-ical-events do together).
    utc > t || utc > z.to_utc(t)
}
