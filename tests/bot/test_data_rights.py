"""Forget me and my data, checked row by row over every table (chat, web chat and the CLI).

Also home of `ola_everywhere` (Ola Hansen leaves a trace in every kind of table), which the
retention tests use too.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from bot.app import SERVICES, Services
from bot.cli import app
from bot.services.digests import add_deputy
from bot.services.messages import BeginRound
from dialogs import engine
from dialogs.model import AnswerValue, MeasureStatus, Role
from storage import models as m
from storage.database import create_engine, session_factory
from storage.stats import participation_counts
from tests.bot.test_cli import BASE_PLAN, answer_as, fails, followup, query, with_services
from tests.services import link_web, open_round, person_id, seed
from tests.webchat import NOW, ChatUser, running_app

OLA, OLA_EMAIL = "Ola Hansen", "ola.hansen@fjordsida.example"
SECRET = "Ola skriv: kantina er for dyr"
"""Ola's free-text answer in an identified round: identifiable, so it must go."""
ANONYMOUS_TEXT = "Et anonymt svar som blir"
KARI_TEXT = "Karis eget svar"
PASSWORD_HASH = "scrypt$never-shown-anywhere"


@dataclass(frozen=True)
class Footprint:
    """What `ola_everywhere` made: ids, and the strings that identify Ola."""

    ola: int
    kari: int
    identified: int
    """A closed, identified round Ola and Kari answered."""
    in_progress: int
    """An identified round Ola began (and so has a dialog state in)."""
    anonymous: int
    """The example's anonymous round Ola answered."""
    identities: tuple[int, ...]
    needles: tuple[str, ...]


async def submitted(services: Services, round_id: int, person: int, text: str) -> None:
    """What a finished chat leaves behind, written directly (the chat is tested elsewhere)."""
    answers = [
        ("samtykke", AnswerValue(choice="yes"), None),
        ("andre_kommentarer", AnswerValue(text=text), None),
    ]
    async with services.store.transaction() as tx:
        round_ = await tx.rounds.get(round_id)
        assert round_ is not None
        if round_.anonymous:
            await tx.answers.submit_anonymous(round_id, "hjerteavdelingen", answers)
        else:
            await tx.answers.submit_identified(round_id, person, "hjerteavdelingen", answers)
        await tx.rounds.complete(round_id, person, NOW.date())


async def ola_everywhere(services: Services) -> Footprint:
    """Ola Hansen answers, chats, deputises, owns, logs in and is audited: a trace everywhere."""
    anonymous = await seed(services)
    ola = await link_web(services, "ola-browser", OLA)  # before opening: Ola gets invited
    kari = await person_id(services, "Kari Nordmann")
    identified = await open_round(services, anonymous=False, units=("hjerteavdelingen",))
    in_progress = await open_round(services, anonymous=False, units=("hjerteavdelingen",))
    await answer_as(services, ola, identified, BASE_PLAN | {"andre_kommentarer": SECRET}, NOW)
    await submitted(services, identified, kari, KARI_TEXT)
    await submitted(services, anonymous, ola, ANONYMOUS_TEXT)
    await services.conversation.handle("web", "ola-browser", BeginRound(in_progress), NOW)
    await services.conversation.handle("web", "ola-browser", engine.Choose("samtykke", "yes"), NOW)
    await services.rounds.close(identified)
    async with services.store.transaction() as tx:
        browser = await tx.org.identity("web", "ola-browser")
        assert browser is not None
        await tx.web.append(browser.id, "in", {"type": "echo", "text": SECRET})
        await tx.buttons.issue(browser.id, {"type": "text", "text": SECRET})
        await tx.org.create_invite("OLA-CODE", NOW + timedelta(hours=1), None, ola, Role.STAFF, 1)
        await tx.org.set_send_window(ola, (time(8), time(16)))
        await tx.org.set_away(ola, [(date(2026, 12, 24), date(2026, 12, 31))])
        await tx.org.set_digest_opt_out(ola, True)
        await add_deputy(
            tx, "ingrid.berg@fjordsida.example", OLA_EMAIL, "hjerteavdelingen", NOW.date(),
            NOW.date() + timedelta(days=14),
        )  # fmt: skip
        await tx.owner_checkins.ask("samarbeidsmoter", ola, "monthly", "2026-11", NOW)
        account = await tx.accounts.create(ola, OLA_EMAIL, PASSWORD_HASH, NOW)
        await tx.accounts.create_session(account.id, "session-token", "csrf-token", NOW)
        await tx.reminders.create_run(identified, ola, "chat", None, NOW)
        await tx.measures.set_status("samarbeidsmoter", MeasureStatus.STARTED, ola, "i gang")
        await tx.audit.record(ola, "web", "export", f"round:{identified}:csv", NOW)
        await tx.audit.record(None, "cli", "digest_view", f"digest:{ola}:2026-W48", NOW)
        # A deputy's copy of Ola's digest (as if Ola led a unit): keyed by Ola, not linked.
        await tx.outbox.enqueue(
            f"digest:{kari}:{ola}:2026-W48", "digest", "web", {"text": f"Til {OLA}"}, None, None
        )
        await tx.session.execute(
            update(m.Measure).where(m.Measure.id == "utskrivningssamtale").values(owner=OLA)
        )
        identities = tuple(i.id for i in await tx.org.identities_of(ola, reachable_only=False))
    return Footprint(
        ola,
        kari,
        identified,
        in_progress,
        anonymous,
        identities,
        (OLA, OLA_EMAIL, "ola-browser", f"test-{ola}", SECRET, PASSWORD_HASH),
    )


