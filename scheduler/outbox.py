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
    SendResult,
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
SHUTDOWN_GRACE_SECONDS = 5.0
"""At shutdown, how long sends already under way may take to finish and be recorded."""


@dataclass(frozen=True)
class Outcome:
    """What became of one row: its new status (or a retry time) and why."""

    row: OutboxRow
    status: str
    reason: str | None = None
    retry_at: datetime | None = None


class OutboxDrainer:
    """Drains the outbox: claims due rows with a lease, sends within each channel's limits.

    At most `concurrency` rows are in flight (claimed and not yet recorded), so after a crash at
    most that many can be sent twice. `drain_once` sends one batch; `run` and
    `drain_until_empty` pipeline: a new half-batch is claimed while the rest is still waiting
    for its send slot, and outcomes are recorded a half-batch at a time, so the channel's rate
    is not lost to the database work between batches.
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
        self.paused_until: dict[str, float] = {}
        """Per channel, the limiter's clock time its last 429 told us to wait until."""
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.on_result: Callable[[str, SendResult], None] = lambda _channel, _result: None
        """Told each send's result (the app's metrics count them)."""

    async def drain_once(self) -> int:
        """Send one batch of what is due now; returns how many rows were handled."""
        rows = await self._claim(self.in_flight_limit)
        if not rows:
            return 0
        await self._record(await asyncio.gather(*(self._deliver(row) for row in rows)))
        return len(rows)

    async def drain_until_empty(self, interval: float = 0.2) -> None:
        """Drain until nothing is pending or leased any more (rows due later are waited for)."""
        while True:
            await self._pump()
            async with self.store.transaction() as tx:
                if not await tx.outbox.pending_count():
                    return
            await asyncio.sleep(interval)

    async def run(self, interval: float = 1.0) -> None:
        """Drain forever (cancelled at shutdown)."""
        while True:
            try:
                await self._pump()
            except Exception:  # a bad row or a database blip must not stop the drainer
                log.exception("outbox drain failed")
            await asyncio.sleep(interval)

    async def _pump(self) -> int:
        """Send what is due, keeping the pipeline full, until nothing due is left."""
        chunk = max(1, self.in_flight_limit // 2)
        in_flight: set[asyncio.Task[Outcome]] = set()
        done: list[Outcome] = []
        try:
            return await self._pump_loop(chunk, in_flight, done)
        except BaseException:  # shutdown, or a database blip between two batches
            await self._wind_down(in_flight, done)
            raise

    async def _pump_loop(
        self, chunk: int, in_flight: set[asyncio.Task[Outcome]], done: list[Outcome]
    ) -> int:
        handled = 0
        exhausted = False
        while True:
            free = self.in_flight_limit - len(in_flight) - len(done)
            if not exhausted and free >= chunk:
                rows = await self._claim(free)
                exhausted = not rows
                for row in rows:
                    in_flight.add(asyncio.create_task(self._deliver(row)))
            if not in_flight and not done:
                return handled
            if in_flight:
                finished, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                in_flight -= finished  # in place: a cancelled pump winds down what is left
                done += [task.result() for task in finished]
            # Record a half-batch at a time (or whatever is left at the end): rows stay "in
            # flight", counted against the limit, until their outcome is in the database.
            if len(done) >= chunk or (not in_flight and done) or exhausted:
                await self._record(done)
                handled += len(done)
                done.clear()

    async def _wind_down(self, in_flight: set[asyncio.Task[Outcome]], done: list[Outcome]) -> None:
        """When pumping stops: let sends under way finish briefly, record them, cancel the rest.

        Pumping stops at shutdown, or on an error between two batches (a database blip).

        A cancelled send's row stays claimed and goes out again once its lease runs out.
        """
        finished: set[asyncio.Task[Outcome]] = set()
        if in_flight:
            finished, pending = await asyncio.wait(in_flight, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        done += [t.result() for t in finished if not t.cancelled() and t.exception() is None]
        try:
            await self._record(done)
        except Exception:  # the caller's own error goes on; these rows are sent again later
            log.exception("outbox: could not record %d outcomes while stopping", len(done))

    async def _claim(self, limit: int) -> list[OutboxRow]:
        async with self.store.transaction() as tx:
            rows = await tx.outbox.claim(self.worker, self.clock(), limit, self.lease)
        await self._prepare(rows)
        return rows

    async def _prepare(self, rows: list[OutboxRow]) -> None:
        """Let senders do per-message database work for a whole group at once (tokens)."""
        by_channel: dict[str, list[OutboundMessage]] = {}
        for row in rows:
            message = self._message(row)
            if message is not None:
                by_channel.setdefault(row.channel, []).append(message)
        for channel, messages in by_channel.items():
            prepare = getattr(self.senders.get(channel), "prepare", None)
            if prepare is not None:
                await prepare(messages)

    async def _record(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
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

    @staticmethod
    def _message(row: OutboxRow) -> OutboundMessage | None:
        if row.external_id is None or row.identity_id is None:
            return None
        address = Address(row.channel, row.external_id, row.identity_id)
        return OutboundMessage(
            address, row.purpose, str(row.payload.get("locale", "nb")), row.payload, row.id
        )

    async def _deliver(self, row: OutboxRow) -> Outcome:
        sender = self.senders.get(row.channel)
        if sender is None or row.external_id is None or row.identity_id is None:
            gone = Unreachable("no reachable identity in this channel")
            self.on_result(row.channel, gone)
            return Outcome(row, "unreachable", gone.reason)
        limiter = self.limiters.get(row.channel)
        while limiter is not None:
            wait = limiter.reserve(row.external_id) - limiter.clock()
            if wait > self.lease / 2:
                # Sleeping past the lease would let another sender take the row too: give it
                # back, due when the channel allows it.
                return self._later(row, wait, "waiting for the channel's rate limit")
            if wait > 0:
                await limiter.sleep(wait)
            await limiter.admit()
            # A 429 that came in while this row waited for its slot holds it back too.
            if self.paused_until.get(row.channel, 0.0) <= limiter.clock():
                break
        message = self._message(row)
        assert message is not None
        try:
            # A send still hanging when the lease runs out would be sent again by whoever
            # takes the row over (botbuilder's HTTP client waits 100 s): give up well before.
            async with asyncio.timeout(self.lease / 2):
                result = await sender.send(message)
        except TimeoutError:
            result = Failed(f"no answer within {self.lease / 2:g} s")
        except Exception as error:  # senders should not raise; treat it as a passing failure
            result = Failed(repr(error))
        self.on_result(row.channel, result)
        if isinstance(result, Sent):
            return Outcome(row, "sent")
        if isinstance(result, Unreachable):
            return Outcome(row, "unreachable", result.reason)
        if isinstance(result, RetryAfter):
            if limiter is not None:
                limiter.pause(result.seconds)  # a 429 is about the whole bot, not this row
                self.paused_until[row.channel] = max(
                    self.paused_until.get(row.channel, 0.0), limiter.clock() + result.seconds
                )
            return self._later(row, result.seconds, "retry after")
        if row.attempts >= MAX_ATTEMPTS:
            return Outcome(row, "failed", result.reason)
        return self._later(row, min(2.0**row.attempts, 600.0), result.reason)

    def _later(self, row: OutboxRow, seconds: float, reason: str) -> Outcome:
        return Outcome(row, "pending", reason, self.clock() + timedelta(seconds=seconds))
