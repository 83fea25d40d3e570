#!/usr/bin/env python3
"""What a mature iCalendar implementation schedules: the oracle of the calendar corpus test.

    calendar-oracle.py WINDOWS_JSON FILE...

WINDOWS_JSON is a list of [from_ms, to_ms] pairs, or "auto": the 91-day window the companion
keeps (one day back, 90 ahead) starting a day before each calendar's first DTSTART, and the same
window starting 2026-11-30. For each FILE and window it prints one JSON line:

    {"file", "from", "to", "error"?, "occurrences": [{"uid", "start", "end", "allDay"}]}

computed by `recurring_ical_events.of(calendar).between(from, to)` (pinned versions installed by
scripts/deps.sh). Times are Unix ms; floating times are read in the process's local zone (the test
runs both sides with TZ=UTC). All-day occurrences carry allDay and their dates as UTC midnight.
"""
import datetime
import json
import sys

import icalendar
import recurring_ical_events

UTC = datetime.timezone.utc
NOW_WINDOW = int(datetime.datetime(2026, 11, 30, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000


def ms(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.astimezone()  # floating: local time
        return int(value.timestamp() * 1000)
    return int(datetime.datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)


def first_start(calendar):
    starts = []
    for event in calendar.walk("VEVENT"):
        try:
            starts.append(ms(event["DTSTART"].dt))
        except Exception:  # noqa: BLE001 - no or several DTSTARTs: not a window anchor
            pass
    return min(starts) if starts else None


def windows_for(calendar, spec):
    if spec != "auto":
        return [tuple(w) for w in spec]
    found = [(NOW_WINDOW - DAY, NOW_WINDOW + 90 * DAY)]
    first = first_start(calendar)
    if first is not None:
        found.insert(0, (first - DAY, first + 90 * DAY))
    return found


def main():
    spec = sys.argv[1]
    spec = spec if spec == "auto" else json.loads(spec)
    for path in sys.argv[2:]:
        # python-icalendar caches VTIMEZONEs process-wide; each feed is read on its own.
        icalendar.use_zoneinfo()
        try:
            with open(path, "rb") as f:
                calendar = icalendar.Calendar.from_ical(f.read())
        except Exception as e:  # noqa: BLE001 - a calendar the oracle cannot read is reported
            print(json.dumps({"file": path, "error": f"{type(e).__name__}: {e}", "occurrences": []}))
            continue
        for lo, hi in windows_for(calendar, spec):
            line = {"file": path, "from": lo, "to": hi, "occurrences": []}
            try:
                span = (
                    datetime.datetime.fromtimestamp(lo / 1000, UTC),
                    datetime.datetime.fromtimestamp(hi / 1000, UTC),
                )
                for event in recurring_ical_events.of(calendar).between(*span):
                    start, end = event["DTSTART"].dt, event.get("DTEND")
                    end = end.dt if end is not None else start
                    all_day = not isinstance(start, datetime.datetime)
                    line["occurrences"].append(
                        {
                            "uid": str(event.get("UID", "")),
                            "start": ms(start),
                            "end": ms(end),
                            "allDay": all_day,
                        }
                    )
            except Exception as e:  # noqa: BLE001
                line["error"] = f"{type(e).__name__}: {e}"
            print(json.dumps(line))


if __name__ == "__main__":
    main()