async def traces(session: AsyncSession, footprint: Footprint) -> list[str]:
    """Every cell of every table that still points at or names the person."""
    found = []
    for table in m.Base.metadata.sorted_tables:
        for row in (await session.execute(select(table))).mappings():
            for column in table.columns:
                value = row[column.name]
                referred = {key.column.table.name for key in column.foreign_keys}
                linked = ("people" in referred and value == footprint.ola) or (
                    "identities" in referred and value in footprint.identities
                )
                text = json.dumps(value, ensure_ascii=False, default=str).lower()
                named = [n for n in footprint.needles if n.lower() in text]
                if table.name == "audit_log" and column.name == "target":
                    ola = footprint.ola
                    named += (
                        [value] if value.startswith((f"digest:{ola}:", f"person:{ola}")) else []
                    )
                if linked or named:
                    found.append(f"{table.name}.{column.name}={value!r}")
    return found


@dataclass(frozen=True)
class Tally:
    """What must survive a forget: rates, anonymous answers, other people's answers."""

    rates: dict[int, dict[str, int]]
    participations: int
    deidentified: int
    anonymous_answers: int
    anonymous_texts: list[str | None]
    kari_answers: int


async def tally(session: AsyncSession, footprint: Footprint) -> Tally:
    """Count what `Tally` names."""

    async def count(model: Any, *where: Any) -> int:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))

    rounds = [footprint.identified, footprint.in_progress, footprint.anonymous]
    return Tally(
        await participation_counts(session, rounds),
        await count(m.Participation),
        await count(m.Participation, m.Participation.person_id.is_(None)),
        await count(m.AnonymousAnswer),
        sorted(await session.scalars(select(m.AnonymousAnswer.text)), key=str),
        await count(m.Answer, m.Answer.person_id == footprint.kari),
    )


def on_database(db_url: str, work: Any) -> Any:
    """Run `work(session)` on the test database (outside the app)."""

    async def run() -> Any:
        engine_ = create_engine(db_url)
        try:
            async with session_factory(engine_)() as session:
                return await work(session)
        finally:
            await engine_.dispose()

    return asyncio.run(run())


def test_cli_forget_leaves_no_trace_but_keeps_rates_and_anonymous_answers(db_url):
    footprint = with_services(db_url, ola_everywhere)
    assert len(on_database(db_url, lambda s: traces(s, footprint))) > 20  # the scan sees Ola
    before = on_database(db_url, lambda s: tally(s, footprint))

    printed = followup(db_url, "person", "forget", OLA_EMAIL.upper(), "--yes").stdout

    assert printed.startswith(f"forgot person {footprint.ola}:\n")
    assert "  answers: " in printed and "  web_messages: 1\n" in printed
    assert on_database(db_url, lambda s: traces(s, footprint)) == []
    after = on_database(db_url, lambda s: tally(s, footprint))
    assert after.rates == before.rates  # closed rounds keep their response rates
    assert after.rates[footprint.identified]["completed"] == 2
    assert after.participations == before.participations
    assert after.deidentified == before.deidentified + 3  # Ola's three invitations
    assert after.anonymous_answers == before.anonymous_answers > 0
    assert ANONYMOUS_TEXT in after.anonymous_texts == before.anonymous_texts
    assert after.kari_answers == before.kari_answers > 0
    audit = on_database(
        db_url, lambda s: s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id))
    )
    forget = [entry for entry in audit if entry.action == "forget"]
    assert [(e.origin, e.person_id) for e in forget] == [("cli", None)]
    assert "answers=" in forget[0].target and "identities=2" in forget[0].target
    assert fails(db_url, "person", "export", OLA_EMAIL).stderr.startswith("error: no person")


