"""«Hopp over resten» in a web-chat check-in: answer one measure, send in just that one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.app import SERVICES
from bot.services.checkins import CheckinService
from storage import models as m
from tests.bot.test_checkins import invitation
from tests.services import person_id
from tests.webchat import NOW, ChatUser, running_app, settings_for

NAME, UNIT = "Kari Nordmann", "hjerteavdelingen"
MEASURES = ("felles-opplaering", "samarbeidsmoter", "utskrivningssamtale")
FINISH = "Hopp over resten"
THANKS = "Takk! Svarene dine er sendt inn."


async def start_checkin(server: Any, user: ChatUser, db_url: str) -> int:
    """Open Kari's unit's check-in, wait for the invitation and press Start."""
    services = server.app[SERVICES]
    await user.be(NAME)
    report = await CheckinService(
        services.store, services.catalog, settings_for(db_url)
    ).open_checkin(UNIT, 0, NOW)
    assert report.round_id is not None and report.queued == 1
    invite = await invitation(user)
    assert invite["rounds"][0]["round_id"] == report.round_id
    said = await user.send(type="begin", round_id=report.round_id)
    assert said[0]["key"] == "engine.intro"
    return report.round_id


async def in_db(server: Any, round_id: int) -> tuple[list[tuple[str, str | None]], str, Any]:
    """(submitted answers as (item id, choice), participation status, completed_on)."""
    services = server.app[SERVICES]
    person = await person_id(services, NAME)
    async with services.store.transaction() as tx:
        rows = (
            await tx.session.execute(
                select(m.Answer.item_id, m.Answer.choice).where(
                    m.Answer.round_id == round_id,
                    m.Answer.person_id == person,
                    m.Answer.response_id.is_not(None),
                )
            )
        ).all()
        participation = await tx.session.scalar(
            select(m.Participation).where(
                m.Participation.round_id == round_id, m.Participation.person_id == person
            )
        )
    assert participation is not None
    return [(r.item_id, r.choice) for r in rows], participation.status, participation.completed_on


def actions(question: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["kind"], a["label"]) for a in question["actions"]]


async def test_skip_the_rest_is_offered_on_every_measure_but_the_last(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await start_checkin(server, user, db_url)
        offered = []
        for measure in MEASURES:
            question = user.current()
            assert question["item_id"] == f"tiltak.{measure}"
            offered.append(("finish", FINISH) in actions(question))
            await user.choose("dont_know")
        assert offered == [True, True, False]
        assert user.last()["type"] == "summary"


async def test_answer_one_measure_then_skip_the_rest(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        round_id = await start_checkin(server, user, db_url)
        await user.choose("started")
        assert ("finish", FINISH) in actions(user.current())
        said = await user.action("finish")
        assert [msg["text"] for msg in said][:1] == [THANKS]
        assert said[0]["key"] == "engine.submitted"
        submitted, status, completed_on = await in_db(server, round_id)
        assert submitted == [(f"tiltak.{MEASURES[0]}", "started")]
        assert (status, completed_on) == ("completed", NOW.date())


async def test_skip_the_rest_after_going_back_submits_what_was_answered(db_url):
    # The path that works today: every measure has been shown once (Back from the summary).
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        round_id = await start_checkin(server, user, db_url)
        await user.choose("started")
        await user.action("skip", user.current()["item_id"])
        await user.action("skip", user.current()["item_id"])
        assert user.last()["type"] == "summary"
        await user.action("back")
        await user.action("back")
        assert user.current()["item_id"] == f"tiltak.{MEASURES[1]}"
        said = await user.action("finish")
        assert said[0]["key"] == "engine.submitted"
        assert said[0]["text"] == THANKS
        submitted, status, completed_on = await in_db(server, round_id)
        assert submitted == [(f"tiltak.{MEASURES[0]}", "started")]
        assert (status, completed_on) == ("completed", NOW.date())
