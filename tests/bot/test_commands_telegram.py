"""Owner status check-ins, /measures, /settings, /rounds and /remind in Telegram.

Each test drives the bot through the Bot API stand-in (webhook mode) as the people of
examples/people.csv: proactive prompts come through the app's own outbox drainer, buttons are
pressed by label, and what the chat shows and what the database holds are both asserted.
tests/bot/test_commands_teams.py has the same for Teams; the web chat versions are in
tests/bot/test_owner_checkins.py, test_measures.py, test_preferences.py and test_reminders.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.services.owners import OwnerCheckinService
from dialogs.i18n import format_day, format_percent
from storage import models as m
from tests.peers.telegram_api import TelegramApiStandIn
from tests.services import person_id
from tests.telegram_chat import TelegramUser, services, telegram_app
from tests.webchat import NOW, settings_for

# --- what the people read (dialogs/i18n/*.nb.po) --------------------------------------------

MEASURE = "samarbeidsmoter"
"""Owned by medisinsk-klinikk: its leader Per Dahl is asked about it."""
MEASURE_TITLE = "Økt bruk av samarbeidsmøter om den enkelte pasient"
ASK = f"Status for «{MEASURE_TITLE}»: det står som «ikke startet». Stemmer det fortsatt?"
CONFIRM = "Ja, fortsatt «ikke startet»"
UPDATE = "Oppdater status"
NOTE_HINT = "\nVil du legge til et notat, skriv: /measures samarbeidsmoter {status} notatet ditt"
CONFIRMED = f"Takk! «{MEASURE_TITLE}» står fortsatt som «ikke startet»." + NOTE_HINT.format(
    status="not_started"
)
PICK = f"«{MEASURE_TITLE}» har status ikke startet. Hva er status nå?"
STATUS_CHOICES = [
    "planlagt",
    "igangsatt",
    "gjennomført",
    "evaluert",
    "avsluttet uten gjennomføring",
]
LISTED = f"{MEASURE_TITLE} (ikke startet)"
MEASURES_LIST = "Tiltakene dine (trykk for å endre status):"
SET_STARTED = f"Registrert: «{MEASURE_TITLE}» er igangsatt." + NOTE_HINT.format(status="started")

SETTINGS_SHOWN = (
    "Innstillingene dine:\n"
    "Språk: Norsk bokmål\n"
    "Meldinger: på\n"
    "Tidsvindu for meldinger: når som helst utenom stille timer\n"
    "Borte: ingen perioder\n"
    "\n"
    "Endre dem slik:\n"
    "/settings window 15-21 (bare meldinger mellom 15 og 21)\n"
    "/settings window off\n"
    "/settings away 2027-07-05..2027-08-01\n"
    "/settings away off\n"
    "Stille timer (21:00–07:00) og helligdager gjelder alltid."
)
WINDOW_SET = "Du får nå meldinger bare mellom 15:00 og 21:00."
BAD_WINDOW = (
    "Det forstod jeg ikke. Skriv tidsvinduet som 15-21 eller 07:30-15:30,"
    " eller /settings window off."
)

TITLE = "Evaluering av samhandlingsseminaret"
"""The seeded example round: anonymous, open for the whole organisation for 30 days."""
CLOSES = format_day((NOW + timedelta(days=30)).astimezone(ZoneInfo("Europe/Oslo")).date(), "nb")
DENIED = "Du kan bare sende påminnelser for enheter der du er koordinator."
OPEN_ROUNDS = "Du har åpne undersøkelser:"
NO_OPEN_ROUNDS = "Du har ingen åpne undersøkelser nå. Jeg sier fra når det kommer en ny."
START = f"Start: {TITLE}"
SEND = "Send påminnelser"


def remind_button(round_id: int) -> str:
    return f"Påminn (nr. {round_id})"


def rounds_listing(round_id: int) -> str:
    """Lars's /rounds: 8 invited in fjordsida-sykehus (k = 5), Kari has answered."""
    rate = format_percent(100 / 8, "nb")
    return (
        "Åpne runder du kan sende påminnelser for:\n"
        f"«{TITLE}» (nr. {round_id}): 1 av 8 har svart ({rate}), åpen til {CLOSES}."
    )


DRY_RUN = (
    f"Prøvekjøring for «{TITLE}»: 2 får påminnelse nå. Holdes utenfor: 1 har svart, "
    "0 har fått 3 påminnelser allerede, 0 fikk en for under 24 timer siden, "
    "5 kan ikke nås i chat, 0 har satt meldinger på pause. Ingen navn vises, og ingen som har "
    "svart, får melding."
)
"""Lars, Ola and Kari are in a chat; Kari answered; the other five cannot be reached."""
QUEUED = (
    f"2 påminnelser er lagt i kø for «{TITLE}». Du får en leveringsrapport når de er sendt, "
    "og etter 24 timer hvor mange flere som har svart."
)
REMINDER = (
    f"Påminnelse: «{TITLE}» er åpen fram til {CLOSES}. Det tar bare noen minutter, og hvert "
    "svar teller."
)


