"""The in-process outbox drainer: claims due messages, sends them, records the outcome."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from bot.channels.base import (
    Address,
    Failed,
    OutboundMessage,
    RetryAfter,
    Sender,
    Sent,
    Unreachable,
)
from scheduler.ratelimit import Limits, RateLimiter
from storage.models import utcnow
from storage.outbox import OutboxRow
from storage.store import Store

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
LEASE_SECONDS = 60.0


class OutboxDrainer:
    """Drains the outbox: claims due rows with a lease, sends within each channel's limits."""

    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        clock: Callable[[], datetime] = utcnow,
        batch: int = 50,
        limits: Mapping[str, Limits] | None = None,
        concurrency: int = 16,
    ) -> None:
        self.store = store
        self.senders = dict(senders)
        self.clock = clock
        self.batch = batch
        self.limiters = {channel: RateLimiter(limit) for channel, limit in (limits or {}).items()}
        self.concurrency = asyncio.Semaphore(concurrency)
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def drain_once(self) -> int:
        """Send what is due now; returns how many messages were handled."""
        async with self.store.transaction() as tx:
            rows = await tx.outbox.claim(self.worker, self.clock(), self.batch, LEASE_SECONDS)
        await asyncio.gather(*(self._deliver_bounded(row) for row in rows))
        return len(rows)

    async def _deliver_bounded(self, row: OutboxRow) -> None:
        async with self.concurrency:
            await self._deliver(row)

    async def run(self, interval: float = 1.0) -> None:
        """Drain forever (cancelled at shutdown)."""
        while True:
            try:
                while await self.drain_once():
                    pass
            except Exception:  # a bad row or a database blip must not stop the drainer
                log.exception("outbox drain failed")
            await asyncio.sleep(interval)

    async def _deliver(self, row: OutboxRow) -> None:
        sender = self.senders.get(row.channel)
        async with self.store.transaction() as tx:
            identity = await tx.org.identity_by_id(row.identity_id) if row.identity_id else None
        if sender is None or identity is None or not identity.reachable:
            await self._finish(row.id, "unreachable", "no reachable identity in this channel")
            return
        limiter = self.limiters.get(row.channel)
        if limiter is not None:
            await limiter.acquire(identity.external_id)
        address = Address(row.channel, identity.external_id, identity.id)
        message = OutboundMessage(
            address, row.purpose, str(row.payload.get("locale", "nb")), row.payload
        )
        try:
            result = await sender.send(message)
        except Exception as error:  # senders should not raise; treat it as a passing failure
            result = Failed(repr(error))
        if isinstance(result, Sent):
            await self._finish(row.id, "sent")
        elif isinstance(result, Unreachable):
            async with self.store.transaction() as tx:
                await tx.org.mark_unreachable(identity.id, result.reason)
                await tx.outbox.finish(row.id, "unreachable", result.reason)
        elif isinstance(result, RetryAfter):
            if limiter is not None:
                limiter.pause(result.seconds)  # a 429 is about the whole bot, not this row
            await self._retry(row, result.seconds, "retry after")
        elif row.attempts >= MAX_ATTEMPTS:
            await self._finish(row.id, "failed", result.reason)
        else:
            await self._retry(row, min(2.0**row.attempts, 600.0), result.reason)

    async def _finish(self, message_id: int, status: str, error: str | None = None) -> None:
        async with self.store.transaction() as tx:
            await tx.outbox.finish(message_id, status, error)

    async def _retry(self, row: OutboxRow, seconds: float, reason: str) -> None:
        async with self.store.transaction() as tx:
            await tx.outbox.retry_later(row.id, self.clock() + timedelta(seconds=seconds), reason)
