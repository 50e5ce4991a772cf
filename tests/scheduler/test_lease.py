"""Two scheduler processes against one database: one lease holder, each period run once."""

import asyncio
from datetime import timedelta

from scheduler.lease import SchedulerLease
from storage.store import Store
from tests.webchat import NOW


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


async def test_one_holder_renews_and_another_takes_over_when_it_stops(db_url):
    clock = Clock()
    first, second = Store.connect(db_url), Store.connect(db_url)
    try:
        a = SchedulerLease(first, clock, holder="a")
        b = SchedulerLease(second, clock, holder="b")
        assert await asyncio.gather(a.renew(), b.renew()) in ([True, False], [False, True])
        winner, loser = (a, b) if a.held else (b, a)
        clock.now += timedelta(seconds=15)
        assert await winner.renew() and not await loser.renew()  # renewed in time: kept
        clock.now += timedelta(seconds=61)  # the winner stopped renewing
        assert await loser.renew()
        assert not await winner.renew()
    finally:
        await first.close()
        await second.close()


async def test_each_job_period_runs_exactly_once_across_processes(db_url):
    clock = Clock()
    stores = [Store.connect(db_url) for _ in range(2)]
    ran: list[str] = []
    try:
        leases = [SchedulerLease(store, clock, holder=f"p{n}") for n, store in enumerate(stores)]
        for lease in leases:
            lease.held = True  # both believe they hold it (a takeover race): job_run decides

        async def work():
            ran.append("digest")

        outcomes = await asyncio.gather(
            *(lease.run_once("digest", "2026-W48", work) for lease in leases for _ in range(3))
        )
        assert sum(outcomes) == 1 and ran == ["digest"]
        assert await leases[0].run_once("digest", "2026-W49", work)
        async with stores[1].transaction() as tx:
            assert await tx.schedule.last_run("digest") == NOW
    finally:
        for store in stores:
            await store.close()


async def test_a_failed_job_gives_its_period_back_and_is_retried_after_a_backoff(db_url):
    clock = Clock()
    store = Store.connect(db_url)
    attempts: list[timedelta] = []
    try:
        lease = SchedulerLease(store, clock, holder="p0")
        lease.held = True

        async def flaky():
            attempts.append(clock.now - NOW)
            if len(attempts) < 3:
                raise ConnectionError("database went away mid-job")

        outcomes = []
        for minute in range(0, 5):  # a tick every minute
            clock.now = NOW + timedelta(minutes=minute)
            outcomes.append(await lease.run_once("digest", "2026-W48", flaky))
        async with store.transaction() as tx:
            assert await tx.schedule.last_run("digest") == NOW + timedelta(minutes=3)
        clock.now = NOW + timedelta(hours=2)
        again = await lease.run_once("digest", "2026-W48", flaky)
    finally:
        await store.close()

    # Failed at 0 (retry after 1 min), failed at 1 (retry after 2 min), succeeded at 3.
    assert attempts == [timedelta(0), timedelta(minutes=1), timedelta(minutes=3)]
    assert outcomes == [False, False, False, True, False]
    assert not again  # done for the period: never run twice
