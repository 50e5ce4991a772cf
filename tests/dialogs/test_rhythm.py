import calendar
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dialogs.rhythm import (
    Cadence,
    QuietHours,
    Rhythm,
    defer,
    latest_missed,
    next_occurrence,
    norwegian_holidays,
    occurrences,
    period_key,
)

OSLO = ZoneInfo("Europe/Oslo")
MON, TUE, WED, THU, FRI, SAT, SUN = (
    calendar.MONDAY,
    calendar.TUESDAY,
    calendar.WEDNESDAY,
    calendar.THURSDAY,
    calendar.FRIDAY,
    calendar.SATURDAY,
    calendar.SUNDAY,
)
QUIET = QuietHours()  # 21:00-07:00
HOLIDAYS = norwegian_holidays(range(2025, 2030))
NO_PAUSES: list[tuple[date, date]] = []


def oslo(y: int, mo: int, d: int, h: int = 0, mi: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=OSLO, fold=fold)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def local(moment: datetime) -> datetime:
    return moment.astimezone(OSLO)


def hm(moment: datetime) -> tuple[int, int]:
    at = local(moment)
    return at.hour, at.minute


def tuesdays_at_ten() -> Rhythm:
    return Rhythm(weekdays=(TUE,), at=time(10, 0), anchor=date(2026, 1, 6))


# --- Rhythm validation ---------------------------------------------------------------------


def test_weekdays_are_normalised_sorted_and_unique():
    r = Rhythm(weekdays=(THU, MON, THU), at=time(9), anchor=date(2026, 1, 1))
    assert r.weekdays == (MON, THU)


@pytest.mark.parametrize(
    "kw",
    [
        {"weekdays": ()},
        {"weekdays": (7,)},
        {"weekdays": (-1,)},
        {"every_n_weeks": 0},
        {"zone": "Europe/Nowhere"},
        {"at": time(10, tzinfo=UTC)},
        {"cadence": Cadence.FIRST_OF_MONTH, "every_n_weeks": 2},
    ],
)
def test_rhythm_rejects_bad_fields(kw):
    fields = {"weekdays": (TUE,), "at": time(10), "anchor": date(2026, 1, 1)} | kw
    with pytest.raises(ValueError):
        Rhythm(**fields)


def test_naive_datetimes_are_rejected():
    r = tuesdays_at_ten()
    with pytest.raises(ValueError):
        occurrences(r, datetime(2026, 1, 1), utc(2026, 2, 1))
    with pytest.raises(ValueError):
        next_occurrence(r, datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        latest_missed(r, None, datetime(2026, 1, 1), timedelta(hours=1))
    with pytest.raises(ValueError):
        defer(datetime(2026, 1, 1), "Europe/Oslo", QUIET, HOLIDAYS, NO_PAUSES)


# --- wall-clock times across DST -----------------------------------------------------------


def test_tuesdays_ten_oclock_across_spring_forward():
    got = occurrences(tuesdays_at_ten(), utc(2026, 3, 20), utc(2026, 4, 4))
    assert got == [utc(2026, 3, 24, 9), utc(2026, 3, 31, 8)]
    assert [hm(o) for o in got] == [(10, 0), (10, 0)]
    assert all(o.tzinfo is UTC for o in got)


def test_tuesdays_ten_oclock_across_fall_back():
    got = occurrences(tuesdays_at_ten(), utc(2026, 10, 16), utc(2026, 10, 31))
    assert got == [utc(2026, 10, 20, 8), utc(2026, 10, 27, 9)]
    assert [hm(o) for o in got] == [(10, 0), (10, 0)]


def test_skipped_time_on_spring_forward_runs_once_shifted_forward():
    r = Rhythm(weekdays=(SUN,), at=time(2, 30), anchor=date(2026, 1, 1))
    got = occurrences(r, utc(2026, 3, 27), utc(2026, 3, 31))
    # 02:30 does not exist on 2026-03-29 in Oslo: it runs at 03:30 CEST = 01:30 UTC.
    assert got == [utc(2026, 3, 29, 1, 30)]
    assert hm(got[0]) == (3, 30)
    # The week before and after it is back at 02:30 local.
    around = occurrences(r, utc(2026, 3, 20), utc(2026, 4, 6))
    assert around == [utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 30)]
    assert [hm(o) for o in around] == [(2, 30), (3, 30), (2, 30)]


