"""End to end through Microsoft's Teams emulator: the real app (Teams dev mode, no auth) served on
loopback, the M365 Agents Playground (tests/peers/teams_playground.py) as the Teams client.

The Playground's user is "Alex Wilber" (aadObjectId ...0020); his e-mail, alexw@example.com, is
only told by the members API, which our channel asks (TeamsInfo.get_member) to match the roster.
He is not in the example roster: a test enrols him with an invite code typed in the chat, or adds
him to the roster first. Cards are answered by submitting what Teams would send for the answer
button (its `{"t": token}` data merged with the `answer` input), replying to the card's id; the
web page test clicks the same cards in headless Chromium.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import SERVICES, Services
from bot.services.account import new_code
from dialogs.model import Role
from storage import models as m
from storage.database import create_engine, session_factory
from tests.bot.test_browser import CHROMIUM, CHROMIUM_ARGS, need
from tests.bot.test_web_chat import EXPECTED, stored_anonymous_answers
from tests.peers.teams_playground import USER, BotActivity, TeamsPlayground
from tests.peers.test_teams_playground import need_playground
from tests.services import open_round
from tests.teams_chat import card_texts
from tests.webchat import NOW, running_app

TITLE = "Evaluering av samhandlingsseminaret"
START = f"Start: {TITLE}"
OPEN_ROUNDS = "Du har åpne undersøkelser:"
STALE = "Den knappen hører til et tidligere steg og gjelder ikke lenger."
INVITATION = f"Du er invitert til å svare på «{TITLE}». Det tar noen minutter."
ANSWER = "Svar"
KEY = str(USER.aad_object_id)  # our channel's key for a Teams user: the Entra object id

# What the answered question cards say, in order, after the example run (see answer_example).
RECORDED = [
    "✔ Ja, jeg vil delta",
    "✔ Sykehus",
    "✔ Ansatt",
    "✔ 12",
    "✔ Fornøyd",
    "✔ Nyttig dag",
    "✔ Vet ikke",
    "✔ Nei",
    "✔ Ingen tid",
    "✔ Fra nærmeste leder, Personalmøter",
    "✔ Tiltaket er igangsatt",
    "✔ Vet ikke",
    "✔ Tiltaket er planlagt",
]


def texts(activity: BotActivity) -> list[str]:
    """Everything an activity shows: its text and the texts of its cards."""
    found = [activity.text] if activity.text else []
    for content in activity.cards:
        found += card_texts(content)
    return found


def buttons(activity: BotActivity) -> list[dict[str, Any]]:
    return [a for content in activity.cards for a in content.get("actions", [])]


@dataclass
class Turn:
    """What one user action caused: the bot's sends and updates during that turn."""

    activities: list[BotActivity]

    @property
    def sent(self) -> list[BotActivity]:
        return [a for a in self.activities if a.kind == "send"]

    @property
    def updates(self) -> list[BotActivity]:
        return [a for a in self.activities if a.kind == "update"]

    def texts(self) -> list[str]:
        return [t for a in self.sent for t in texts(a)]


class PlaygroundChat:
    """Alex Wilber's personal chat with our bot in the Playground, one turn at a time."""

    def __init__(self, services: Services, teams: TeamsPlayground) -> None:
        self.services = services
        self.teams = teams
        self.answered: list[tuple[str, BotActivity]] = []  # (question card id, its update)

    async def _turn(self, act: Callable[[], Awaitable[object]]) -> Turn:
        inbound = len(self.teams.activities_to_bot())
        outbound = len(self.teams.bot_activities())
        await act()
        # The Playground records an activity to the bot once the bot has answered it, so after
        # every reply of that turn (errors are not recorded: this then times out with a report).
        await self.teams.wait_for_activity_to_bot(
            lambda a: a.get("type") == "message", start=inbound
        )
        return Turn(self.teams.bot_activities()[outbound:])

    async def say(self, text: str) -> Turn:
        """Alex types a line."""
        return await self._turn(lambda: self.teams.send_text(text))

    def newest_with(self, title: str) -> BotActivity:
        """The newest card the bot sent with a button titled `title` (or "...: title")."""
        for activity in reversed(self.teams.bot_activities()):
            if activity.kind != "send":
                continue
            for action in buttons(activity):
                if action["title"] == title or action["title"].endswith(": " + title):
                    return activity
        raise LookupError(f"no card with a button {title!r}")

    async def press(
        self, title: str, inputs: dict[str, Any] | None = None, on: BotActivity | None = None
    ) -> Turn:
        """Press a card's submit button: its data and the inputs, replying to the card."""
        card = on or self.newest_with(title)
        action = next(
            a for a in buttons(card) if a["title"] == title or a["title"].endswith(": " + title)
        )
        assert set(action["data"]) == {"t"}, action  # only a token travels with the button
        assert card.id is not None
        value = {**action["data"], **(inputs or {})}
        card_id = card.id
        return await self._turn(lambda: self.teams.submit(card_id, value))

    async def answer(self, value: str, on: BotActivity | None = None) -> Turn:
        """Fill the newest question card's `answer` input and press «Svar»."""
        card = on or self.newest_with(ANSWER)
        turn = await self.press(ANSWER, {"answer": value}, on=card)
        for update in turn.updates:
            self.answered.append((card.id or "", update))
        return turn

    def question(self) -> list[str]:
        """The texts of the newest question card."""
        return texts(self.newest_with(ANSWER))


