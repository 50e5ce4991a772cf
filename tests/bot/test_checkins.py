"""A unit's check-in: each staff member is asked only the measures assigned to them."""

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from bot.app import SERVICES
from bot.services.checkins import CheckinService
from storage import models as m
from tests.webchat import NOW, ChatUser, running_app


async def invitation(user: ChatUser) -> dict:
    for _ in range(100):
        found = [x for x in await user.poll() if x.get("key") == "checkin.invitation"]
        if found:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError("no check-in invitation arrived")


async def test_staff_answer_only_their_assigned_measures(db_url):
    async with (
        running_app(db_url, seed=True) as server,
        ChatUser.on(server) as kari,
        ChatUser.on(server) as ola,
    ):
        await kari.be("Kari Nordmann")
        await ola.be("Ola Hansen")
        services = server.app[SERVICES]
        checkins = CheckinService(services.store, services.catalog, services_settings(server))
        report = await checkins.open_checkin("hjerteavdelingen", 0, NOW, per_person=1)
        assert (report.asked, report.queued, report.measures) == (2, 2, 3)
        again = await checkins.open_checkin("hjerteavdelingen", 0, NOW, per_person=1)
        assert again.round_id == report.round_id and again.queued == 0  # once per period

        asked = {}
        for name, user in (("kari", kari), ("ola", ola)):
            invite = await invitation(user)
            said = await user.send(type="begin", round_id=invite["rounds"][0]["round_id"])
            question = said[-1]
            assert question["type"] == "ask" and question["total"] == 1
            asked[name] = question["item_id"]
            await user.choose("started")
            await user.action("submit")
        async with services.store.transaction() as tx:
            rows = (
                await tx.session.execute(
                    select(m.Answer.item_id, m.Answer.measure_id, m.Answer.choice).where(
                        m.Answer.round_id == report.round_id, m.Answer.response_id.is_not(None)
                    )
                )
            ).all()
    # Two staff (< k): over a cycle both are asked every measure, one per check-in here.
    assert all(item.startswith("tiltak.") for item in asked.values())
    assert sorted(rows) == sorted(
        (item, item.removeprefix("tiltak."), "started") for item in asked.values()
    )


async def test_a_checkin_opened_in_the_evening_is_sent_after_quiet_hours(db_url):
    evening = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # 22:30 in Oslo
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as kari:
        await kari.be("Kari Nordmann")
        services = server.app[SERVICES]
        checkins = CheckinService(services.store, services.catalog, services_settings(server))
        await checkins.open_checkin("hjerteavdelingen", 0, evening)
        async with services.store.transaction() as tx:
            not_before = await tx.session.scalar(
                select(m.OutboxMessage.not_before).where(m.OutboxMessage.purpose == "checkin")
            )
    assert not_before == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 07:00 in Oslo


def services_settings(server):
    from tests.webchat import settings_for

    return settings_for("sqlite:///unused")