def test_repeated_time_on_fall_back_runs_once_at_the_first():
    r = Rhythm(weekdays=(SUN,), at=time(2, 30), anchor=date(2026, 1, 1))
    got = occurrences(r, utc(2026, 10, 23), utc(2026, 10, 27))
    # 02:30 happens twice on 2026-10-25: CEST (00:30 UTC) and then CET (01:30 UTC).
    assert got == [utc(2026, 10, 25, 0, 30)]
    # (Compared in UTC: PEP 495 makes a fold-ambiguous datetime unequal to other zones'.)
    assert got[0] == oslo(2026, 10, 25, 2, 30, fold=0).astimezone(UTC)
    assert got[0] != oslo(2026, 10, 25, 2, 30, fold=1).astimezone(UTC)
    # Asking from between the two 02:30s does not produce the second one.
    assert next_occurrence(r, utc(2026, 10, 25, 1)) == utc(2026, 11, 1, 1, 30)


def test_occurrence_range_is_half_open():
    r = tuesdays_at_ten()
    assert occurrences(r, utc(2026, 3, 24, 9), utc(2026, 3, 31, 8)) == [utc(2026, 3, 24, 9)]
    assert occurrences(r, utc(2026, 3, 24, 9), utc(2026, 3, 24, 9)) == []


def test_next_occurrence_is_strictly_after():
    r = tuesdays_at_ten()
    assert next_occurrence(r, utc(2026, 3, 24, 9)) == utc(2026, 3, 31, 8)
    assert next_occurrence(r, utc(2026, 3, 24, 8, 59)) == utc(2026, 3, 24, 9)


def test_nothing_happens_before_the_anchor():
    r = Rhythm(weekdays=(TUE,), at=time(10), anchor=date(2026, 3, 25))  # a Wednesday
    assert occurrences(r, utc(2026, 3, 1), utc(2026, 3, 31)) == []
    assert next_occurrence(r, utc(2020, 1, 1)) == utc(2026, 3, 31, 8)


def test_several_weekdays():
    r = Rhythm(weekdays=(MON, THU), at=time(8, 15), anchor=date(2026, 1, 1))
    got = occurrences(r, utc(2026, 11, 9), utc(2026, 11, 16))
    assert [local(o).date() for o in got] == [date(2026, 11, 9), date(2026, 11, 12)]
    assert {hm(o) for o in got} == {(8, 15)}


# --- every second week ---------------------------------------------------------------------


def test_every_second_week_keeps_fourteen_days_across_iso_week_53():
    assert date(2026, 12, 31).isocalendar().week == 53  # 2026 has 53 ISO weeks
    r = Rhythm(weekdays=(TUE,), at=time(10), anchor=date(2026, 12, 15), every_n_weeks=2)
    got = occurrences(r, utc(2026, 12, 1), utc(2027, 2, 1))
    assert [local(o).date() for o in got] == [
        date(2026, 12, 15),  # W51
        date(2026, 12, 29),  # W53
        date(2027, 1, 12),  # W02 (cron's week='*/2' would also fire in W01, 7 days later)
        date(2027, 1, 26),  # W04
    ]
    assert all(b - a == timedelta(days=14) for a, b in pairwise(got))
    assert {hm(o) for o in got} == {(10, 0)}
    assert [period_key(r, o) for o in got] == ["c0000", "c0001", "c0002", "c0003"]


def test_every_second_week_counts_from_the_anchor_week_monday():
    # Anchor on a Friday: the cycle starts that ISO week; its Tuesday is before the anchor.
    r = Rhythm(weekdays=(TUE,), at=time(10), anchor=date(2026, 1, 9), every_n_weeks=2)
    got = occurrences(r, utc(2026, 1, 1), utc(2026, 2, 15))
    assert [local(o).date() for o in got] == [date(2026, 1, 20), date(2026, 2, 3)]
    assert [period_key(r, o) for o in got] == ["c0001", "c0002"]


def test_first_weekday_of_the_month():
    r = Rhythm(
        weekdays=(TUE,), at=time(9), anchor=date(2026, 1, 1), cadence=Cadence.FIRST_OF_MONTH
    )
    got = occurrences(r, utc(2026, 9, 1), utc(2027, 1, 31))
    assert [local(o).date() for o in got] == [
        date(2026, 9, 1),
        date(2026, 10, 6),
        date(2026, 11, 3),
        date(2026, 12, 1),
        date(2027, 1, 5),
    ]
    assert {hm(o) for o in got} == {(9, 0)}
    assert period_key(r, got[2]) == "2026-M11"


