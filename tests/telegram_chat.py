"""Test helpers: the bot wired to the Bot API stand-in, and a Telegram user who reads replies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestServer

from bot.app import SERVICES, Services
from bot.services.account import new_code
from dialogs.model import Role
from tests.peers.telegram_api import BotMessage, Delivery, SimulatedUser, TelegramApiStandIn
from tests.webchat import NOW, running_app

WEBHOOK_SECRET = "s3cret-webhook-token"
QUIET = 0.15
"""Seconds without a Bot API call for a chat after which the bot is taken to be done."""


@asynccontextmanager
async def telegram_app(
    db_url: str, mode: str, api: TelegramApiStandIn, **overrides: Any
) -> AsyncIterator[TestServer]:
    """The bot with examples loaded, talking to `api` by long polling or by webhook."""
    settings: dict[str, Any] = {
        "telegram_bot_token": api.token,
        "telegram_api_base_url": api.root,
        "telegram_poll_timeout": 1,
    }
    if mode == "webhook":
        settings.update(
            public_url="https://followup.example", telegram_webhook_secret=WEBHOOK_SECRET
        )
    settings.update(overrides)
    async with running_app(db_url, seed=True, **settings) as server:
        if mode == "webhook":
            # What the reverse proxy in front of the bot does: the public URL reaches us here.
            assert api.webhook_url == "https://followup.example/telegram/webhook"
            api.webhook_url = str(server.make_url("/telegram/webhook"))
        yield server


def services(server: TestServer) -> Services:
    """The app's services."""
    return server.app[SERVICES]


async def invite_code(server: TestServer, unit: str = "hjerteavdelingen", uses: int = 100) -> str:
    """A fresh invite code for a unit."""
    code = new_code()
    async with services(server).store.transaction() as tx:
        await tx.org.create_invite(code, NOW + timedelta(days=1), unit, None, Role.STAFF, uses)
    return code


class TelegramUser:
    """A person in Telegram: types, presses buttons by label, and waits for the bot's answer."""

    def __init__(self, api: TelegramApiStandIn, chat_id: int, name: str = "Kari") -> None:
        self.api = api
        self.user: SimulatedUser = api.user(chat_id, first_name=name)
        self.chat = api.chat(chat_id)
        self.chat_id = chat_id

    async def settle(self, since: int) -> None:
        """Wait until the bot has answered (a call for this chat) and gone quiet."""
        await self.api.wait_for(
            lambda: any(
                c.seq >= since and c.chat_id == self.chat_id and c.done for c in self.api.calls
            ),
            timeout=10,
        )
        while True:
            count = len(self.api.calls)
            await asyncio.sleep(QUIET)
            if len(self.api.calls) == count:
                return

    async def done(self, delivery: Delivery, mark: int) -> None:
        """A webhook delivery returns once handled; a polled update needs waiting for."""
        if delivery.route == "webhook":
            assert delivery.status == 200, delivery
            return
        await self.settle(mark)

    async def say(self, text: str) -> None:
        """Type a line."""
        mark = self.api.mark()
        await self.done(await self.user.send_text(text), mark)

    def find(self, label: str, message: BotMessage | None = None) -> tuple[BotMessage, str]:
        """The newest visible message with a button labelled `label`, and its data."""
        for candidate in [message] if message else reversed(self.chat.messages):
            for text, data in candidate.buttons:
                if text == label or text.endswith(" " + label):
                    assert data is not None
                    return candidate, data
        raise LookupError(
            f"no button {label!r}; last: {self.chat.last().text!r} {self.chat.last().buttons}"
        )

    async def press(self, label: str, message: BotMessage | None = None) -> None:
        """Press the newest button with this label."""
        found, data = self.find(label, message)
        mark = self.api.mark()
        await self.done(await self.user.press(found, data), mark)

    def last_text(self) -> str:
        """What the newest message says."""
        return self.chat.last().text

    def notices(self) -> list[str]:
        """Texts shown on button presses (answerCallbackQuery)."""
        return [a.text for a in self.chat.callback_answers if a.text]


async def answer_years_to_reasons(kari: TelegramUser) -> None:
    """The example questionnaire from «Hvor mange år» to the reason for not using the tool."""
    assert "Hvor mange år" in kari.last_text()
    await kari.say("12")
    await kari.press("Fornøyd")
    await kari.say("Nyttig dag")
    await kari.press("Vet ikke")
    await kari.press("Nei")
    await kari.say("Ingen tid")


async def answer_measures(kari: TelegramUser) -> None:
    """The example questionnaire's four measure questions, the last one skipped."""
    await kari.press("Tiltaket er igangsatt")
    await kari.press("Vet ikke")
    await kari.press("Tiltaket er planlagt")
    await kari.press("Hopp over")