@asynccontextmanager
async def playground_chat(db_url: str) -> AsyncIterator[PlaygroundChat]:
    """The seeded app in Teams dev mode and the Playground pointed at its /api/messages."""
    need_playground()
    async with running_app(db_url, seed=True, teams_dev_mode=True) as server:
        endpoint = str(server.make_url("/api/messages"))
        async with TeamsPlayground(endpoint, timezone="Europe/Oslo") as teams:
            yield PlaygroundChat(server.app[SERVICES], teams)


async def add_alex_to_roster(services: Services) -> int:
    """Alex Wilber in the roster of hjerteavdelingen, invited to the open example round."""
    async with services.store.transaction() as tx:
        person, created = await tx.org.upsert_person(USER.email or "", USER.name, None)
        await tx.org.add_membership(person.id, "hjerteavdelingen", Role.STAFF)
        rounds = await tx.rounds.all()
    assert created
    # Opening the open round again invites newcomers of its audience (nobody is messaged:
    # Alex has no chat identity yet).
    for round_ in rounds:
        report = await services.rounds.open(round_.id, NOW)
        assert (report.invited, report.queued) == (1, 0)
    return person.id


async def enrol_with_code(chat: PlaygroundChat) -> Turn:
    """Alex types a fresh invite code for hjerteavdelingen; returns the greeting turn."""
    code = new_code()
    async with chat.services.store.transaction() as tx:
        await tx.org.create_invite(
            code, NOW + timedelta(days=1), "hjerteavdelingen", None, Role.STAFF, 1
        )
    unknown = await chat.say("hei")
    assert any("invitasjonskoden" in t for t in unknown.texts()), unknown.texts()
    return await chat.say(code)


async def linked_person(chat: PlaygroundChat) -> int | None:
    async with chat.services.store.transaction() as tx:
        identity = await tx.org.identity("teams", KEY)
        return identity.person_id if identity else None


async def answer_example(chat: PlaygroundChat) -> None:
    """Press Start on the invitation and answer the example questionnaire as EXPECTED says."""
    started = await chat.press(START)
    assert "Vil du delta?" in " ".join(started.texts())
    await chat.answer("yes")
    assert "Hvor jobber du?" in chat.question()
    await chat.answer("sykehus")
    await chat.answer("ansatt")
    number = chat.newest_with(ANSWER).cards[0]
    assert any(e["type"] == "Input.Number" for e in number["body"])
    await chat.answer("12")  # Teams sends every input value as text
    await chat.answer("6")
    assert "Vil du si noe mer om seminaret?" in chat.question()
    await chat.answer("Nyttig dag")
    await chat.answer("dont_know")
    await chat.answer("no")
    await chat.answer("Ingen tid")
    multi = chat.newest_with(ANSWER)
    choices = next(e for e in multi.cards[0]["body"] if e["type"] == "Input.ChoiceSet")
    assert choices["isMultiSelect"] is True
    too_many = await chat.answer("personalmote,leder,kolleger,intranett", on=multi)
    assert too_many.texts()[0].startswith("Du kan velge høyst 3."), too_many.texts()
    assert too_many.updates == []  # a refused answer leaves the card as it was
    await chat.answer("leder,personalmote")
    await chat.answer("started")
    await chat.answer("dont_know")
    await chat.answer("planned")
    assert "Har du andre kommentarer" in " ".join(chat.question())
    summary = await chat.press("Hopp over")
    assert "Hvor jobber du?: Sykehus" in summary.texts()
    assert "Hvor mange år har du jobbet i helse- og omsorgstjenesten?: 12" in summary.texts()
    thanks = await chat.press("Send inn")
    assert any("Takk for svarene" in t for t in thanks.texts()), thanks.texts()


