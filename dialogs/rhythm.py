"""When check-ins happen and when a message may be sent: pure functions of the time passed in."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from dialogs.records import UnitRecord

DEFAULT_ZONE = "Europe/Oslo"
"""The zone of a rhythm or a send rule when none is configured."""

_DAY_US = 86_400_000_000
"""Microseconds in a wall-clock day (time-of-day arithmetic is done in integers)."""

_SEARCH_DAYS = 3_700
"""How far (about ten years) defer() looks before deciding the rules leave no day to send."""


class Cadence(StrEnum):
    """Which days of the calendar a rhythm picks."""

    WEEKLY = "weekly"
    """The rhythm's weekdays, in every `every_n_weeks`-th week counted from the anchor."""

    FIRST_OF_MONTH = "first_of_month"
    """The first of each of the rhythm's weekdays in every month (e.g. first Tuesday)."""


@dataclass(frozen=True)
class Rhythm:
    """A recurring wall-clock time in a time zone, such as "every second Tuesday at 10:00".

    Attributes:
        weekdays: Days of the week it runs on, 0 = Monday ... 6 = Sunday; stored sorted and
            without duplicates.
        at: Local wall-clock time of day (naive; its zone is `zone`).
        anchor: First day of the rhythm: nothing happens before it, and for every n weeks
            the cycle counts whole weeks from the Monday of the anchor's ISO week.
        zone: IANA time zone name whose wall clock `at` follows.
        every_n_weeks: 1 = every week, 2 = every second week, ... (WEEKLY only).
        cadence: Which days are picked, see `Cadence`.
    """

    weekdays: tuple[int, ...]
    at: time
    anchor: date
    zone: str = DEFAULT_ZONE
    every_n_weeks: int = 1
    cadence: Cadence = Cadence.WEEKLY

    def __post_init__(self) -> None:
        """Validate the fields and normalise `weekdays`.

        Raises:
            ValueError: If a field is out of range or the zone is unknown.
        """
        days = tuple(sorted(set(self.weekdays)))
        if not days or any(not 0 <= d <= 6 for d in days):
            raise ValueError(f"weekdays must be a non-empty set of 0..6, got {self.weekdays!r}")
        # Frozen dataclass: normalising in place is the documented way round __setattr__.
        object.__setattr__(self, "weekdays", days)
        if self.at.tzinfo is not None:
            raise ValueError("at must be a naive wall-clock time; the zone is `zone`")
        if self.every_n_weeks < 1:
            raise ValueError(f"every_n_weeks must be at least 1, got {self.every_n_weeks}")
        if self.cadence is Cadence.FIRST_OF_MONTH and self.every_n_weeks != 1:
            raise ValueError("every_n_weeks applies to the weekly cadence only")
        _zone(self.zone)

    @property
    def tz(self) -> ZoneInfo:
        """The rhythm's time zone."""
        return _zone(self.zone)


@dataclass(frozen=True)
class QuietHours:
    """Local times of day when nobody gets a message; `start` > `end` spans midnight.

    Attributes:
        start: First quiet moment (inclusive).
        end: First moment that is no longer quiet (exclusive). Equal to `start`: never quiet.
    """

    start: time = time(21, 0)
    end: time = time(7, 0)

    def __post_init__(self) -> None:
        """Reject times with a zone: quiet hours follow the recipient's wall clock.

        Raises:
            ValueError: If either time carries a tzinfo.
        """
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are naive local times")

    def contains(self, moment: time) -> bool:
        """Whether the local time of day `moment` is quiet."""
        return any(a <= _us(moment) < b for a, b in _spans(self.start, self.end))


# --- rhythms -------------------------------------------------------------------------------


def occurrences(rhythm: Rhythm, start: datetime, end: datetime) -> list[datetime]:
    """All occurrences of `rhythm` in the half-open range [start, end), ascending, in UTC.

    Each occurrence is `rhythm.at` on the wall clock of `rhythm.zone`, so its UTC instant moves
    with daylight saving time. A time the clock skips (spring forward) is shifted forward by the
    length of the gap (02:30 on 2026-03-29 in Oslo runs at 03:30 CEST): a skipped check-in
    would be a silent week without one, and this is zoneinfo's fold=0 reading, the instant a
    clock that ignored the change would call 02:30. A time the clock shows twice (fall back)
    runs once, at the first of the two (fold=0).

    Args:
        rhythm: The rhythm.
        start: Inclusive lower bound (aware).
        end: Exclusive upper bound (aware).

    Returns:
        Aware UTC datetimes, strictly increasing.

    Raises:
        ValueError: If `start` or `end` is naive.
    """
    start = _utc(start, "start")
    end = _utc(end, "end")
    if end <= start:
        return []
    tz = rhythm.tz
    # One day of slack either side: a DST shift can move an occurrence across a UTC bound.
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    return [o for o in _between(rhythm, first, last) if start <= o < end]


