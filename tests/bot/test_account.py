"""A person's own commands in the web chat: stop/start, privacy, my data, forget, link, status."""

import json

from sqlalchemy import func, select

from bot.app import SERVICES
from storage import models as m
from tests.services import open_round
from tests.webchat import ChatUser, running_app


async def begin_and_answer_two(user: ChatUser) -> int:
    invitation = await user.be("Ola Hansen")
    round_id = invitation[-1]["rounds"][0]["round_id"]
    await user.send(type="begin", round_id=round_id)
    await user.choose("yes")
    await user.choose("kommune")
    return round_id


async def test_stop_pauses_invitations_and_start_resumes_them(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await user.be("Ola Hansen")
        stopped = await user.say("/stop")
        assert stopped[-1]["key"] == "account.stopped"
        services = server.app[SERVICES]
        report = await services.rounds.open(
            await open_round(services, anonymous=False, units=("hjerteavdelingen",)),
            services.drainer.clock(),
        )
        assert report.queued == 0  # paused people get no proactive message
        back = await user.say("/start")
        assert [m.get("key") for m in back] == ["account.restarted", "service.open_rounds"]


async def test_status_shows_progress_and_privacy_names_k(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await begin_and_answer_two(user)
        status = await user.say("/status")
        assert status[-1]["key"] == "account.status"
        assert "(2 av 12 besvart)" in status[-1]["rounds"][0]["title"]
        privacy = await user.say("/privacy")
        assert "minst 5 svar" in privacy[-1]["text"]


async def test_mydata_exports_in_progress_answers(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        round_id = await begin_and_answer_two(user)
        export = (await user.say("/mydata"))[-1]
    assert export["type"] == "export"
    data = json.loads(export["content"])
    assert data["person"]["email"] == "ola.hansen@fjordsida.example"
    assert {(a["item"], a.get("choice")) for a in data["answers"]} == {
        ("samtykke", "yes"),
        ("arbeidssted", "kommune"),
    }
    assert data["participation"][0]["round"] == round_id


async def test_forget_asks_first_then_deletes_and_start_needs_a_new_code(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await begin_and_answer_two(user)
        asked = await user.say("/forget")
        assert asked[-1]["type"] == "prompt"
        done = await user.send(**asked[-1]["buttons"][0]["request"])
        assert done[-1]["key"] == "account.forgotten"
        again = await user.say("/start")
        assert again[-1]["key"] == "service.not_linked"
        store = server.app[SERVICES].store
        async with store.transaction() as tx:
            people = await tx.session.scalar(
                select(func.count()).select_from(m.Person).where(m.Person.name == "Ola Hansen")
            )
            states = await tx.session.scalar(select(func.count()).select_from(m.DialogStateRow))
            orphaned = await tx.session.scalar(
                select(func.count())
                .select_from(m.Participation)
                .where(m.Participation.person_id.is_(None))
            )
    assert (people, states) == (0, 0)
    assert orphaned == 1  # the round keeps its denominator


async def test_link_code_connects_a_second_chat_to_the_same_person(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as first:
        await begin_and_answer_two(first)
        said = (await first.say("/link"))[-1]["text"]
        code = next(word.rstrip(".") for word in said.split() if word.count("-") == 2)
        async with ChatUser.on(server) as second:
            linked = await second.say(f"/link {code}")
            assert linked[-1]["type"] == "invitation"
            status = await second.say("/status")
            assert "(2 av 12 besvart)" in status[-1]["rounds"][0]["title"]
            async with ChatUser.on(server) as third:
                assert (await third.say(code))[-1]["key"] == "service.invite_invalid"
