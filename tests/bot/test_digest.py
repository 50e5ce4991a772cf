"""Leader digests end to end: /digest in chat, the Monday delivery, deputies, opt-out, the CLI."""

import base64
import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from bot.services.checkins import CheckinService
from bot.services.digest import DigestService, Period
from bot.services.digests import DigestDelivery
from bot.services.messages import BeginRound, ChangeSettings, Picture, ShowDigest
from dialogs import engine
from dialogs.records import DeputyRecord
from scheduler.jobs import CheckinScheduler
from scheduler.lease import SchedulerLease
from storage import models as m
from tests.bot.test_cli import followup
from tests.services import link_web, person_id, seed, services_on
from tests.webchat import NOW, settings_for

MONDAY_0800 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 in Oslo, after week 48
K2 = {"min_group_size": 2}


async def answered_checkin(services, db_url, answers):
    """Kari and Ola answer hjerteavdelingen's check-in: person -> answer code for every item."""
    for external, name in (("kari", "Kari Nordmann"), ("ola", "Ola Hansen")):
        await link_web(services, external, name)
    checkins = CheckinService(services.store, services.catalog, settings_for(db_url, **K2))
    report = await checkins.open_checkin("hjerteavdelingen", 0, NOW)
    for external, code in answers.items():
        reply = await services.conversation.handle(
            "web", external, BeginRound(report.round_id), NOW
        )
        while True:
            asks = [m for m in reply.messages if isinstance(m, engine.Ask)]
            if any(isinstance(m, engine.Summary) for m in reply.messages):
                await services.conversation.handle("web", external, engine.Submit(), NOW)
                break
            reply = await services.conversation.handle(
                "web", external, engine.Choose(asks[-1].item_id, code), NOW
            )
    return report.round_id


async def test_a_leader_asks_for_the_digest_in_chat_and_the_view_is_audited(db_url):
    async with services_on(db_url, **K2) as services:
        await seed(services)
        await answered_checkin(services, db_url, {"kari": "dont_know", "ola": "started"})
        ingrid = await link_web(services, "ingrid", "Ingrid Berg")
        reply = await services.conversation.handle(
            "web", "ingrid", ShowDigest(""), NOW + timedelta(days=7)
        )
        [picture] = reply.messages
        assert isinstance(picture, Picture)
        assert picture.text.splitlines() == [
            "Ukesoversikt for Hjerteavdelingen, uke 48 (23. november 2026–29. november 2026)",
            "Ukjent for de ansatte («Vet ikke» 50,00\u00a0% eller mer):",
            "• «Felles opplæring for ansatte i sykehus og kommune»: 1 av 2 (50,00\u00a0%) svarer "
            "«Vet ikke»",
            "• «Økt bruk av samarbeidsmøter om den enkelte pasient»: 1 av 2 (50,00\u00a0%) svarer "
            "«Vet ikke»",
            "• «Fast utskrivningssamtale med kommunen før utskrivning»: 1 av 2 (50,00\u00a0%) "
            "svarer «Vet ikke»",
            "Fristen er passert uten statusendring: «Fast utskrivningssamtale med kommunen før "
            "utskrivning»",
            "Svarprosent i statusmålingene (siste mot forrige):",
            "• Hjerteavdelingen: 100,00\u00a0% (2 av 2), forrige ingen",
        ]
        assert base64.b64decode(picture.image).startswith(b"\x89PNG")
        assert picture.alt == "Svarfordeling per tiltak"
        async with services.store.transaction() as tx:
            audit = [(e.person_id, e.origin, e.action) for e in await tx.audit.entries()]
        assert audit == [(ingrid, "chat", "digest_view")]
        # Staff get a clear answer, and nothing is recorded.
        staff = await services.conversation.handle("web", "kari", ShowDigest(""), NOW)
        assert [m.key for m in staff.messages] == ["digest.not_leader"]
        wrong = await services.conversation.handle("web", "ingrid", ShowDigest("uke 48"), NOW)
        assert [m.key for m in wrong.messages] == ["digest.bad_period"]


