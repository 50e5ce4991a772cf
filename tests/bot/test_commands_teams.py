"""Owner status check-ins, /measures, /settings, /rounds and /remind in Teams.

The Teams activity handler under botbuilder's TestAdapter, one adapter (one chat) per person.
Proactive outbox messages go through the real TeamsSender and TeamsChannel.proactive; a small
router hands each continue_conversation to the chat of the person it addresses, so a reminder
for Ola lands in Ola's chat and nowhere else. The same transcripts in Telegram, and the wording
they assert, are in tests/bot/test_commands_telegram.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import ChannelAccount, ConversationAccount, ConversationReference

from bot.app import Services
from bot.channels.teams.channel import TeamsChannel
from bot.channels.teams.sender import TeamsSender
from bot.services.owners import OwnerCheckinService
from tests.bot.test_commands_telegram import (
    ASK,
    BAD_WINDOW,
    CONFIRM,
    CONFIRMED,
    DENIED,
    DRY_RUN,
    LISTED,
    MEASURE,
    MEASURES_LIST,
    NO_OPEN_ROUNDS,
    OPEN_ROUNDS,
    PICK,
    QUEUED,
    REMINDER,
    SEND,
    SET_STARTED,
    SETTINGS_SHOWN,
    START,
    STATUS_CHOICES,
    UPDATE,
    WINDOW_SET,
    complete,
    measure_state,
    owner_checkins,
    remind_button,
    reminder_rows,
    reminder_runs,
    rounds_listing,
    send_window,
)
from tests.services import person_id, seed, services_on
from tests.teams_chat import TeamsTestUser, card_texts, teams_channel
from tests.webchat import NOW, settings_for

Card = dict[str, Any]


class Chats:
    """Teams people by user id, all talking to one channel; proactive sends reach the right one.

    Stands in for the CloudAdapter's continue_conversation: it routes by the stored
    conversation reference's user to that person's TestAdapter.
    """

    def __init__(self, services: Services, db_url: str) -> None:
        self.services = services
        self.channel: TeamsChannel = teams_channel(services, db_url)
        self.people: dict[str, TeamsTestUser] = {}
        self.channel.adapter = self  # type: ignore[assignment]
        services.drainer.senders["teams"] = TeamsSender(self.channel, services.store)

    async def continue_conversation(
        self, reference: ConversationReference, callback: Callable[..., Any], bot_id: str
    ) -> None:
        adapter: TestAdapter = self.people[reference.user.id].adapter
        await adapter.continue_conversation(reference, callback, bot_id)

    async def join(self, user_id: str, name: str) -> TeamsTestUser:
        """An example person in their own Teams chat, linked (as the roster lookup does)."""
        user = TeamsTestUser(self.channel)
        user.adapter.template.from_property = ChannelAccount(id=user_id, name=name)
        user.adapter.template.conversation = ConversationAccount(id=f"conv-{user_id}")
        self.people[user_id] = user
        hello = await user.say("hei")  # not linked yet; stores the conversation reference
        assert "invitasjonskoden" in card_texts(hello[-1])[0]
        pid = await person_id(self.services, name)
        await self.services.conversation.link("teams", user_id, pid, NOW)
        return user

    async def drain(self) -> int:
        """One pass of the outbox drainer; returns how many messages it handled."""
        return await self.services.drainer.drain_once()


def titles(card: Card) -> list[str]:
    return [action["title"] for action in card.get("actions", [])]


def text_of(card: Card) -> str:
    """The card's text (prompts and notices are one TextBlock)."""
    [text] = card_texts(card)
    return text


async def owner_prompt(services: Services, db_url: str) -> tuple[TeamsTestUser, Card]:
    """Per Dahl in Teams, asked monthly; returns him and the delivered prompt card."""
    await seed(services)
    chats = Chats(services, db_url)
    per = await chats.join("per", "Per Dahl")
    owners = OwnerCheckinService(services.store, settings_for(db_url))
    assert await owners.ask_monthly(NOW) == 1
    assert await chats.drain() == 1
    [prompt] = per._drain()
    assert await owner_checkins(services.store) == [(MEASURE, "monthly", "2026-11", None)]
    return per, prompt


# --- 1. owner status check-ins ---------------------------------------------------------------


async def test_the_owner_confirms_the_status_with_one_tap(db_url):
    async with services_on(db_url) as services:
        per, prompt = await owner_prompt(services, db_url)
        assert text_of(prompt) == ASK
        assert titles(prompt) == [CONFIRM, UPDATE]
        assert {a["type"] for a in prompt["actions"]} == {"Action.Submit"}
        [thanks] = await per.press(CONFIRM, card=prompt)
        assert text_of(thanks) == CONFIRMED
        assert await owner_checkins(services.store) == [
            (MEASURE, "monthly", "2026-11", "confirmed")
        ]
        assert await measure_state(services.store) == ("not_started", [])