# --- period keys ---------------------------------------------------------------------------


def test_weekly_period_key_is_the_iso_week_of_the_local_date():
    r = tuesdays_at_ten()
    assert period_key(r, next_occurrence(r, utc(2026, 11, 1))) == "2026-W45"
    # 2027-01-01 belongs to ISO week 2026-W53.
    friday = Rhythm(weekdays=(FRI,), at=time(10), anchor=date(2026, 1, 1))
    assert period_key(friday, next_occurrence(friday, utc(2026, 12, 30))) == "2026-W53"


def test_period_key_uses_the_local_not_the_utc_date():
    # Monday 00:30 in Oslo is still Sunday in UTC, i.e. the previous ISO week.
    r = Rhythm(weekdays=(MON,), at=time(0, 30), anchor=date(2026, 1, 1))
    occurrence = next_occurrence(r, utc(2026, 11, 1))
    assert occurrence == utc(2026, 11, 1, 23, 30)
    assert period_key(r, occurrence) == "2026-W45"


def test_several_weekdays_get_one_period_each():
    r = Rhythm(weekdays=(MON, THU), at=time(8), anchor=date(2026, 1, 1))
    got = occurrences(r, utc(2026, 11, 2), utc(2026, 11, 9))
    assert [period_key(r, o) for o in got] == ["2026-W45-1", "2026-W45-4"]


def test_a_late_run_keeps_its_occurrences_period_key():
    r = tuesdays_at_ten()
    occurrence = utc(2026, 11, 3, 9)
    assert period_key(r, occurrence) == period_key(r, occurrence.astimezone(OSLO))


# --- catch-up after downtime ---------------------------------------------------------------


def test_three_week_outage_yields_exactly_one_catch_up_inside_the_window():
    r = tuesdays_at_ten()
    last_run = utc(2026, 3, 3, 9)  # Tuesday 3 March 10:00 Oslo, then down for three weeks
    now = oslo(2026, 3, 24, 11)  # one hour after the 24 March occurrence
    window = timedelta(hours=12)
    missed = occurrences(r, last_run + timedelta(microseconds=1), now)
    assert len(missed) == 3
    assert latest_missed(r, last_run, now, window) == utc(2026, 3, 24, 9)
    # Once that run is recorded nothing more is due.
    assert latest_missed(r, utc(2026, 3, 24, 9), now, window) is None


def test_no_catch_up_once_the_window_has_passed():
    r = tuesdays_at_ten()
    last_run = utc(2026, 3, 3, 9)
    window = timedelta(hours=12)
    assert latest_missed(r, last_run, oslo(2026, 3, 24, 21, 59), window) == utc(2026, 3, 24, 9)
    assert latest_missed(r, last_run, oslo(2026, 3, 24, 22), window) is None
    assert latest_missed(r, last_run, oslo(2026, 3, 26, 12), window) is None
    # Before the latest occurrence, the previous one is out of its window too.
    assert latest_missed(r, last_run, oslo(2026, 3, 23, 12), window) is None


def test_catch_up_at_exactly_the_occurrence_and_when_never_run():
    r = tuesdays_at_ten()
    window = timedelta(days=2)
    assert latest_missed(r, None, utc(2026, 3, 24, 9), window) == utc(2026, 3, 24, 9)
    assert latest_missed(r, None, utc(2026, 3, 25, 12), window) == utc(2026, 3, 24, 9)
    assert latest_missed(r, None, utc(2026, 3, 27, 12), window) is None


def test_catch_up_window_must_be_positive():
    with pytest.raises(ValueError):
        latest_missed(tuesdays_at_ten(), None, utc(2026, 3, 24), timedelta(0))


# --- quiet hours ---------------------------------------------------------------------------


def test_quiet_hours_span_midnight():
    assert QUIET.contains(time(21, 0))
    assert QUIET.contains(time(23, 59))
    assert QUIET.contains(time(0, 0))
    assert QUIET.contains(time(6, 59, 59))
    assert not QUIET.contains(time(7, 0))
    assert not QUIET.contains(time(20, 59, 59))
    assert QuietHours(time(1), time(5)).contains(time(3))
    assert not QuietHours(time(1), time(5)).contains(time(6))
    assert not QuietHours(time(8), time(8)).contains(time(8))


