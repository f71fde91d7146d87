from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrain.errors import InvalidInput
from retrain.tekton.durations import DEFAULT_TIMEOUT, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("300ms", timedelta(milliseconds=300)),
        ("0", timedelta(0)),
        ("-0", timedelta(0)),
        ("+5m", timedelta(minutes=5)),
        ("-1m30s", -timedelta(minutes=1, seconds=30)),
        ("1h0m0s", timedelta(hours=1)),
        ("2h45m10.5s", timedelta(hours=2, minutes=45, seconds=10.5)),
        ("1.s", timedelta(seconds=1)),
        (".5s", timedelta(milliseconds=500)),
        ("10us", timedelta(microseconds=10)),
        ("10µs", timedelta(microseconds=10)),
        ("10μs", timedelta(microseconds=10)),
        ("1500ns", timedelta(microseconds=2)),  # rounded to timedelta's microsecond resolution
        ("0s", timedelta(0)),
        ("72h", timedelta(days=3)),
    ],
)
def test_parse_duration_accepts_go_syntax(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("-", "sign alone"),
        ("1", "missing unit"),
        ("10", "missing unit"),
        ("1x", "unknown unit 'x'"),
        ("1sec", "unknown unit 'sec'"),
        ("1hm", "unknown unit 'hm'"),
        ("h", "expected a number"),
        (".s", "expected a number"),
        (" 1s", "expected a number"),
        ("1.2.3s", "missing unit"),
        ("1 h", "unknown unit ' h'"),
        ("99999999h", "maximum duration"),
    ],
)
def test_parse_duration_rejects_bad_text(text: str, why: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_duration(text, field="spec.tasks[0].timeout")
    err = info.value
    assert why in err.message
    assert err.location is not None and err.location.field == "spec.tasks[0].timeout"
    assert err.hint is not None and '"1h30m"' in err.hint


def test_parse_duration_without_field_has_no_location() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_duration("soon")
    assert info.value.location is None


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(hours=1), "1h0m0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(microseconds=1), "1µs"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(days=3, seconds=1, microseconds=500000), "72h0m1.5s"),
        (-timedelta(seconds=90), "-1m30s"),
        (-timedelta(milliseconds=2), "-2ms"),
        (timedelta(minutes=59, seconds=59), "59m59s"),
    ],
)
def test_format_duration_matches_go(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


def test_default_timeout_is_one_hour() -> None:
    assert DEFAULT_TIMEOUT.total_seconds() == 3600
    assert format_duration(DEFAULT_TIMEOUT) == "1h0m0s"


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_then_parse_round_trips(micros: int) -> None:
    td = timedelta(microseconds=micros)
    assert parse_duration(format_duration(td)) == td
