"""When things run: a minute tick (APScheduler) for check-ins, reminders and owner check-ins."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.services.checkins import CheckinService
from bot.services.digest import Period
from bot.services.digests import DigestDelivery
from bot.services.owners import ASK_AT_HOUR, OwnerCheckinService
from bot.services.reminders import ReminderService
from bot.services.retention import RetentionService
from dialogs.org import zone_of
from dialogs.records import UnitRecord
from dialogs.rhythm import Rhythm, latest_missed, occurrences, period_key, rhythm_of
from scheduler.lease import SchedulerLease
from storage.store import Store

log = logging.getLogger(__name__)
SEND_WINDOW = timedelta(hours=12)
"""A check-in missed by more than this (server down) waits for the next period."""
TICK_SECONDS = 60


def checkin_period(rhythm: Rhythm, occurrence: datetime) -> int:
    """The running number of an occurrence since the rhythm's anchor (rotation needs it)."""
    start = datetime.combine(rhythm.anchor, rhythm.at, rhythm.tz) - timedelta(days=1)
    return len(occurrences(rhythm, start, occurrence))


class CheckinScheduler:
    """Every tick: each unit's latest due check-in once, automatic reminders once, reports."""

    def __init__(
        self,
        store: Store,
        checkins: CheckinService,
        lease: SchedulerLease,
        clock: Callable[[], datetime],
        default_zone: str,
        reminders: ReminderService | None = None,
        owners: OwnerCheckinService | None = None,
        digests: DigestDelivery | None = None,
        retention: RetentionService | None = None,
    ) -> None:
        self.store = store
        self.retention = retention
        self.checkins = checkins
        self.reminders = reminders
        self.owners = owners
        self.digests = digests
        self.lease = lease
        self.clock = clock
        self.default_zone = default_zone
        self.scheduler: AsyncIOScheduler | None = None

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Open what is due; returns the (job, period) keys this process ran."""
        now = now or self.clock()
        if not self.lease.held:
            return []
        async with self.store.transaction() as tx:
            units = {u.id: u for u in await tx.org.units()}
        ran = []
        for unit in units.values():
            rhythm = rhythm_of(unit, self._zone(unit, units))
            if rhythm is None:
                continue
            # After downtime only the latest missed period runs, and only inside its window.
            due = latest_missed(rhythm, None, now, SEND_WINDOW)
            if due is None:
                continue
            job, period = f"checkin:{unit.id}", period_key(rhythm, due)
            number = checkin_period(rhythm, due)

            async def open_it(unit_id: str = unit.id, number: int = number) -> None:
                await self.checkins.open_checkin(unit_id, number, now)

            if await self.lease.run_once(job, period, open_it):
                ran.append(f"{job}@{period}")
        if self.reminders is not None:
            ran += await self._reminders(self.reminders, now)
        if self.owners is not None:
            ran += await self._owners(self.owners, now)
        if self.digests is not None:
            ran += await self._digests(self.digests, now)
        if self.retention is not None:
            ran += await self._retention(self.retention, now)
        return ran

    async def _retention(self, retention: RetentionService, now: datetime) -> list[str]:
        """The retention purge, once per local day, in the night (see RetentionService.due)."""
        day = retention.due(now)
        if day is None:
            return []

        async def purge() -> None:
            await retention.purge(now)

        if await self.lease.run_once("retention", day, purge):
            return [f"retention@{day}"]
        return []

    async def _digests(self, digests: DigestDelivery, now: datetime) -> list[str]:
        """The weekly digest of the week that ended, once, inside its send window."""
        schedule = digests.settings.digest_at
        if schedule is None:
            return []
        weekday, at = schedule
        zone = ZoneInfo(digests.settings.timezone)
        local = now.astimezone(zone)
        start = local - timedelta(days=(local.weekday() - weekday) % 7)
        due = datetime.combine(start.date(), at, zone)
        if not due <= now < due + SEND_WINDOW:
            return []
        period = Period.last_complete(now, digests.settings.timezone)

        async def deliver() -> None:
            await digests.deliver(period, now)

        if await self.lease.run_once("digest", period.key, deliver):
            return [f"digest@{period.key}"]
        return []

    async def _owners(self, owners: OwnerCheckinService, now: datetime) -> list[str]:
        """Owners are asked monthly and the day after a date passed, from 10:00 local."""
        local = owners.local(now)
        if local.hour < ASK_AT_HOUR:
            return []
        ran = []

        async def monthly() -> None:
            await owners.ask_monthly(now)

        async def dates() -> None:
            await owners.ask_passed_dates(now)

        for job, period, work in (
            ("owner-checkins", f"{local:%Y-%m}", monthly),
            ("owner-dates", f"{local:%Y-%m-%d}", dates),
        ):
            if await self.lease.run_once(job, period, work):
                ran.append(f"{job}@{period}")
        return ran

    async def _reminders(self, reminders: ReminderService, now: datetime) -> list[str]:
        ran = []
        for round_id, day in await reminders.automatic_due(now):
            job, period = f"auto-remind:{round_id}", f"day{day}"

            async def send(round_id: int = round_id, day: int = day) -> None:
                await reminders.send_automatic(round_id, day, now)

            if await self.lease.run_once(job, period, send):
                ran.append(f"{job}@{period}")
        await reminders.deliver_reports(now)
        return ran

    def _zone(self, unit: UnitRecord, units: dict[str, UnitRecord]) -> str:
        return zone_of(units, unit.id, self.default_zone)

    async def _safe_tick(self) -> None:
        try:
            ran = await self.tick()
            if ran:
                log.info("scheduled jobs ran: %s", ", ".join(ran))
        except Exception:  # one failing tick must not stop the scheduler
            log.exception("scheduler tick failed")

    async def _renew(self) -> None:
        try:
            await self.lease.renew()
        except Exception:
            self.lease.held = False
            log.exception("scheduler lease renewal failed")

    async def start(self) -> None:
        """Take the lease if free and start APScheduler's in-memory jobs (lease, tick)."""
        await self._renew()
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(self._renew, "interval", seconds=self.lease.every, id="lease")
        scheduler.add_job(
            self._safe_tick,
            "interval",
            seconds=TICK_SECONDS,
            id="tick",
            next_run_time=self.clock(),
        )
        scheduler.start()
        self.scheduler = scheduler

    async def stop(self) -> None:
        """Stop the jobs (the lease expires by itself and another process takes over)."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
