//! The reader on hand-written feeds: one test per way real calendars went wrong before.
use std::collections::HashMap;

use chrono::TimeZone;

use super::*;

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

fn win(from_ms: i64, to_ms: i64) -> Window {
    Window {
        from_ms,
        to_ms,
        default_len_ms: 3_600_000,
    }
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
    let p = read(
        FEED,
        &win(ms("2026-11-01T00:00:00Z"), ms("2027-02-01T00:00:00Z")),
    )
    .unwrap();
    let got: Vec<(&str, i64, i64)> = p
        .instances
        .iter()
        .filter(|i| i.title != "Mystery zone")
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
    // A zone nobody knows reads as local time, and says so.
    let mystery = p
        .instances
        .iter()
        .find(|i| i.title == "Mystery zone")
        .unwrap();
    let local = chrono::Local
        .from_local_datetime(
            &chrono::NaiveDate::from_ymd_opt(2026, 11, 24)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
        )
        .earliest()
        .unwrap();
    assert_eq!(mystery.start_ms, local.timestamp_millis());
    assert!(
        p.notes
            .iter()
            .any(|m| m.contains("'Mars/Olympus' is unknown")),
        "{:?}",
        p.notes
    );
    // What is not scheduled is said: the all-day event and both cancellations.
    let reasons: Vec<(&str, SkipReason)> = p
        .skipped
        .iter()
        .map(|s| (s.title.as_str(), s.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("Friday house", SkipReason::Cancelled),
            ("Called off", SkipReason::Cancelled),
            ("Holiday", SkipReason::AllDay),
        ]
    );
    assert!(
        p.problems()
            .iter()
            .any(|m| m.contains("'Holiday': not scheduled: all-day")),
        "{:?}",
        p.problems()
    );
}

#[test]
fn a_minutely_feed_keeps_only_the_earliest_sets() {
    let feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:spam@x\r\n\
SUMMARY:Spam\r\nDTSTART:20261201T000000Z\r\nDURATION:PT1M\r\nRRULE:FREQ=MINUTELY\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";
    let from = ms("2026-12-01T00:00:00Z");
    let p = read(feed, &win(from, from + 30 * 86_400_000)).unwrap();
    assert_eq!(p.instances.len(), MAX_INSTANCES);
    assert_eq!(p.instances[0].start_ms, from);
    assert!(
        p.instances
            .windows(2)
            .all(|w| w[0].start_ms < w[1].start_ms)
    );
    assert!(
        p.problems().iter().any(|m| m.contains("only the first")),
        "{:?}",
        p.problems()
    );
    let many: String = (0..MAX_EVENTS + 5)
        .map(|i| format!("BEGIN:VEVENT\r\nUID:e{i}\r\nSUMMARY:S\r\nDTSTART:20261201T000000Z\r\nDURATION:PT1H\r\nEND:VEVENT\r\n"))
        .collect();
    let p = read(
        &format!("BEGIN:VCALENDAR\r\n{many}END:VCALENDAR\r\n"),
        &win(from, from + 86_400_000),
    )
    .unwrap();
    assert!(
        p.problems()
            .iter()
            .any(|m| m.contains("events; only the first")),
        "{:?}",
        p.problems()
    );
    assert_eq!(p.instances.len(), MAX_INSTANCES);
}

#[test]
fn summer_time_and_windows_limit_instances() {
    let feed = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:d\nSUMMARY:Daily\nDTSTART;TZID=Europe/London:20260327T200000\n\
DTEND;TZID=Europe/London:20260327T210000\nRRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR\n";
    // London moves to BST (UTC+1) on 29 March 2026.
    let p = read(
        feed,
        &win(ms("2026-03-28T00:00:00Z"), ms("2026-03-31T00:00:00Z")),
    )
    .unwrap();
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
    let p = read(
        feed,
        &win(ms("2026-03-28T20:30:00Z"), ms("2026-03-28T21:30:00Z")),
    )
    .unwrap();
    assert_eq!(p.instances.len(), 1);
}

#[test]
fn garbage_is_refused_and_durations_parse() {
    assert!(read("<html>nope</html>", &win(0, 1)).is_err());
    assert_eq!(duration("PT1H30M"), Some(Length::seconds(5_400)));
    assert_eq!(duration("P1DT2H"), Some(Length::seconds(93_600)));
    assert_eq!(duration("P1W"), Some(Length::seconds(604_800)));
    assert_eq!(duration("1H"), None);
}

fn cal(events: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{events}END:VCALENDAR\r\n")
}

fn starts(p: &Parsed) -> Vec<i64> {
    p.instances.iter().map(|i| i.start_ms).collect()
}