def assert_answered_in_place(chat: PlaygroundChat) -> None:
    """Every accepted answer replaced its own question card (an update, same id) with ✔."""
    for card_id, update in chat.answered:
        assert update.id == card_id and update.status == 200, update
        assert update.url.endswith(f"/activities/{card_id}")
        assert buttons(update) == []  # nothing left to press on an answered card
    assert [texts(u)[-1] for _, u in chat.answered] == RECORDED


@pytest.mark.parametrize("enrolment", ["invite code", "roster"])
async def test_the_example_questionnaire_through_the_playground(
    db_url: str, enrolment: str
) -> None:
    async with playground_chat(db_url) as chat:
        if enrolment == "roster":
            person = await add_alex_to_roster(chat.services)
            greeting = await chat.say("hei")  # the members API tells his e-mail: linked
            assert await linked_person(chat) == person
        else:
            greeting = await enrol_with_code(chat)
            async with chat.services.store.transaction() as tx:
                newcomer = await tx.org.person(await linked_person(chat) or 0)
            assert newcomer is not None and newcomer.email is None
        assert [texts(a) for a in greeting.sent] == [[OPEN_ROUNDS]]
        assert [b["title"] for b in buttons(greeting.sent[0])] == [START]
        await answer_example(chat)
        assert_answered_in_place(chat)
        assert all(a.status in (200, 201) for a in chat.teams.bot_activities())
    assert await stored_anonymous_answers(db_url) == EXPECTED


async def outbox_row(db_url: str, key: str) -> m.OutboxMessage | None:
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            return await session.scalar(
                select(m.OutboxMessage).where(m.OutboxMessage.idempotency_key == key)
            )
    finally:
        await engine.dispose()


async def test_a_new_round_is_delivered_into_the_teams_chat_unasked(db_url: str) -> None:
    async with playground_chat(db_url) as chat:
        person = await add_alex_to_roster(chat.services)
        await chat.say("hei")  # links him and stores the conversation reference
        async with chat.services.store.transaction() as tx:
            identity = await tx.org.identity("teams", KEY)
            assert identity is not None and identity.person_id == person
            reference = await tx.org.conversation_ref(identity.id)
        assert reference["conversation"]["id"] == chat.teams.conversation_id

        inbound = len(chat.teams.activities_to_bot())
        outbound = len(chat.teams.bot_activities())
        round_id = await open_round(chat.services, anonymous=False, units=("hjerteavdelingen",))
        invitation = await chat.teams.wait_for_bot_activity(
            lambda a: INVITATION in texts(a), start=outbound, timeout=10
        )
        assert len(chat.teams.activities_to_bot()) == inbound  # nobody wrote anything
        assert invitation.kind == "send" and invitation.status == 201
        assert invitation.activity["conversation"]["id"] == chat.teams.conversation_id
        assert invitation.activity["recipient"]["id"] == USER.id
        assert [b["title"] for b in buttons(invitation)] == [START]

        # The drainer records the outcome once the connector has answered: wait for it.
        key = f"invitation:{round_id}:{person}"
        sent = await outbox_row(db_url, key)
        for _ in range(100):
            if sent is None or sent.status != "pending":
                break
            await asyncio.sleep(0.1)
            sent = await outbox_row(db_url, key)
        assert sent is not None and (sent.channel, sent.status) == ("teams", "sent")

        # Its Start button begins that round (the tokens were issued to his identity).
        started = await chat.press(START, on=invitation)
        assert "Vil du delta?" in " ".join(started.texts())
        async with chat.services.store.transaction() as tx:
            assert await tx.conversations.focus(person) == round_id


async def database_snapshot(db_url: str) -> dict[str, Any]:
    """Dialog states, answers and participations: what an answer could change."""
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            states = (await session.scalars(select(m.DialogStateRow))).all()
            participations = (await session.scalars(select(m.Participation))).all()
            return {
                "states": sorted((s.person_id, s.round_id, repr(s.state)) for s in states),
                "participations": sorted(
                    (p.round_id, p.person_id, p.status) for p in participations
                ),
                "answers": await session.scalar(select(func.count()).select_from(m.Answer)),
                "anonymous": await session.scalar(
                    select(func.count()).select_from(m.AnonymousAnswer)
                ),
            }
    finally:
        await engine.dispose()


async def test_an_answered_card_submitted_again_is_refused(db_url: str) -> None:
    async with playground_chat(db_url) as chat:
        await enrol_with_code(chat)
        await chat.press(START)
        consent = chat.newest_with(ANSWER)
        await chat.answer("yes", on=consent)
        assert "Hvor jobber du?" in chat.question()
        before = await database_snapshot(db_url)
        assert before["states"]  # the consent is held in the dialog state

        stale = await chat.press(ANSWER, {"answer": "no"}, on=consent)
        assert stale.texts() == [STALE]
        assert stale.updates == []  # the answered card keeps showing the recorded answer
        assert await database_snapshot(db_url) == before
        assert "Hvor jobber du?" in chat.question()  # still the open question
        onwards = await chat.answer("sykehus")
        assert [texts(u)[-1] for u in onwards.updates] == ["✔ Sykehus"]


