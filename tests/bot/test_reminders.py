"""Reminder rounds: dry run, sending within scope, cap and gap, texts, reports, automatic runs.

Checked the way people meet them (the chat, the CLI, what lands in a transcript) and in the
database (outbox rows, reminder runs, participation counters).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.app import SERVICES, Services
from bot.channels.base import Failed, OutboundMessage, SendResult, Sent, Unreachable
from bot.services.checkins import CheckinService
from bot.services.messages import ManageRounds, PlanReminder, Prompt, SendReminders
from bot.services.reminders import ReminderError
from dialogs import policy
from dialogs.i18n import format_day, format_percent, translate
from dialogs.model import Role
from dialogs.records import ParticipationRecord, ParticipationStatus
from dialogs.reminders import Verdict
from scheduler.jobs import CheckinScheduler
from scheduler.lease import SchedulerLease
from scheduler.outbox import OutboxDrainer
from storage import models as m
from storage.followups import RunCounts
from tests.bot.test_cli import BASE_PLAN, answer_as, count, fails, followup, query
from tests.services import open_round, person_id, seed, services_on
from tests.webchat import NOW, ChatUser, running_app, settings_for

T = TypeVar("T")
TITLE = "Evaluering av samhandlingsseminaret"
HOSPITAL = ("Kari Nordmann", "Ola Hansen", "Ingrid Berg", "Ahmed Ali", "Sofie Lie")
HOSPITAL += ("Per Dahl", "Marit Strand", "Lars Moen")
"""Lars Moen coordinates fjordsida-sykehus: these eight are his scope."""
MUNICIPALITY = ("Nina Solberg", "Jonas Bakke", "Synnøve Aas", "Eirik Vik", "Hanne Lunde")
MUNICIPALITY += ("Tor Haugen",)
"""Tor Haugen coordinates helse-og-omsorg, a sub-unit of Elvevik kommune: his scope."""
EVERYONE = HOSPITAL + MUNICIPALITY


# --- helpers ---------------------------------------------------------------------------------


async def actor(services: Services, name: str) -> policy.Actor:
    """A person as the policy sees them (as the conversation service builds it)."""
    pid = await person_id(services, name)
    async with services.store.transaction() as tx:
        memberships = tuple(
            policy.Membership(ms.unit_id, ms.role) for ms in await tx.org.memberships(pid)
        )
    return policy.Actor(str(pid), memberships)


async def names(services: Services) -> dict[int, str]:
    async with services.store.transaction() as tx:
        return {p.id: p.name or "" for p in await tx.org.people(active_only=False)}


async def participations(services: Services, round_id: int) -> dict[str, ParticipationRecord]:
    """Each invitee's participation, by name."""
    named = await names(services)
    async with services.store.transaction() as tx:
        return {
            named[p.person_id]: p
            for p in await tx.rounds.participations(round_id)
            if p.person_id is not None
        }


async def rows(services: Services, model: type[T], *where: Any) -> list[T]:
    """Every row of a table (oldest first)."""
    async with services.store.transaction() as tx:
        query = select(model).where(*where)
        if hasattr(model, "id"):  # anonymous answers have none, on purpose
            query = query.order_by(model.id)
        return list(await tx.session.scalars(query))


async def reminders_to(services: Services, round_id: int | None = None) -> list[str]:
    """Names of the people with a reminder in the outbox, in queue order."""
    named = await names(services)
    found = await rows(services, m.OutboxMessage, m.OutboxMessage.purpose == "reminder")
    return [
        named[r.person_id]
        for r in found
        if r.person_id is not None
        and (round_id is None or r.payload["rounds"][0]["round_id"] == round_id)
    ]


async def link(services: Services, *people: str) -> None:
    """Give each person a web chat identity (so they can be reached), in one transaction."""
    async with services.store.transaction() as tx:
        for name in people:
            identity = await tx.org.ensure_identity("web", name.split()[0].lower())
            await tx.org.link_identity(identity.id, await _pid(tx, name))


async def complete(services: Services, round_id: int, *people: str) -> None:
    """Mark participations completed (as the submit transaction does)."""
    async with services.store.transaction() as tx:
        for name in people:
            await tx.rounds.complete(round_id, await _pid(tx, name), NOW.date())


async def _pid(tx: Any, name: str) -> int:
    return next(p.id for p in await tx.org.people() if p.name == name)


async def remind_earlier(services: Services, round_id: int, name: str, *ago: timedelta) -> None:
    """Record reminders sent to a person `ago` before NOW (oldest first)."""
    async with services.store.transaction() as tx:
        pid = await _pid(tx, name)
        for delta in ago:
            await tx.rounds.mark_reminded(round_id, [pid], NOW - delta)


async def pause(services: Services, name: str) -> None:
    async with services.store.transaction() as tx:
        await tx.org.set_paused(await _pid(tx, name), True)


async def say(services: Services, name: str, event: Any, now: datetime = NOW) -> list[Any]:
    """What a linked person sees after one chat event."""
    reply = await services.conversation.handle("web", name.split()[0].lower(), event, now)
    return list(reply.messages)


