"""Send-rate limits per channel: an overall rate and a per-recipient rate, by reserved slots."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

MAX_KEYS = 100_000
WINDOW = 1.02
"""Seconds over which actual sends are counted: the channel's sliding second, plus slack for
the milliseconds a request takes to arrive."""


@dataclass(frozen=True)
class Limits:
    """Messages per second overall and per recipient (None: unlimited)."""

    overall: float | None
    per_recipient: float | None


class RateLimiter:
    """Spaces sends so neither the overall nor the per-recipient rate is exceeded.

    Each `acquire` reserves the earliest slot allowed by both limits and sleeps until it, so
    concurrent senders share the rate exactly (no bursts, no lost capacity), and a 429 from the
    channel can push every later slot back with `pause`.
    """

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self._paused_until = 0.0
        self._next_for: dict[str, float] = {}
        # The overall budget is a grid of slots 1/rate apart; a message waiting for its
        # recipient takes a later slot without holding up messages to other recipients.
        self._taken: set[int] = set()
        self._sent: deque[float] = deque()

    def reserve(self, recipient: str) -> float:
        """Book the next slot for `recipient`; returns the monotonic time it starts."""
        now = self.clock()
        earliest = max(now, self._paused_until, self._next_for.get(recipient, 0.0))
        slot = earliest
        if self.limits.overall:
            index = math.ceil(earliest * self.limits.overall - 1e-9)
            while index in self._taken:
                index += 1
            self._taken.add(index)
            slot = index / self.limits.overall
            if len(self._taken) > MAX_KEYS:
                floor = math.floor(now * self.limits.overall)
                self._taken = {i for i in self._taken if i >= floor}
        if self.limits.per_recipient:
            if len(self._next_for) > MAX_KEYS:
                # Entries in the past no longer constrain anyone.
                self._next_for = {k: v for k, v in self._next_for.items() if v > now}
            self._next_for[recipient] = slot + 1.0 / self.limits.per_recipient
        return slot

    async def acquire(self, recipient: str) -> None:
        """Wait for this recipient's next allowed slot."""
        delay = self.reserve(recipient) - self.clock()
        if delay > 0:
            await self.sleep(delay)

    async def admit(self) -> None:
        """Call right before each request: at most `rate` sends in any WINDOW (> 1 s).

        Slots keep sends evenly spaced, but a loaded event loop wakes several late sends at
        once; counting the actual send times, the way a channel counts arrivals, stops such a
        bunch from making one window too many (a 429 and a pause cost far more than a wait).
        """
        rate = self.limits.overall
        if not rate or rate < 2:
            return
        cap = math.floor(rate)
        while True:
            now = self.clock()
            while self._sent and self._sent[0] <= now - WINDOW:
                self._sent.popleft()
            if len(self._sent) < cap:
                self._sent.append(now)
                return
            await self.sleep(self._sent[0] + WINDOW - now)

    def pause(self, seconds: float, recipient: str | None = None) -> None:
        """The channel said "slow down": no slot (for everyone, or one recipient) before then."""
        until = self.clock() + seconds
        if recipient is None:
            self._paused_until = max(self._paused_until, until)
        else:
            self._next_for[recipient] = max(self._next_for.get(recipient, 0.0), until)
