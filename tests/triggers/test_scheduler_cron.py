"""Cron expressions: parsing, macros, errors that say how to fix them, time zones and daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from retrain.errors import InvalidInput
from retrain.triggers.cron import parse_cron

BERLIN = ZoneInfo("Europe/Berlin")


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _fires(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    schedule = parse_cron(expression, zone)
    out, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        out.append(moment)
    return out


def test_the_platforms_weekly_jobs() -> None:
    # 2026-01-01 is a Thursday: the next Sundays are the 4th, 11th and 18th.
    assert _fires("0 2 * * 0", "UTC", _utc(2026, 1, 1), 3) == [
        _utc(2026, 1, 4, 2),
        _utc(2026, 1, 11, 2),
        _utc(2026, 1, 18, 2),
    ]
    assert _fires("0 3 * * SUN", "UTC", _utc(2026, 1, 4, 3), 1) == [_utc(2026, 1, 11, 3)]  # strictly after
    assert _fires("0 2 * * 7", "UTC", _utc(2026, 1, 1), 1) == [_utc(2026, 1, 4, 2)]  # 7 is Sunday too


@pytest.mark.parametrize(
    ("macro", "first"),
    [
        ("@weekly", _utc(2026, 1, 4)),
        ("@daily", _utc(2026, 1, 2)),
        ("@midnight", _utc(2026, 1, 2)),
        ("@hourly", _utc(2026, 1, 1, 1)),
        ("@monthly", _utc(2026, 2, 1)),
        ("@yearly", _utc(2027, 1, 1)),
        ("@annually", _utc(2027, 1, 1)),
        ("@WEEKLY", _utc(2026, 1, 4)),
    ],
)
def test_macros(macro: str, first: datetime) -> None:
    assert parse_cron(macro).next_after(_utc(2026, 1, 1)) == first


def test_ranges_steps_and_names() -> None:
    fires = _fires("*/30 9-10 * * mon-fri", "UTC", _utc(2026, 1, 2, 10, 15), 3)  # a Friday
    assert fires == [_utc(2026, 1, 2, 10, 30), _utc(2026, 1, 5, 9), _utc(2026, 1, 5, 9, 30)]
    assert _fires("0 0 1 jan,jul *", "UTC", _utc(2026, 1, 1), 1) == [_utc(2026, 7, 1)]


@pytest.mark.parametrize(
    ("expression", "zone", "message", "hint"),
    [
        ("0 2 * *", "UTC", "has 4 fields; it needs 5", "0 2 * * 0"),
        ("0 0 2 * * 0", "UTC", "has 6 fields", "@weekly"),
        ("61 * * * *", "UTC", "bad minute", "minute 0-59"),
        ("0 2 * * 8", "UTC", "bad day-of-week", "SUN-SAT"),
        ("0 0 31 2 *", "UTC", "bad day-of-month", "day-of-month 1-31"),
        ("@weekley", "UTC", "unknown cron macro", 'did you mean "@weekly"?'),
        ("TZ=Europe/Berlin 0 2 * * 0", "UTC", "sets a time zone inline", "time_zone field"),
        ("", "UTC", "empty", "0 2 * * 0"),
        ("0 2 * * 0", "Europe/Berln", "unknown time zone 'Europe/Berln'", 'did you mean "Europe/Berlin"?'),
        ("0 2 * * 0", "Mars/Olympus", "unknown time zone", "IANA name"),
    ],
)
def test_mistakes_are_explained(expression: str, zone: str, message: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_cron(expression, zone, field_path="schedules[0].cron")
    assert message in err.value.message
    assert hint in (err.value.hint or "")
    assert err.value.location is not None
    assert err.value.location.field in ("schedules[0].cron", "schedules[0].time_zone")


def test_a_schedule_follows_its_time_zone_in_winter_and_summer() -> None:
    # 02:00 in Berlin is 01:00 UTC in winter (CET) and 00:00 UTC in summer (CEST).
    fires = _fires("0 2 * * 0", "Europe/Berlin", _utc(2026, 3, 20), 3)
    assert [f.astimezone(BERLIN).hour for f in fires] == [2, 3, 2]  # 29 March: 02:00 does not exist
    assert fires == [_utc(2026, 3, 22, 1), _utc(2026, 3, 29, 1), _utc(2026, 4, 5, 0)]


def test_spring_forward_fires_a_missing_time_once_right_after_the_gap() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    fires = _fires("30 2 * * *", "Europe/Berlin", _utc(2026, 3, 27, 12), 3)
    assert [f.astimezone(BERLIN).strftime("%d %H:%M %Z") for f in fires] == [
        "28 02:30 CET", "29 03:00 CEST", "30 02:30 CEST",
    ]  # fmt: skip


def test_fall_back_fires_a_repeated_time_once() -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice, the job runs once.
    fires = _fires("30 2 * * *", "Europe/Berlin", _utc(2026, 10, 24, 12), 3)
    assert [f.astimezone(BERLIN).strftime("%d %H:%M %Z") for f in fires] == [
        "25 02:30 CEST", "26 02:30 CET", "27 02:30 CET",
    ]  # fmt: skip
    # An hourly job's hours really pass twice: it runs at both 02:00s.
    hourly = _fires("0 * * * *", "Europe/Berlin", _utc(2026, 10, 24, 22, 30), 4)
    assert [f.astimezone(BERLIN).strftime("%H:%M %Z") for f in hourly] == [
        "01:00 CEST", "02:00 CEST", "02:00 CET", "03:00 CET",
    ]  # fmt: skip


def test_latest_and_between() -> None:
    schedule = parse_cron("0 2 * * 0")
    assert schedule.latest_at_or_before(_utc(2026, 1, 4, 2)) == _utc(2026, 1, 4, 2)  # inclusive
    assert schedule.latest_at_or_before(_utc(2026, 1, 4, 1, 59)) == _utc(2025, 12, 28, 2)
    assert schedule.fires_between(_utc(2026, 1, 4, 2), _utc(2026, 1, 25, 2)) == [
        _utc(2026, 1, 11, 2), _utc(2026, 1, 18, 2), _utc(2026, 1, 25, 2),
    ]  # fmt: skip
    assert schedule.fires_between(_utc(2026, 1, 5), _utc(2026, 1, 6)) == []
    every_minute = parse_cron("* * * * *")
    found = every_minute.fires_between(_utc(2026, 1, 1), _utc(2026, 1, 2), limit=100)
    assert len(found) == 100 and found[-1] == _utc(2026, 1, 2)  # the latest ones, oldest first
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_after(datetime(2026, 1, 1))