/// Cause 1: `UNTIL` as a date or floating time beside a zoned or UTC `DTSTART` (the RFC wants
/// UTC; exporters write dates). The series is expanded, ending at the earlier of the two readings
/// of the UNTIL (as UTC and in the start's zone), like python-dateutil with recurring-ical-events.
#[test]
fn cause_1_until_as_a_date_or_floating_beside_a_zoned_start() {
    let feed = cal("BEGIN:VEVENT\r\nUID:u1\r\nSUMMARY:Weekly\r\n\
DTSTART;TZID=Europe/Berlin:20261105T200000\r\nDTEND;TZID=Europe/Berlin:20261105T220000\r\n\
RRULE:FREQ=WEEKLY;UNTIL=20261126;BYDAY=TH\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:u2\r\nSUMMARY:Daily\r\nDTSTART:20261201T100000Z\r\nDURATION:PT1H\r\n\
RRULE:FREQ=DAILY;UNTIL=20261203T100000\r\nEND:VEVENT\r\n");
    let p = read(
        &feed,
        &win(ms("2026-11-01T00:00:00Z"), ms("2027-01-01T00:00:00Z")),
    )
    .unwrap();
    assert!(
        p.skipped.is_empty() && p.notes.is_empty(),
        "{:?}",
        p.problems()
    );
    assert_eq!(
        starts(&p),
        vec![
            // Thursdays 5, 12, 19 November at 20:00 Berlin; the 26th is on the UNTIL date
            // (which ends at its start), so it is not.
            ms("2026-11-05T19:00:00Z"),
            ms("2026-11-12T19:00:00Z"),
            ms("2026-11-19T19:00:00Z"),
            // 1, 2 and 3 December at 10:00 UTC: the floating UNTIL is read as UTC here.
            ms("2026-12-01T10:00:00Z"),
            ms("2026-12-02T10:00:00Z"),
            ms("2026-12-03T10:00:00Z"),
        ]
    );
}

/// Cause 2: time-zone names that are not IANA names: a Windows name, a custom name the feed
/// defines in its own VTIMEZONE (with daylight-saving rules), "UTC+11" defined by the feed, and
/// an IANA name in the wrong case.
#[test]
fn cause_2_windows_custom_and_miscased_time_zones() {
    let feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
BEGIN:VTIMEZONE\r\nTZID:Club Time\r\n\
BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
BEGIN:VTIMEZONE\r\nTZID:UTC+11\r\nBEGIN:STANDARD\r\nDTSTART;VALUE=DATE:20170101\r\n\
TZOFFSETFROM:+1100\r\nTZOFFSETTO:+1100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:w\r\nSUMMARY:Windows\r\nDTSTART;TZID=Pacific Standard Time:20260701T200000\r\n\
DTEND;TZID=Pacific Standard Time:20260701T210000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:c\r\nSUMMARY:Custom\r\nDTSTART;TZID=\"Club Time\":20261023T220000\r\n\
DTEND;TZID=\"Club Time\":20261023T230000\r\nRRULE:FREQ=WEEKLY;COUNT=2\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:p\r\nSUMMARY:Plus eleven\r\nDTSTART;TZID=UTC+11:20260701T230000\r\n\
DTEND;TZID=UTC+11:20260701T233000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:l\r\nSUMMARY:Lisbon\r\nDTSTART;TZID=Europe/lisbon:20260701T200000\r\n\
DTEND;TZID=Europe/lisbon:20260701T210000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let p = read(
        feed,
        &win(ms("2026-06-01T00:00:00Z"), ms("2026-12-01T00:00:00Z")),
    )
    .unwrap();
    assert!(
        p.skipped.is_empty() && p.notes.is_empty(),
        "{:?}",
        p.problems()
    );
    let by: HashMap<&str, Vec<i64>> = p.instances.iter().fold(HashMap::new(), |mut m, i| {
        m.entry(i.title.as_str()).or_default().push(i.start_ms);
        m
    });
    // Los Angeles is UTC−7 in July.
    assert_eq!(by["Windows"], vec![ms("2026-07-02T03:00:00Z")]);
    // The feed's own rules: +02:00 until the last Sunday of October (the 25th), then +01:00.
    assert_eq!(
        by["Custom"],
        vec![ms("2026-10-23T20:00:00Z"), ms("2026-10-30T21:00:00Z")]
    );
    assert_eq!(by["Plus eleven"], vec![ms("2026-07-01T12:00:00Z")]);
    // Lisbon is UTC+1 in July.
    assert_eq!(by["Lisbon"], vec![ms("2026-07-01T19:00:00Z")]);
}

