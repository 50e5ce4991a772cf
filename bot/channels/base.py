"""What every channel's sender speaks: OutboundMessage, SendResult and the Sender protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Address:
    """Where a message goes: a channel identity (and its stored conversation reference)."""

    channel: str
    external_id: str
    identity_id: int
    conversation_ref: dict[str, Any] | None = None


@dataclass(frozen=True)
class OutboundMessage:
    """A proactive message: channel-neutral content (rendered by the channel's sender)."""

    address: Address
    purpose: str
    locale: str
    body: dict[str, Any] = field(default_factory=dict)
    """JSON content, e.g. {"text": ..., "actions": [{"kind": "begin", "round_id": 3, ...}]}."""
    outbox_id: int | None = None
    """The outbox row it comes from (a sender may prepare work for it ahead, keyed by this)."""


@dataclass(frozen=True)
class Sent:
    """Delivered; `external_id` is the channel's message id when it gives one."""

    external_id: str | None = None


@dataclass(frozen=True)
class RetryAfter:
    """The channel asked us to slow down: try again after `seconds`."""

    seconds: float


@dataclass(frozen=True)
class Unreachable:
    """The person cannot be reached in this channel (blocked the bot, left, deleted)."""

    reason: str


@dataclass(frozen=True)
class Failed:
    """A failure that may pass (timeouts, 5xx): retried with backoff."""

    reason: str


SendResult = Sent | RetryAfter | Unreachable | Failed


class Sender(Protocol):
    """Delivers one outbound message in one channel.

    A sender may also have `async prepare(messages)`, called with a group of messages about to
    be sent, to do their database work in one transaction (Telegram's button tokens).
    """

    channel: str

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send and say what happened; never raises for delivery problems."""
        ...
