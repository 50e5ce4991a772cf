"""Round invitations travel through the outbox to the person's web chat, once."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.app import SERVICES
from storage import models as m
from tests.services import link_web, open_round, seed, services_on
from tests.webchat import ChatUser, running_app


async def test_opening_a_round_delivers_one_invitation_to_the_web_chat(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be("Ingrid Berg")
        services = server.app[SERVICES]
        round_id = await open_round(services, anonymous=False, units=("medisinsk-klinikk",))
        await services.rounds.open(round_id, services.drainer.clock())  # opening twice
        invitations = []
        for _ in range(100):  # the drainer runs every 50 ms in tests
            invitations += [m for m in await user.poll() if m["type"] == "invitation"]
            if invitations:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        invitations += [m for m in await user.poll() if m["type"] == "invitation"]
        async with services.store.transaction() as tx:
            statuses = await tx.outbox.statuses()

    assert [m["rounds"][0]["round_id"] for m in invitations] == [round_id]
    assert "«Evaluering av samhandlingsseminaret»" in invitations[0]["text"]
    queued = {
        key: status
        for key, status in statuses.items()
        if key.startswith(f"invitation:{round_id}:")
    }
    assert list(queued.values()) == ["sent"]  # only Ingrid has a chat identity yet


async def test_people_without_a_chat_identity_see_the_round_when_they_arrive(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        services = server.app[SERVICES]
        round_id = await open_round(services, anonymous=False, units=("elvevik-kommune",))
        greeting = await user.be("Nina Solberg")
    offered = [r["round_id"] for r in greeting[-1]["rounds"]]
    assert round_id in offered


async def test_a_round_opened_late_in_the_evening_invites_after_the_quiet_hours(db_url):
    evening = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # 22:30 in Oslo: quiet until 07:00
    async with services_on(db_url) as services:
        await seed(services)
        linked = [await link_web(services, f"web-{n}", n) for n in ("Ingrid Berg", "Nina Solberg")]
        round_id = await services.rounds.create(
            "evaluering-samhandlingsseminar",
            ("medisinsk-klinikk", "elvevik-kommune"),
            evening,
            evening + timedelta(days=7),
        )
        first = await services.rounds.open(round_id, evening)
        again = await services.rounds.open(round_id, evening)
        async with services.store.transaction() as tx:
            rows = await tx.session.execute(
                select(m.OutboxMessage.person_id, m.OutboxMessage.not_before).where(
                    m.OutboxMessage.purpose == "invitation"
                )
            )
            queued = {person: at for person, at in rows}

    assert first.invited > len(linked) and first.queued == len(linked)
    assert first.without_identity == first.invited - len(linked)
    assert (again.invited, again.queued) == (0, 0)  # opening again invites nobody twice
    assert sorted(queued) == sorted(linked)
    assert set(queued.values()) == {datetime(2026, 11, 24, 6, 0, tzinfo=UTC)}  # 07:00 Oslo