/// Cause 3: events without DTEND/DURATION, or with DTEND = DTSTART, end at their start (RFC
/// 5545): they take the feed's default set length, marked as such; with no default they are
/// skipped with a reason that says what is missing.
#[test]
fn cause_3_events_without_a_length_take_the_default_set_length() {
    let feed = cal(
        "BEGIN:VEVENT\r\nUID:a\r\nSUMMARY:No end\r\nDTSTART:20261201T200000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:Zero\r\nDTSTART:20261202T200000Z\r\nDTEND:20261202T200000Z\r\nEND:VEVENT\r\n",
    );
    let w = win(ms("2026-11-30T00:00:00Z"), ms("2026-12-31T00:00:00Z"));
    let p = read(&feed, &w).unwrap();
    assert_eq!(
        p.instances
            .iter()
            .map(|i| (i.end_ms - i.start_ms, i.length_from_calendar))
            .collect::<Vec<_>>(),
        vec![(3_600_000, false), (3_600_000, false)]
    );
    let p = read(
        &feed,
        &Window {
            default_len_ms: 0,
            ..w
        },
    )
    .unwrap();
    assert!(p.instances.is_empty());
    let why: Vec<&str> = p.skipped.iter().map(|s| s.detail.as_str()).collect();
    assert_eq!(
        why,
        vec![
            "it has no DTEND or DURATION, and the feed has no default set length",
            "it ends when it starts, and the feed has no default set length"
        ]
    );
    assert!(p.skipped.iter().all(|s| s.reason == SkipReason::NoLength));
    assert!(
        !p.problems()
            .iter()
            .any(|m| m.contains("ends before it starts"))
    );
}

/// Cause 4: a second RRULE adds its occurrences (the union), and the DTSTART stays one.
#[test]
fn cause_4_every_rrule_counts_and_the_start_stays() {
    let feed = cal(
        "BEGIN:VEVENT\r\nUID:r\r\nSUMMARY:Two rules\r\nDTSTART:20261201T200000Z\r\n\
DURATION:PT2H\r\nRRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=2\r\nRRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=2\r\nEND:VEVENT\r\n",
    );
    let p = read(
        &feed,
        &win(ms("2026-11-30T00:00:00Z"), ms("2026-12-31T00:00:00Z")),
    )
    .unwrap();
    assert_eq!(
        starts(&p),
        vec![
            ms("2026-12-01T20:00:00Z"), // the DTSTART (a Tuesday, in neither rule)
            ms("2026-12-04T20:00:00Z"),
            ms("2026-12-05T20:00:00Z"),
            ms("2026-12-11T20:00:00Z"),
            ms("2026-12-12T20:00:00Z"),
        ]
    );
}

/// Cause 5: RDATE as date-times (in a zone) and as periods (with an end, or a length), minus an
/// EXDATE.
#[test]
fn cause_5_rdates_as_date_times_and_periods() {
    let feed = cal("BEGIN:VEVENT\r\nUID:d\r\nSUMMARY:Residency\r\n\
DTSTART;TZID=Europe/Berlin:20261204T220000\r\nDTEND;TZID=Europe/Berlin:20261205T000000\r\n\
RDATE;TZID=Europe/Berlin:20261211T230000,20261218T220000\r\n\
RDATE;VALUE=PERIOD:20261225T200000Z/20261226T020000Z,20261231T210000Z/PT5H\r\n\
EXDATE;TZID=Europe/Berlin:20261218T220000\r\nEND:VEVENT\r\n");
    let p = read(
        &feed,
        &win(ms("2026-12-01T00:00:00Z"), ms("2027-01-31T00:00:00Z")),
    )
    .unwrap();
    let got: Vec<(i64, i64)> = p.instances.iter().map(|i| (i.start_ms, i.end_ms)).collect();
    assert_eq!(
        got,
        vec![
            (ms("2026-12-04T21:00:00Z"), ms("2026-12-04T23:00:00Z")),
            (ms("2026-12-11T22:00:00Z"), ms("2026-12-12T00:00:00Z")),
            (ms("2026-12-25T20:00:00Z"), ms("2026-12-26T02:00:00Z")),
            (ms("2026-12-31T21:00:00Z"), ms("2027-01-01T02:00:00Z")),
        ]
    );
}