def next_occurrence(rhythm: Rhythm, after: datetime) -> datetime:
    """The first occurrence of `rhythm` strictly after `after`, in UTC (see `occurrences`).

    Args:
        rhythm: The rhythm.
        after: Aware exclusive lower bound.

    Returns:
        An aware UTC datetime.

    Raises:
        ValueError: If `after` is naive.
    """
    after = _utc(after, "after")
    first = max(after.astimezone(rhythm.tz).date() - timedelta(days=1), rhythm.anchor)
    # Every cycle of the rhythm has a matching day within this span, so the loop always ends.
    span = 7 * rhythm.every_n_weeks + 40
    for occurrence in _between(rhythm, first, first + timedelta(days=span)):
        if occurrence > after:
            return occurrence
    raise AssertionError("unreachable: every cycle of a rhythm has an occurrence")


def period_key(rhythm: Rhythm, occurrence: datetime) -> str:
    """A stable id of the period `occurrence` belongs to, for job_run and outbox idempotency.

    The period follows the occurrence's local date in the rhythm's zone (never its UTC date,
    which can fall in the previous week): "2026-W45" (ISO week) for weekly rhythms, "c0042"
    (whole cycles since the anchor's ISO week) for every-n-weeks rhythms, and "2026-M11" for
    first-of-month rhythms. A rhythm with several weekdays has one period per occurrence, so
    the ISO weekday (1 = Monday) is appended: "2026-W45-2". Keys depend on the anchor and
    interval, so a job whose rhythm changes should get a new job name.

    Args:
        rhythm: The rhythm.
        occurrence: An aware instant, normally one returned by `occurrences`.

    Returns:
        The period key.

    Raises:
        ValueError: If `occurrence` is naive.
    """
    _utc(occurrence, "occurrence")
    day = occurrence.astimezone(rhythm.tz).date()
    if rhythm.cadence is Cadence.FIRST_OF_MONTH:
        key = f"{day.year:04d}-M{day.month:02d}"
    elif rhythm.every_n_weeks == 1:
        iso = day.isocalendar()
        key = f"{iso.year:04d}-W{iso.week:02d}"
    else:
        key = f"c{_weeks_since_anchor(rhythm, day) // rhythm.every_n_weeks:04d}"
    if len(rhythm.weekdays) > 1:
        key += f"-{day.isoweekday()}"
    return key


def latest_missed(
    rhythm: Rhythm, last_run: datetime | None, now: datetime, window: timedelta
) -> datetime | None:
    """The one occurrence to catch up on after downtime, if any.

    Only the latest occurrence after `last_run` counts (older ones are stale: three missed
    weekly check-ins become one, not three), and only while `now` is still inside its send
    window, i.e. occurrence <= now < occurrence + window.

    Args:
        rhythm: The rhythm.
        last_run: When the job last ran (or the occurrence that run served); occurrences at or
            before it are done. None if it never ran.
        now: The current instant (aware).
        window: How long after an occurrence it may still be sent (positive).

    Returns:
        The occurrence to run now (aware UTC), or None.

    Raises:
        ValueError: If a datetime is naive or the window is not positive.
    """
    now = _utc(now, "now")
    if window <= timedelta(0):
        raise ValueError(f"window must be positive, got {window}")
    floor = now - window
    if last_run is not None:
        last_run = _utc(last_run, "last_run")
        floor = max(floor, last_run)
    # occurrences() is half-open; the smallest step past `now` makes `now` itself count.
    candidates = [
        o for o in occurrences(rhythm, floor, now + timedelta(microseconds=1)) if o > floor
    ]
    return candidates[-1] if candidates else None


# --- send-time rules -----------------------------------------------------------------------


def norwegian_holidays(years: Iterable[int]) -> frozenset[date]:
    """Norwegian public holidays (offentlige høytidsdager) of `years`.

    By law every Sunday is a helligdag in Norway too, but for sending an ordinary Sunday is a
    weekend day like Saturday (see `defer`'s `weekdays_only`), so ordinary Sundays are not in
    the set. Named holidays that fall on a Sunday (Easter Day, Whit Sunday, 17 May in 2026)
    are in it. Christmas Eve and New Year's Eve are not public holidays and are not included.

    Args:
        years: Calendar years to cover; pass every year a deferral may reach.

    Returns:
        The holiday dates.
    """
    return _holidays(tuple(sorted(set(years))))


@cache
def _holidays(years: tuple[int, ...]) -> frozenset[date]:
    # Cached: building the calendar costs milliseconds, and every send time asks for it.
    calendar = holidays_lib.country_holidays("NO", years=list(years), include_sundays=False)
    return frozenset(calendar.keys())


