"""/settings (/innstillinger): a person's send window and away days, and what they delay.

Transcripts in the web chat assert what the person reads and what the people row holds after
each command; service-level tests open a check-in and read when its invitation may go out.
NOW (tests/webchat.py) is Monday 2026-11-23 09:00 UTC, 10:00 in Oslo.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import SERVICES, Services
from bot.services.checkins import CheckinService
from bot.services.messages import ChangeSettings
from bot.settings import Settings
from storage import models as m
from tests.services import link_web, seed, services_on
from tests.webchat import NOW, ChatUser, running_app, settings_for

OSLO = ZoneInfo("Europe/Oslo")
KARI, AHMED = "Kari Nordmann", "Ahmed Ali"  # nb and en in the example roster
UNIT = "hjerteavdelingen"  # Kari's unit, Europe/Oslo

NB_SHOW = (
    "Innstillingene dine:\n"
    "Språk: Norsk bokmål\n"
    "Meldinger: på\n"
    "Tidsvindu for meldinger: {window}\n"
    "Borte: {away}\n"
    "\n"
    "Endre dem slik:\n"
    "/settings window 15-21 (bare meldinger mellom 15 og 21)\n"
    "/settings window off\n"
    "/settings away 2027-07-05..2027-08-01\n"
    "/settings away off\n"
    "Stille timer (21:00–07:00) og helligdager gjelder alltid."
)
NB_ANY_TIME = "når som helst utenom stille timer"
NB_NOT_AWAY = "ingen perioder"
NB_BAD_WINDOW = (
    "Det forstod jeg ikke. Skriv tidsvinduet som 15-21 eller 07:30-15:30,"
    " eller /settings window off."
)
NB_BAD_AWAY = (
    "Det forstod jeg ikke. Skriv perioden som 2027-07-05..2027-08-01 (første og siste dag),"
    " eller /settings away off."
)
NB_QUIET = (
    "Det tidsvinduet ligger helt i de stille timene (21:00–07:00), så du ville aldri fått"
    " meldinger. Velg et annet."
)
NB_PAST = "Den perioden er allerede over, så ingenting er endret."

EN_SHOW = (
    "Your settings:\n"
    "Language: {language}\n"
    "Messages: on\n"
    "Send window: {window}\n"
    "Away: {away}\n"
    "\n"
    "Change them like this:\n"
    "/settings window 15-21 (messages only between 15:00 and 21:00)\n"
    "/settings window off\n"
    "/settings away 2027-07-05..2027-08-01\n"
    "/settings away off\n"
    "Quiet hours (21:00–07:00) and public holidays always apply."
)


# --- web chat transcripts --------------------------------------------------------------------


async def row(server: Any, name: str) -> tuple[str | None, list[list[str]] | None]:
    """The person's (send_window, away) columns as stored."""
    async with server.app[SERVICES].store.transaction() as tx:
        found = (
            await tx.session.execute(
                select(m.Person.send_window, m.Person.away).where(m.Person.name == name)
            )
        ).one()
    return found.send_window, found.away


async def says(user: ChatUser, text: str) -> list[tuple[str, str]]:
    """Type `text`; the (key, text) of each bot message in answer."""
    return [(msg.get("key"), msg["text"]) for msg in await user.say(text)]


