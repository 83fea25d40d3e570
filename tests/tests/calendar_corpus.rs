//! Real-world calendars through `deckcast feeds preview`, compared with a mature implementation.
//!
//! The corpus is the test calendars of two PyPI source distributions that scripts/deps.sh
//! downloads and unpacks (pinned versions, see there): `recurring-ical-events` 3.8.2 (LGPL-3.0,
//! `recurring_ical_events/test/calendars/`: Google, Outlook/Exchange, Apple, Thunderbird exports
//! and hand-made edge cases) and `icalendar` 7.3.2 (BSD-2-Clause, `src/icalendar/tests/calendars/`).
//! Nothing of them is copied into this repository. The oracle is `recurring_ical_events.of(cal)
//! .between(from, to)` itself (tests/rig/calendar-oracle.py), over two 91-day windows per calendar
//! (the companion's look-ahead: one from a day before the calendar's first DTSTART, one from
//! 2026-11-30). Both sides run with TZ=UTC, so floating times mean the same on both.
//!
//! Passes when, in every window the oracle can read:
//! - every timed occurrence the oracle lists is scheduled by Deckcast with the same UID, start and
//!   end (an occurrence the calendar gives no length takes the default set length; the oracle's
//!   end then equals its start) — except the documented exceptions below, which Deckcast reports
//!   as skipped with their reason;
//! - every all-day occurrence is reported as skipped ("all-day"), never scheduled;
//! - Deckcast schedules nothing the oracle does not list.
//!
//! Documented exceptions (reported, with the reason, in `skipped`):
//! - `cancelled`: recurring-ical-events does not read `STATUS:CANCELLED`; a cancelled set must not
//!   start (issue_18_cancel_status.ics).
//! - `allDay` where DTSTART is a date but DTEND has a time: recurring-ical-events turns the start
//!   into midnight; Deckcast does not invent a start time (issue_201_*.ics).
//!
//! Windows where the oracle itself fails (a broken DTSTART in one event makes it refuse the whole
//! calendar, `BYDAY=MO, TU` with spaces, …) are not compared; Deckcast must still answer cleanly
//! there (schedule what it can read and report the rest, or refuse a non-calendar with a clear
//! "not an iCalendar feed").
//!
//! Needs the oracle's virtualenv and the corpus from scripts/deps.sh (default tier).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use deckcast_tests::artifacts;
use serde_json::Value;

fn oracle_dir() -> PathBuf {
    std::env::var_os("DECKCAST_CALENDAR_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("DECKCAST_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/cache/deckcast"));
            cache.join("calendar-oracle")
        })
}

fn calendars(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/deps.sh)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ics"))
        .collect();
    files.sort();
    files
}

#[derive(Default, Debug)]
struct Tally {
    windows: usize,
    oracle_failed: usize,
    timed: usize,
    matched: usize,
    all_day: usize,
    exceptions: HashMap<String, usize>,
    failures: Vec<String>,
}

