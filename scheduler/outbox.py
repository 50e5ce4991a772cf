"""The in-process outbox drainer: claims due messages, sends them, records the outcome."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Outcome:
    """What became of one row: its new status (or a retry time) and why."""

    row: OutboxRow
    status: str
    reason: str | None = None
    retry_at: datetime | None = None


class OutboxDrainer:
    """Drains the outbox: claims due rows with a lease, sends within each channel's limits.

    A batch is at most `concurrency` rows; outcomes are recorded together after the batch, so
    after a crash at most one batch can be sent twice (the rows in flight), and a busy outbox
    costs two transactions per batch rather than per message.
    """

    def __init__(
        self,
        store: Store,
        senders: Mapping[str, Sender],
        clock: Callable[[], datetime] = utcnow,
        limits: Mapping[str, Limits] | None = None,
        concurrency: int = 16,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.senders = dict(senders)
        self.clock = clock
        self.limiters = {channel: RateLimiter(limit) for channel, limit in (limits or {}).items()}
        self.in_flight_limit = concurrency
        self.lease = lease
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def drain_once(self) -> int:
        """Send one batch of what is due now; returns how many rows were handled."""
        async with self.store.transaction() as tx:
            rows = await tx.outbox.claim(
                self.worker, self.clock(), self.in_flight_limit, self.lease
            )
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(row) for row in rows))
        async with self.store.transaction() as tx:
            for outcome in outcomes:
                if outcome.status == "unreachable" and outcome.row.identity_id is not None:
                    await tx.org.mark_unreachable(outcome.row.identity_id, outcome.reason or "")
                if outcome.retry_at is not None:
                    await tx.outbox.retry_later(
                        outcome.row.id, outcome.retry_at, outcome.reason or "", self.worker
                    )
                else:
                    await tx.outbox.finish(
                        outcome.row.id, outcome.status, outcome.reason, self.worker
                    )
        return len(rows)

    async def drain_until_empty(self, interval: float = 0.2) -> None:
        """Drain until nothing is pending or leased any more (rows due later are waited for)."""
        while True:
            handled = await self.drain_once()
            if handled:
                continue
            async with self.store.transaction() as tx:
                if not await tx.outbox.pending_count():
                    return
            await asyncio.sleep(interval)

    async def run(self, interval: float = 1.0) -> None:
        """Drain forever (cancelled at shutdown)."""
        while True:
            try:
                while await self.drain_once():
                    pass
            except Exception:  # a bad row or a database blip must not stop the drainer
                log.exception("outbox drain failed")
            await asyncio.sleep(interval)

    async def _deliver(self, row: OutboxRow) -> Outcome:
        sender = self.senders.get(row.channel)
        if sender is None or row.external_id is None or row.identity_id is None:
            return Outcome(row, "unreachable", "no reachable identity in this channel")
        limiter = self.limiters.get(row.channel)
        if limiter is not None:
            wait = limiter.reserve(row.external_id) - limiter.clock()
            if wait > self.lease / 2:
                # Sleeping past the lease would let another sender take the row too: give it
                # back, due when the channel allows it.
                return self._later(row, wait, "waiting for the channel's rate limit")
            if wait > 0:
                await limiter.sleep(wait)
        address = Address(row.channel, row.external_id, row.identity_id)
        message = OutboundMessage(
            address, row.purpose, str(row.payload.get("locale", "nb")), row.payload
        )
        try:
            result = await sender.send(message)
        except Exception as error:  # senders should not raise; treat it as a passing failure
            result = Failed(repr(error))
        if isinstance(result, Sent):
            return Outcome(row, "sent")
        if isinstance(result, Unreachable):
            return Outcome(row, "unreachable", result.reason)
        if isinstance(result, RetryAfter):
            if limiter is not None:
                limiter.pause(result.seconds)  # a 429 is about the whole bot, not this row
            return self._later(row, result.seconds, "retry after")
        if row.attempts >= MAX_ATTEMPTS:
            return Outcome(row, "failed", result.reason)
        return self._later(row, min(2.0**row.attempts, 600.0), result.reason)

    def _later(self, row: OutboxRow, seconds: float, reason: str) -> Outcome:
        return Outcome(row, "pending", reason, self.clock() + timedelta(seconds=seconds))