async def test_below_k_the_digest_shows_no_figures(db_url):
    async with services_on(db_url) as services:  # k = 5, two respondents
        await seed(services)
        await answered_checkin(services, db_url, {"kari": "dont_know", "ola": "dont_know"})
        await link_web(services, "ingrid", "Ingrid Berg")
        reply = await services.conversation.handle(
            "web", "ingrid", ShowDigest("2026-W48"), NOW + timedelta(days=7)
        )
        [picture] = reply.messages
        assert "av 2" not in picture.text
        assert "For få svar til å vise tall: «Felles opplæring" in picture.text
        assert "Hjerteavdelingen: for få inviterte, forrige ingen" in picture.text
        assert picture.image is None  # no figure to draw


async def scheduler(services, db_url, **overrides):
    settings = settings_for(db_url, **K2, **overrides)
    lease = SchedulerLease(services.store, lambda: MONDAY_0800, holder="a")
    await lease.renew()
    digests = DigestDelivery(DigestService(services.store, settings))
    checkins = CheckinService(services.store, services.catalog, settings)
    return CheckinScheduler(
        services.store, checkins, lease, lambda: MONDAY_0800, "Europe/Oslo", digests=digests
    )


async def digest_rows(services):
    async with services.store.transaction() as tx:
        rows = await tx.session.execute(
            select(m.OutboxMessage.idempotency_key, m.OutboxMessage.payload).where(
                m.OutboxMessage.purpose == "digest"
            )
        )
        return {key: payload for key, payload in rows}


async def test_monday_delivery_once_to_the_leader_or_the_deputy_and_not_after_opt_out(db_url):
    async with services_on(db_url, **K2) as services:
        await seed(services)
        await answered_checkin(services, db_url, {"kari": "started", "ola": "started"})
        ingrid = await link_web(services, "ingrid", "Ingrid Berg")
        per = await link_web(services, "per", "Per Dahl")
        jobs = await scheduler(services, db_url)
        assert await jobs.tick(MONDAY_0800 - timedelta(minutes=1)) == []  # 07:59
        assert await jobs.tick(MONDAY_0800) == ["digest@2026-W48"]
        assert await jobs.tick(MONDAY_0800 + timedelta(minutes=5)) == []  # once a week
        rows = await digest_rows(services)
        assert sorted(rows) == [
            f"digest:{ingrid}:{ingrid}:2026-W48",
            f"digest:{per}:{per}:2026-W48",
        ]
        payload = rows[f"digest:{ingrid}:{ingrid}:2026-W48"]
        assert payload["type"] == "picture" and payload["locale"] == "nb"
        assert payload["text"].startswith("Ukesoversikt for Hjerteavdelingen, uke 48")

        # Next week: Per is Ingrid's deputy, and Per has turned his own digest off.
        async with services.store.transaction() as tx:
            await tx.org.add_deputy(
                DeputyRecord(
                    "hjerteavdelingen", ingrid, per, date(2026, 12, 1), date(2026, 12, 14)
                )
            )
        await services.conversation.handle("web", "per", ChangeSettings("digest off"), NOW)
        next_monday = MONDAY_0800 + timedelta(days=7)
        assert await jobs.tick(next_monday) == ["digest@2026-W49"]
        week49 = {k for k in await digest_rows(services) if k.endswith("2026-W49")}
        # The deputy opted out too, so no one gets hjerteavdelingen this week: stated in README.
        assert week49 == set()
        await services.conversation.handle("web", "per", ChangeSettings("digest on"), NOW)
        await DigestDelivery(DigestService(services.store, settings_for(db_url, **K2))).deliver(
            Period.of_week("2026-W49", "Europe/Oslo"), next_monday
        )
        week49 = {k for k in await digest_rows(services) if k.endswith("2026-W49")}
        assert week49 == {f"digest:{per}:{ingrid}:2026-W49", f"digest:{per}:{per}:2026-W49"}