def send(
    when: datetime, preferred: tuple[time, time] | None = None, weekdays_only: bool = False
) -> datetime:
    return defer(
        when, "Europe/Oslo", QUIET, HOLIDAYS, NO_PAUSES, preferred, weekdays_only=weekdays_only
    )


def test_defer_outside_quiet_hours_is_unchanged():
    when = oslo(2026, 11, 10, 12, 34)
    assert send(when) == when
    assert send(when).tzinfo is UTC
    assert send(oslo(2026, 11, 10, 7)) == oslo(2026, 11, 10, 7)
    assert send(oslo(2026, 11, 10, 20, 59)) == oslo(2026, 11, 10, 20, 59)


def test_defer_late_evening_moves_to_next_morning():
    got = send(oslo(2026, 11, 10, 22, 30))
    assert local(got).date() == date(2026, 11, 11)
    assert hm(got) == (7, 0)
    assert send(oslo(2026, 11, 10, 21)) == oslo(2026, 11, 11, 7)


def test_defer_early_morning_moves_to_seven_the_same_day():
    assert send(oslo(2026, 11, 11, 0, 5)) == oslo(2026, 11, 11, 7)
    assert send(oslo(2026, 11, 11, 6, 59)) == oslo(2026, 11, 11, 7)


def test_defer_returns_exact_utc_in_winter_and_summer():
    assert send(oslo(2026, 1, 13, 23)) == utc(2026, 1, 14, 6)
    assert send(oslo(2026, 6, 9, 23)) == utc(2026, 6, 10, 5)


def test_defer_across_the_dst_nights():
    assert send(oslo(2026, 3, 28, 22)) == utc(2026, 3, 29, 5)  # 07:00 CEST
    assert send(oslo(2026, 10, 24, 22)) == utc(2026, 10, 25, 6)  # 07:00 CET


# --- holidays ------------------------------------------------------------------------------


def test_norwegian_holidays_2026():
    h = norwegian_holidays([2026])
    assert {date(2026, 5, 14), date(2026, 5, 17), date(2026, 12, 25), date(2026, 12, 26)} <= h
    assert date(2026, 5, 25) in h  # 2. pinsedag
    assert date(2026, 4, 5) in h  # 1. påskedag, a Sunday
    # Ordinary Sundays and Christmas Eve are not holidays for sending.
    assert date(2026, 5, 10) not in h
    assert date(2026, 12, 24) not in h
    assert all(d.year == 2026 for d in h)
    assert norwegian_holidays([2026, 2027]) >= h | {date(2027, 5, 17)}


def test_ascension_day_2026_is_deferred_to_friday():
    got = send(oslo(2026, 5, 14, 10))
    assert local(got).date() == date(2026, 5, 15)
    assert hm(got) == (7, 0)
    assert send(oslo(2026, 5, 13, 21, 30)) == oslo(2026, 5, 15, 7)


def test_17_mai_on_a_sunday_is_a_holiday_though_ordinary_sundays_are_not():
    assert send(oslo(2026, 5, 10, 10)) == oslo(2026, 5, 10, 10)  # ordinary Sunday: allowed
    assert send(oslo(2026, 5, 16, 22)) == oslo(2026, 5, 18, 7)  # skips Sunday 17 May
    assert send(oslo(2026, 5, 17, 12)) == oslo(2026, 5, 18, 7)
    assert send(oslo(2027, 5, 17, 12)) == oslo(2027, 5, 18, 7)  # a Monday in 2027


def test_christmas_day_and_boxing_day():
    assert send(oslo(2026, 12, 24, 22)) == oslo(2026, 12, 27, 7)  # Sunday 27th is allowed
    assert send(oslo(2026, 12, 24, 22), weekdays_only=True) == oslo(2026, 12, 28, 7)


def test_weekdays_only_moves_weekends_to_monday():
    assert send(oslo(2026, 11, 14, 12), weekdays_only=True) == oslo(2026, 11, 16, 7)
    assert send(oslo(2026, 11, 13, 20), weekdays_only=True) == oslo(2026, 11, 13, 20)
    assert send(oslo(2026, 11, 14, 12)) == oslo(2026, 11, 14, 12)


# --- pauses and preferred windows ----------------------------------------------------------

FELLESFERIE_2026 = (date(2026, 7, 6), date(2026, 7, 26))  # ISO weeks 28-30


