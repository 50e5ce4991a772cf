"""The Telegram channel end to end against the Bot API stand-in, in polling and webhook mode."""

import asyncio

import pytest

from tests.bot.test_web_chat import EXPECTED, stored_anonymous_answers
from tests.peers.telegram_api import TelegramApiStandIn
from tests.services import open_round
from tests.telegram_chat import (
    TelegramUser,
    answer_measures,
    answer_years_to_reasons,
    invite_code,
    services,
    telegram_app,
)

MODES = ["polling", "webhook"]


@pytest.fixture
async def api():
    async with TelegramApiStandIn() as stand_in:
        yield stand_in


async def answer_example_questionnaire(kari: TelegramUser) -> None:
    """The example questionnaire the way tests/bot/test_web_chat.py's EXPECTED says."""
    await kari.press("Start: Evaluering av samhandlingsseminaret")
    assert "Vil du delta?" in kari.last_text()
    await kari.press("Ja, jeg vil delta")
    answered = kari.chat.messages[-2]
    assert answered.text.endswith("✔ Ja, jeg vil delta") and answered.buttons == []
    await kari.press("Sykehus")
    await kari.press("Ansatt")
    await answer_years_to_reasons(kari)
    question = kari.chat.last()
    await kari.press("Personalmøter")
    await kari.press("Fra nærmeste leder")
    assert kari.chat.last().message_id == question.message_id  # toggles edit in place
    marked = [t for t, _ in kari.chat.last().buttons if t.startswith("✅")]
    assert marked == ["✅ Personalmøter", "✅ Fra nærmeste leder"]
    await kari.press("Ferdig")
    await answer_measures(kari)
    assert "Send inn" in [t for t, _ in kari.chat.last().buttons]
    await kari.press("Send inn")
    assert "Takk for svarene" in kari.last_text()


@pytest.mark.parametrize("mode", MODES)
async def test_enrollment_by_deep_link_then_the_whole_questionnaire(db_url, api, mode):
    async with telegram_app(db_url, mode, api) as server:
        code = await invite_code(server)
        kari = TelegramUser(api, 1001)
        await kari.say(f"/start {code}")
        assert kari.last_text().startswith("Du har åpne undersøkelser")
        await answer_example_questionnaire(kari)
    assert await stored_anonymous_answers(db_url) == EXPECTED
    commands = api.commands(language_code="nn")
    assert ("language", "Byt språk") in commands


ROUND_NAME = "Oppfølging med navn"


async def identified_round(server, units=("hjerteavdelingen",)) -> int:
    return await open_round(services(server), False, units, name=ROUND_NAME)


async def answers_of(server, chat_id: int, round_id: int) -> list[tuple[str, dict]]:
    async with services(server).store.transaction() as tx:
        identity = await tx.org.identity("telegram", str(chat_id))
        rows = await tx.answers.answers_of(round_id, identity.person_id)
    return [(item, value.to_dict()) for item, value in rows]


async def enrolled(server, api, chat_id: int, name: str = "Kari") -> TelegramUser:
    user = TelegramUser(api, chat_id, name)
    await user.say(f"/start {await invite_code(server)}")
    return user


