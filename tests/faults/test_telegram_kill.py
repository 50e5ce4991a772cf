"""The bot killed with SIGKILL halfway through a questionnaire in Telegram (webhook mode): after
a restart the person taps the button of the question they were on and carries on to the end."""

import asyncio
from collections import Counter
from datetime import timedelta

from bot.services.account import new_code
from dialogs.model import Role
from storage.models import utcnow
from tests.peers.telegram_api import TelegramApiStandIn
from tests.process import ROOT, ServerProcess, free_port
from tests.services import open_round, services_on
from tests.telegram_chat import (
    WEBHOOK_SECRET,
    TelegramUser,
    answer_measures,
    answer_years_to_reasons,
)

ROUND_NAME = "Oppfølging før og etter krasj"
CHAT = 4301


async def invite_and_round(db_url: str) -> tuple[str, int]:
    """An invite code for hjerteavdelingen, and an identified round of the example, open now."""
    code, now = new_code(), utcnow()
    async with services_on(db_url) as services:
        async with services.store.transaction() as tx:
            await tx.org.create_invite(
                code, now + timedelta(days=1), "hjerteavdelingen", None, Role.STAFF, 1
            )
        round_id = await open_round(services, False, ("hjerteavdelingen",), now, ROUND_NAME)
        return code, round_id


async def answered_items(db_url: str, round_id: int) -> list[str]:
    async with services_on(db_url) as services, services.store.transaction() as tx:
        identity = await tx.org.identity("telegram", str(CHAT))
        assert identity is not None and identity.person_id is not None
        return [item for item, _ in await tx.answers.answers_of(round_id, identity.person_id)]


async def test_sigkill_mid_questionnaire_then_the_old_button_carries_on(db_url, tmp_path):
    port = free_port()
    async with TelegramApiStandIn() as api:
        env = {
            "DATABASE_URL": db_url,
            "FOLLOWUP_PORT": str(port),
            "FOLLOWUP_HOST": "127.0.0.1",
            "FOLLOWUP_PUBLIC_URL": "https://followup.example",
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": api.root,
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        command = [str(ROOT / ".venv/bin/followup"), "serve"]
        server = ServerProcess(command, env, port, log=tmp_path / "bot.log")
        try:
            await asyncio.to_thread(server.start)  # the stand-in answers meanwhile
            # The reverse proxy: the public webhook URL reaches this process.
            api.webhook_url = f"{server.url}/telegram/webhook"
            code, round_id = await invite_and_round(db_url)
            kari = TelegramUser(api, CHAT)
            await kari.say(f"/start {code}")  # the greeting lists the open rounds
            await kari.press(f"Start: {ROUND_NAME}")
            await kari.press("Ja, jeg vil delta")
            await kari.press("Sykehus")
            question = kari.chat.last()
            assert "rollen din" in question.text

            server.kill()
            await asyncio.to_thread(server.start)
            api.webhook_url = f"{server.url}/telegram/webhook"

            await kari.press("Leder", question)  # the button of the message shown before
            await answer_years_to_reasons(kari)
            await kari.press("Personalmøter")
            await kari.press("Ferdig")
            await answer_measures(kari)
            summary = kari.last_text()
            before = len(kari.chat.texts)
            await kari.press("Send inn")
            assert any("Takk for svarene" in text for text in kari.chat.texts[before:])
        finally:
            server.stop()
    for answer in ("Ja, jeg vil delta", "Sykehus", "Leder", "12", "Nyttig dag", "Ingen tid"):
        assert summary.splitlines().count(answer) == 1, (answer, summary)
    items = await answered_items(db_url, round_id)
    # Each answer once as it was given, and once in the submitted response: none lost or twice.
    assert Counter(items) == dict.fromkeys(items, 2)
    assert {"samtykke", "arbeidssted", "rolle", "erfaring"} <= set(items)
