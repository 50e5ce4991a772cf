"""The Teams Sender: proactive outbox messages through the stored conversation reference."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from bot.channels.base import Failed, OutboundMessage, RetryAfter, SendResult, Sent, Unreachable
from bot.channels.teams.render import render_payload
from storage.store import Store

if TYPE_CHECKING:
    from bot.channels.teams.channel import TeamsChannel

RETRY_STATUSES = {429, 412, 502, 504}
GONE_STATUSES = {403, 404}
REPLY_ATTEMPTS = 3
MAX_REPLY_WAIT = 10.0
"""Seconds a reply in a conversation waits out a 429/5xx; beyond, the person can /resume."""
T = TypeVar("T")


def status_of(error: Exception) -> int | None:
    """The HTTP status behind a botbuilder/msrest error, when it carries one."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if isinstance(status, int) else None


def classify(error: Exception) -> SendResult:
    """429/412/502/504 are retried (honouring Retry-After), 403/404 mean the person is gone."""
    status = status_of(error)
    if status in GONE_STATUSES:
        return Unreachable(f"Teams answered {status}")
    if status in RETRY_STATUSES:
        headers = getattr(getattr(error, "response", None), "headers", None) or {}
        try:
            return RetryAfter(float(headers.get("Retry-After", 1)))
        except (TypeError, ValueError):
            return RetryAfter(1.0)
    return Failed(repr(error)[:300])


async def patiently(send: Callable[[], Awaitable[T]]) -> T:
    """A reply inside a turn, retried through a short 429 or 502/504 (honouring Retry-After).

    The person's answer is stored before the reply goes out; waiting out a brief fault shows
    them the next card without having to ask for it again.
    """
    attempt = 1
    while True:
        try:
            return await send()
        except Exception as error:  # botbuilder raises many kinds; classify by HTTP status
            verdict = classify(error)
            if (
                not isinstance(verdict, RetryAfter)
                or attempt >= REPLY_ATTEMPTS
                or verdict.seconds > MAX_REPLY_WAIT
            ):
                raise
            await asyncio.sleep(verdict.seconds)
        attempt += 1


class TeamsSender:
    """Sends outbox bodies into the person's Teams chat."""

    channel = "teams"

    def __init__(self, teams: TeamsChannel, store: Store) -> None:
        self.teams = teams
        self.store = store

    async def send(self, message: OutboundMessage) -> SendResult:
        """continue_conversation with the stored reference and the bot's app id."""
        async with self.store.transaction() as tx:
            reference = await tx.org.conversation_ref(message.address.identity_id)
        if not reference:
            return Unreachable("no stored Teams conversation reference")
        try:
            sent = await self.teams.proactive(
                reference, message.address.external_id, render_payload(message.body)
            )
        except Exception as error:  # botbuilder raises many kinds; classify by HTTP status
            return classify(error)
        return Sent(sent)
