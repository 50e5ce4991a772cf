"""The Teams Sender: proactive outbox messages through the stored conversation reference."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.base import Failed, OutboundMessage, RetryAfter, SendResult, Sent, Unreachable
from bot.channels.teams.render import render_payload
from storage.store import Store

if TYPE_CHECKING:
    from bot.channels.teams.channel import TeamsChannel

RETRY_STATUSES = {429, 412, 502, 504}
GONE_STATUSES = {403, 404}


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
