"""Check-ins in the web chat and in Teams, as the staff member sees them.

The invitation travels through the outbox drainer; the person starts it, gets one question per
assigned measure with the four answers (started / planned / not relevant / don't know) and
«Hopp over», submits, and exactly the answers given are stored, each with its measure.
tests/bot/test_telegram.py has the same for Telegram.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import SERVICES, Services
from bot.channels.teams.sender import TeamsSender
from bot.services.account import new_code
from bot.services.checkins import CheckinService
from dialogs.model import Role
from storage import models as m
from tests.bot.test_checkins import invitation
from tests.services import person_id, seed, services_on
from tests.teams_chat import TeamsTestUser, card_texts, teams_channel
from tests.webchat import NOW, ChatUser, running_app, settings_for

MEASURES = ("felles-opplaering", "samarbeidsmoter", "utskrivningssamtale")
"""The example measures of every hospital department, in the order they are asked."""

CODES = ("started", "planned", "not_relevant", "dont_know")
"""dialogs.model.MeasureAnswer, in the order the buttons show them."""


@dataclass(frozen=True)
class Wording:
    """What a check-in says in one language (dialogs/options.py and dialogs/i18n/*.po)."""

    invitation: str
    title: str
    intro: str
    questions: tuple[str, ...]  # one per MEASURES
    answers: tuple[str, ...]  # one per CODES
    skip: str
    back: str
    summary: str
    submit: str
    thanks: str
    open_rounds: str

    def question(self, measure: str) -> str:
        return self.questions[MEASURES.index(measure)]

    def answer(self, code: str) -> str:
        return self.answers[CODES.index(code)]


NB = Wording(
    invitation="Har tiltakene startet der du jobber? 3 korte spørsmål, ett trykk hver.",
    title="Status for tiltak",
    intro="Noen korte spørsmål om tiltakene der du jobber. «Vet ikke» er et helt greit svar.",
    questions=(
        "Har tiltaket «Felles opplæring for ansatte i sykehus og kommune» startet der du jobber?",
        "Har tiltaket «Økt bruk av samarbeidsmøter om den enkelte pasient» startet der du jobber?",
        "Har tiltaket «Fast utskrivningssamtale med kommunen før utskrivning» startet der du"
        " jobber?",
    ),
    answers=(
        "Tiltaket er igangsatt",
        "Tiltaket er planlagt",
        "Tiltaket er ikke aktuelt for oss",
        "Vet ikke",
    ),
    skip="Hopp over",
    back="Tilbake",
    summary="Her er svarene dine. Se over dem og trykk «Send inn», eller endre et svar først.",
    submit="Send inn",
    thanks="Takk! Svarene dine er sendt inn.",
    open_rounds="Du har åpne undersøkelser:",
)
EN = Wording(
    invitation="Have the measures started where you work? 3 short questions, one tap each.",
    title="Measure check-in",
    intro='A few short questions about the measures where you work. "Don\'t know" is a fine'
    " answer.",
    questions=(
        "Has the measure “Joint training for hospital and municipal staff” started where you"
        " work?",
        "Has the measure “More use of collaboration meetings about the individual patient”"
        " started where you work?",
        "Has the measure “A set discharge conversation with the municipality before discharge”"
        " started where you work?",
    ),
    answers=(
        "The measure has started",
        "The measure is planned",
        "The measure is not relevant for us",
        "Don't know",
    ),
    skip="Skip",
    back="Back",
    summary="Here are your answers. Check them and press “Submit”, or change an answer first.",
    submit="Submit",
    thanks="Thank you! Your answers have been submitted.",
    open_rounds="You have open surveys:",
)


@dataclass(frozen=True)
class Stored:
    """A person's check-in in the database."""

    submitted: list[tuple[str, str | None, str | None]]  # (item_id, measure_id, choice)
    in_progress: list[tuple[str, str | None, str | None]]
    status: str
    completed_on: date | None
    assigned: list[str] | None
    outbox: str | None


async def stored(services: Services, round_id: int, person: int, channel: str) -> Stored:
    """Answer rows, participation and the invitation's outbox row of one person.

    The page may show a message a moment before the drainer records it as sent, so this waits
    (up to a few seconds) for the invitation's row to leave "pending".
    """
    for _ in range(50):
        found = await _stored(services, round_id, person, channel)
        if found.outbox != "pending":
            return found
        await asyncio.sleep(0.1)
    return found


async def _stored(services: Services, round_id: int, person: int, channel: str) -> Stored:
    async with services.store.transaction() as tx:
        rows = (
            await tx.session.execute(
                select(
                    m.Answer.item_id, m.Answer.measure_id, m.Answer.choice, m.Answer.response_id
                )
                .where(m.Answer.round_id == round_id, m.Answer.person_id == person)
                .order_by(m.Answer.id)
            )
        ).all()
        participation = await tx.session.scalar(
            select(m.Participation).where(
                m.Participation.round_id == round_id, m.Participation.person_id == person
            )
        )
        outbox = await tx.session.scalar(
            select(m.OutboxMessage).where(
                m.OutboxMessage.idempotency_key == f"checkin:{round_id}:{person}"
            )
        )
    assert participation is not None and outbox is not None
    assert outbox.channel == channel
    return Stored(
        submitted=[(r.item_id, r.measure_id, r.choice) for r in rows if r.response_id],
        in_progress=[(r.item_id, r.measure_id, r.choice) for r in rows if not r.response_id],
        status=participation.status,
        completed_on=participation.completed_on,
        assigned=participation.assigned,
        outbox=outbox.status,
    )


def answer_rows(answers: dict[str, str | None]) -> list[tuple[str, str, str]]:
    """The rows `answers` (measure -> code, None: skipped) should leave, in the order asked."""
    return [
        (f"tiltak.{measure}", measure, code)
        for measure, code in answers.items()
        if code is not None
    ]


async def open_checkin(services: Services, db_url: str, unit: str) -> int:
    checkins = CheckinService(services.store, services.catalog, settings_for(db_url))
    report = await checkins.open_checkin(unit, 0, NOW)
    assert (report.queued, report.measures) == (1, len(MEASURES))  # one staff member has a chat
    assert report.round_id is not None
    return report.round_id


# --- web chat ------------------------------------------------------------------------------


def web_lines(messages: list[dict[str, Any]]) -> list[str]:
    """The first line of each bot message: what the transcript shows at a glance."""
    return [msg["text"].split("\n")[0] for msg in messages if msg["direction"] == "out"]


async def web_checkin(
    db_url: str, name: str, unit: str, words: Wording, answers: dict[str, str | None]
) -> tuple[list[str], list[tuple[str, str]], Stored]:
    """`name` answers (code) or skips (None) each measure in the web chat, then submits.

    Returns the transcript from the invitation on, the summary rows, and what was stored.
    """
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        services = server.app[SERVICES]
        await user.be(name)
        start = len(user.seen)
        round_id = await open_checkin(services, db_url, unit)
        invite = await invitation(user)  # polls until the drainer has delivered it
        assert invite["rounds"] == [{"round_id": round_id, "title": words.title, "label": "Start"}]
        said = await user.send(type="begin", round_id=round_id)
        assert said[0]["type"] == "say" and said[0]["key"] == "engine.intro"
        for position, (measure, code) in enumerate(answers.items(), start=1):
            question = user.current()
            assert (question["item_id"], question["kind"]) == (
                f"tiltak.{measure}",
                "measure_status",
            )
            assert (question["position"], question["total"]) == (position, len(answers))
            assert question["input"] == "buttons"
            buttons = [(c["id"], c["label"]) for c in question["choices"]]
            assert buttons == list(zip(CODES, words.answers, strict=True))
            actions = [(a["kind"], a["label"]) for a in question["actions"]]
            assert actions[0] == ("skip", words.skip)
            assert (("back", words.back) in actions) == (position > 1)
            if code is None:
                await user.action("skip", question["item_id"])
            else:
                await user.choose(code)
        summary = user.last()
        assert summary["type"] == "summary"
        assert ("submit", words.submit) in [(a["kind"], a["label"]) for a in summary["actions"]]
        rows = [(r["question"], r["answer"]) for r in summary["rows"]]
        await user.action("submit")
        transcript = web_lines(user.seen[start:])
        person = await person_id(services, name)
        return transcript, rows, await stored(services, round_id, person, "web")


WEB_PEOPLE = [
    pytest.param("Kari Nordmann", "hjerteavdelingen", NB, id="nb"),
    pytest.param("Ahmed Ali", "lungeavdelingen", EN, id="en"),  # locale en in the roster
]


@pytest.mark.parametrize(("name", "unit", "words"), WEB_PEOPLE)
async def test_a_checkin_in_the_web_chat(db_url, name, unit, words):
    answers: dict[str, str | None] = {
        "felles-opplaering": "started",
        "samarbeidsmoter": "not_relevant",
        "utskrivningssamtale": "dont_know",
    }
    transcript, rows, db = await web_checkin(db_url, name, unit, words, answers)
    assert transcript == [
        words.invitation,
        words.intro,
        *words.questions,
        words.summary,
        words.thanks,
        words.open_rounds,  # the example survey is still open
    ]
    assert rows == [(words.question(k), words.answer(v)) for k, v in answers.items()]
    assert db.assigned == list(MEASURES)  # fewer staff than k: everyone gets every measure
    assert db.submitted == answer_rows(answers)
    assert (db.status, db.completed_on, db.outbox) == ("completed", NOW.date(), "sent")


async def test_skipping_the_rest_in_the_web_chat_stores_only_the_answered(db_url):
    answers: dict[str, str | None] = {
        "felles-opplaering": "planned",
        "samarbeidsmoter": None,
        "utskrivningssamtale": None,
    }
    transcript, rows, db = await web_checkin(
        db_url, "Kari Nordmann", "hjerteavdelingen", NB, answers
    )
    assert transcript == [
        NB.invitation,
        NB.intro,
        *NB.questions,
        NB.summary,
        NB.thanks,
        NB.open_rounds,
    ]
    assert rows == [(NB.question("felles-opplaering"), NB.answer("planned"))]
    assert (
        db.submitted
        == answer_rows(answers)
        == [("tiltak.felles-opplaering", "felles-opplaering", "planned")]
    )
    assert db.in_progress == db.submitted  # nothing at all is written for a skipped measure
    assert (db.status, db.completed_on) == ("completed", NOW.date())


# --- Teams ---------------------------------------------------------------------------------

ANSWER = "Svar"
START = f"Start: {NB.title}"


async def teams_staff(services: Services, db_url: str) -> TeamsTestUser:
    """A new staff member of hjerteavdelingen who joined in Teams with an invite code, and whose
    proactive messages (sent by the outbox drainer) arrive in the same TestAdapter chat."""
    code = new_code()
    async with services.store.transaction() as tx:
        await tx.org.create_invite(
            code, NOW + timedelta(days=1), "hjerteavdelingen", None, Role.STAFF, 1
        )
    channel = teams_channel(services, db_url)
    user = TeamsTestUser(channel)
    await user.say("hei")  # stores the conversation reference
    greeting = await user.say(code)
    assert card_texts(greeting[-1]) == [NB.open_rounds]
    channel.adapter = user.adapter  # continue_conversation lands in this chat
    services.drainer.senders["teams"] = TeamsSender(channel, services.store)
    return user


def titles(card: dict[str, Any]) -> list[str]:
    return [action["title"] for action in card.get("actions", [])]


async def teams_checkin(
    db_url: str, answers: dict[str, str | None]
) -> tuple[list[list[str]], Stored]:
    """The Teams staff member answers (code) or skips (None) each measure, then submits.

    Returns the texts of every card from the invitation on, and what was stored.
    """
    async with services_on(db_url) as services:
        await seed(services)
        user = await teams_staff(services, db_url)
        start = len(user.cards)
        round_id = await open_checkin(services, db_url, "hjerteavdelingen")
        assert await services.drainer.drain_once() == 1
        [invite] = user._drain()
        assert titles(invite) == [START]
        await user.press(START, card=invite)
        for position, (measure, code) in enumerate(answers.items(), start=1):
            question = user.last()
            [choices] = [e for e in question["body"] if e["type"] == "Input.ChoiceSet"]
            assert choices["label"] == NB.question(measure)
            assert (choices["style"], choices["isMultiSelect"]) == ("expanded", False)
            shown = [(c["value"], c["title"]) for c in choices["choices"]]
            assert shown == list(zip(CODES, NB.answers, strict=True))
            assert titles(question)[:2] == [ANSWER, NB.skip]
            assert (NB.back in titles(question)) == (position > 1)
            if code is None:
                await user.press(NB.skip, card=question)
            else:
                await user.answer(code)
        assert NB.submit in titles(user.last())
        await user.press(NB.submit, card=user.last())
        async with services.store.transaction() as tx:
            identity = await tx.org.identity("teams", "User1")
        assert identity is not None and identity.person_id is not None
        transcript = [card_texts(card) for card in user.cards[start:]]
        return transcript, await stored(services, round_id, identity.person_id, "teams")


def teams_transcript(answers: dict[str, str | None]) -> list[list[str]]:
    """The cards' texts: invitation, intro, a card per question, summary, thanks, offer."""
    total = len(answers)
    questions = [[f"{n}/{total}", NB.question(k)] for n, k in enumerate(answers, start=1)]
    facts = [f"{NB.question(k)}: {NB.answer(v)}" for k, v in answers.items() if v is not None]
    return [
        [NB.invitation],
        [NB.intro],
        *questions,
        [NB.summary, *facts],
        [NB.thanks],
        [NB.open_rounds],
    ]


async def test_a_checkin_in_teams(db_url):
    answers: dict[str, str | None] = {
        "felles-opplaering": "planned",
        "samarbeidsmoter": "dont_know",
        "utskrivningssamtale": "started",
    }
    transcript, db = await teams_checkin(db_url, answers)
    assert transcript == teams_transcript(answers)
    assert db.assigned == list(MEASURES)
    assert db.submitted == answer_rows(answers)
    assert (db.status, db.completed_on, db.outbox) == ("completed", NOW.date(), "sent")


async def test_skipping_the_rest_in_teams_stores_only_the_answered(db_url):
    answers: dict[str, str | None] = {
        "felles-opplaering": "dont_know",
        "samarbeidsmoter": "not_relevant",
        "utskrivningssamtale": None,
    }
    transcript, db = await teams_checkin(db_url, answers)
    assert transcript == teams_transcript(answers)
    assert db.submitted == answer_rows(answers) and len(db.submitted) == 2
    assert db.in_progress == db.submitted  # nothing at all is written for a skipped measure
    assert (db.status, db.completed_on) == ("completed", NOW.date())
