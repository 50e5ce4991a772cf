"""Test helpers: the Teams activity handler driven by botbuilder's TestAdapter, card by card."""

from __future__ import annotations

from typing import Any

from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes

from bot.app import Services
from bot.channels.teams.channel import TeamsChannel
from tests.webchat import NOW, settings_for


def teams_channel(services: Services, db_url: str) -> TeamsChannel:
    """The channel on the test services (dev mode: no app id, no auth)."""
    settings = settings_for(db_url, teams_dev_mode=True)
    return TeamsChannel(settings, services.store, services.conversation, lambda: NOW)


class TeamsTestUser:
    """One person in a TestAdapter conversation; reads the cards the bot sends."""

    def __init__(self, channel: TeamsChannel) -> None:
        self.adapter = TestAdapter(channel.on_turn)
        self.cards: list[dict[str, Any]] = []
        self.texts: list[str] = []

    def _drain(self) -> list[dict[str, Any]]:
        fresh = []
        while (activity := self.adapter.get_next_activity()) is not None:
            if activity.attachments:
                fresh.append(activity.attachments[0].content)
            elif activity.text:
                self.texts.append(activity.text)
        self.cards += fresh
        return fresh

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Type a line; returns the new cards."""
        await self.adapter.receive_activity(Activity(type=ActivityTypes.message, text=text))
        return self._drain()

    async def press(
        self, title: str, inputs: dict[str, Any] | None = None, card: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Press the submit button with this title on the newest card that has it."""
        for candidate in [card] if card else reversed(self.cards):
            for action in candidate.get("actions", []):
                if action["title"] == title or action["title"].endswith(": " + title):
                    value = {**action["data"], **(inputs or {})}
                    await self.adapter.receive_activity(
                        Activity(type=ActivityTypes.message, value=value)
                    )
                    return self._drain()
        raise LookupError(f"no button {title!r} on the cards")

    async def answer(self, value: Any) -> list[dict[str, Any]]:
        """Fill the newest question card's input and press its answer button."""
        return await self.press("Svar", {"answer": value}, card=self.last())

    def last(self) -> dict[str, Any]:
        """The newest card."""
        return self.cards[-1]


def card_texts(content: dict[str, Any]) -> list[str]:
    """Every text a card shows (TextBlocks, TextRuns, input labels, facts)."""
    found: list[str] = []
    for element in content.get("body", []):
        if element["type"] == "TextBlock":
            found.append(element["text"])
        elif element["type"] == "RichTextBlock":
            found += [run["text"] for run in element["inlines"]]
        elif "label" in element:
            found.append(element["label"])
        elif element["type"] == "FactSet":
            found += [f"{f['title']}: {f['value']}" for f in element["facts"]]
    return found
