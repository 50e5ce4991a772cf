"""The retention purge: identifiable data older than FOLLOWUP_RETENTION_DAYS goes, rates stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Services
from bot.services.checkins import CheckinService
from bot.services.messages import BeginRound
from bot.services.retention import RetentionService, summary
from dialogs import engine
from scheduler.jobs import CheckinScheduler
from scheduler.lease import SchedulerLease
from storage import models as m
from storage.stats import participation_counts, round_facts
from tests.bot.test_cli import followup, query, with_services
from tests.bot.test_data_rights import Footprint, ola_everywhere
from tests.services import link_web, open_round, person_id, seed, services_on
from tests.webchat import NOW, settings_for

DAYS = 365
CLOSES = NOW + timedelta(days=7)
"""When the rounds of `ola_everywhere` close (the log rows are aged to this moment too)."""
INSIDE = CLOSES + timedelta(days=DAYS) - timedelta(minutes=1)
OUTSIDE = CLOSES + timedelta(days=DAYS) + timedelta(minutes=1)


async def age_logs(session: AsyncSession, when: datetime) -> None:
    """Date every log row (and one leaver) to `when`; Ahmed leaves later and must stay."""
    for column in (
        m.WebMessage.created_at,
        m.ButtonToken.created_at,
        m.OwnerCheckin.asked_at,
        m.MeasureStatusChange.changed_at,
        m.AuditEntry.at,
        m.Invite.expires_at,
    ):
        await session.execute(update(column.class_).values({column.key: when}))
    await session.execute(
        update(m.OutboxMessage)
        .where(m.OutboxMessage.idempotency_key.like("invitation:%"))
        .values(status="sent", created_at=when, sent_at=when)
    )
    for name, left in (("Sofie Lie", when), ("Ahmed Ali", when + timedelta(minutes=2))):
        await session.execute(
            update(m.Person).where(m.Person.name == name).values(active=False, deactivated_at=left)
        )


async def snapshot(session: AsyncSession, footprint: Footprint, late: int) -> dict[str, object]:
    """What a purge must never change: response rates, results and anonymous answers."""
    rounds = [footprint.identified, footprint.in_progress, footprint.anonymous, late]
    facts = await round_facts(session, footprint.identified, anonymous=False)
    return {
        "rates": await participation_counts(session, rounds),
        "results": sorted((f.respondent, f.item_id, repr(f.value)) for f in facts),
        "anonymous": await session.scalar(select(func.count()).select_from(m.AnonymousAnswer)),
    }


async def linked(session: AsyncSession, model: type[m.Base], round_id: int) -> int:
    """Rows of `model` in a round that still name a person."""
    column = model.person_id  # type: ignore[attr-defined]
    where = (model.round_id == round_id, column.is_not(None))  # type: ignore[attr-defined]
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_purge_deidentifies_only_what_is_older_than_the_cutoff(db_url):
    async with services_on(db_url, retention_days=DAYS) as services:
        footprint = await ola_everywhere(services)
        late = await open_round(services, anonymous=False, units=("hjerteavdelingen",))
        await services.rounds.extend(late, CLOSES + timedelta(days=1), NOW)
        kari = await link_web(services, "kari-browser", "Kari Nordmann")
        for event in (BeginRound(late), engine.Choose("samtykke", "yes")):
            await services.conversation.handle("web", "kari-browser", event, NOW)
        async with services.store.transaction() as tx:
            await age_logs(tx.session, CLOSES)
            before = await snapshot(tx.session, footprint, late)
        retention = RetentionService(services.store, settings_for(db_url, retention_days=DAYS))

        assert await retention.purge(INSIDE) == {}  # nothing is older than the cutoff yet
        counts = await retention.purge(OUTSIDE)
        again = await retention.purge(OUTSIDE)

        async with services.store.transaction() as tx:
            session = tx.session
            after = await snapshot(session, footprint, late)
            still_linked = {
                (model.__tablename__, round_id): await linked(session, model, round_id)
                for model in (m.Answer, m.Response, m.Participation)
                for round_id in (footprint.identified, footprint.in_progress, late)
            }
            states = {
                (row.person_id, row.round_id)
                for row in await session.scalars(select(m.DialogStateRow))
            }
            people = {p.name for p in await tx.org.people(active_only=False)}
            left = {
                str(model): await session.scalar(
                    select(func.count()).select_from(model).where(*where)
                )
                for model, *where in (
                    (m.WebMessage,),
                    (m.ButtonToken,),
                    (m.OwnerCheckin,),
                    (m.Invite, m.Invite.person_id.is_not(None)),
                    (m.OutboxMessage, m.OutboxMessage.status == "sent"),
                )
            }
            audit = await tx.audit.entries()
    results: list[tuple[str, str, str]] = before["results"]  # type: ignore[assignment]
    free_text = [row for row in results if "text='" in row[2]]
    assert free_text and "Ola skriv" not in repr(after["results"])
    # Rates, anonymous answers and every answer but free text (it may name people) stay.
    assert after == before | {"results": [row for row in results if row not in free_text]}
    assert still_linked == {
        ("answers", footprint.identified): 0,
        ("answers", footprint.in_progress): 0,
        ("answers", late): 1,  # Kari's unsubmitted consent, in a round closed after the cutoff
        ("responses", footprint.identified): 0,
        ("responses", footprint.in_progress): 0,
        ("responses", late): 0,
        ("participations", footprint.identified): 0,
        ("participations", footprint.in_progress): 0,
        ("participations", late): 3,  # the round that closed after the cutoff keeps its people
    }
    assert states == {(kari, late)}  # Ola's unfinished dialog of a purged round is gone
    assert "Sofie Lie" not in people and {"Ahmed Ali", "Ola Hansen"} <= people
    assert set(left.values()) == {0}, left  # transcripts, buttons, asks, codes, sent messages
    kept = len(results) - len(free_text)
    assert (counts["answers_deidentified"], counts["free_text_deleted"]) == (kept, len(free_text))
    assert counts["responses_deidentified"] == 2 and counts["leavers_deleted"] == 1
    assert again == {}  # a second run finds nothing left to purge
    purges = [e for e in audit if e.action == "retention_purge"]
    assert [(e.origin, e.target) for e in purges] == [
        ("scheduler", "nothing"),
        ("scheduler", summary(counts)),
        ("scheduler", "nothing"),
    ]
    assert all(e.person_id is None for e in audit if e.at < OUTSIDE - timedelta(days=DAYS))


async def test_the_scheduler_purges_once_a_night_from_three_oclock(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        settings = settings_for(db_url)
        lease = SchedulerLease(services.store, lambda: NOW, holder="a")
        scheduler = CheckinScheduler(
            services.store,
            CheckinService(services.store, services.catalog, settings),
            lease,
            lambda: NOW,
            "Europe/Oslo",
            retention=RetentionService(services.store, settings),
        )
        await lease.renew()

        def oslo(day: int, hour: int, minute: int = 0) -> datetime:
            return datetime(2026, 11, day, hour - 1, minute, tzinfo=UTC)  # Oslo is UTC+1

        ran = [
            [job for job in await scheduler.tick(at) if job.startswith("retention")]
            for at in (oslo(24, 2, 59), oslo(24, 3), oslo(24, 5, 59), oslo(24, 6), oslo(25, 4))
        ]
        async with services.store.transaction() as tx:
            purges = [e for e in await tx.audit.entries() if e.action == "retention_purge"]
        assert await person_id(services, "Ola Hansen")  # nobody was old enough to go
    assert ran == [[], ["retention@2026-11-24"], [], [], ["retention@2026-11-25"]]
    assert len(purges) == 2


async def an_old_round(services: Services) -> int:
    """The example round, answered by nobody, closed in 2020; a transcript line from then."""
    round_id = await seed(services)
    await link_web(services, "ola-browser", "Ola Hansen")
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    async with services.store.transaction() as tx:
        await tx.session.execute(update(m.Round).values(closes_at=long_ago))
        browser = await tx.org.identity("web", "ola-browser")
        assert browser is not None
        await tx.web.append(browser.id, "in", {"type": "echo", "text": "hei"})
        await tx.session.execute(update(m.WebMessage).values(created_at=long_ago))
        return len(await tx.rounds.participations(round_id))


def test_cli_purge_counts_first_with_dry_run_then_purges_once(db_url):
    invited = with_services(db_url, an_old_round)
    expected = f"  participations_deidentified: {invited}\n  web_messages: 1\n"

    dry = followup(db_url, "retention", "purge", "--dry-run").stdout
    assert followup(db_url, "retention", "purge", "--dry-run").stdout == dry  # nothing changed
    real = followup(db_url, "retention", "purge").stdout
    after = followup(db_url, "retention", "purge", "--dry-run").stdout

    assert (dry, real, after) == (
        f"would purge:\n{expected}",
        f"purged:\n{expected}",
        "would purge: nothing\n",
    )
    audit = query(db_url, select(m.AuditEntry.origin, m.AuditEntry.action, m.AuditEntry.target))
    assert audit == [
        ("cli", "retention_purge", f"participations_deidentified={invited},web_messages=1")
    ]


async def test_addresses_nobody_linked_go_after_two_days_with_what_they_typed(db_url):
    async with services_on(db_url) as services:
        await seed(services)
        ola = await link_web(services, "ola-browser", "Ola Hansen")
        for browser in ("stranger-1", "ola-browser"):
            await services.conversation.handle("web", browser, engine.Choose("x", "y"), NOW)
        async with services.store.transaction() as tx:
            stranger = await tx.org.identity("web", "stranger-1")
            assert stranger is not None and stranger.person_id is None
            await tx.web.append(stranger.id, "in", {"type": "echo", "text": "hei"})
        retention = RetentionService(services.store, settings_for(db_url))
        day_later = await retention.purge(NOW + timedelta(days=1))
        days_later = await retention.purge(NOW + timedelta(days=3))
        async with services.store.transaction() as tx:
            gone = await tx.org.identity("web", "stranger-1")
            kept = await tx.org.identity("web", "ola-browser")
            transcript = await tx.session.scalar(select(func.count()).select_from(m.WebMessage))
    assert "unlinked_addresses" not in day_later
    assert days_later["unlinked_addresses"] == 1
    assert gone is None and transcript == 0
    assert kept is not None and kept.person_id == ola