def test_fellesferie_pause_defers_to_the_first_day_after():
    got = defer(oslo(2026, 7, 7, 10), "Europe/Oslo", QUIET, HOLIDAYS, [FELLESFERIE_2026])
    assert local(got).date() == date(2026, 7, 27)
    assert hm(got) == (7, 0)
    # The last day of the pause is inclusive, the day before the first is open.
    pauses = [FELLESFERIE_2026]
    assert defer(oslo(2026, 7, 26, 12), "Europe/Oslo", QUIET, HOLIDAYS, pauses) == oslo(
        2026, 7, 27, 7
    )
    assert defer(oslo(2026, 7, 5, 12), "Europe/Oslo", QUIET, HOLIDAYS, pauses) == oslo(
        2026, 7, 5, 12
    )


def test_pause_must_not_end_before_it_starts():
    with pytest.raises(ValueError):
        defer(
            oslo(2026, 7, 7, 10),
            "Europe/Oslo",
            QUIET,
            HOLIDAYS,
            [(date(2026, 7, 26), date(2026, 7, 6))],
        )


def test_preferred_window_of_a_day_worker():
    window = (time(14), time(16))
    assert send(oslo(2026, 11, 10, 9), preferred=window) == oslo(2026, 11, 10, 14)
    assert send(oslo(2026, 11, 10, 15), preferred=window) == oslo(2026, 11, 10, 15)
    assert send(oslo(2026, 11, 10, 16), preferred=window) == oslo(2026, 11, 11, 14)


def test_preferred_window_across_midnight_is_cut_by_quiet_hours():
    # A night-shift worker prefers 19:00-08:00; quiet hours leave 07-08 and 19-21.
    window = (time(19), time(8))
    assert send(oslo(2026, 11, 10, 10), preferred=window) == oslo(2026, 11, 10, 19)
    assert send(oslo(2026, 11, 10, 21, 30), preferred=window) == oslo(2026, 11, 11, 7)
    assert send(oslo(2026, 11, 11, 7, 30), preferred=window) == oslo(2026, 11, 11, 7, 30)


def test_preferred_window_inside_quiet_hours_is_an_error():
    with pytest.raises(ValueError):
        send(oslo(2026, 11, 10, 10), preferred=(time(22), time(6)))
    with pytest.raises(ValueError):
        send(oslo(2026, 11, 10, 10), preferred=(time(9), time(9)))


def test_defer_into_a_skipped_hour_starts_when_the_clock_jumps():
    # Quiet until 02:30, which 2026-03-29 skips: the first open moment is 03:00 CEST.
    quiet = QuietHours(time(22), time(2, 30))
    got = defer(oslo(2026, 3, 28, 23), "Europe/Oslo", quiet, HOLIDAYS, NO_PAUSES)
    assert got == utc(2026, 3, 29, 1)
    assert hm(got) == (3, 0)


def test_defer_in_the_second_of_two_repeated_hours():
    # Quiet 02:00-02:30; 2026-10-25 passes 02:00-03:00 twice. At the second 02:10 (CET) the
    # next open moment is the second 02:30, not the next day.
    quiet = QuietHours(time(2), time(2, 30))
    second = oslo(2026, 10, 25, 2, 10, fold=1)
    assert second.astimezone(UTC) == utc(2026, 10, 25, 1, 10)
    got = defer(second, "Europe/Oslo", quiet, HOLIDAYS, NO_PAUSES)
    assert got == utc(2026, 10, 25, 1, 30)


def test_defer_in_another_zone():
    got = defer(utc(2026, 11, 10, 21, 30), "UTC", QUIET, HOLIDAYS, NO_PAUSES)
    assert got == utc(2026, 11, 11, 7)


# --- properties ----------------------------------------------------------------------------

ZONES = ["Europe/Oslo", "UTC", "America/Santiago", "Australia/Lord_Howe"]
minutes = st.builds(time, st.integers(0, 23), st.integers(0, 59))
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))


@st.composite
def pause_lists(draw: st.DrawFn) -> list[tuple[date, date]]:
    out = []
    for first in draw(st.lists(days, max_size=3)):
        out.append((first, first + timedelta(days=draw(st.integers(0, 40)))))
    return out


