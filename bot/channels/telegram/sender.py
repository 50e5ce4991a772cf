"""The Telegram Sender: proactive outbox messages to a chat."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Bot, InlineKeyboardMarkup

from bot.channels.base import OutboundMessage, SendResult
from bot.channels.telegram.delivery import keyboard_in, send_safely
from bot.channels.telegram.render import render_payload
from storage.store import Store


class TelegramSender:
    """Sends outbox bodies (invitations, notices) with their buttons."""

    channel = "telegram"

    def __init__(self, bot: Bot, store: Store) -> None:
        self.bot = bot
        self.store = store
        self._keyboards: dict[int, InlineKeyboardMarkup] = {}

    async def prepare(self, messages: Sequence[OutboundMessage]) -> None:
        """Store the buttons' tokens of a group of messages in one transaction, ahead of sending.

        A write per message, between its send slot and its request, would stall the rate.
        """
        async with self.store.transaction() as tx:
            for message in messages:
                if message.outbox_id is None:
                    continue
                markup = await keyboard_in(
                    tx, message.address.identity_id, render_payload(message.body)
                )
                if markup is not None:
                    self._keyboards[message.outbox_id] = markup

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send; 429 -> RetryAfter, 403 -> Unreachable, other errors -> Failed (retried)."""
        out = render_payload(message.body)
        markup = self._keyboards.pop(message.outbox_id, None) if message.outbox_id else None
        return await send_safely(
            self.bot,
            self.store,
            message.address.identity_id,
            int(message.address.external_id),
            out,
            markup,
        )