def deadline(closes_at: datetime, locale: str = "nb") -> str:
    """A round's deadline as the texts write it (the day in Oslo)."""
    return format_day(closes_at.astimezone(ZoneInfo("Europe/Oslo")).date(), locale)


async def identified_round(services: Services) -> int:
    """The example organisation with its anonymous round, plus an identified 7-day round."""
    await seed(services)
    return await open_round(services, anonymous=False)


# --- 1. the dry run --------------------------------------------------------------------------


async def dry_run_setup(services: Services) -> int:
    """Lars's eight: 2 answered, 1 paused, 1 without identity, 1 capped, 1 recent, 2 to remind."""
    round_id = await identified_round(services)
    await link(services, *(n for n in EVERYONE if n != "Ahmed Ali"))
    await complete(services, round_id, "Kari Nordmann", "Ola Hansen")
    await pause(services, "Ingrid Berg")
    await remind_earlier(
        services, round_id, "Sofie Lie", timedelta(days=4), timedelta(days=3), timedelta(days=2)
    )
    await remind_earlier(services, round_id, "Per Dahl", timedelta(hours=1))
    return round_id


async def test_the_dry_run_counts_every_reason_and_changes_nothing(db_url):
    async with services_on(db_url) as services:
        round_id = await dry_run_setup(services)
        before = await participations(services, round_id)
        lars = await actor(services, "Lars Moen")

        plan = await services.reminders.plan(round_id, lars, NOW)

        assert plan.counts == {
            Verdict.REMIND: 2,
            Verdict.ALREADY_ANSWERED: 2,
            Verdict.PAUSED: 1,
            Verdict.WITHOUT_IDENTITY: 1,
            Verdict.CAPPED: 1,
            Verdict.TOO_RECENT: 1,
        }
        assert plan.invitees == 8 and plan.shows_counts
        named = await names(services)
        assert sorted(named[p] for p in plan.recipients) == ["Lars Moen", "Marit Strand"]
        # Only units where Lars's invitees are; the municipality is not his.
        assert plan.scope == (
            "fjordsida-sykehus",
            "hjerteavdelingen",
            "lungeavdelingen",
            "medisinsk-klinikk",
        )

        # What Lars sees in the chat: the same counts, no names, and a button that sends.
        (shown,) = await say(services, "Lars Moen", PlanReminder(round_id))
        assert isinstance(shown, Prompt) and shown.key == "reminders.plan"
        assert shown.text == (
            f"Prøvekjøring for «{TITLE}»: 2 får påminnelse nå. Holdes utenfor: 2 har svart, "
            "1 har fått 3 påminnelser allerede, 1 fikk en for under 24 timer siden, "
            "1 kan ikke nås i chat, 1 har satt meldinger på pause. Ingen navn vises, og ingen "
            "som har svart, får melding."
        )
        assert [(b.label, b.event) for b in shown.buttons] == [
            ("Send påminnelser", SendReminders(round_id))
        ]
        for name in EVERYONE:
            assert name.split()[0] not in shown.text

        # Nothing changed: no message queued, no run recorded, no counter moved.
        assert await rows(services, m.OutboxMessage) == []
        assert await rows(services, m.ReminderRun) == []
        assert await participations(services, round_id) == before


async def test_the_dry_run_of_the_cli_operator_covers_the_whole_round(db_url):
    async with services_on(db_url) as services:
        round_id = await dry_run_setup(services)
        operator = policy.Actor(person_id=None, operator=True)
        plan = await services.reminders.plan(round_id, operator, NOW)
        assert plan.scope is None and plan.invitees == 14
        # Lars's 2 plus the six in the municipality, all linked.
        assert plan.counts[Verdict.REMIND] == 8
        assert plan.counts[Verdict.ALREADY_ANSWERED] == 2


# --- 2. sending: scope, cap and gap ----------------------------------------------------------


async def test_sending_reaches_only_non_respondents_in_scope_a_day_apart_three_times(db_url):
    async with services_on(db_url) as services:
        round_id = await identified_round(services)
        await link(services, *EVERYONE)  # everyone is reachable, inside scope or not
        await complete(services, round_id, "Nina Solberg", "Kari Nordmann")
        tor_id = await person_id(services, "Tor Haugen")
        tor = await actor(services, "Tor Haugen")
        not_answered = sorted(set(MUNICIPALITY) - {"Nina Solberg"})

        run = await services.reminders.send(round_id, tor, NOW, "chat", tor_id)

        assert sorted(await reminders_to(services)) == not_answered
        assert (run.queued, run.already_answered, run.too_recent, run.capped) == (5, 1, 0, 0)
        assert (run.origin, run.requested_by, run.completed_at_send) == ("chat", tor_id, 1)
        assert run.scope == (
            "elvevik-sykehjem",
            "heimetenesta-nordbygda",
            "helse-og-omsorg",
            "hjemmetjenesten-sentrum",
        )
        queued = await rows(services, m.OutboxMessage)
        assert {r.batch for r in queued} == {f"reminder-run:{run.id}"}
        assert {r.status for r in queued} == {"pending"}
        assert all(r.not_before == NOW for r in queued)  # Monday 10:00 in Oslo: not quiet
        counters = await participations(services, round_id)
        for name in EVERYONE:
            expected = (1, NOW) if name in not_answered else (0, None)
            assert (counters[name].reminders_sent, counters[name].last_reminded_at) == expected

        # Right away again: nobody (24 hours apart), but the attempt is recorded.
        again = await services.reminders.send(round_id, tor, NOW + timedelta(hours=23), "chat")
        assert (again.queued, again.too_recent, again.already_answered) == (0, 5, 1)
        assert len(await reminders_to(services)) == 5

        # A day later, and the day after: the second and third reminder.
        for day in (1, 2):
            later = await services.reminders.send(round_id, tor, NOW + timedelta(days=day), "x")
            assert later.queued == 5
        # Never a fourth.
        capped = await services.reminders.send(round_id, tor, NOW + timedelta(days=3), "x")
        assert (capped.queued, capped.capped) == (0, 5)
        assert sorted(await reminders_to(services)) == sorted(not_answered * 3)
        counters = await participations(services, round_id)
        assert {counters[n].reminders_sent for n in not_answered} == {3}
        assert {counters[n].last_reminded_at for n in not_answered} == {NOW + timedelta(days=2)}
        keys = {r.idempotency_key for r in await rows(services, m.OutboxMessage)}
        assert f"reminder:{round_id}:{tor_id}:3" in keys
        assert f"reminder:{round_id}:{tor_id}:4" not in keys


