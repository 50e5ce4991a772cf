"""The check-in tick across daylight saving time and the ISO year, in Europe/Oslo wall-clock time.

Every test drives `CheckinScheduler.tick` with explicit instants (UTC) on a grid and asserts the
local Oslo time at which each check-in round opened. The scheduler holds no state between ticks
except the `job_run` rows: a tick opens the latest occurrence due in the last `SEND_WINDOW`
(12 h) unless its (job, period) was claimed before. So a grid whose step is shorter than the
window sees every occurrence at least once, and a duplicate could only come from a tick after
an occurrence -- every such tick is on the grid. Minute steps are used where the exact opening
minute matters (around 10:00 and around the switch hour); coarser steps elsewhere keep each test
well under a few seconds while still proving "exactly once" for the whole span.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.services.checkins import CheckinService
from dialogs.records import RoundRecord
from scheduler.jobs import SEND_WINDOW, CheckinScheduler
from scheduler.lease import TTL_SECONDS, SchedulerLease
from tests.services import seed, services_on
from tests.webchat import settings_for

OSLO = ZoneInfo("Europe/Oslo")
UNIT = "hjerteavdelingen"  # staff and measures in the examples; Europe/Oslo via its trust
OTHER_UNIT = "hjemmetjenesten-sentrum"  # the same, in the municipality's tree
MINUTE = timedelta(minutes=1)
TUESDAYS_AT_10 = {"weekdays": [1], "at": "10:00", "anchor": "2026-03-03"}
DAILY_AT_10 = {"weekdays": [0, 1, 2, 3, 4, 5, 6], "at": "10:00", "anchor": "2026-03-01"}
DAILY_AT_0230 = {"weekdays": [0, 1, 2, 3, 4, 5, 6], "at": "02:30", "anchor": "2026-03-01"}
SUNDAYS_AT_0230 = {"weekdays": [6], "at": "02:30", "anchor": "2026-09-06"}
EVERY_SECOND_TUESDAY = {"weekdays": [1], "at": "10:00", "anchor": "2026-11-03", "every_n_weeks": 2}


class Clock:
    """The lease's clock, moved by the test to the instant it ticks."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def oslo(day: date, hour: int, minute: int = 0, *, fold: int = 0) -> datetime:
    """The instant (UTC) of a wall-clock time in Oslo; fold=1 is the second pass of a repeat."""
    return datetime.combine(day, time(hour, minute), OSLO).replace(fold=fold).astimezone(UTC)


def local(moment: datetime) -> datetime:
    """An instant as Oslo wall-clock time (aware, so its UTC offset shows CET or CEST)."""
    return moment.astimezone(OSLO)


def wall(moment: datetime) -> datetime:
    """An instant as naive Oslo wall-clock time, for readable comparisons."""
    return local(moment).replace(tzinfo=None)


def grid(start: datetime, end: datetime, step: timedelta) -> Iterator[datetime]:
    """Instants start, start + step, ... before end (UTC arithmetic: real elapsed time)."""
    moment = start
    while moment < end:
        yield moment
        moment += step


async def set_rhythm(services: Any, form: dict[str, Any], unit_id: str = UNIT) -> None:
    async with services.store.transaction() as tx:
        unit = await tx.org.unit(unit_id)
        await tx.org.upsert_unit(dataclasses.replace(unit, checkin=form))


def scheduler_for(
    services: Any, db_url: str, clock: Clock, holder: str
) -> tuple[CheckinScheduler, SchedulerLease]:
    lease = SchedulerLease(services.store, clock, holder=holder)
    checkins = CheckinService(services.store, services.catalog, settings_for(db_url))
    return CheckinScheduler(services.store, checkins, lease, clock, "Europe/Oslo"), lease


async def holding_scheduler(
    services: Any, db_url: str, form: dict[str, Any], start: datetime
) -> tuple[CheckinScheduler, Clock]:
    """A scheduler for `form` on UNIT whose process holds the lease (one process only)."""
    await set_rhythm(services, form)
    clock = Clock(start)
    scheduler, lease = scheduler_for(services, db_url, clock, "only")
    assert await lease.renew()
    return scheduler, clock


async def drive(
    scheduler: CheckinScheduler, clock: Clock, ticks: Iterable[datetime]
) -> list[tuple[datetime, str]]:
    """Tick at each instant; returns (tick, job@period) for every job the tick ran."""
    ran = []
    for now in ticks:
        clock.now = now
        ran += [(now, key) for key in await scheduler.tick(now)]
    return ran