fn compare(deckcast: &Path, files: &[PathBuf], tally: &mut Tally) {
    let oracle = oracle_dir();
    let out = Command::new(oracle.join("venv/bin/python"))
        .arg(artifacts::workspace_root().join("tests/rig/calendar-oracle.py"))
        .arg("auto")
        .args(files)
        .env("TZ", "UTC")
        .output()
        .expect("running the oracle (run scripts/deps.sh)");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let w: Value = serde_json::from_str(line).unwrap();
        let file = w["file"].as_str().unwrap();
        let name = Path::new(file)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Some(from) = w["from"].as_i64() else {
            // The oracle cannot parse the file at all; Deckcast must answer cleanly.
            tally.oracle_failed += 1;
            let r = Command::new(deckcast)
                .args(["feeds", "preview", file, "--json"])
                .env("TZ", "UTC")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&r.stderr);
            assert!(
                r.status.success() || err.contains("not an iCalendar feed"),
                "{name}: {err}"
            );
            continue;
        };
        let to = w["to"].as_i64().unwrap();
        tally.windows += 1;
        let r = Command::new(deckcast)
            .args(["feeds", "preview", file, "--json", "--from"])
            .arg(from.to_string())
            .arg("--to")
            .arg(to.to_string())
            .env("TZ", "UTC")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        if w.get("error").is_some() {
            tally.oracle_failed += 1;
            assert!(
                r.status.success() || stderr.contains("not an iCalendar feed"),
                "{name}: Deckcast must answer cleanly where the oracle fails: {stderr}"
            );
            continue;
        }
        if !r.status.success() {
            tally
                .failures
                .push(format!("{name}: preview failed: {stderr}"));
            continue;
        }
        let p: Value = serde_json::from_slice(&r.stdout).unwrap();
        let mut ours: Vec<&Value> = p["instances"].as_array().unwrap().iter().collect();
        let skipped = p["skipped"].as_array().unwrap();
        // The reasons Deckcast gives for not scheduling this occurrence (or its whole event).
        let reported = |uid: &str, start: i64| -> Vec<String> {
            skipped
                .iter()
                .filter(|s| {
                    s["uid"] == uid
                        && (s["startMs"].is_null() || s["startMs"].as_i64() == Some(start))
                })
                .map(|s| s["reason"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        for o in w["occurrences"].as_array().unwrap() {
            let (uid, start, end) = (
                o["uid"].as_str().unwrap(),
                o["start"].as_i64().unwrap(),
                o["end"].as_i64().unwrap(),
            );
            if o["allDay"].as_bool().unwrap() {
                tally.all_day += 1;
                if !reported(uid, start).iter().any(|r| r == "allDay") {
                    tally
                        .failures
                        .push(format!("{name}: all-day {uid}@{start} not reported"));
                }
                continue;
            }
            tally.timed += 1;
            let found = ours.iter().position(|i| {
                i["uid"] == uid
                    && i["startMs"].as_i64() == Some(start)
                    && if i["lengthFromCalendar"].as_bool().unwrap() {
                        i["endMs"].as_i64() == Some(end)
                    } else {
                        end == start
                    }
            });
            match found {
                Some(at) => {
                    ours.remove(at);
                    tally.matched += 1;
                }
                None => {
                    let reasons = reported(uid, start);
                    match reasons.iter().find(|r| *r == "cancelled" || *r == "allDay") {
                        Some(reason) => {
                            *tally
                                .exceptions
                                .entry(format!("{name}: {reason}"))
                                .or_default() += 1;
                        }
                        None => tally.failures.push(format!(
                            "{name}: {uid}@{start}–{end} missing (skip reasons: {reasons:?})"
                        )),
                    }
                }
            }
        }
        for extra in ours {
            tally.failures.push(format!(
                "{name}: extra {}@{} '{}'",
                extra["uid"], extra["startMs"], extra["title"]
            ));
        }
    }
}

fn run(corpus: &str) {
    let dir = oracle_dir().join("corpus").join(corpus);
    let files = calendars(&dir);
    assert!(
        files.len() > 50,
        "{}: {} calendars",
        dir.display(),
        files.len()
    );
    let deckcast = &artifacts::get().unwrap().deckcast;
    let mut tally = Tally::default();
    compare(deckcast, &files, &mut tally);
    eprintln!(
        "{corpus}: {} calendars, {} windows ({} the oracle cannot read); timed occurrences {} \
         matched of {}; {} all-day reported; documented exceptions {:?}",
        files.len(),
        tally.windows,
        tally.oracle_failed,
        tally.matched,
        tally.timed,
        tally.all_day,
        tally.exceptions
    );
    assert!(
        tally.failures.is_empty(),
        "{} differences:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    let exceptions: usize = tally.exceptions.values().sum();
    assert_eq!(tally.matched + exceptions, tally.timed);
    assert!(
        tally.timed > 200,
        "the corpus has timed occurrences: {tally:?}"
    );
}

#[test]
fn recurring_ical_events_corpus_matches_the_reference() {
    run("recurring-ical-events");
}

#[test]
fn icalendar_corpus_matches_the_reference() {
    run("icalendar");
}