async def test_invitation_arrives_through_the_outbox_and_starts_the_round(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        kari = await enrolled(server, api, 2001)
        mark = api.mark()
        round_id = await identified_round(server)
        call = await api.wait_for_call("sendMessage", chat_id=2001, since=mark)
        assert f"Du er invitert til å svare på «{ROUND_NAME}»" in call.params["text"]
        await kari.press(f"Start: {ROUND_NAME}", kari.chat.message(call.result["message_id"]))
        await kari.press("Ja, jeg vil delta")
        assert await answers_of(server, 2001, round_id) == [("samtykke", {"choice": "yes"})]


async def test_garbage_stale_buttons_double_taps_and_back(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        round_id = await identified_round(server)
        kari = await enrolled(server, api, 2002)
        await kari.press(f"Start: {ROUND_NAME}")
        consent = kari.chat.last()
        await kari.say("kanskje")  # text to a button question
        assert "knappene" in kari.chat.messages[-2].text
        assert kari.chat.last().text == consent.text  # asked again
        consent = kari.chat.last()
        yes = kari.find("Ja, jeg vil delta", consent)[1]
        mark = api.mark()
        first, second = await asyncio.gather(
            kari.user.press(consent, yes), kari.user.press(consent, yes)
        )
        assert (first.status, second.status) == (200, 200)
        assert await answers_of(server, 2002, round_id) == [("samtykke", {"choice": "yes"})]
        asked = [c for c in api.calls_to("sendMessage", chat_id=2002) if c.seq >= mark]
        assert len(asked) == 1  # confirmed once: one next question
        stale_notices = [a.text for a in kari.chat.callback_answers if a.text]
        assert (
            stale_notices[-1] == "Den knappen hører til et tidligere steg og gjelder ikke lenger."
        )
        # An old button of an answered question changes nothing.
        await kari.user.press(consent, yes, check=False)
        assert await answers_of(server, 2002, round_id) == [("samtykke", {"choice": "yes"})]
        await kari.press("Kommune")
        await kari.press("Tilbake")
        assert "Hvor jobber du?" in kari.last_text()
        await kari.press("Sykehus")
        assert [a for a in await answers_of(server, 2002, round_id)] == [
            ("samtykke", {"choice": "yes"}),
            ("arbeidssted", {"choice": "kommune"}),
            ("arbeidssted", {"choice": "sykehus"}),
        ]  # a later answer is a new row


async def test_wrong_webhook_secret_is_refused_and_changes_nothing(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        code = await invite_code(server)
        intruder = api.user(2003)
        for secret in ("wrong", None):
            delivery = await intruder.send_text(f"/start {code}", secret=secret)
            assert delivery.status == 401
        assert api.chat(2003).messages == []
        async with services(server).store.transaction() as tx:
            assert await tx.org.identity("telegram", "2003") is None


async def test_forget_then_start_and_link_across_web_and_telegram(db_url, api):
    from tests.webchat import ChatUser

    # Polling mode: with FOLLOWUP_PUBLIC_URL the web cookie is Secure and plain-http tests lose it.
    async with telegram_app(db_url, "polling", api) as server, ChatUser.on(server) as web:
        await web.be("Ola Hansen")
        said = (await web.say("/link"))[-1]["text"]
        code = next(word.rstrip(".") for word in said.split() if word.count("-") == 2)
        ola = TelegramUser(api, 2004, "Ola")
        await ola.say(f"/link {code}")
        await ola.say("/mydata")
        export = api.calls_to("sendDocument", chat_id=2004)[-1]
        assert b"ola.hansen@fjordsida.example" in export.params["document"].data
        await ola.say("/forget")
        await ola.press("Ja, slett dataene mine")
        assert "slettet" in ola.last_text()
        await ola.say("/start")
        assert "invitasjonskoden" in ola.last_text()
        assert (await web.say("/status"))[-1]["key"] == "service.not_linked"


async def test_blocked_user_is_marked_unreachable_and_429_is_waited_out(db_url, api):
    async with telegram_app(db_url, "webhook", api) as server:
        kari = await enrolled(server, api, 2005, "Kari")
        per = await enrolled(server, api, 2006, "Per")
        kari.user.block()
        api.fail("sendMessage", chat_id=2006, status=429, retry_after=1, times=1)
        mark = api.mark()
        await identified_round(server)
        delivered = await api.wait_for_call("sendMessage", chat_id=2006, since=mark, timeout=10)
        assert "Du er invitert" in delivered.params["text"]
        refused = [c for c in api.calls_to("sendMessage", chat_id=2006) if c.seq >= mark]
        assert [c.status for c in refused] == [429, 200]
        assert refused[1].time - refused[0].time >= 0.9  # waited for retry_after
        store = services(server).store

        async def outcomes():
            async with store.transaction() as tx:
                return sorted((await tx.outbox.statuses()).values())

        for _ in range(50):  # the drainer records the outcome just after the send
            if await outcomes() == ["sent", "unreachable"]:
                break
            await asyncio.sleep(0.05)
        assert await outcomes() == ["sent", "unreachable"]
        async with store.transaction() as tx:
            identity = await tx.org.identity("telegram", "2005")
        assert identity.reachable is False
        del per


async def test_fifty_people_at_once_without_cross_talk_and_overlapping(db_url, api):
    import time

    people = 50
    async with telegram_app(db_url, "polling", api) as server:
        code = await invite_code(server, uses=people)
        service = services(server).conversation
        spans: list[tuple[float, float]] = []
        handle = service.handle

        async def timed(*args, **kwargs):
            started = time.monotonic()
            try:
                return await handle(*args, **kwargs)
            finally:
                spans.append((started, time.monotonic()))

        service.handle = timed
        users = [TelegramUser(api, 3000 + n, f"P{n}") for n in range(people)]
        await asyncio.gather(*(u.say(f"/start {code}") for u in users))
        await asyncio.gather(
            *(u.press("Start: Evaluering av samhandlingsseminaret") for u in users)
        )
        await asyncio.gather(*(u.press("Ja, jeg vil delta") for u in users))
        # Each person answers "where do you work" differently (by parity): no cross-talk.
        await asyncio.gather(
            *(u.press("Sykehus" if n % 2 else "Kommune") for n, u in enumerate(users))
        )
        for n, user in enumerate(users):
            closed = user.chat.messages[-2]
            assert closed.text.endswith("✔ " + ("Sykehus" if n % 2 else "Kommune")), n
            assert "Hva er rollen din?" in user.last_text()
            async with services(server).store.transaction() as tx:
                identity = await tx.org.identity("telegram", str(user.chat_id))
                stored = await tx.conversations.state(identity.person_id, 1)
            chosen = dict(stored["answers"])
            assert chosen["arbeidssted"]["choice"] == ("sykehus" if n % 2 else "kommune")
    overlapping = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    print(f"\nhandled {len(spans)} events; at most {overlapping} at the same time")
    assert overlapping > 1, "updates were handled one at a time"


LONG_LIST = (
    """
id: lang-liste
title: Lang liste
items:
  - id: kommune
    kind: single
    text: Hvilken kommune bor du i?
    options:
"""
    + "".join(f"      - {{id: k{n}, label: Kommune {n}}}\n" for n in range(1, 13))
    + """
  - id: fritekst
    kind: text
    text: Noe annet?
"""
)


async def started_round(server, api, chat_id, definition, tmp_path):
    """Kari, enrolled, with a new round of `definition` (YAML text) started in chat."""
    from datetime import timedelta

    from dialogs.loader import parse_questionnaire
    from tests.webchat import NOW

    questionnaire = parse_questionnaire(definition, "test")
    path = tmp_path / f"{questionnaire.id}.yaml"
    path.write_text(definition, encoding="utf-8")
    rounds = services(server).rounds
    await rounds.load_questionnaire(path)
    kari = await enrolled(server, api, chat_id)
    round_id = await rounds.create(
        questionnaire.id, ["hjerteavdelingen"], NOW, NOW + timedelta(days=1)
    )
    mark = api.mark()
    await rounds.open(round_id, NOW)
    # The invitation comes through the outbox, whenever the drainer gets to it: wait for it.
    title = questionnaire.title.get("nb")
    invitation = await api.wait_for_call("sendMessage", chat_id=chat_id, since=mark)
    assert f"«{title}»" in invitation.params["text"]
    await kari.press(f"Start: {title}", kari.chat.message(invitation.result["message_id"]))
    return kari, round_id


async def test_long_lists_are_paginated_and_typed_text_is_escaped(db_url, api, tmp_path):
    async with telegram_app(db_url, "webhook", api) as server:
        kari, round_id = await started_round(server, api, 2007, LONG_LIST, tmp_path)
        first_page = [t for t, _ in kari.chat.last().buttons]
        assert first_page == [f"Kommune {n}" for n in range(1, 9)] + ["▶"]
        await kari.press("▶")
        second_page = [t for t, _ in kari.chat.last().buttons]
        assert second_page[:5] == ["Kommune 9", "Kommune 10", "Kommune 11", "Kommune 12", "◀"]
        await kari.press("Kommune 11")
        await kari.say("<b>fet</b> & <i")
        summary = kari.chat.last()
        assert "<b>fet</b> & <i" in summary.text  # shown literally, not as markup
        assert all(
            entity["type"] != "bold"
            for entity in summary.entities
            if "fet" in summary.text[entity["offset"] : entity["offset"] + 3]
        )
        await kari.press("Send inn")
        async with services(server).store.transaction() as tx:
            identity = await tx.org.identity("telegram", "2007")
            answers = await tx.answers.answers_of(round_id, identity.person_id)
        assert ("kommune", "k11") in [(item, value.choice) for item, value in answers]


LONG_TEXTS = """
id: lange-svar
title: Lange svar
items:
""" + "".join(
    f"""  - id: tekst{n}
    kind: text
    max_length: 2000
    text: Fortell {n}
"""
    for n in range(3)
)


async def test_a_summary_of_long_answers_still_fits_and_can_be_submitted(db_url, api, tmp_path):
    async with telegram_app(db_url, "webhook", api) as server:
        kari, _round_id = await started_round(server, api, 2008, LONG_TEXTS, tmp_path)
        for _ in range(3):
            await kari.say(("æøå <&> " * 250)[:1990])
        summary = kari.chat.last()
        assert len(summary.text) <= 4096 and "…" in summary.text
        await kari.press("Send inn")
        assert any(text.startswith("Takk") for text in kari.chat.texts[-2:])


async def test_invite_create_prints_the_deep_link_and_writes_a_qr_code(db_url, api, tmp_path):
    from typer.testing import CliRunner

    from bot.cli import app as cli
    from tests.process import ROOT

    env = {
        "DATABASE_URL": db_url,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.root,
    }
    runner = CliRunner()
    await asyncio.to_thread(
        runner.invoke, cli, ["org", "import", str(ROOT / "examples/org.yaml")], env=env
    )
    qr = tmp_path / "invite.png"
    result = await asyncio.to_thread(
        runner.invoke,
        cli,
        ["invite", "create", "--unit", "hjerteavdelingen", "--qr", str(qr)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    code, link = result.stdout.splitlines()[:2]
    assert link == f"https://t.me/followup_test_bot?start={code}"
    assert qr.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_checkin_in_telegram(db_url, api):
    from bot.services.checkins import CheckinService
    from tests.webchat import NOW, settings_for

    async with telegram_app(db_url, "webhook", api) as server:
        kari = await enrolled(server, api, 2009)
        checkins = CheckinService(
            services(server).store, services(server).catalog, settings_for(db_url)
        )
        mark = api.mark()
        report = await checkins.open_checkin("hjerteavdelingen", 0, NOW)
        call = await api.wait_for_call("sendMessage", chat_id=2009, since=mark)
        assert "Har tiltakene startet der du jobber?" in call.params["text"]
        await kari.press("Start: Status for tiltak", kari.chat.message(call.result["message_id"]))
        asked = 0
        while "«" in kari.last_text() and "Vet ikke" in [t for t, _ in kari.chat.last().buttons]:
            await kari.press("Vet ikke" if asked % 2 else "Tiltaket er igangsatt")
            asked += 1
        await kari.press("Send inn")
        async with services(server).store.transaction() as tx:
            identity = await tx.org.identity("telegram", "2009")
            stored = await tx.answers.answers_of(report.round_id, identity.person_id)
    final = [(item, value.choice) for item, value in stored][asked:]  # the submitted copy
    assert len(final) == asked == report.measures  # two staff (< k): everyone gets everything
    assert [choice for _item, choice in final] == [
        "dont_know" if n % 2 else "started" for n in range(asked)
    ]
