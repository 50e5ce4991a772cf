"""The example questionnaire answered through the web chat's HTTP API, checked in the database."""

import dataclasses
from decimal import Decimal

from sqlalchemy import select

from bot.app import SERVICES
from dialogs.i18n import translate
from storage import models as m
from storage.database import create_engine, session_factory
from tests.webchat import ChatUser, running_app

EXPECTED = {
    "samtykke": {"choice": "yes"},
    "arbeidssted": {"choice": "sykehus"},
    "rolle": {"choice": "ansatt"},
    "erfaring": {"number": Decimal(12)},
    "seminar_fornoyd": {"choice": "6"},
    "seminar_fornoyd.comment": {"text": "Nyttig dag"},
    "seminar_nyttig": {"choice": "dont_know"},
    "tiltaksplan": {"choice": "no"},
    "tiltaksplan_hvorfor_ikke": {"text": "Ingen tid"},
    "informasjonskanaler": {"choices": ["leder", "personalmote"]},
    "tiltak.samarbeidsmoter": {"choice": "started"},
    "tiltak.felles-opplaering": {"choice": "dont_know"},
    "tiltak.utskrivningssamtale": {"choice": "planned"},
}


async def answer_example(user: ChatUser) -> None:
    """Answer the whole example questionnaire the way EXPECTED says."""
    invitation = await user.be("Kari Nordmann")
    assert invitation[-1]["type"] == "invitation"
    round_id = invitation[-1]["rounds"][0]["round_id"]
    said = await user.send(type="begin", round_id=round_id)
    assert said[-1]["item_id"] == "samtykke"
    await user.choose("yes")
    await user.choose("sykehus")
    await user.choose("ansatt")
    assert user.current()["input"] == "number"
    await user.say("12")
    await user.choose("6")
    assert user.current()["item_id"] == "seminar_fornoyd.comment"
    await user.say("Nyttig dag")
    await user.choose("dont_know")
    await user.choose("no")
    assert user.current()["item_id"] == "tiltaksplan_hvorfor_ikke"
    await user.say("Ingen tid")
    assert user.current()["item_id"] == "informasjonskanaler"
    await user.toggle("personalmote")
    shown = await user.toggle("leder")
    selected = {c["id"] for c in shown[-1]["choices"] if c["selected"]}
    assert selected == {"personalmote", "leder"}
    await user.action("done", "informasjonskanaler")
    await user.choose("started")
    await user.choose("dont_know")
    await user.choose("planned")
    assert user.current()["item_id"] == "andre_kommentarer"
    summary = await user.action("skip", "andre_kommentarer")
    assert summary[-1]["type"] == "summary"
    thanks = await user.action("submit")
    assert any("Takk for svarene" in m["text"] for m in thanks)


async def stored_anonymous_answers(db_url: str) -> dict[str, dict[str, object]]:
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            rows = (await session.scalars(select(m.AnonymousAnswer))).all()
    finally:
        await engine.dispose()
    found: dict[str, dict[str, object]] = {}
    for row in rows:
        value: dict[str, object] = {}
        if row.choice is not None:
            value["choice"] = row.choice
        if row.choices:
            value["choices"] = sorted(row.choices)
        if row.text is not None:
            value["text"] = row.text
        if row.number is not None:
            value["number"] = Decimal(row.number)
        found[row.item_id] = value
    return found