async def test_the_owner_updates_the_status_from_the_prompt(db_url):
    async with services_on(db_url) as services:
        per, prompt = await owner_prompt(services, db_url)
        [pick] = await per.press(UPDATE, card=prompt)
        assert text_of(pick) == PICK
        assert titles(pick) == STATUS_CHOICES
        [done] = await per.press("igangsatt", card=pick)
        assert text_of(done) == SET_STARTED
        assert await owner_checkins(services.store) == [(MEASURE, "monthly", "2026-11", "updated")]
        assert await measure_state(services.store) == ("started", [("started", None, None)])


# --- 4. /measures (not in tests/bot/test_teams.py) --------------------------------------------


async def test_measures_as_a_leader(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        chats = Chats(services, db_url)
        per = await chats.join("per", "Per Dahl")
        [listed] = await per.say("/measures")
        assert text_of(listed) == MEASURES_LIST
        assert titles(listed) == [LISTED]
        [pick] = await per.press(LISTED, card=listed)
        assert text_of(pick) == PICK
        [done] = await per.press("igangsatt", card=pick)
        assert text_of(done) == SET_STARTED
        kari = await chats.join("kari", "Kari Nordmann")
        [refused] = await kari.say("/tiltak")
        assert text_of(refused).startswith("Du har ingen tiltak du kan sette status på.")
        assert await measure_state(services.store) == ("started", [("started", None, None)])


# --- 2. /settings ----------------------------------------------------------------------------


async def test_settings_show_set_and_refuse_a_bad_window(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        kari = await Chats(services, db_url).join("kari", "Kari Nordmann")
        [shown] = await kari.say("/settings")
        assert text_of(shown) == SETTINGS_SHOWN
        [confirmed] = await kari.say("/settings window 15-21")
        assert text_of(confirmed) == WINDOW_SET
        assert await send_window(services.store, "Kari Nordmann") == "15:00-21:00"
        [bad] = await kari.say("/settings window x")
        assert text_of(bad) == BAD_WINDOW
        assert await send_window(services.store, "Kari Nordmann") == "15:00-21:00"
        [again] = await kari.say("/innstillinger")
        assert "Tidsvindu for meldinger: 15:00–21:00\n" in text_of(again)


# --- 3. /rounds and /remind ------------------------------------------------------------------


async def test_staff_may_not_remind_and_see_their_own_rounds(db_url):
    async with services_on(db_url) as services:
        round_id = await seed(services)
        chats = Chats(services, db_url)
        ola = await chats.join("ola", "Ola Hansen")
        kari = await chats.join("kari", "Kari Nordmann")
        await complete(services.store, round_id, await person_id(services, "Kari Nordmann"))
        for typed in ("/remind", f"/remind {round_id}", "/påminn 1"):
            [refused] = await ola.say(typed)
            assert text_of(refused) == DENIED, typed
        assert await reminder_rows(services.store) == []
        assert await reminder_runs(services.store) == 0
        [own] = await ola.say("/rounds")
        assert text_of(own) == OPEN_ROUNDS
        assert titles(own) == [START]
        [none] = await kari.say("/runder")
        assert text_of(none) == NO_OPEN_ROUNDS
        assert titles(none) == []


async def test_a_coordinator_lists_dry_runs_and_sends_reminders(db_url):
    async with services_on(db_url) as services:
        round_id = await seed(services)
        chats = Chats(services, db_url)
        lars = await chats.join("lars", "Lars Moen")  # coordinator of fjordsida-sykehus
        ola = await chats.join("ola", "Ola Hansen")
        kari = await chats.join("kari", "Kari Nordmann")
        await complete(services.store, round_id, await person_id(services, "Kari Nordmann"))

        [listing] = await lars.say("/rounds")
        assert text_of(listing) == rounds_listing(round_id)
        assert titles(listing) == [remind_button(round_id)]
        [plan] = await lars.press(remind_button(round_id), card=listing)
        assert text_of(plan) == DRY_RUN
        assert titles(plan) == [SEND]
        assert await reminder_rows(services.store) == []  # a dry run sends nothing
        [typed] = await lars.say(f"/remind {round_id}")
        assert text_of(typed) == DRY_RUN

        [queued] = await lars.press(SEND, card=plan)
        assert text_of(queued) == QUEUED
        rows = await reminder_rows(services.store)
        assert [(name, channel) for name, channel, _ in rows] == [
            ("Lars Moen", "teams"),
            ("Ola Hansen", "teams"),
        ]
        assert all(key.startswith(f"reminder:{round_id}:") for _, _, key in rows)
        assert await reminder_runs(services.store) == 1

        assert await chats.drain() == 2
        [reminder] = ola._drain()
        assert text_of(reminder) == REMINDER
        assert titles(reminder) == [START]
        assert [text_of(card) for card in lars._drain()] == [REMINDER]
        assert kari._drain() == []