@pytest.mark.browser
async def test_the_playground_page_in_headless_chromium(db_url: str) -> None:
    need_playground()
    need(CHROMIUM, "Debian's chromium")
    from playwright.async_api import Locator, Page, async_playwright

    async with playground_chat(db_url) as chat, async_playwright() as playwright:
        person = await add_alex_to_roster(chat.services)
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page: Page = await browser.new_page(locale="nb-NO")
            page.set_default_timeout(15_000)
            # Only the Playground itself: its fonts from cdn.office.net fail at once, offline.
            await page.route(re.compile(r"^(?!http://127\.0\.0\.1[:/])"), lambda r: r.abort())
            # Loading the page installs the app (installationUpdate + conversationUpdate).
            await page.goto(chat.teams.page_url, wait_until="domcontentloaded")
            box = page.locator('[contenteditable="true"][role="textbox"]')  # a Lexical editor
            await box.click()
            await page.keyboard.type("hei")
            await page.keyboard.press("Enter")

            def card_with(text: str) -> Locator:
                return page.locator(".ac-adaptiveCard", has_text=text).last

            await card_with(OPEN_ROUNDS).get_by_role("button", name=START).click()

            async def choose(question: str, *labels: str) -> None:
                card = card_with(question)
                await card.get_by_role("button", name=ANSWER).wait_for()
                for label in labels:
                    await card.get_by_text(label, exact=True).click()
                await card.get_by_role("button", name=ANSWER).click()
                # The card is updated in place: the page shows the recorded answer.
                answered = page.locator(".ac-adaptiveCard", has_text=question)
                await answered.filter(has_text="✔ " + ", ".join(labels)).wait_for()

            async def fill(question: str, value: str) -> None:
                card = card_with(question)
                await card.get_by_role("button", name=ANSWER).wait_for()
                await card.locator("input, textarea").first.fill(value)
                await card.get_by_role("button", name=ANSWER).click()
                answered = page.locator(".ac-adaptiveCard", has_text=question)
                await answered.filter(has_text="✔ " + value).wait_for()

            await choose("Vil du delta?", "Ja, jeg vil delta")
            await choose("Hvor jobber du?", "Sykehus")
            await choose("Hva er rollen din?", "Ansatt")
            await fill("Hvor mange år har du jobbet", "12")
            await choose("hvor fornøyd var du med samhandlingsseminaret?", "Fornøyd")
            await fill("Vil du si noe mer om seminaret?", "Nyttig dag")
            await choose("Seminaret ga meg ny kunnskap", "Vet ikke")
            await choose("Har din enhet laget en lokal tiltaksplan?", "Nei")
            await fill("Hva er grunnen til at enheten ikke", "Ingen tid")
            await choose("Velg opptil tre.", "Personalmøter", "Fra nærmeste leder")
            await choose("samarbeidsmøter om den enkelte pasient", "Tiltaket er igangsatt")
            await choose("Felles opplæring for ansatte", "Vet ikke")
            await choose("Fast utskrivningssamtale", "Tiltaket er planlagt")
            last = card_with("Har du andre kommentarer")
            await last.get_by_role("button", name="Hopp over").click()
            send = page.get_by_role("button", name="Send inn", exact=True)
            summary = page.locator(".ac-adaptiveCard").filter(has=send).last
            assert "Sykehus" in await summary.inner_text()  # a FactSet of the answers
            await summary.get_by_role("button", name="Send inn", exact=True).click()
            await card_with("Takk for svarene").wait_for()
        finally:
            await browser.close()

        assert await linked_person(chat) == person
        # What the page sent for the clicks: Teams' Action.Submit, the token plus the input.
        values = [a["value"] for a in chat.teams.activities_to_bot() if a.get("value")]
        assert all(set(v) <= {"t", "answer"} and v["t"] for v in values), values
        assert [v.get("answer") for v in values] == [
            None,  # Start
            "yes",
            "sykehus",
            "ansatt",
            "12",
            "6",
            "Nyttig dag",
            "dont_know",
            "no",
            "Ingen tid",
            "personalmote,leder",
            "started",
            "dont_know",
            "planned",
            None,  # Hopp over
            None,  # Send inn
        ]
    assert await stored_anonymous_answers(db_url) == EXPECTED
