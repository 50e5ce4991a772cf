"""The web chat's Sender: a proactive message becomes a line in the person's web mailbox."""

from __future__ import annotations

from bot.channels.base import OutboundMessage, SendResult, Sent
from storage.store import Store


class WebChatSender:
    """Writes outbound messages where the page's poll will find them."""

    channel = "web"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def send(self, message: OutboundMessage) -> SendResult:
        """Append the message to the identity's transcript."""
        async with self.store.transaction() as tx:
            line = await tx.web.append(message.address.identity_id, "out", message.body)
        return Sent(external_id=str(line))