def defer(
    when: datetime,
    zone: str,
    quiet: QuietHours,
    holidays: Collection[date],
    pauses: Sequence[tuple[date, date]],
    preferred: tuple[time, time] | None = None,
    *,
    weekdays_only: bool = False,
) -> datetime:
    """The earliest moment at or after `when` at which a message may be sent.

    All rules use the wall clock of `zone`: the moment must be outside `quiet` hours, on a day
    that is not in `holidays` nor in any of `pauses`, inside `preferred` if given, and on
    Monday to Friday if `weekdays_only`. Weekends are allowed by default. If `when` itself is
    allowed it is returned unchanged (converted to UTC), so defer() is idempotent. An open
    span that starts in an hour the clock skips opens when the clock jumps (03:00 CEST on
    2026-03-29); one that starts in a repeated hour opens at its first pass after `when`.

    Args:
        when: The wanted moment (aware).
        zone: IANA time zone of the recipient.
        quiet: Quiet hours.
        holidays: Days with no sending, e.g. `norwegian_holidays(...)` covering every year the
            result may fall in.
        pauses: Periods with no sending as (first day, last day), both inclusive, e.g.
            fellesferie.
        preferred: The person's send window (start inclusive, end exclusive, local times; may
            span midnight), e.g. for shift workers; None means any time outside quiet hours.
        weekdays_only: Whether Saturdays and Sundays are excluded.

    Returns:
        An aware UTC datetime >= `when`.

    Raises:
        ValueError: If `when` is naive, a pause ends before it starts, the preferred window is
            empty, or the rules leave no moment to send within about ten years.
    """
    when = _utc(when, "when")
    tz = _zone(zone)
    spans = _send_spans(quiet, preferred)
    if not spans:
        raise ValueError("quiet hours and the preferred window leave no time of day to send")
    for first, last in pauses:
        if last < first:
            raise ValueError(f"pause ends before it starts: {first} .. {last}")
    closed = frozenset(holidays)

    def day_open(day: date) -> bool:
        return (
            day not in closed
            and not (weekdays_only and day.weekday() >= 5)
            and not any(first <= day <= last for first, last in pauses)
        )

    def moment_open(moment: datetime) -> bool:
        local = moment.astimezone(tz)
        tod = _us(local.time())
        return day_open(local.date()) and any(a <= tod < b for a, b in spans)

    if moment_open(when):
        return when
    # The earliest open moment after `when` starts one of the open spans of some open day.
    # Start a day early: in a zone that falls back across midnight the date repeats.
    day = when.astimezone(tz).date() - timedelta(days=1)
    for _ in range(_SEARCH_DAYS):
        if day_open(day):
            for start, _end in spans:
                for moment in _instants_at(day, _time(start), tz):
                    if moment > when and moment_open(moment):
                        return moment
        day += timedelta(days=1)
    raise ValueError(f"no moment to send within {_SEARCH_DAYS} days of {when.isoformat()}")


def parse_window(text: str) -> tuple[time, time]:
    """A send window typed as "15:00-21:00" (or "15-21") as local (start, end).

    Raises:
        ValueError: If the text is not two times joined by a dash, or both are the same.
    """
    start, sep, end = text.strip().replace("–", "-").partition("-")
    if not sep:
        raise ValueError(f"not a time window: {text!r}")
    first, last = _clock(start), _clock(end)
    if first == last:
        raise ValueError(f"an empty time window: {text!r}")
    return first, last


def parse_period(text: str) -> tuple[date, date]:
    """A pause period typed as "2027-07-05..2027-08-01" (or one day) as (first, last).

    Raises:
        ValueError: If a date is not ISO (YYYY-MM-DD) or the period ends before it starts.
    """
    first_text, _, last_text = text.strip().partition("..")
    first = date.fromisoformat(first_text.strip())
    last = date.fromisoformat(last_text.strip()) if last_text.strip() else first
    if last < first:
        raise ValueError(f"the period ends before it starts: {text!r}")
    return first, last


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekly(text: str) -> tuple[int, time] | None:
    """A weekly moment typed as "mon 08:00" (weekday 0-6, local time); "off" gives None.

    Raises:
        ValueError: If the day is not mon..sun or the time is not HH:MM.
    """
    if text.strip().lower() == "off":
        return None
    day, _, moment = text.strip().lower().partition(" ")
    if day[:3] not in WEEKDAYS:
        raise ValueError(f"not a weekday (mon..sun): {day!r}")
    return WEEKDAYS.index(day[:3]), _clock(moment)


def _clock(text: str) -> time:
    text = text.strip().replace(".", ":")
    return time(int(text)) if text.isdigit() else time.fromisoformat(text)


# --- helpers -------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {moment!r}")
    # Compare in UTC only: PEP 495 makes a datetime in a repeated hour (fold) compare unequal
    # to every datetime of another zone, even to the same instant.
    return moment.astimezone(UTC)


