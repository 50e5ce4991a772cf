"""The check-in tick: each unit's check-in opens on its rhythm, once, and catches up once."""

import dataclasses
from datetime import UTC, datetime

from bot.services.checkins import CheckinService
from scheduler.jobs import CheckinScheduler
from scheduler.lease import SchedulerLease
from tests.services import link_web, seed, services_on
from tests.webchat import settings_for

EVERY_SECOND_TUESDAY = {"weekdays": [1], "at": "10:00", "anchor": "2026-11-03", "every_n_weeks": 2}


def oslo(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    # November/December: Oslo is UTC+1.
    return datetime(2026, month, day, hour - 1, minute, tzinfo=UTC)


async def scheduler_on(services, db_url, holder="a"):
    async with services.store.transaction() as tx:
        unit = await tx.org.unit("hjerteavdelingen")
        await tx.org.upsert_unit(dataclasses.replace(unit, checkin=EVERY_SECOND_TUESDAY))
    clock = lambda: oslo(17, 10)  # noqa: E731 - the tests pass `now` explicitly
    lease = SchedulerLease(services.store, clock, holder=holder)
    checkins = CheckinService(services.store, services.catalog, settings_for(db_url))
    return CheckinScheduler(services.store, checkins, lease, clock, "Europe/Oslo"), lease


async def checkin_rounds(services):
    async with services.store.transaction() as tx:
        return sorted(r.name for r in await tx.rounds.all() if r.kind == "checkin")


async def test_opens_on_the_rhythm_once_and_only_for_the_lease_holder(db_url):
    async with services_on(db_url) as services, services_on(db_url) as other:
        await seed(services)
        await link_web(services, "kari", "Kari Nordmann")
        first, lease = await scheduler_on(services, db_url, "a")
        second, other_lease = await scheduler_on(other, db_url, "b")
        assert await lease.renew()
        assert not await other_lease.renew()
        assert await first.tick(oslo(17, 9, 59)) == []  # not yet 10:00
        assert await second.tick(oslo(17, 10, 1)) == []  # not the lease holder
        assert await first.tick(oslo(17, 10, 1)) == ["checkin:hjerteavdelingen@c0001"]
        assert await first.tick(oslo(17, 10, 2)) == []  # that period ran already
        assert await first.tick(oslo(24, 10, 1)) == []  # not a check-in week
        assert await checkin_rounds(services) == [
            "checkin:hjerteavdelingen:1"
        ]  # the second check-in


async def test_after_three_weeks_down_only_the_latest_missed_period_runs(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        scheduler, lease = await scheduler_on(services, db_url)
        await lease.renew()
        # Down from 3 November; back on 1 December at 10:30, inside the 12-hour window.
        assert await scheduler.tick(oslo(1, 10, 30, month=12)) == [
            "checkin:hjerteavdelingen@c0002"
        ]  # 17 November is not run late
        assert await checkin_rounds(services) == ["checkin:hjerteavdelingen:2"]


async def test_a_period_missed_beyond_its_window_waits_for_the_next(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        scheduler, lease = await scheduler_on(services, db_url)
        await lease.renew()
        assert await scheduler.tick(oslo(2, 9, month=12)) == []  # 23 hours late
        assert await checkin_rounds(services) == []