/// Cause 6: a UTF-8 byte-order mark before BEGIN:VCALENDAR.
#[test]
fn cause_6_a_byte_order_mark_is_read() {
    let feed = format!(
        "\u{feff}{}",
        cal(
            "BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:BOM\r\nDTSTART:20261201T200000Z\r\nDURATION:PT1H\r\nEND:VEVENT\r\n"
        )
    );
    let p = read(
        &feed,
        &win(ms("2026-11-30T00:00:00Z"), ms("2026-12-31T00:00:00Z")),
    )
    .unwrap();
    assert_eq!(starts(&p), vec![ms("2026-12-01T20:00:00Z")]);
}

/// Cause 7: an override (RECURRENCE-ID) whose recurring event is not in the feed is scheduled on
/// its own and said so; all-day events are reported as not scheduled.
#[test]
fn cause_7_an_override_without_its_master_and_all_day_events_are_reported() {
    let feed = cal(
        "BEGIN:VEVENT\r\nUID:o\r\nSUMMARY:Moved set\r\nRECURRENCE-ID:20261204T200000Z\r\n\
DTSTART:20261205T200000Z\r\nDTEND:20261205T220000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:h\r\nSUMMARY:Festival\r\nDTSTART;VALUE=DATE:20261210\r\nDTEND;VALUE=DATE:20261212\r\nEND:VEVENT\r\n",
    );
    let p = read(
        &feed,
        &win(ms("2026-11-30T00:00:00Z"), ms("2026-12-31T00:00:00Z")),
    )
    .unwrap();
    assert_eq!(starts(&p), vec![ms("2026-12-05T20:00:00Z")]);
    assert_eq!(
        p.instances[0].key,
        format!("o#{}", ms("2026-12-04T20:00:00Z"))
    );
    assert!(
        p.notes.iter().any(|n| n.contains(
            "'Moved set' changes one occurrence of a recurring event that is not in the feed"
        )),
        "{:?}",
        p.notes
    );
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(
        (p.skipped[0].title.as_str(), p.skipped[0].reason),
        ("Festival", SkipReason::AllDay)
    );
}

/// X-WR-TIMEZONE (Google): UTC times of a recurring event repeat in the calendar's zone, so the
/// set stays at 22:00 local across the change to winter time.
#[test]
fn x_wr_timezone_moves_utc_series_into_the_calendars_zone() {
    let feed = "BEGIN:VCALENDAR\r\nX-WR-TIMEZONE:Europe/Berlin\r\nBEGIN:VEVENT\r\nUID:g\r\nSUMMARY:G\r\n\
DTSTART:20261016T200000Z\r\nDTEND:20261016T220000Z\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let p = read(
        feed,
        &win(ms("2026-10-01T00:00:00Z"), ms("2026-11-30T00:00:00Z")),
    )
    .unwrap();
    assert_eq!(
        starts(&p),
        vec![
            ms("2026-10-16T20:00:00Z"),
            ms("2026-10-23T20:00:00Z"),
            ms("2026-10-30T21:00:00Z")
        ]
    );
}