def test_the_cli_prints_the_digest_as_json_and_html(db_url, tmp_path):
    import asyncio

    async def prepare():
        async with services_on(db_url, **K2) as services:
            await seed(services)
            await answered_checkin(services, db_url, {"kari": "dont_know", "ola": "planned"})
            return await person_id(services, "Ingrid Berg")

    ingrid = asyncio.run(prepare())
    result = followup(
        db_url,
        "digest",
        "--leader",
        "ingrid.berg@fjordsida.example",
        "--period",
        "2026-W48",
        "--format",
        "json",
        "--chart",
        tmp_path / "chart.png",
        k=2,
    )
    data = json.loads(result.stdout)
    assert data["leader"] == ingrid and data["period"] == "2026-W48"
    [section] = data["sections"]
    assert section["unit"] == "hjerteavdelingen"
    assert [f["counts"] for f in section["figures"]] == [
        {"started": 0, "planned": 1, "not_relevant": 0, "dont_know": 1}
    ] * 3
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    html = followup(
        db_url,
        "digest",
        "--leader",
        str(ingrid),
        "--period",
        "2026-W48",
        "--format",
        "html",
        k=2,
    ).stdout
    assert '<html lang="nb">' in html and 'alt="Svarfordeling per tiltak"' in html
    bad = followup(db_url, "digest", "--leader", "nobody@example.org", ok=False)
    assert bad.exit_code == 1 and "no person with e-mail" in bad.stderr


def test_deputies_are_named_from_the_cli_with_clear_errors(db_url):
    import asyncio

    async def prepare():
        async with services_on(db_url) as services:
            await seed(services)

    asyncio.run(prepare())
    ingrid, per = "ingrid.berg@fjordsida.example", "per.dahl@fjordsida.example"
    added = followup(
        db_url,
        "deputy",
        "add",
        "--leader",
        ingrid,
        "--deputy",
        per,
        "--unit",
        "hjerteavdelingen",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-14",
    )
    assert "receives" in added.stdout
    assert followup(db_url, "deputy", "list").stdout == (
        f"hjerteavdelingen: {ingrid} -> {per}, 2026-12-01 .. 2026-12-14\n"
    )
    for args, message in (
        (
            ("--unit", "lungeavdelingen", "--from", "2026-12-01", "--to", "2026-12-14"),
            "is not a leader of 'lungeavdelingen'",
        ),
        (
            ("--unit", "hjerteavdelingen", "--from", "2026-12-14", "--to", "2026-12-01"),
            "ends before it starts",
        ),
    ):
        wrong = followup(
            db_url, "deputy", "add", "--leader", ingrid, "--deputy", per, *args, ok=False
        )
        assert wrong.exit_code == 1 and message in wrong.stderr
    assert followup(db_url, "deputy", "list").stdout.count("\n") == 1  # nothing added


def test_the_digest_picture_renders_in_teams_as_a_card_image_and_in_the_web_chat():
    from bot.channels.teams.render import card, render_payload
    from bot.channels.web.render import render_message

    picture = Picture("digest", "Ukesoversikt …", "iVBORw0KGgo=", "Svarfordeling per tiltak")
    out = render_payload(picture.payload() | {"locale": "nb"})
    body = card(out, [])["body"]
    assert body[0]["text"] == "Ukesoversikt …"
    assert body[1] == {
        "type": "Image",
        "url": "data:image/png;base64,iVBORw0KGgo=",
        "altText": "Svarfordeling per tiltak",
    }
    assert render_message(picture) == {
        "type": "picture",
        "key": "digest",
        "text": "Ukesoversikt …",
        "image": "iVBORw0KGgo=",
        "alt": "Svarfordeling per tiltak",
    }
