"""One scheduler per deployment: a renewed lease row, and each (job, period) run exactly once."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from storage.models import utcnow
from storage.store import Store

log = logging.getLogger(__name__)
LEASE_NAME = "scheduler"
TTL_SECONDS = 60.0
RENEW_SECONDS = 15.0
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)


class SchedulerLease:
    """Held by at most one process at a time; renewed every ~15 s, taken over after ~60 s."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime] = utcnow,
        holder: str | None = None,
        ttl: float = TTL_SECONDS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.ttl = ttl
        self.every = ttl * RENEW_SECONDS / TTL_SECONDS
        """Seconds between renewals: a quarter of the lease, so one missed renewal is harmless."""
        self.held = False
        self.failures: dict[tuple[str, str], tuple[int, datetime]] = {}
        """(job, period) -> (failed attempts, not before): work that failed, for the backoff."""

    async def renew(self) -> bool:
        """Take or keep the lease; returns whether this process holds it now."""
        async with self.store.transaction() as tx:
            self.held = await tx.schedule.hold_lease(
                LEASE_NAME, self.holder, self.clock(), self.ttl
            )
        return self.held

    async def keep(self, every: float = RENEW_SECONDS) -> None:
        """Renew forever (cancelled at shutdown); a database blip only costs one renewal."""
        while True:
            try:
                await self.renew()
            except Exception:  # losing the lease is safe: another process takes over
                self.held = False
                log.exception("scheduler lease renewal failed")
            await asyncio.sleep(every)

    async def run_once(self, job: str, period: str, work: Callable[[], Awaitable[None]]) -> bool:
        """Run `work` if this process holds the lease and nobody ran (job, period) yet.

        Work that fails gives its claim back and is retried by a later tick, after a backoff
        that doubles from one minute up to an hour. Retrying is safe because the jobs are
        idempotent (their messages carry idempotency keys; an opening is one transaction).
        Returns whether the work ran and succeeded.
        """
        if not self.held:
            return False
        key = (job, period)
        failed = self.failures.get(key)
        if failed is not None and self.clock() < failed[1]:
            return False
        async with self.store.transaction() as tx:
            claimed = await tx.schedule.claim_run(job, period, self.holder, self.clock())
        if not claimed:
            return False
        try:
            await work()
        except Exception:
            attempts = failed[0] + 1 if failed else 1
            wait = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_MAX)
            self.failures[key] = (attempts, self.clock() + wait)
            log.exception("scheduled job %s@%s failed (attempt %d)", job, period, attempts)
            async with self.store.transaction() as tx:
                await tx.schedule.release_run(job, period, self.holder)
            return False
        self.failures.pop(key, None)
        return True