async def test_a_coordinator_elsewhere_and_staff_may_not_remind(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        # A round for the hospital only: nobody in it is in Tor's scope.
        round_id = await open_round(services, anonymous=False, units=("fjordsida-sykehus",))
        await link(services, *EVERYONE)
        for name in ("Tor Haugen", "Kari Nordmann", "Ingrid Berg"):  # coordinator, staff, leader
            who = await actor(services, name)
            try:
                await services.reminders.send(round_id, who, NOW, "chat")
            except ReminderError as error:
                assert error.key == "reminders.denied"
            else:
                raise AssertionError(f"{name} reminded people outside their scope")
        assert await rows(services, m.OutboxMessage) == []
        assert await rows(services, m.ReminderRun) == []


async def test_nobody_is_reminded_when_the_round_is_not_open(db_url):
    async with services_on(db_url) as services:
        round_id = await identified_round(services)
        await link(services, *EVERYONE)
        lars = await actor(services, "Lars Moen")
        closed = NOW + timedelta(days=7)
        for when in (NOW - timedelta(minutes=1), closed):
            try:
                await services.reminders.send(round_id, lars, when, "chat")
            except ReminderError as error:
                assert error.key == "reminders.round_not_open"
            else:
                raise AssertionError("a round outside its window sent reminders")
        assert await rows(services, m.OutboxMessage) == []


# --- 3. the web chat -------------------------------------------------------------------------


async def poll_until(user: ChatUser, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll like the page until a matching message arrives (the drainer runs every 50 ms)."""
    for _ in range(100):
        for message in await user.poll():
            if wanted(message):
                return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"never arrived; the transcript: {user.seen}")


async def test_web_chat_a_coordinator_lists_dry_runs_and_sends_and_staff_get_the_reminder(db_url):
    from tests.bot.test_web_chat import answer_example

    async with running_app(db_url, seed=True) as server:
        services: Services = server.app[SERVICES]
        async with (
            ChatUser.on(server) as kari,
            ChatUser.on(server) as ola,
            ChatUser.on(server) as lars,
        ):
            await answer_example(kari)  # Kari answers the (anonymous) example round
            round_id = kari.seen[0]["rounds"][0]["round_id"]
            await ola.be("Ola Hansen")
            await lars.be("Lars Moen")
            closes = deadline(NOW + timedelta(days=30))
            rate = format_percent(12.5, "nb")
            assert rate == "12,50\N{NO-BREAK SPACE}%"

            # Staff may not remind: a polite refusal, whether or not they name a round.
            for typed in ("/remind", f"/remind {round_id}"):
                (refused,) = await ola.say(typed)
                assert refused["key"] == "reminders.denied"
                assert refused["text"] == (
                    "Du kan bare sende påminnelser for enheter der du er koordinator."
                )
            assert await rows(services, m.OutboxMessage) == []
            assert await rows(services, m.ReminderRun) == []

            (listed,) = await lars.say("/rounds")
            assert listed["type"] == "prompt" and listed["key"] == "reminders.rounds"
            assert listed["text"] == (
                "Åpne runder du kan sende påminnelser for:\n"
                f"«{TITLE}» (nr. {round_id}): 1 av 8 har svart ({rate}), åpen til {closes}."
            )
            assert listed["buttons"] == [
                {
                    "label": f"Påminn (nr. {round_id})",
                    "request": {"type": "remind", "round_id": round_id, "confirm": False},
                }
            ]

            (planned,) = await lars.say(f"/remind {round_id}")
            assert planned["key"] == "reminders.plan"
            assert planned["text"].startswith(
                f"Prøvekjøring for «{TITLE}»: 2 får påminnelse nå. Holdes utenfor: 1 har svart, "
                "0 har fått 3 påminnelser allerede, 0 fikk en for under 24 timer siden, "
                "5 kan ikke nås i chat, 0 har satt meldinger på pause."
            )
            # The "Påminn" button is the same dry run.
            (pressed,) = await lars.send(**listed["buttons"][0]["request"])
            assert pressed["text"] == planned["text"]
            assert await rows(services, m.OutboxMessage) == []
            (confirm,) = planned["buttons"]
            assert confirm["label"] == "Send påminnelser"

            # Lars has not answered either: his own reminder may already be in the same reply.
            replies = await lars.send(**confirm["request"])
            assert [r["key"] for r in replies if r["key"] != "reminders.text"] == [
                "reminders.queued"
            ]
            (queued,) = [r for r in replies if r["key"] == "reminders.queued"]
            assert queued["text"] == (
                f"2 påminnelser er lagt i kø for «{TITLE}». Du får en leveringsrapport når de er "
                "sendt, og etter 24 timer hvor mange flere som har svart."
            )
            assert sorted(await reminders_to(services)) == ["Lars Moen", "Ola Hansen"]

            reminder = await poll_until(ola, lambda msg: msg.get("key") == "reminders.text")
            assert reminder["type"] == "invitation"
            assert reminder["text"] == (
                f"Påminnelse: «{TITLE}» er åpen fram til {closes}. Det tar bare noen minutter, "
                "og hvert svar teller."
            )
            assert reminder["rounds"] == [
                {"round_id": round_id, "title": TITLE, "label": translate("nb", "service.begin")}
            ]
            # The start button opens the round where Ola left it: the first question.
            started = await ola.send(type="begin", round_id=round_id)
            assert started[-1]["item_id"] == "samtykke"

            # Kari answered: nothing arrives for her, however long the page polls.
            await poll_until(lars, lambda msg: msg.get("key") == "reminders.text")
            await asyncio.sleep(0.2)
            assert await kari.poll() == []
            statuses = {r.person_id: r.status for r in await rows(services, m.OutboxMessage)}
            assert set(statuses.values()) == {"sent"}
            assert await person_id(services, "Kari Nordmann") not in statuses

            # A round number that is not one.
            (unknown,) = await lars.say("/remind abc")
            assert unknown["key"] == "reminders.unknown_round"
            assert unknown["text"] == (
                "Finner ingen runde med det nummeret. Skriv /rounds for å se de åpne rundene."
            )
            (unknown,) = await lars.say("/remind 999")
            assert unknown["key"] == "reminders.unknown_round"
            assert len(await rows(services, m.ReminderRun)) == 1


# --- 4. round texts --------------------------------------------------------------------------


def on_services(db_url: str, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run `work` on the services at NOW (for the synchronous CLI tests)."""

    async def run() -> T:
        async with services_on(db_url) as services:
            return await work(services)

    return asyncio.run(run())


def round_texts(db_url: str) -> list[tuple[int, str, str, str]]:
    return query(
        db_url,
        select(
            m.RoundText.round_id, m.RoundText.purpose, m.RoundText.locale, m.RoundText.text
        ).order_by(m.RoundText.locale),
    )


def test_a_round_reminder_text_is_set_by_the_cli_filled_in_and_bad_ones_are_refused(db_url):
    round_id = on_services(db_url, identified_round)
    own = "Husk «{title}» innen {deadline}, {name}! Svar i dag."
    nynorsk = "Hugs «{title}» før {deadline}, {name}."

    set_nb = followup(
        db_url, "round", "text", round_id, "--purpose", "reminder", "--locale", "nb", own
    )
    assert set_nb.stdout == f"round {round_id}: reminder text (nb) set\n"
    followup(db_url, "round", "text", round_id, "--purpose", "reminder", "--locale", "nn", nynorsk)
    stored = [(round_id, "reminder", "nb", own), (round_id, "reminder", "nn", nynorsk)]
    assert round_texts(db_url) == stored

    # Bad texts: a clear error, exit code 1, and nothing stored or changed.
    refused = {
        "Hei {navn}": "error: unknown placeholder {navn}; use {title}, {deadline}, {name}",
        "Hei {title": "error: braces do not match",
        "Frist {deadline:d}": "error: write the placeholder {deadline} without ':' or '!'",
        "   ": "error: the text is empty",
        "x" * 1001: "error: the text is longer than 1000 characters",
    }
    for text, error in refused.items():
        failed = fails(
            db_url, "round", "text", round_id, "--purpose", "reminder", "--locale", "nb", text
        )
        assert failed.stderr.startswith(error), failed.stderr
        assert failed.stdout == ""
    failed = fails(db_url, "round", "text", round_id, "--purpose", "svar", "--locale", "nb", "x")
    assert "purpose must be one of" in failed.stderr
    failed = fails(
        db_url, "round", "text", round_id, "--purpose", "reminder", "--locale", "se", "x"
    )
    assert "locale must be nb, nn or en" in failed.stderr
    failed = fails(db_url, "round", "text", 999, "--purpose", "reminder", "--locale", "nb", "x")
    assert "round 999 does not exist" in failed.stderr
    assert round_texts(db_url) == stored

    async def send(services: Services) -> dict[str, dict[str, Any]]:
        await link(services, "Kari Nordmann", "Ahmed Ali", "Synnøve Aas")
        await services.reminders.send(round_id, policy.Actor(None, operator=True), NOW, "cli")
        named = await names(services)
        found = await rows(services, m.OutboxMessage, m.OutboxMessage.purpose == "reminder")
        return {named[r.person_id or 0]: r.payload for r in found}

    sent = on_services(db_url, send)
    closes = NOW + timedelta(days=7)
    kari = sent["Kari Nordmann"]
    assert (kari["key"], kari["locale"]) == ("reminders.text", "nb")
    assert kari["text"] == (f"Husk «{TITLE}» innen {deadline(closes)}, Kari Nordmann! Svar i dag.")
    assert deadline(closes) == "30. november 2026"
    # Synnøve's unit speaks nynorsk: the round's nynorsk text, in the chat's language.
    synnove = sent["Synnøve Aas"]
    assert synnove["locale"] == "nn"
    assert synnove["text"] == (f"Hugs «{TITLE}» før {deadline(closes, 'nn')}, Synnøve Aas.")
    # No English text of its own: Ahmed gets the standard English reminder.
    ahmed = sent["Ahmed Ali"]
    assert ahmed["locale"] == "en"
    assert ahmed["text"] == translate(
        "en",
        "reminders.text",
        title="Evaluation of the collaboration seminar",
        deadline=deadline(closes, "en"),
    )

    reset = followup(
        db_url, "round", "text", round_id, "--purpose", "reminder", "--locale", "nb", "--reset"
    )
    assert reset.stdout == f"round {round_id}: reminder text (nb) reset\n"
    assert round_texts(db_url) == stored[1:]
    fails(db_url, "round", "text", round_id, "--purpose", "reminder", "--locale", "nb")


# --- 5. delivery report and lift -------------------------------------------------------------


class ScriptedSender:
    """The web channel, except that some people block the bot and some never get through."""

    channel = "web"

    def __init__(self, blocked: set[int], failing: set[int]) -> None:
        self.blocked = blocked
        self.failing = failing

    async def send(self, message: OutboundMessage) -> SendResult:
        identity = message.address.identity_id
        if identity in self.blocked:
            return Unreachable("blocked the bot")
        if identity in self.failing:
            return Failed("502 Bad Gateway")
        return Sent()


async def identity_of(services: Services, name: str) -> int:
    async with services.store.transaction() as tx:
        (identity,) = await tx.org.identities_of(await _pid(tx, name))
        return identity.id


async def drain_with(services: Services, sender: ScriptedSender) -> datetime:
    """Drain with retries coming due (the clock jumps 11 minutes a pass); returns the clock."""
    clock = [NOW]
    drainer = OutboxDrainer(services.store, {"web": sender}, lambda: clock[0])
    while True:
        await drainer.drain_once()
        async with services.store.transaction() as tx:
            if not await tx.outbox.pending_count():
                return clock[0]
        clock[0] += timedelta(minutes=11)


async def told(services: Services, purpose: str) -> list[tuple[str, dict[str, Any], datetime]]:
    """Reports queued to coordinators: (name, payload, not_before)."""
    named = await names(services)
    found = await rows(services, m.OutboxMessage, m.OutboxMessage.purpose == purpose)
    return [(named[r.person_id or 0], r.payload, r.not_before) for r in found]


async def test_the_coordinator_gets_the_delivery_report_and_a_day_later_the_lift(db_url):
    async with services_on(db_url) as services:
        round_id = await identified_round(services)
        await link(services, "Kari Nordmann", "Ola Hansen", "Ingrid Berg", "Sofie Lie")
        await link(services, "Marit Strand", "Lars Moen", "Nina Solberg")
        await complete(services, round_id, "Kari Nordmann")
        lars_id = await person_id(services, "Lars Moen")
        (queued,) = await say(services, "Lars Moen", SendReminders(round_id))
        assert queued.key == "reminders.queued"
        assert queued.text.startswith(f"5 påminnelser er lagt i kø for «{TITLE}».")
        (run,) = await rows(services, m.ReminderRun)
        assert (run.requested_by, run.origin, run.queued, run.completed_at_send) == (
            lars_id,
            "chat",
            5,
            1,
        )
        assert await services.reminders.deliver_reports(NOW) == 0  # nothing sent yet

        sender = ScriptedSender(
            blocked={await identity_of(services, "Ola Hansen")},
            failing={await identity_of(services, "Ingrid Berg")},
        )
        await OutboxDrainer(services.store, {"web": sender}, lambda: NOW).drain_once()
        # Ingrid's reminder is being retried: no report while anything is pending.
        assert await services.reminders.deliver_reports(NOW + timedelta(minutes=1)) == 0
        settled = await drain_with(services, sender)
        statuses = {r.person_id: r.status for r in await rows(services, m.OutboxMessage)}
        assert sorted(statuses.values()) == ["failed", "sent", "sent", "sent", "unreachable"]

        assert await services.reminders.deliver_reports(settled) == 1
        ((to, report, not_before),) = await told(services, "reminder_report")
        assert (to, report["type"], report["key"]) == ("Lars Moen", "say", "reminders.report")
        assert report["text"] == (
            f"Leveringsrapport for påminnelsene om «{TITLE}»: 3 sendt, 1 feilet, "
            "1 kunne ikke nås, 1 hadde allerede svart."
        )
        assert not_before == settled
        assert (await rows(services, m.ReminderRun))[0].report_sent_at == settled
        assert await services.reminders.deliver_reports(settled) == 0  # once

        # In the day that follows, Ola answers (and Nina, who is not in Lars's scope).
        await complete(services, round_id, "Ola Hansen", "Nina Solberg")
        almost = NOW + timedelta(hours=24) - timedelta(seconds=1)
        assert await services.reminders.deliver_reports(almost) == 0
        assert (await rows(services, m.ReminderRun))[0].completed_after_24h is None

        day_later = NOW + timedelta(hours=24)
        assert await services.reminders.deliver_reports(day_later) == 1
        ((to, lift, _),) = await told(services, "reminder_lift")
        assert (to, lift["key"]) == ("Lars Moen", "reminders.lift")
        assert lift["text"] == (
            f"24 timer etter påminnelsene om «{TITLE}»: 2 har svart, mot 1 da de ble sendt (+1)."
        )
        (run,) = await rows(services, m.ReminderRun)
        assert (run.completed_at_send, run.completed_after_24h) == (1, 2)
        assert run.lift_reported_at == day_later
        assert await services.reminders.deliver_reports(day_later + timedelta(hours=1)) == 0
        async with services.store.transaction() as tx:
            assert await tx.reminders.unreported() == []

        # The same report, read on demand.
        found = await services.reminders.report(run.id, "en")
        assert (found.sent, found.failed, found.unreachable, found.pending) == (3, 1, 1, 0)
        assert (found.invitees, found.shows_counts, found.run.lift) == (8, True, 1)


async def test_an_empty_run_is_answered_in_the_chat_and_reports_nothing_later(db_url):
    async with services_on(db_url) as services:
        round_id = await identified_round(services)
        await link(services, "Ola Hansen", "Lars Moen")
        (first,) = await say(services, "Lars Moen", SendReminders(round_id))
        (second,) = await say(services, "Lars Moen", SendReminders(round_id))  # a second tap
        assert first.key == "reminders.queued"
        assert (second.key, second.text) == (
            "reminders.nobody",
            f"Ingen å minne på i «{TITLE}» nå.",
        )
        await services.drainer.drain_until_empty()
        assert await services.reminders.deliver_reports(NOW) == 1  # the first run's report
        assert await services.reminders.deliver_reports(NOW + timedelta(days=1)) == 1
        assert [p["key"] for _, p, _ in await told(services, "reminder_report")] == [
            "reminders.report"
        ]
        assert len(await told(services, "reminder_lift")) == 1
        runs = await rows(services, m.ReminderRun)
        assert [(r.queued, r.too_recent) for r in runs] == [(2, 0), (0, 2)]
        assert all(r.report_sent_at and r.completed_after_24h == 0 for r in runs)


async def test_below_k_invitees_no_count_is_shown_anywhere(db_url):
    async with services_on(db_url) as services:
        round_id = await identified_round(services)
        ingrid_id = await person_id(services, "Ingrid Berg")
        async with services.store.transaction() as tx:  # coordinator of her own department
            await tx.org.add_membership(ingrid_id, "hjerteavdelingen", Role.COORDINATOR)
        await link(services, "Kari Nordmann", "Ola Hansen", "Ingrid Berg")
        await complete(services, round_id, "Kari Nordmann")

        listed = await say(services, "Ingrid Berg", ManageRounds())
        assert listed == await say(services, "Ingrid Berg", PlanReminder(None))
        (listed,) = listed
        assert isinstance(listed, Prompt)
        assert (
            f"«{TITLE}» (nr. {round_id}): færre enn 5 inviterte, så svarprosenten vises ikke."
            in (listed.text)
        )
        assert "har svart" not in listed.text and "%" not in listed.text

        (plan,) = await say(services, "Ingrid Berg", PlanReminder(round_id))
        assert isinstance(plan, Prompt) and plan.key == "reminders.plan"  # the hidden text:
        assert plan.text == (
            f"Prøvekjøring for «{TITLE}»: færre enn 5 er invitert i enhetene dine, så tallene "
            "vises ikke. Påminnelsen går bare til dem som ikke har svart."
        )
        (queued,) = await say(services, "Ingrid Berg", SendReminders(round_id))
        assert (queued.key, queued.text) == (
            "reminders.queued_hidden",
            f"Påminnelsene for «{TITLE}» er lagt i kø. Du får beskjed når de er sendt.",
        )
        assert sorted(await reminders_to(services)) == ["Ingrid Berg", "Ola Hansen"]
        await services.drainer.drain_until_empty()

        assert await services.reminders.deliver_reports(NOW) == 1
        ((to, report, _),) = await told(services, "reminder_report")
        assert (to, report["key"]) == ("Ingrid Berg", "reminders.report")
        assert report["text"] == (
            f"Påminnelsene om «{TITLE}» er levert. Færre enn 5 er invitert i enhetene dine, så "
            "tallene vises ikke."
        )
        await complete(services, round_id, "Ola Hansen")
        assert await services.reminders.deliver_reports(NOW + timedelta(days=1)) == 0
        assert await told(services, "reminder_lift") == []  # stored, not told
        (run,) = await rows(services, m.ReminderRun)
        assert (run.completed_at_send, run.completed_after_24h) == (1, 2)

        # Once everyone has answered, "nobody to remind" would say so: the hidden plan instead.
        await complete(services, round_id, "Ingrid Berg")
        (plan,) = await say(services, "Ingrid Berg", PlanReminder(round_id))
        assert plan.text.startswith(f"Prøvekjøring for «{TITLE}»: færre enn 5")
        assert [b.event for b in plan.buttons] == [SendReminders(round_id)]
        (queued,) = await say(services, "Ingrid Berg", SendReminders(round_id))
        assert queued.key == "reminders.queued_hidden"
        await services.drainer.drain_until_empty()
        assert await services.reminders.deliver_reports(NOW + timedelta(days=1)) == 1
        assert [p["key"] for _, p, _ in await told(services, "reminder_report")] == [
            "reminders.report",
            "reminders.report",
        ]


# --- 6. automatic reminders ------------------------------------------------------------------


async def test_automatic_reminders_run_once_per_day_and_not_late(db_url):
    async with services_on(db_url) as services:
        round_id = await seed(services)  # open 30 days from NOW
        await link(services, "Ola Hansen", "Lars Moen", "Nina Solberg")
        await complete(services, round_id, "Nina Solberg")
        await services.reminders.set_automatic(round_id, [7, 3, 3])
        async with services.store.transaction() as tx:
            assert (await tx.rounds.get(round_id)).auto_reminder_days == (3, 7)
        lease = SchedulerLease(services.store, lambda: NOW, holder="a")
        assert await lease.renew()
        scheduler = CheckinScheduler(
            services.store,
            CheckinService(services.store, services.catalog, settings_for(db_url)),
            lease,
            lambda: NOW,
            "Europe/Oslo",
            services.reminders,
        )
        day = timedelta(days=1)

        assert await scheduler.tick(NOW + 3 * day - timedelta(minutes=1)) == []
        assert await scheduler.tick(NOW + 3 * day + timedelta(hours=1)) == [
            f"auto-remind:{round_id}@day3"
        ]
        (run,) = await rows(services, m.ReminderRun)
        assert (run.origin, run.requested_by, run.scope) == ("auto", None, None)
        assert (run.queued, run.already_answered, run.without_identity) == (2, 1, 11)
        assert sorted(await reminders_to(services)) == ["Lars Moen", "Ola Hansen"]

        assert await scheduler.tick(NOW + 3 * day + timedelta(hours=2)) == []  # once per day
        assert await scheduler.tick(NOW + 3 * day + timedelta(hours=1)) == []  # even at once

        # Day 7: due inside its 12-hour window, but the server was down until 13 hours after.
        due = services.reminders.automatic_due
        assert await due(NOW + 7 * day + timedelta(hours=11, minutes=59)) == [(round_id, 7)]
        assert await due(NOW + 7 * day + timedelta(hours=12)) == []
        assert await scheduler.tick(NOW + 7 * day + timedelta(hours=13)) == []

        assert len(await rows(services, m.ReminderRun)) == 1
        assert len(await reminders_to(services)) == 2
        # Nobody asked for an automatic run: no report goes to anyone.
        assert await told(services, "reminder_report") == []
        assert await told(services, "reminder_lift") == []
        # Set to never: nothing is due any more.
        await services.reminders.set_automatic(round_id, [])
        assert await due(NOW + 7 * day + timedelta(hours=1)) == []


async def test_after_downtime_only_the_latest_automatic_day_is_sent(db_url):
    async with services_on(db_url) as services:
        round_id = await seed(services)
        await services.reminders.set_automatic(round_id, [3, 7])
        due = services.reminders.automatic_due
        assert await due(NOW + timedelta(days=2)) == []
        assert await due(NOW + timedelta(days=7, hours=1)) == [(round_id, 7)]
        assert await due(NOW + timedelta(days=30)) == []  # closed
        try:
            await services.reminders.set_automatic(round_id, [0])
        except ReminderError as error:
            assert error.key == "reminders.bad_days"
        else:
            raise AssertionError("day 0 accepted")


# --- 7. anonymous rounds ---------------------------------------------------------------------


async def test_anonymous_rounds_are_reminded_from_participation_alone(db_url):
    async with services_on(db_url) as services:
        anonymous = await seed(services)
        identified = await open_round(services, anonymous=False)
        kari = await person_id(services, "Kari Nordmann")
        for round_id in (anonymous, identified):
            await answer_as(services, kari, round_id, BASE_PLAN, NOW)
        await link(services, "Ola Hansen", "Lars Moen")
        async with services.store.transaction() as tx:
            assert await tx.answers.answers_of(identified, kari)  # identified: answers are Kari's
        assert len(await rows(services, m.AnonymousAnswer)) > 0

        runs = []
        for round_id in (anonymous, identified):
            (queued,) = await say(services, "Lars Moen", SendReminders(round_id))
            assert queued.key == "reminders.queued"
            runs.append((await rows(services, m.ReminderRun))[-1])
        counts = [
            (r.queued, r.already_answered, r.without_identity, r.completed_at_send) for r in runs
        ]
        assert counts[0] == counts[1] == (2, 1, 5, 1)  # the same, anonymous or not
        assert sorted(await reminders_to(services, anonymous)) == ["Lars Moen", "Ola Hansen"]

        # A reminder carries the round and a start button, never anything answered.
        for row in await rows(services, m.OutboxMessage, m.OutboxMessage.purpose == "reminder"):
            assert set(row.payload) == {"type", "key", "locale", "text", "rounds"}
            assert row.person_id != kari
        after = await participations(services, anonymous)
        assert after["Kari Nordmann"].status is ParticipationStatus.COMPLETED
        assert after["Kari Nordmann"].reminders_sent == 0
        assert after["Ola Hansen"].reminders_sent == 1
        # The run keeps counts only: no person, answer or response column.
        columns = set(m.ReminderRun.__table__.columns.keys())
        assert columns == set(RunCounts.__dataclass_fields__) | {
            "id",
            "round_id",
            "requested_by",
            "origin",
            "scope",
            "created_at",
            "completed_after_24h",
            "report_sent_at",
            "lift_reported_at",
        }


# --- 8. the CLI ------------------------------------------------------------------------------


def test_cli_remind_dry_run_send_and_report(db_url):
    from bot.services.seed import load_examples
    from storage.models import utcnow

    async def setup(services: Services) -> int:
        # The CLI works on the real clock: the round opened an hour ago.
        round_id = await load_examples(
            services.store, services.rounds, utcnow() - timedelta(hours=1)
        )
        await link(services, "Ola Hansen", "Lars Moen")
        await complete(services, round_id, "Kari Nordmann")
        return round_id

    round_id = on_services(db_url, setup)

    dry = followup(db_url, "remind", round_id, "--dry-run")
    assert dry.stdout == (
        f"dry run for round {round_id} ({TITLE}): 2 would be reminded; left out: "
        "1 already answered, 0 capped, 0 too recent, 11 without identity, 0 paused, "
        "0 not eligible\n"
    )
    assert count(db_url, m.OutboxMessage) == 0 and count(db_url, m.ReminderRun) == 0

    sent = followup(db_url, "remind", round_id)
    assert sent.stdout == (
        f"round {round_id}: 2 reminders queued (reminder run 1); 1 had answered, 0 capped, "
        "0 reminded less than 24 h ago, 11 without a chat identity, 0 paused or away\n"
        f"delivery report: followup remind {round_id} --report\n"
    )
    assert sorted(query(db_url, select(m.OutboxMessage.purpose))) == ["reminder", "reminder"]
    runs = query(db_url, select(m.ReminderRun.origin, m.ReminderRun.requested_by))
    assert runs == [("cli", None)]

    again = followup(db_url, "remind", round_id).stdout
    assert again.startswith(f"round {round_id}: 0 reminders queued (reminder run 2); ")
    assert "2 reminded less than 24 h ago" in again

    report = followup(db_url, "remind", round_id, "--report").stdout.splitlines()
    assert len(report) == 2
    assert re.fullmatch(
        r"run 1 \(\d{4}-\d\d-\d\d \d\d:\d\d UTC, cli, 2 queued, 2 pending\): "
        rf"Leveringsrapport for påminnelsene om «{TITLE}»: 0 sendt, 0 feilet, "
        r"0 kunne ikke nås, 1 hadde allerede svart\. lift: after 24 hours",
        report[0],
    ), report[0]
    assert report[1].startswith("run 2 (") and ", cli, 0 queued, 0 pending)" in report[1]

    async def drain(services: Services) -> None:
        # Past any quiet hours or holidays the real clock may have deferred them to.
        later = utcnow() + timedelta(days=10)
        await OutboxDrainer(
            services.store, services.drainer.senders, lambda: later
        ).drain_until_empty()

    on_services(db_url, drain)
    report = followup(db_url, "remind", round_id, "--report").stdout.splitlines()
    assert ", cli, 2 queued, 0 pending): " in report[0]
    assert ": 2 sendt, 0 feilet, 0 kunne ikke nås, 1 hadde allerede svart." in report[0]

    missing = fails(db_url, "remind", 999)
    assert missing.stderr == "error: round 999 does not exist\n"
    assert count(db_url, m.ReminderRun) == 2


def test_cli_auto_remind_sets_the_days(db_url):
    round_id = on_services(db_url, seed)
    shown = followup(db_url, "round", "auto-remind", round_id, "--day", "7", "--day", "3")
    assert shown.stdout == f"round {round_id}: automatic reminders on day(s) 3, 7 after opening\n"
    assert query(db_url, select(m.Round.auto_reminder_days).where(m.Round.id == round_id)) == [
        [3, 7]
    ]
    bad = fails(db_url, "round", "auto-remind", round_id, "--day", "0")
    assert bad.stderr == "error: days must be between 1 and 365\n"
    never = followup(db_url, "round", "auto-remind", round_id)
    assert never.stdout == f"round {round_id}: automatic reminders on day(s) never after opening\n"
    assert query(db_url, select(m.Round.auto_reminder_days).where(m.Round.id == round_id)) == [
        None
    ]