async def test_example_questionnaire_end_to_end_stores_exactly_the_answers(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await answer_example(user)
    assert await stored_anonymous_answers(db_url) == EXPECTED
    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        states = (await session.scalars(select(m.DialogStateRow))).all()
        done = (
            await session.scalars(
                select(m.Participation).where(m.Participation.status == "completed")
            )
        ).all()
    await engine.dispose()
    assert states == []  # in-progress answers left with the submit
    assert len(done) == 1


async def test_language_switch_mid_questionnaire_reasks_in_nynorsk(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        invitation = await user.be("Kari Nordmann")
        await user.send(type="begin", round_id=invitation[-1]["rounds"][0]["round_id"])
        await user.choose("yes")
        assert user.current()["text"] == "Hvor jobber du?"
        said = await user.say("/language nn")
        assert said[0]["text"] == "Språket er no nynorsk."
        assert said[-1]["text"] == "Kvar jobbar du?"
        assert [c["label"] for c in said[-1]["choices"]] == ["Sjukehus", "Kommune", "Anna"]
        menu = await user.say("/language")
        assert [o["code"] for o in menu[-1]["options"]] == ["nb", "nn", "en"]
        english = await user.send(type="language", code="en")
        assert english[-1]["text"] == "Where do you work?"


async def test_garbage_gets_a_localised_reason_and_changes_nothing(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        invitation = await user.be("Kari Nordmann")
        await user.send(type="begin", round_id=invitation[-1]["rounds"][0]["round_id"])
        refused = await user.say("kanskje")
        assert refused[0]["key"] == "engine.invalid.use_buttons"
        assert refused[-1]["item_id"] == "samtykke"
        stale = await user.send(type="choose", item_id="rolle", option_id="leder")
        assert [m["key"] for m in stale] == ["engine.stale"]
        for bad in (
            {"type": "choose"},
            {"type": "teleport"},
            {"type": "begin", "round_id": "1"},
            [1, 2],
            {"type": "text", "text": "x" * 5000},
        ):
            response = await user.client.post("/chat/api/send", json=bad)
            assert response.status == 400, bad
        response = await user.client.post(
            "/chat/api/send",
            data="type=text&text=hi",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status == 415  # no cross-site form posts
        assert (await user.choose("yes"))[-1]["item_id"] == "arbeidssted"


async def test_an_invite_code_links_a_new_person_to_the_unit(db_url):
    from datetime import timedelta

    from bot.app import SERVICES
    from dialogs.model import Role
    from tests.webchat import NOW

    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        services = server.app[SERVICES]
        async with services.store.transaction() as tx:
            await tx.org.create_invite(
                "AB12-CD34", NOW + timedelta(days=1), "lungeavdelingen", None, Role.STAFF, uses=1
            )
        unknown = await user.say("hei")
        assert unknown[-1]["key"] == "service.not_linked"  # a greeting is not a code
        wrong = await user.say("ZZ99-ZZ99")
        assert wrong[-1]["key"] == "service.invite_invalid"
        welcome = await user.say("ab12-cd34")
        assert welcome[-1]["type"] == "invitation" and welcome[-1]["rounds"]
        async with ChatUser.on(server) as other:
            assert (await other.say("AB12-CD34"))[-1]["key"] == "service.invite_invalid"  # used up
        async with services.store.transaction() as tx:
            newcomer = next(p for p in await tx.org.people() if p.email is None)
            memberships = await tx.org.memberships(newcomer.id)
        assert [(m.unit_id, m.role) for m in memberships] == [("lungeavdelingen", "staff")]


async def test_a_nynorsk_unit_gets_nynorsk_questions_and_page(db_url):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        greeting = await user.be("Synnøve Aas")  # heimetenesta-nordbygda has locale nn
        assert greeting[-1]["text"] == "Du har opne undersøkingar:"
        page = await (await user.client.get("/chat", headers={"Accept-Language": "en"})).text()
    assert '<html lang="nn">' in page
    assert "Skriv eit svar eller ein kommando" in page


async def test_the_transcript_keeps_no_answer_of_an_anonymous_round(db_url):
    import json

    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        await answer_example(user)
        engine = create_engine(db_url)
        async with session_factory(engine)() as session:
            lines = (await session.scalars(select(m.WebMessage))).all()
        await engine.dispose()
    stored = " ".join(json.dumps(line.payload, ensure_ascii=False) for line in lines)
    for answer in ("Nyttig dag", "Ingen tid", "Sykehus", '"12"'):
        assert answer not in stored, answer
    assert "Takk for svarene" in stored  # what came after the submit is kept


async def test_a_questionnaire_goes_on_in_the_language_it_started_in(db_url):
    """Synnøve has no language of her own; her unit's changes mid-questionnaire."""
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as user:
        greeting = await user.be("Synnøve Aas")  # heimetenesta-nordbygda has locale nn
        round_id = greeting[-1]["rounds"][0]["round_id"]
        asked = await user.send(type="begin", round_id=round_id)
        assert "Vil du vere med?" in asked[-1]["text"]
        asked = await user.choose("yes")
        assert asked[-1]["text"] == "Kvar jobbar du?"
        async with server.app[SERVICES].store.transaction() as tx:
            unit = await tx.org.unit("heimetenesta-nordbygda")
            await tx.org.upsert_unit(dataclasses.replace(unit, locale="en"), "team")
        said = await user.say("kanskje")  # text to a button question: refused in nynorsk
        assert said[0]["text"] == translate("nn", "engine.invalid.use_buttons")
        offered = await user.say("/start")  # not an answer: the unit's new language
        assert offered[-1]["text"] == translate("en", "service.open_rounds")