def test_cli_forget_asks_first_and_refuses_unknown_people(db_url, monkeypatch):
    with_services(db_url, seed)
    ola = query(db_url, select(m.Person.id).where(m.Person.email == OLA_EMAIL))[0]
    monkeypatch.setenv("DATABASE_URL", db_url)
    declined = CliRunner().invoke(app, ["person", "forget", str(ola)], input="n\n")
    assert declined.exit_code == 1
    assert f"Forget {OLA} <{OLA_EMAIL}> (id {ola})" in declined.output
    assert query(db_url, select(m.Person.name).where(m.Person.id == ola)) == [OLA]
    assert not [e for e in query(db_url, select(m.AuditEntry.action)) if e == "forget"]
    assert (
        "error: no person 'nobody@example.org'"
        in fails(db_url, "person", "forget", "nobody@example.org", "--yes").stderr
    )


def test_cli_export_gives_everything_about_the_person_and_is_audited(db_url, tmp_path):
    footprint = with_services(db_url, ola_everywhere)
    target = tmp_path / "ola.json"
    followup(db_url, "person", "export", OLA_EMAIL, "--output", target)
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["person"] | {"id": 0} == {
        "id": 0,
        "email": OLA_EMAIL,
        "name": OLA,
        "locale": None,
        "active": True,
        "messages_paused": False,
        "send_window": "08:00-16:00",
        "away": [["2026-12-24", "2026-12-31"]],
        "digest_opt_out": True,
    }
    assert data["dashboard_account"] == {"username": OLA_EMAIL, "disabled": False}
    assert PASSWORD_HASH not in target.read_text(encoding="utf-8")
    assert data["deputies"] == [
        {"unit": "hjerteavdelingen", "as": "deputy", "first_day": "2026-11-23",
         "last_day": "2026-12-07"}
    ]  # fmt: skip
    assert [(c["measure"], c["reason"], c["answer"]) for c in data["owner_checkins"]] == [
        ("samarbeidsmoter", "monthly", None)
    ]
    identified = [p for p in data["participation"] if p["round"] == footprint.identified]
    assert identified[0]["status"] == "completed" and identified[0]["reminders_received"] == 0
    mine = {(a["round"], a["item"]): a for a in data["answers"]}
    assert mine[(footprint.identified, "andre_kommentarer")]["text"] == SECRET
    assert mine[(footprint.in_progress, "samtykke")]["in_progress"] is True
    assert ANONYMOUS_TEXT not in json.dumps(data, ensure_ascii=False)  # never linked to Ola
    assert {(e["action"], e["target"]) for e in data["audit_log"]} == {
        ("export", f"round:{footprint.identified}:csv"),  # what Ola did
        ("digest_view", f"digest:{footprint.ola}:2026-W48"),  # what was done about Ola
        ("person_export", f"person:{footprint.ola}"),  # this very export
    }
    audit = on_database(
        db_url, lambda s: s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id))
    )
    exports = [(e.origin, e.action, e.target) for e in audit if e.action == "person_export"]
    assert exports == [("cli", "person_export", f"person:{footprint.ola}")]
    printed = followup(db_url, "person", "export", str(footprint.ola)).stdout
    assert json.loads(printed)["person"]["email"] == OLA_EMAIL


async def test_forget_in_the_web_chat_clears_the_transcript_and_audits_without_contents(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        services = server.app[SERVICES]
        round_id = await open_round(services, anonymous=False, units=("hjerteavdelingen",))
        await user.be(OLA)
        await user.send(type="begin", round_id=round_id)
        await user.choose("yes")
        await user.choose("sykehus")
        export = (await user.say("/mydata"))[-1]
        assert OLA_EMAIL in export["content"]  # the transcript now holds Ola's data
        asked = await user.say("/forget")
        done = await user.send(**asked[-1]["buttons"][0]["request"])
        assert done[-1]["key"] == "account.forgotten"
        page = await (await user.client.get("/chat/api/messages?after=0")).json()
        async with services.store.transaction() as tx:
            people = await tx.org.people(active_only=False)
            transcripts = list(await tx.session.scalars(select(m.WebMessage.payload)))
            browsers = list(await tx.session.scalars(select(m.Identity.person_id)))
            audit = await tx.audit.entries()
    # What the browser still shows is the farewell only; the earlier lines are gone.
    assert [line.get("key") for line in page["messages"] if line["direction"] == "out"] == [
        "account.forgotten"
    ]
    assert OLA not in [p.name for p in people]
    assert not [t for t in transcripts if OLA_EMAIL in json.dumps(t) or "sykehus" in str(t)]
    assert None in browsers  # the browser's id stays, tied to nobody
    assert [(e.origin, e.action, e.person_id) for e in audit] == [
        ("chat", "person_export", None),
        ("chat", "forget", None),
    ]
    assert audit[0].target == "person:-"
    assert not [e for e in audit if "Ola" in e.target or "sykehus" in e.target]