/// A busy rule that ended long ago costs nothing, and a feed of busy rules is cut off with a
/// reason instead of keeping the companion busy.
#[test]
fn rule_work_is_bounded_per_rule_and_per_feed() {
    let ended = cal(
        "BEGIN:VEVENT\r\nUID:m\r\nSUMMARY:Old\r\nDTSTART:20090101T000000Z\r\nDURATION:PT1M\r\n\
RRULE:FREQ=MINUTELY;UNTIL=20100101T000000Z\r\nEND:VEVENT\r\n",
    );
    let w = win(ms("2026-12-01T00:00:00Z"), ms("2027-03-01T00:00:00Z"));
    let p = read(&ended, &w).unwrap();
    assert!(
        p.instances.is_empty() && p.skipped.is_empty(),
        "{:?}",
        p.problems()
    );
    let busy: String = (0..40)
        .map(|i| {
            format!(
                "BEGIN:VEVENT\r\nUID:b{i}\r\nSUMMARY:Busy {i}\r\nDTSTART:19900101T000000Z\r\n\
DURATION:PT1M\r\nRRULE:FREQ=MINUTELY\r\nEND:VEVENT\r\n"
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let p = read(&cal(&busy), &w).unwrap();
    assert!(p.instances.is_empty());
    assert_eq!(p.skipped.len(), 40);
    assert!(
        p.skipped[0].detail.contains("more than 200000 occurrences"),
        "{:?}",
        p.skipped[0]
    );
    assert!(
        p.skipped[39]
            .detail
            .contains("the feed's rules together take more than"),
        "{:?}",
        p.skipped[39]
    );
    eprintln!(
        "40 minutely rules from 1990 read in {:?}",
        started.elapsed()
    );
}

/// Without a UID, a set's identity comes from its title and start, so reordering the feed does
/// not reschedule it.
#[test]
fn events_without_uid_keep_their_identity_when_the_feed_is_reordered() {
    let a =
        "BEGIN:VEVENT\r\nSUMMARY:A\r\nDTSTART:20261201T200000Z\r\nDURATION:PT1H\r\nEND:VEVENT\r\n";
    let b =
        "BEGIN:VEVENT\r\nSUMMARY:B\r\nDTSTART:20261202T200000Z\r\nDURATION:PT1H\r\nEND:VEVENT\r\n";
    let w = win(ms("2026-11-30T00:00:00Z"), ms("2026-12-31T00:00:00Z"));
    let keys = |feed: String| -> Vec<String> {
        read(&feed, &w)
            .unwrap()
            .instances
            .into_iter()
            .map(|i| i.key)
            .collect()
    };
    assert_eq!(keys(cal(&format!("{a}{b}"))), keys(cal(&format!("{b}{a}"))));
    assert_eq!(
        keys(cal(a))[0],
        format!("~A#{}", ms("2026-12-01T20:00:00Z"))
    );
}

/// An EXDATE or override names its occurrence by instant or by wall-clock time, never an instant
/// by a wall-clock time: with 19:00 and 20:00 Berlin sets, the 20:00 EXDATE (19:00 UTC) leaves
/// the 19:00 set alone, and an older copy of an override is not scheduled beside the newer one.
#[test]
fn exclusions_and_overrides_match_their_own_occurrence_only() {
    let feed = cal(
        "BEGIN:VEVENT\r\nUID:h\r\nSUMMARY:Hourly\r\nDTSTART;TZID=Europe/Berlin:20261201T190000\r\n\
DURATION:PT30M\r\nRRULE:FREQ=DAILY;COUNT=2;BYHOUR=19,20\r\nEXDATE;TZID=Europe/Berlin:20261201T200000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:h\r\nSUMMARY:Moved (old)\r\nSEQUENCE:1\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261201T190000\r\n\
DTSTART;TZID=Europe/Berlin:20261201T210000\r\nDURATION:PT30M\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:h\r\nSUMMARY:Moved\r\nSEQUENCE:2\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261201T190000\r\n\
DTSTART;TZID=Europe/Berlin:20261201T220000\r\nDURATION:PT30M\r\nEND:VEVENT\r\n",
    );
    let p = read(
        &feed,
        &win(ms("2026-11-30T00:00:00Z"), ms("2026-12-31T00:00:00Z")),
    )
    .unwrap();
    let got: Vec<(&str, i64)> = p
        .instances
        .iter()
        .map(|i| (i.title.as_str(), i.start_ms))
        .collect();
    assert_eq!(
        got,
        vec![("Moved", ms("2026-12-01T21:00:00Z"))],
        "{:?}",
        p.problems()
    );
    assert!(
        p.skipped
            .iter()
            .any(|s| s.title == "Moved (old)" && s.reason == SkipReason::Duplicate),
        "{:?}",
        p.skipped
    );
}

/// Hostile shapes: an event left open holds the next one (still read), a megabyte TZID is not
/// looked up piece by piece, a huge title is cut, and a rule that never matches is said.
#[test]
fn hostile_shapes_are_read_or_refused_with_a_reason() {
    let long_tz = "a/".repeat(200_000);
    let feed = cal(&format!(
        "BEGIN:VEVENT\r\nUID:o\r\nSUMMARY:Open\r\nDTSTART:20261201T200000Z\r\nDURATION:PT1H\r\n\
BEGIN:VEVENT\r\nUID:n\r\nSUMMARY:{}\r\nDTSTART:20261202T200000Z\r\nDURATION:PT1H\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:z\r\nSUMMARY:Zone\r\nDTSTART;TZID={long_tz}:20261203T200000\r\nDURATION:PT1H\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:f\r\nSUMMARY:Never\r\nDTSTART:20261201T200000Z\r\nDURATION:PT1H\r\n\
RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\nEND:VEVENT\r\n",
        "x".repeat(10_000)
    ));
    let started = std::time::Instant::now();
    let p = read(
        &feed,
        &win(ms("2026-11-30T00:00:00Z"), ms("2026-12-31T00:00:00Z")),
    )
    .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let titles: Vec<usize> = p
        .instances
        .iter()
        .map(|i| i.title.chars().count())
        .collect();
    assert_eq!(titles, vec![4, 200, 4], "{:?}", p.problems());
    assert!(
        p.skipped
            .iter()
            .any(|s| s.title == "Never" && s.detail.contains("never matches")),
        "{:?}",
        p.skipped
    );
}