async def test_settings_show_the_defaults(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be(KARI)
        shown = NB_SHOW.format(window=NB_ANY_TIME, away=NB_NOT_AWAY)
        assert await says(user, "/settings") == [("preferences.show", shown)]
        assert await says(user, "/innstillinger") == [("preferences.show", shown)]
        assert await row(server, KARI) == (None, None)


async def test_setting_and_clearing_the_send_window(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be(KARI)
        assert await says(user, "/settings window 15-21") == [
            ("preferences.window_set", "Du får nå meldinger bare mellom 15:00 og 21:00.")
        ]
        assert await row(server, KARI) == ("15:00-21:00", None)
        assert await says(user, "/settings") == [
            ("preferences.show", NB_SHOW.format(window="15:00–21:00", away=NB_NOT_AWAY))
        ]

        assert await says(user, "/settings window 07:30-15:30") == [
            ("preferences.window_set", "Du får nå meldinger bare mellom 07:30 og 15:30.")
        ]
        assert await row(server, KARI) == ("07:30-15:30", None)

        assert await says(user, "/settings window off") == [
            (
                "preferences.window_cleared",
                "Du kan nå få meldinger når som helst utenom stille timer.",
            )
        ]
        assert await row(server, KARI) == (None, None)


async def test_a_window_partly_in_quiet_hours_is_accepted(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be(KARI)
        assert [key for key, _ in await says(user, "/settings window 20-23")] == [
            "preferences.window_set"
        ]
        assert await row(server, KARI) == ("20:00-23:00", None)


async def test_setting_and_clearing_away_days_with_the_norwegian_command(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be(KARI)
        assert await says(user, "/innstillinger away 2027-07-05..2027-08-01") == [
            (
                "preferences.away_set",
                "Du får ingen meldinger fra 5. juli 2027 til og med 1. august 2027.",
            )
        ]
        assert await row(server, KARI) == (None, [["2027-07-05", "2027-08-01"]])

        # A period that began before today but is not over yet is kept and shown.
        assert [key for key, _ in await says(user, "/settings away 2026-11-20..2026-11-25")] == [
            "preferences.away_set"
        ]
        both = [["2027-07-05", "2027-08-01"], ["2026-11-20", "2026-11-25"]]
        assert await row(server, KARI) == (None, both)
        away = "5. juli 2027–1. august 2027, 20. november 2026–25. november 2026"
        assert await says(user, "/settings") == [
            ("preferences.show", NB_SHOW.format(window=NB_ANY_TIME, away=away))
        ]

        assert await says(user, "/settings away off") == [
            ("preferences.away_cleared", "Fraværsperiodene dine er fjernet.")
        ]
        assert await row(server, KARI) == (None, None)


BAD_INPUT = [
    pytest.param("/settings window x", "preferences.bad_window", NB_BAD_WINDOW, id="window-x"),
    pytest.param("/settings window", "preferences.bad_window", NB_BAD_WINDOW, id="window-empty"),
    pytest.param("/settings window 25-26", "preferences.bad_window", NB_BAD_WINDOW, id="hour-25"),
    pytest.param("/settings window 15-15", "preferences.bad_window", NB_BAD_WINDOW, id="15-15"),
    pytest.param("/settings window 15", "preferences.bad_window", NB_BAD_WINDOW, id="no-dash"),
    pytest.param("/settings window 22-06", "preferences.window_quiet", NB_QUIET, id="quiet"),
    pytest.param("/settings window 21-07", "preferences.window_quiet", NB_QUIET, id="quiet-all"),
    pytest.param("/settings away soon", "preferences.bad_away", NB_BAD_AWAY, id="away-word"),
    pytest.param("/settings away", "preferences.bad_away", NB_BAD_AWAY, id="away-empty"),
    pytest.param(
        "/settings away 2027-08-01..2027-07-05", "preferences.bad_away", NB_BAD_AWAY, id="reversed"
    ),
    pytest.param(
        "/settings away 2027-02-30..2027-03-02", "preferences.bad_away", NB_BAD_AWAY, id="feb-30"
    ),
    pytest.param(
        "/settings away 2026-11-01..2026-11-22", "preferences.away_past", NB_PAST, id="past"
    ),
]


@pytest.mark.parametrize(("command", "key", "text"), BAD_INPUT)
async def test_bad_input_says_why_and_changes_nothing(db_url, command, key, text):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be(KARI)
        await says(user, "/settings window 15-21")
        await says(user, "/settings away 2027-07-05..2027-08-01")
        before = await row(server, KARI)
        assert before == ("15:00-21:00", [["2027-07-05", "2027-08-01"]])
        assert await says(user, command) == [(key, text)]
        assert await row(server, KARI) == before


async def test_settings_in_english(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be(AHMED)
        assert await says(user, "/settings window 15-21") == [
            ("preferences.window_set", "You now get messages only between 15:00 and 21:00.")
        ]
        assert await says(user, "/settings away 2027-07-05..2027-08-01") == [
            (
                "preferences.away_set",
                "You get no messages from 5 July 2027 to 1 August 2027 inclusive.",
            )
        ]
        shown = EN_SHOW.format(
            language="English", window="15:00–21:00", away="5 July 2027–1 August 2027"
        )
        assert await says(user, "/settings") == [("preferences.show", shown)]
        assert await says(user, "/settings window 22-06") == [
            (
                "preferences.window_quiet",
                "That window lies entirely within quiet hours (21:00–07:00), so you would"
                " never get a message. Pick another.",
            )
        ]
        assert await row(server, AHMED) == ("15:00-21:00", [["2027-07-05", "2027-08-01"]])


# --- when the check-in invitation may go out -------------------------------------------------

WEB_ID = "kari-browser"


async def invitation_time(
    db_url: str, *commands: str, **overrides: Any
) -> tuple[int, datetime | None]:
    """Kari types `commands`, then her unit's check-in opens at NOW.

    Returns how many invitations were queued and Kari's invitation's not_before in Oslo time
    (None when none was queued).
    """
    async with services_on(db_url, **overrides) as services:
        await seed(services)
        person = await link_web(services, WEB_ID, KARI)
        for command in commands:
            reply = await services.conversation.handle("web", WEB_ID, ChangeSettings(command), NOW)
            keys = [getattr(message, "key", None) for message in reply.messages]
            assert keys in (["preferences.window_set"], ["preferences.away_set"]), keys
        report = await CheckinService(
            services.store, services.catalog, settings_for(db_url, **overrides)
        ).open_checkin(UNIT, 0, NOW)
        assert report.round_id is not None
        return report.queued, await not_before(services, report.round_id, person)


async def not_before(services: Services, round_id: int, person: int) -> datetime | None:
    async with services.store.transaction() as tx:
        found = await tx.session.scalar(
            select(m.OutboxMessage.not_before).where(
                m.OutboxMessage.idempotency_key == f"checkin:{round_id}:{person}"
            )
        )
    if found is None:
        return None
    if found.tzinfo is None:  # SQLite hands back naive UTC
        found = found.replace(tzinfo=ZoneInfo("UTC"))
    return found.astimezone(OSLO)


def oslo(day: date, at: time) -> datetime:
    return datetime.combine(day, at, OSLO)


TODAY = date(2026, 11, 23)


async def test_without_settings_the_invitation_goes_out_now(db_url):
    assert await invitation_time(db_url) == (1, oslo(TODAY, time(10)))


async def test_a_send_window_holds_the_invitation_until_it_opens(db_url):
    assert await invitation_time(db_url, "window 15-21") == (1, oslo(TODAY, time(15)))


async def test_a_window_already_open_sends_now(db_url):
    assert await invitation_time(db_url, "window 08-16") == (1, oslo(TODAY, time(10)))


async def test_a_window_that_has_closed_today_waits_for_tomorrow(db_url):
    assert await invitation_time(db_url, "window 07:00-09:30") == (
        1,
        oslo(date(2026, 11, 24), time(7)),
    )


async def test_away_for_the_whole_checkin_queues_no_invitation(db_url):
    # The check-in is open for 7 days from Monday 10:00; away through the next Monday.
    queued, at = await invitation_time(db_url, "away 2026-11-23..2026-11-30")
    assert (queued, at) == (0, None)


async def test_away_for_the_first_days_waits_until_back(db_url):
    assert await invitation_time(db_url, "away 2026-11-23..2026-11-24") == (
        1,
        oslo(date(2026, 11, 25), time(7)),
    )


async def test_away_and_window_together(db_url):
    assert await invitation_time(db_url, "away 2026-11-23..2026-11-24", "window 15-21") == (
        1,
        oslo(date(2026, 11, 25), time(15)),
    )


async def test_a_configured_pause_defers_to_the_day_after(db_url):
    assert await invitation_time(db_url, pause_periods=["2026-11-23..2026-11-23"]) == (
        1,
        oslo(date(2026, 11, 24), time(7)),
    )


async def test_a_pause_and_a_window_together(db_url):
    assert await invitation_time(db_url, "window 15-21", pause_periods=["2026-11-23"]) == (
        1,
        oslo(date(2026, 11, 24), time(15)),
    )


# --- FOLLOWUP_PAUSE_PERIODS ------------------------------------------------------------------


def test_pause_periods_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("FOLLOWUP_PAUSE_PERIODS", '["2026-11-23", "2027-07-05..2027-08-01"]')
    assert Settings(database_url="sqlite://").pauses == (
        (date(2026, 11, 23), date(2026, 11, 23)),
        (date(2027, 7, 5), date(2027, 8, 1)),
    )


def test_pause_periods_from_the_environment_as_a_comma_list(monkeypatch):
    monkeypatch.setenv("FOLLOWUP_PAUSE_PERIODS", "2026-11-23,2027-07-05..2027-08-01")
    assert Settings(database_url="sqlite://").pauses == (
        (date(2026, 11, 23), date(2026, 11, 23)),
        (date(2027, 7, 5), date(2027, 8, 1)),
    )


def test_a_bad_pause_period_is_refused():
    with pytest.raises(ValueError):
        Settings(database_url="sqlite://", pause_periods=["2027-08-01..2027-07-05"])
