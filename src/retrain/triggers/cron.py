"""Cron expressions with a time zone: parse once, then ask for fire times.

Five fields (minute hour day-of-month month day-of-week, names such as `SUN` or `jan` allowed, `7` is
Sunday too) or one of the macros Kubernetes CronJobs accept (`@yearly`/`@annually`, `@monthly`,
`@weekly`, `@daily`/`@midnight`, `@hourly`). Six-field (seconds) expressions and `TZ=`/`CRON_TZ=`
prefixes are refused: a cluster's CronJob would not run them, and the time zone has its own field.

The arithmetic is cronsim's (the evaluator of Healthchecks.io), in the schedule's zone, which handles
daylight saving time the way Debian's cron does:
- a time that does not exist (02:30 on the spring-forward night in Europe/Berlin) fires at the first
  moment after the gap (03:00), once;
- a time that happens twice (02:30 on the fall-back night) fires once, at its first occurrence; a
  schedule with a wildcard hour (`0 * * * *`) fires at both 02:00s, as its hours really pass twice.
croniter (the other well-known library) fires fixed times twice on the fall-back night, which would train
a model twice, so it was not chosen.

All times given and returned are timezone-aware; results are in UTC.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from retrain.errors import InvalidInput, Location

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")


@dataclass(frozen=True)
class CronSchedule:
    expression: str  # as written
    time_zone: str = "UTC"
    fields: str = field(default="", compare=False)  # the 5 fields (a macro expanded)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment`, in UTC."""
        local = _aware(moment).astimezone(self.zone)
        return next(CronSim(self.fields, local)).astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last fire time at or before `moment`, in UTC."""
        local = (_aware(moment) + timedelta(microseconds=1)).astimezone(self.zone)
        return next(CronSim(self.fields, local, reverse=True)).astimezone(UTC)

    def fires_between(self, after: datetime, until: datetime, *, limit: int = 100) -> list[datetime]:
        """Fire times in (after, until], oldest first, at most `limit` of them (the latest ones)."""
        if until <= after:
            return []
        latest = self.latest_at_or_before(until)
        if latest <= after:
            return []
        found = [latest]
        local = latest.astimezone(self.zone)
        for moment in CronSim(self.fields, local, reverse=True):
            if moment.astimezone(UTC) <= after or len(found) >= limit:
                break
            found.append(moment.astimezone(UTC))
        return sorted(found)

    def describe(self) -> str:
        return f"{self.expression} ({self.time_zone})"


def parse_cron(expression: str, time_zone: str = "UTC", *, field_path: str = "cron") -> CronSchedule:
    """A checked schedule; InvalidInput names the field, the problem and a fix."""
    text = " ".join(expression.split())
    where = Location(field=field_path)
    if not text:
        raise InvalidInput("the cron expression is empty", location=where, hint='for example "0 2 * * 0"')
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        raise InvalidInput(
            f"cron expression {expression!r} sets a time zone inline",
            location=where,
            hint="remove the TZ= prefix and give the zone in the schedule's time_zone field",
        )
    if text.startswith("@"):
        macro = text.lower()
        if macro not in MACROS:
            close = difflib.get_close_matches(macro, list(MACROS), n=1)
            raise InvalidInput(
                f"unknown cron macro {text!r}",
                location=where,
                hint=f'did you mean "{close[0]}"?' if close else "use one of " + ", ".join(MACROS),
            )
        fields = MACROS[macro]
    else:
        parts = text.split(" ")
        if len(parts) != 5:
            raise InvalidInput(
                f"cron expression {expression!r} has {len(parts)} fields; it needs 5 ({' '.join(FIELDS)})",
                location=where,
                hint='for example "0 2 * * 0" (Sundays at 02:00) or a macro such as @weekly',
            )
        fields = text
    try:
        CronSim(fields.upper(), datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as err:
        raise InvalidInput(
            f"cron expression {expression!r}: {str(err).lower()}",
            location=where,
            hint="fields: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, "
            "day-of-week 0-7 or SUN-SAT",
        ) from None
    zone_name = time_zone.strip() or "UTC"
    check_time_zone(
        zone_name,
        field_path=field_path.rsplit(".", 1)[0] + ".time_zone" if "." in field_path else "time_zone",
    )
    return CronSchedule(expression, zone_name, fields.upper())


def check_time_zone(name: str, *, field_path: str = "time_zone") -> ZoneInfo:
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
        raise InvalidInput(
            f"unknown time zone {name!r}",
            location=Location(field=field_path),
            hint=f'did you mean "{close[0]}"?' if close else "use an IANA name such as UTC or Europe/Berlin",
        ) from None


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("cron arithmetic needs timezone-aware datetimes")
    return moment