# --- database reads shared with the Teams tests ----------------------------------------------


async def owner_checkins(store: Any) -> list[tuple[str, str, str, str | None]]:
    async with store.transaction() as tx:
        return [
            (c.measure_id, c.reason, c.period, c.answer) for c in await tx.owner_checkins.all()
        ]


async def measure_state(store: Any) -> tuple[str, list[Any]]:
    """The status of MEASURE and its status history."""
    async with store.transaction() as tx:
        plans = {p.slug: p.status.value for p in await tx.measures.plans()}
        return plans[MEASURE], await tx.measures.history(MEASURE)


async def send_window(store: Any, name: str) -> str | None:
    async with store.transaction() as tx:
        return await tx.session.scalar(select(m.Person.send_window).where(m.Person.name == name))


async def reminder_rows(store: Any) -> list[tuple[str, str, str]]:
    """(name, channel, idempotency key) of each reminder in the outbox, sorted by name."""
    async with store.transaction() as tx:
        named = {p.id: p.name for p in await tx.org.people(active_only=False)}
        rows = await tx.session.scalars(
            select(m.OutboxMessage).where(m.OutboxMessage.purpose == "reminder")
        )
        return sorted(
            (named[r.person_id], r.channel, r.idempotency_key) for r in rows if r.person_id
        )


async def reminder_runs(store: Any) -> int:
    async with store.transaction() as tx:
        return len(list(await tx.session.scalars(select(m.ReminderRun))))


async def example_round(store: Any) -> int:
    async with store.transaction() as tx:
        [round_] = await tx.rounds.all()
    assert round_.anonymous
    return round_.id


async def complete(store: Any, round_id: int, pid: int) -> None:
    """Mark a participation completed, as submitting the questionnaire does."""
    async with store.transaction() as tx:
        await tx.rounds.complete(round_id, pid, NOW.date())


# --- Telegram helpers ------------------------------------------------------------------------


@pytest.fixture
async def api():
    async with TelegramApiStandIn() as stand_in:
        yield stand_in


async def linked(server: TestServer, api: TelegramApiStandIn, chat_id: int, name: str):
    """An example person with a Telegram chat (linked as the demo and /link do)."""
    user = TelegramUser(api, chat_id, name.split()[0])
    pid = await person_id(services(server), name)
    await services(server).conversation.link("telegram", str(chat_id), pid, NOW)
    return user


def texts_since(user: TelegramUser, mark: int) -> list[str]:
    """What the bot sent to this chat since `mark`, in order."""
    calls = user.api.calls_to("sendMessage", chat_id=user.chat_id)
    return [c.params["text"] for c in calls if c.seq >= mark and c.status == 200]


def labels(message: Any) -> list[str]:
    return [text for text, _ in message.buttons]


async def owner_prompt(server: TestServer, api: TelegramApiStandIn, db_url: str):
    """Per Dahl in Telegram, asked monthly; returns him and the delivered prompt."""
    per = await linked(server, api, 4101, "Per Dahl")
    mark = api.mark()
    owners = OwnerCheckinService(services(server).store, settings_for(db_url))
    assert await owners.ask_monthly(NOW) == 1
    call = await api.wait_for_call("sendMessage", chat_id=4101, since=mark)
    prompt = per.chat.message(call.result["message_id"])
    assert prompt is not None
    assert await owner_checkins(services(server).store) == [(MEASURE, "monthly", "2026-11", None)]
    return per, prompt


# --- 1. owner status check-ins ---------------------------------------------------------------