def is_open(
    moment: datetime,
    zone: str,
    quiet: QuietHours,
    pauses: list[tuple[date, date]],
    preferred: tuple[time, time] | None,
    weekdays_only: bool,
) -> bool:
    at = moment.astimezone(ZoneInfo(zone))
    day, tod = at.date(), at.time()
    if day in HOLIDAYS or any(a <= day <= b for a, b in pauses):
        return False
    if weekdays_only and day.weekday() >= 5:
        return False
    if quiet.contains(tod):
        return False
    if preferred is not None:
        start, end = preferred
        inside = start <= tod < end if start < end else (tod >= start or tod < end)
        if not inside:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    when=instants,
    zone=st.sampled_from(ZONES),
    quiet=st.builds(QuietHours, minutes, minutes),
    pauses=pause_lists(),
    preferred=st.none() | st.tuples(minutes, minutes),
    weekdays_only=st.booleans(),
)
def test_defer_properties(when, zone, quiet, pauses, preferred, weekdays_only):
    try:
        got = defer(when, zone, quiet, HOLIDAYS, pauses, preferred, weekdays_only=weekdays_only)
    except ValueError:
        # Only when the rules leave no time of day at all.
        assume(False)
    assert got.tzinfo is UTC
    assert got >= when
    assert is_open(got, zone, quiet, pauses, preferred, weekdays_only)
    # Earliest: just before the result is closed (or before `when`).
    just_before = got - timedelta(microseconds=1)
    assert got == when or not is_open(just_before, zone, quiet, pauses, preferred, weekdays_only)
    assert defer(got, zone, quiet, HOLIDAYS, pauses, preferred, weekdays_only=weekdays_only) == got


@st.composite
def rhythms(draw: st.DrawFn) -> Rhythm:
    cadence = draw(st.sampled_from(Cadence))
    return Rhythm(
        weekdays=tuple(draw(st.sets(st.integers(0, 6), min_size=1, max_size=3))),
        at=draw(minutes),
        anchor=draw(days),
        zone=draw(st.sampled_from(["Europe/Oslo", "UTC", "America/Santiago"])),
        every_n_weeks=1 if cadence is Cadence.FIRST_OF_MONTH else draw(st.integers(1, 4)),
        cadence=cadence,
    )


@settings(max_examples=200, deadline=None)
@given(rhythm=rhythms(), start=instants, length=st.integers(1, 200))
def test_occurrence_properties(rhythm, start, length):
    end = start + timedelta(days=length)
    got = occurrences(rhythm, start, end)
    tz = rhythm.tz
    assert all(start <= o < end and o.tzinfo is UTC for o in got)
    assert all(a < b for a, b in pairwise(got))
    for o in got:
        at = o.astimezone(tz)
        assert at.weekday() in rhythm.weekdays
        assert at.date() >= rhythm.anchor
        wall = datetime.combine(at.date(), rhythm.at)
        if at.replace(tzinfo=None) != wall:
            # Only a time the clock skipped moves, and then forward by the gap.
            shifted = datetime.combine(at.date(), rhythm.at, tzinfo=tz).astimezone(UTC)
            assert shifted == o
            assert at.replace(tzinfo=None) > wall
    # next_occurrence walks the same sequence.
    if got:
        assert next_occurrence(rhythm, start - timedelta(microseconds=1)) == got[0]
    for a, b in pairwise(got):
        assert next_occurrence(rhythm, a) == b
    if got:
        assert next_occurrence(rhythm, got[-1]) >= end


@settings(max_examples=100, deadline=None)
@given(
    anchor=days,
    weekday=st.integers(0, 6),
    at=minutes,
    n=st.integers(2, 4),
    start=instants,
)
def test_every_n_weeks_spacing_is_exact_in_local_days(anchor, weekday, at, n, start):
    r = Rhythm(weekdays=(weekday,), at=at, anchor=anchor, every_n_weeks=n)
    got = occurrences(r, start, start + timedelta(days=7 * n * 6))
    local_days = [o.astimezone(r.tz).date() for o in got]
    assert all(b - a == timedelta(days=7 * n) for a, b in pairwise(local_days))
    keys = [period_key(r, o) for o in got]
    assert len(set(keys)) == len(keys)


@settings(max_examples=100, deadline=None)
@given(
    rhythm=rhythms(),
    last_run=st.none() | instants,
    now=instants,
    hours=st.integers(1, 24 * 10),
)
def test_latest_missed_properties(rhythm, last_run, now, hours):
    window = timedelta(hours=hours)
    got = latest_missed(rhythm, last_run, now, window)
    if got is None:
        return
    assert got <= now < got + window
    assert last_run is None or got > last_run
    assert next_occurrence(rhythm, got) > now
