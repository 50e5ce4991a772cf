"""The Telegram Sender: proactive outbox messages to a chat."""

from __future__ import annotations

from telegram import Bot

from bot.channels.base import OutboundMessage, SendResult
from bot.channels.telegram.delivery import send_safely
from bot.channels.telegram.render import render_payload
from storage.store import Store


class TelegramSender:
    """Sends outbox bodies (invitations, notices) with their buttons."""

    channel = "telegram"

    def __init__(self, bot: Bot, store: Store) -> None:
        self.bot = bot
        self.store = store

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send; 429 -> RetryAfter, 403 -> Unreachable, other errors -> Failed (retried)."""
        out = render_payload(message.body)
        return await send_safely(
            self.bot,
            self.store,
            message.address.identity_id,
            int(message.address.external_id),
            out,
        )