def _weeks_since_anchor(rhythm: Rhythm, day: date) -> int:
    # Whole weeks between ISO Mondays, not ISO week numbers: those restart after week 52 or
    # 53, which is why cron's week='*/2' runs two weeks in a row at the turn of 2026/2027.
    anchor_monday = rhythm.anchor - timedelta(days=rhythm.anchor.weekday())
    monday = day - timedelta(days=day.weekday())
    return (monday - anchor_monday).days // 7


def _picks(rhythm: Rhythm, day: date) -> bool:
    if day < rhythm.anchor or day.weekday() not in rhythm.weekdays:
        return False
    if rhythm.cadence is Cadence.FIRST_OF_MONTH:
        return day.day <= 7
    return _weeks_since_anchor(rhythm, day) % rhythm.every_n_weeks == 0


def _between(rhythm: Rhythm, first: date, last: date) -> Iterator[datetime]:
    """Occurrences on local days first..last (inclusive), ascending, in UTC."""
    tz = rhythm.tz
    day = max(first, rhythm.anchor)
    while day <= last:
        if _picks(rhythm, day):
            # fold=0: the first of a repeated time; a skipped time moves on by the gap.
            yield datetime.combine(day, rhythm.at, tzinfo=tz).astimezone(UTC)
        day += timedelta(days=1)


def _us(moment: time) -> int:
    seconds = (moment.hour * 60 + moment.minute) * 60 + moment.second
    return seconds * 1_000_000 + moment.microsecond


def _time(us: int) -> time:
    seconds, micro = divmod(us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micro)


def _spans(start: time, end: time) -> list[tuple[int, int]]:
    """Time-of-day intervals [a, b) in microseconds covered from `start` to `end`."""
    a, b = _us(start), _us(end)
    if a < b:
        return [(a, b)]
    if a > b:
        return [(lo, hi) for lo, hi in ((0, b), (a, _DAY_US)) if lo < hi]
    return []


def _send_spans(quiet: QuietHours, preferred: tuple[time, time] | None) -> list[tuple[int, int]]:
    """Open time-of-day intervals: outside quiet hours and inside the preferred window."""
    open_spans: list[tuple[int, int]] = []
    cursor = 0
    for a, b in _spans(quiet.start, quiet.end):
        if cursor < a:
            open_spans.append((cursor, a))
        cursor = b
    if cursor < _DAY_US:
        open_spans.append((cursor, _DAY_US))
    if preferred is None:
        return open_spans
    start, end = preferred
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError("the preferred window is naive local times")
    wanted = _spans(start, end)
    if not wanted:
        raise ValueError(f"the preferred window {start}..{end} is empty")
    both = [
        (max(a, c), min(b, d)) for a, b in open_spans for c, d in wanted if max(a, c) < min(b, d)
    ]
    return sorted(both)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _instants_at(day: date, moment: time, tz: ZoneInfo) -> list[datetime]:
    """UTC instants whose wall clock in `tz` shows `moment` on `day`, ascending.

    Two for a repeated time, one normally; for a skipped time the first instant after the gap,
    which is the earliest moment whose wall clock is at or past `moment`.
    """
    naive = datetime.combine(day, moment)
    by_fold = [naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    found = sorted({instant for instant in by_fold if _wall(instant, tz) == naive})
    if found:
        return found
    # In a gap the two folds bracket the transition: bisect to the first instant at or past.
    lo, hi = sorted(by_fold)
    step = timedelta(microseconds=1)
    while hi - lo > step:
        mid = lo + (hi - lo) // 2
        if _wall(mid, tz) >= naive:
            hi = mid
        else:
            lo = mid
    return [hi]


def rhythm_of(unit: UnitRecord, default_zone: str = DEFAULT_ZONE) -> Rhythm | None:
    """A unit's check-in rhythm from its organisation-file form, or None.

    The form is `{weekdays: [1], at: "10:00", anchor: 2026-01-06, every_n_weeks: 2}`
    (weekdays 0 = Monday); the zone is the unit's own, else the deployment's.

    Raises:
        ValueError: If the form cannot make a valid Rhythm.
    """
    form = unit.checkin
    if not form:
        return None
    weekdays = form.get("weekdays", [0])
    if not isinstance(weekdays, list | tuple):
        raise ValueError("weekdays must be a list such as [1] (0 = Monday)")
    return Rhythm(
        weekdays=tuple(int(day) for day in weekdays),
        at=time.fromisoformat(str(form.get("at", "10:00"))),
        anchor=date.fromisoformat(str(form.get("anchor", "2026-01-05"))),
        zone=unit.timezone or default_zone,
        every_n_weeks=int(str(form.get("every_n_weeks", 1))),
    )