async def test_the_owner_confirms_the_status_with_one_tap(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        per, prompt = await owner_prompt(server, api, db_url)
        assert prompt.text == ASK
        assert labels(prompt) == [CONFIRM, UPDATE]
        mark = api.mark()
        await per.press(CONFIRM, prompt)
        assert texts_since(per, mark) == [CONFIRMED]
        store = services(server).store
        assert await owner_checkins(store) == [(MEASURE, "monthly", "2026-11", "confirmed")]
        assert await measure_state(store) == ("not_started", [])


async def test_the_owner_updates_the_status_from_the_prompt(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        per, prompt = await owner_prompt(server, api, db_url)
        await per.press(UPDATE, prompt)
        assert per.last_text() == PICK
        assert labels(per.chat.last()) == STATUS_CHOICES
        mark = api.mark()
        await per.press("igangsatt")
        assert texts_since(per, mark) == [SET_STARTED]
        store = services(server).store
        assert await owner_checkins(store) == [(MEASURE, "monthly", "2026-11", "updated")]
        assert await measure_state(store) == ("started", [("started", None, None)])


async def test_measures_as_a_leader(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        per = await linked(server, api, 4102, "Per Dahl")
        await per.say("/measures")
        assert per.last_text() == MEASURES_LIST
        assert labels(per.chat.last()) == [LISTED]
        await per.press(LISTED)
        assert per.last_text() == PICK
        await per.press("igangsatt")
        assert per.last_text() == SET_STARTED
        kari = await linked(server, api, 4103, "Kari Nordmann")
        await kari.say("/tiltak")
        assert kari.last_text().startswith("Du har ingen tiltak du kan sette status på.")
        store = services(server).store
        assert await measure_state(store) == ("started", [("started", None, None)])
        assert await owner_checkins(store) == []  # nobody was asked: nothing to answer


# --- 2. /settings ----------------------------------------------------------------------------


async def test_settings_show_set_and_refuse_a_bad_window(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        store = services(server).store
        kari = await linked(server, api, 4201, "Kari Nordmann")
        await kari.say("/settings")
        assert kari.last_text() == SETTINGS_SHOWN
        await kari.say("/settings window 15-21")
        assert kari.last_text() == WINDOW_SET
        assert await send_window(store, "Kari Nordmann") == "15:00-21:00"
        await kari.say("/settings window x")
        assert kari.last_text() == BAD_WINDOW
        assert await send_window(store, "Kari Nordmann") == "15:00-21:00"  # unchanged
        await kari.say("/innstillinger")
        assert "Tidsvindu for meldinger: 15:00–21:00\n" in kari.last_text()


# --- 3. /rounds and /remind ------------------------------------------------------------------


async def test_staff_may_not_remind_and_see_their_own_rounds(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        store = services(server).store
        round_id = await example_round(store)
        ola = await linked(server, api, 4301, "Ola Hansen")
        kari = await linked(server, api, 4302, "Kari Nordmann")
        await complete(store, round_id, await person_id(services(server), "Kari Nordmann"))
        for typed in ("/remind", f"/remind {round_id}", "/påminn 1"):
            await ola.say(typed)
            assert ola.last_text() == DENIED, typed
        assert await reminder_rows(store) == []
        assert await reminder_runs(store) == 0
        await ola.say("/rounds")
        assert ola.last_text() == OPEN_ROUNDS
        assert labels(ola.chat.last()) == [START]
        await kari.say("/runder")
        assert kari.last_text() == NO_OPEN_ROUNDS  # she has answered the only open round
        assert labels(kari.chat.last()) == []


async def test_a_coordinator_lists_dry_runs_and_sends_reminders(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        store = services(server).store
        round_id = await example_round(store)
        lars = await linked(server, api, 4401, "Lars Moen")  # coordinator of fjordsida-sykehus
        ola = await linked(server, api, 4402, "Ola Hansen")
        kari = await linked(server, api, 4403, "Kari Nordmann")
        await complete(store, round_id, await person_id(services(server), "Kari Nordmann"))

        await lars.say("/rounds")
        listing = lars.chat.last()
        assert listing.text == rounds_listing(round_id)
        assert labels(listing) == [remind_button(round_id)]
        await lars.press(remind_button(round_id), listing)
        assert lars.last_text() == DRY_RUN
        assert labels(lars.chat.last()) == [SEND]
        assert await reminder_rows(store) == []  # a dry run sends nothing
        await lars.say(f"/remind {round_id}")  # the command is the same dry run
        assert lars.last_text() == DRY_RUN

        mark = api.mark()
        await lars.press(SEND)
        assert QUEUED in texts_since(lars, mark)  # the drainer may get a reminder in first
        queued = await reminder_rows(store)
        assert [(name, channel) for name, channel, _ in queued] == [
            ("Lars Moen", "telegram"),
            ("Ola Hansen", "telegram"),
        ]
        assert all(key.startswith(f"reminder:{round_id}:") for _, _, key in queued)
        assert await reminder_runs(store) == 1

        call = await api.wait_for_call("sendMessage", chat_id=4402, since=mark)
        reminder = ola.chat.message(call.result["message_id"])
        assert reminder is not None and reminder.text == REMINDER
        assert labels(reminder) == [START]
        await api.wait_for(lambda: REMINDER in texts_since(lars, mark), timeout=5)
        await asyncio.sleep(0.2)  # the drainer runs every 50 ms: Kari's chat stays quiet
        assert texts_since(kari, mark) == []


async def test_a_leader_gets_the_digest_as_text_and_a_chart_photo(db_url, api):
    from tests.bot.test_digest import answered_checkin

    async with telegram_app(db_url, "webhook", api, min_group_size=2) as server:
        await answered_checkin(services(server), db_url, {"kari": "dont_know", "ola": "planned"})
        ingrid = await linked(server, api, 4110, "Ingrid Berg")
        await ingrid.say("/digest 2026-W48")
        shown = ingrid.chat.messages[-2:]
        assert [m.kind for m in shown] == ["text", "photo"]
        assert shown[0].text.startswith("Ukesoversikt for Hjerteavdelingen, uke 48")
        assert "1 av 2 (50,00\u00a0%) svarer «Vet ikke»" in shown[0].text
        assert shown[1].text == "Svarfordeling per tiltak"  # the caption
        assert shown[1].file is not None and shown[1].file.data.startswith(b"\x89PNG")
        assert [c.method for c in api.calls_to("sendPhoto", 4110)] == ["sendPhoto"]