async def checkin_rounds(services: Any) -> list[RoundRecord]:
    async with services.store.transaction() as tx:
        rounds = [r for r in await tx.rounds.all() if r.kind == "checkin"]
    return sorted(rounds, key=lambda r: r.opens_at)


def iso_week(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


# --- 1. 10:00 stays 10:00 on the wall clock -----------------------------------------------


@pytest.mark.parametrize(
    ("tuesday", "offset"),
    [
        (date(2026, 3, 24), 1),  # CET, the Tuesday before spring forward (29 March)
        (date(2026, 3, 31), 2),  # CEST, the Tuesday after
        (date(2026, 10, 20), 2),  # CEST, the Tuesday before fall back (25 October)
        (date(2026, 10, 27), 1),  # CET, the Tuesday after
    ],
    ids=["before-spring-forward", "after-spring-forward", "before-fall-back", "after-fall-back"],
)
async def test_a_weekly_check_in_opens_at_10_local_either_side_of_a_switch(
    db_url: str, tuesday: date, offset: int
) -> None:
    async with services_on(db_url) as services:
        await seed(services)
        start, end = oslo(tuesday, 8, 30), oslo(tuesday, 11, 31)
        scheduler, clock = await holding_scheduler(services, db_url, TUESDAYS_AT_10, start)
        # Every minute from 08:30 to 11:30 local: an hour-off bug would open at 09:00 or 11:00.
        ran = await drive(scheduler, clock, grid(start, end, MINUTE))

        opened = oslo(tuesday, 10)
        assert local(opened).utcoffset() == timedelta(hours=offset)  # the switch lies between
        assert ran == [(opened, f"checkin:{UNIT}@{iso_week(tuesday)}")]
        assert [wall(r.opens_at) for r in await checkin_rounds(services)] == [
            datetime.combine(tuesday, time(10))
        ]


@pytest.mark.parametrize(
    "first_day",
    [date(2026, 3, 26), date(2026, 10, 22)],
    ids=["spring-forward-week", "fall-back-week"],
)
async def test_a_daily_check_in_opens_at_10_local_every_day_through_a_switch(
    db_url: str, first_day: date
) -> None:
    async with services_on(db_url) as services:
        await seed(services)
        start, end = oslo(first_day, 0), oslo(first_day + timedelta(days=7), 0)
        scheduler, clock = await holding_scheduler(services, db_url, DAILY_AT_10, start)
        # Hourly in UTC: 10:00 local is on the hour in both CET and CEST, so the tick that
        # opens a day's check-in must be exactly 10:00 local, never 09:00 or 11:00.
        ran = await drive(scheduler, clock, grid(start, end, timedelta(hours=1)))

        days = [first_day + timedelta(days=n) for n in range(7)]
        assert [wall(tick) for tick, _key in ran] == [datetime.combine(d, time(10)) for d in days]
        assert [wall(r.opens_at) for r in await checkin_rounds(services)] == [
            datetime.combine(d, time(10)) for d in days
        ]
        assert {local(tick).utcoffset() for tick, _key in ran} == {
            timedelta(hours=1),
            timedelta(hours=2),
        }  # the week really straddles the switch


# --- 2. 02:30 on the switch days: skipped, then repeated -----------------------------------


def switch_day_ticks(day: date) -> list[datetime]:
    """Every 5 minutes across the local day, every minute from 00:00 to 02:00 UTC.

    The dense part covers 01:00-04:00 local on 29 March (the gap is 02:00-03:00) and both
    passes of 02:00-02:59 on 25 October. Any occurrence stays due for 12 h, far longer than
    5 minutes, so the sparse part still sees every check-in the scheduler could open that day.
    """
    start, end = oslo(day, 0), oslo(day + timedelta(days=1), 0)
    dense_start = datetime.combine(day, time(0), UTC)
    dense = set(grid(dense_start, dense_start + timedelta(hours=2), MINUTE))
    return sorted(dense | set(grid(start, end, timedelta(minutes=5))))


async def test_0230_on_the_spring_forward_day_opens_once_at_0330_cest(db_url: str) -> None:
    day = date(2026, 3, 29)  # Sunday: the clock jumps from 02:00 CET to 03:00 CEST
    assert wall(oslo(day, 2, 30)) != datetime.combine(day, time(2, 30))  # 02:30 does not exist
    async with services_on(db_url) as services:
        await seed(services)
        ticks = switch_day_ticks(day)
        assert len(ticks) == 23 * 12 + 120 - 24  # a 23-hour day, plus the dense minutes
        scheduler, clock = await holding_scheduler(services, db_url, DAILY_AT_0230, ticks[0])
        ran = await drive(scheduler, clock, ticks)

        # dialogs.rhythm.occurrences: a skipped time moves on by the length of the gap, so
        # 02:30 runs at 03:30 CEST (01:30 UTC), the instant a clock ignoring the switch would
        # call 02:30. Not at 03:00 CEST when the clock jumps (that is defer()'s rule for send
        # spans), and not skipped for the day.
        opened = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        assert local(opened) == datetime(2026, 3, 29, 3, 30, tzinfo=OSLO)
        assert local(opened).utcoffset() == timedelta(hours=2)
        assert ran == [(opened, f"checkin:{UNIT}@2026-W13-7")]
        rounds = await checkin_rounds(services)
        assert [wall(r.opens_at) for r in rounds] == [datetime(2026, 3, 29, 3, 30)]


async def test_0230_on_the_fall_back_day_opens_once_at_the_first_pass(db_url: str) -> None:
    day = date(2026, 10, 25)  # Sunday: the clock goes back from 03:00 CEST to 02:00 CET
    first, second = oslo(day, 2, 30), oslo(day, 2, 30, fold=1)
    assert second - first == timedelta(hours=1)  # 02:30 happens twice
    async with services_on(db_url) as services:
        await seed(services)
        ticks = switch_day_ticks(day)
        assert len(ticks) == 25 * 12 + 120 - 24  # a 25-hour day, plus the dense minutes
        assert first in ticks and second in ticks
        scheduler, clock = await holding_scheduler(services, db_url, DAILY_AT_0230, ticks[0])
        ran = await drive(scheduler, clock, ticks)

        # The first pass (02:30 CEST, 00:30 UTC) runs; the second (02:30 CET) does not.
        assert ran == [(first, f"checkin:{UNIT}@2026-W43-7")]
        assert local(first).utcoffset() == timedelta(hours=2)
        rounds = await checkin_rounds(services)
        # Compare instants in UTC: PEP 495 makes an aware time in a repeated hour unequal to
        # every time in another zone, even the same instant.
        assert [r.opens_at.astimezone(UTC) for r in rounds] == [first]
        assert wall(rounds[0].opens_at) == datetime(2026, 10, 25, 2, 30)


# --- 3. every second week across ISO week 53 -----------------------------------------------


async def test_every_second_week_stays_two_weeks_apart_across_iso_week_53(db_url: str) -> None:
    assert date(2026, 12, 28).isocalendar()[:2] == (2026, 53)  # 2026 has 53 ISO weeks
    async with services_on(db_url) as services:
        await seed(services)
        start = datetime(2026, 12, 1, tzinfo=UTC)
        end = datetime(2027, 2, 1, tzinfo=UTC)
        scheduler, clock = await holding_scheduler(services, db_url, EVERY_SECOND_TUESDAY, start)
        step = timedelta(hours=3)
        assert step < SEND_WINDOW  # so every occurrence meets at least one tick
        # 09:00 UTC (10:00 CET) is on the grid, so each check-in opens at its exact minute.
        ran = await drive(scheduler, clock, grid(start, end, step))

        expected = [
            date(2026, 12, 1),  # 2026-W49
            date(2026, 12, 15),  # 2026-W51
            date(2026, 12, 29),  # 2026-W53
            date(2027, 1, 12),  # 2027-W02 -- cron's week='*/2' would run 5 January (W01)
            date(2027, 1, 26),  # 2027-W04
        ]
        assert [wall(tick) for tick, _key in ran] == [
            datetime.combine(d, time(10)) for d in expected
        ]
        assert [key for _tick, key in ran] == [f"checkin:{UNIT}@c{n:04d}" for n in range(2, 7)]
        rounds = await checkin_rounds(services)
        assert [wall(r.opens_at) for r in rounds] == [
            datetime.combine(d, time(10)) for d in expected
        ]
        assert [r.name for r in rounds] == [f"checkin:{UNIT}:{n}" for n in range(2, 7)]
        gaps = {(b - a).days for a, b in pairwise(expected)}
        assert gaps == {14}


# --- 4. catching up after an outage that ends on the fall-back day -------------------------


@pytest.mark.parametrize(
    ("back_at", "runs"),
    [(time(13, 25), True), (time(13, 35), False)],
    ids=["inside-window", "past-window"],
)
async def test_catch_up_after_three_weeks_down_over_fall_back(
    db_url: str, back_at: time, runs: bool
) -> None:
    async with services_on(db_url) as services:
        await seed(services)
        last_up = oslo(date(2026, 10, 4), 2, 30)
        scheduler, clock = await holding_scheduler(services, db_url, SUNDAYS_AT_0230, last_up)
        assert await drive(scheduler, clock, [last_up]) == [(last_up, f"checkin:{UNIT}@2026-W40")]
        # Down for three weeks (11, 18 and 25 October missed), back on 25 October. The window
        # is 12 real hours from the first 02:30 (00:30 UTC), i.e. until 13:30 CET although
        # the wall clock then shows only 11 hours after 02:30.
        day = date(2026, 10, 25)
        back = datetime.combine(day, back_at, OSLO).astimezone(UTC)
        ran = await drive(
            scheduler, clock, grid(back, oslo(day + timedelta(days=1), 0), timedelta(minutes=5))
        )

        rounds = await checkin_rounds(services)
        if runs:
            assert ran == [(back, f"checkin:{UNIT}@2026-W43")]  # not 11 or 18 October
            assert [wall(r.opens_at) for r in rounds] == [
                datetime(2026, 10, 4, 2, 30),
                datetime.combine(day, back_at),
            ]
        else:
            assert ran == []
            assert [wall(r.opens_at) for r in rounds] == [datetime(2026, 10, 4, 2, 30)]


# --- 5. two scheduler processes on one database --------------------------------------------


async def test_two_processes_ticking_the_same_minutes_run_each_job_once(db_url: str) -> None:
    tuesday = date(2026, 10, 27)  # the first Tuesday after fall back
    async with services_on(db_url) as one, services_on(db_url) as two:
        await seed(one)
        await set_rhythm(one, TUESDAYS_AT_10, UNIT)
        await set_rhythm(one, TUESDAYS_AT_10, OTHER_UNIT)
        clock = Clock(oslo(tuesday, 9, 50))
        first, first_lease = scheduler_for(one, db_url, clock, "a")
        second, second_lease = scheduler_for(two, db_url, clock, "b")

        async def both(now: datetime) -> tuple[list[str], list[str]]:
            clock.now = now
            a, b = await asyncio.gather(first.tick(now), second.tick(now))
            return a, b

        # 09:50-09:54: both renew every minute; "a" holds the lease, "b" does not (nothing is
        # due yet, so this only settles who holds it).
        ran_a: list[str] = []
        ran_b: list[str] = []
        for now in grid(oslo(tuesday, 9, 50), oslo(tuesday, 9, 55), MINUTE):
            clock.now = now
            assert await first_lease.renew()
            assert not await second_lease.renew()
            a, b = await both(now)
            ran_a, ran_b = ran_a + a, ran_b + b
        # "a" freezes (it stops renewing) but still believes it holds the lease; once the TTL
        # has passed "b" takes over. From 09:56 both tick as holders, concurrently, past 10:00.
        clock.now = oslo(tuesday, 9, 54) + timedelta(seconds=TTL_SECONDS + 60)
        for now in grid(clock.now, oslo(tuesday, 10, 11), MINUTE):
            clock.now = now
            assert await second_lease.renew()
            assert first_lease.held and second_lease.held
            a, b = await both(now)
            ran_a, ran_b = ran_a + a, ran_b + b
        clock.now = oslo(tuesday, 10, 11)
        assert not await first_lease.renew()  # "a" learns it lost the lease

        jobs = [f"checkin:{OTHER_UNIT}@2026-W44", f"checkin:{UNIT}@2026-W44"]
        assert sorted(ran_a + ran_b) == jobs  # each job once, in one process or the other
        rounds = await checkin_rounds(one)
        assert sorted(r.name or "" for r in rounds) == [
            f"checkin:{OTHER_UNIT}:34",
            f"checkin:{UNIT}:34",
        ]
        assert {wall(r.opens_at) for r in rounds} == {datetime(2026, 10, 27, 10)}
