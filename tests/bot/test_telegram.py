"""The Telegram channel end to end against the Bot API stand-in, in polling and webhook mode."""

import pytest

from tests.bot.test_web_chat import EXPECTED, stored_anonymous_answers
from tests.peers.telegram_api import TelegramApiStandIn
from tests.telegram_chat import TelegramUser, invite_code, telegram_app

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
    assert "Hvor mange år" in kari.last_text()
    await kari.say("12")
    await kari.press("Fornøyd")
    await kari.say("Nyttig dag")
    await kari.press("Vet ikke")
    await kari.press("Nei")
    await kari.say("Ingen tid")
    question = kari.chat.last()
    await kari.press("Personalmøter")
    await kari.press("Fra nærmeste leder")
    assert kari.chat.last().message_id == question.message_id  # toggles edit in place
    marked = [t for t, _ in kari.chat.last().buttons if t.startswith("✅")]
    assert marked == ["✅ Personalmøter", "✅ Fra nærmeste leder"]
    await kari.press("Ferdig")
    await kari.press("Tiltaket er igangsatt")
    await kari.press("Vet ikke")
    await kari.press("Tiltaket er planlagt")
    await kari.press("Hopp over")
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
