"""The log of real conversations holds events, never answers, names, e-mails or chat ids."""

import io
import json
import logging
from contextlib import contextmanager

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.logs import AccessLogger, configure_logging
from tests.peers.telegram_api import TelegramApiStandIn
from tests.telegram_chat import TelegramUser, invite_code, services, telegram_app
from tests.webchat import ChatUser, running_app

NAME = "Tormodine Haugvik-Ølstad"
EMAIL = "tormodine.olstad@example.org"
PHONE = "+47 413 27 986"
FREE_TEXT = f"Ring {NAME} på {PHONE} eller {EMAIL}"
CHAT_ID = 734291157
NEVER_LOGGED = [FREE_TEXT, NAME, "Tormodine", "Haugvik", EMAIL, PHONE, str(CHAT_ID)]


@pytest.fixture
def log_lines():
    """Everything logged at DEBUG (structlog and the standard library), as JSON lines."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", "DEBUG", stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()


def logged_text(stream: io.StringIO) -> str:
    """The log as written, and as JSON-decoded text (an escaped name must not slip through)."""
    return stream.getvalue() + json.dumps(events(stream), ensure_ascii=False)


def events(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@contextmanager
def failing_conversation(server):
    """A bug while handling a message, whose exception quotes what the person wrote."""
    service = services(server).conversation

    async def crash(*args, **kwargs):
        raise RuntimeError(f"could not store «{FREE_TEXT}» for {EMAIL} in chat {CHAT_ID}")

    service.handle = crash
    try:
        yield
    finally:
        del service.handle


def assert_crash_logged_without_its_message(found: list[dict]) -> None:
    """The unhandled RuntimeError is logged at ERROR with its traceback, not its message."""
    crashes = [
        e
        for e in found
        if e["level"] == "error" and e.get("exception", "").endswith("\nbuiltins.RuntimeError")
    ]
    assert len(crashes) == 1, found
    assert "Traceback (most recent call last)" in crashes[0]["exception"]
    assert "in crash" in crashes[0]["exception"]  # the frame that raised it


async def test_web_chat_answers_and_people_never_reach_the_log(db_url, log_lines):
    async with running_app(db_url, seed=True) as server, ChatUser.on(server) as kari:
        invitation = await kari.be("Kari Nordmann")
        await kari.send(type="begin", round_id=invitation[-1]["rounds"][0]["round_id"])
        for option in ("yes", "sykehus", "ansatt"):
            await kari.choose(option)
        await kari.say("12")
        await kari.choose("6")
        assert kari.current()["item_id"] == "seminar_fornoyd.comment"
        await kari.say(FREE_TEXT)
        await kari.say(f"/language {NAME}")  # a command with nonsense in it
        bad = await kari.client.post("/chat/api/send", json={"type": "nonsense", "text": NAME})
        assert bad.status == 400
        cookie = next(iter(kari.client.session.cookie_jar)).value.rpartition(".")[0]
        with failing_conversation(server):
            crashed = await kari.client.post("/chat/api/send", json={"type": "text", "text": "x"})
        assert crashed.status == 500
        # What a careless log call of ours would pass: the keys are redacted, the event kept.
        structlog.get_logger("bot.test").info("answer", text=FREE_TEXT, email=EMAIL, name=NAME)
        # The server's access log: no query string (it can carry an address), no client IP.
        request = make_mocked_request("GET", f"/chat/api/messages?after=3&who={EMAIL}")
        AccessLogger(logging.getLogger("aiohttp.access"), "").log(
            request, web.Response(status=204), 0.0123
        )

    logged = logged_text(log_lines)
    for secret in [*NEVER_LOGGED, "Kari Nordmann", "kari.nordmann", cookie]:
        assert secret not in logged
    answer = next(e for e in events(log_lines) if e["event"] == "answer")
    assert answer["text"] == answer["email"] == answer["name"] == "[redacted]"
    assert answer["logger"] == "bot.test" and answer["level"] == "info"
    assert_crash_logged_without_its_message(events(log_lines))
    access = next(e for e in events(log_lines) if e["event"] == "request")
    assert (access["path"], access["status"], access["duration_ms"]) == (
        "/chat/api/messages",
        204,
        12.3,
    )


async def test_telegram_errors_are_logged_without_the_text_they_quote(db_url, log_lines):
    async with TelegramApiStandIn() as api, telegram_app(db_url, "webhook", api) as server:
        person = TelegramUser(api, CHAT_ID, NAME)
        await person.say(f"/start {await invite_code(server)}")
        await person.press("Start: Evaluering av samhandlingsseminaret")
        for label in ("Ja, jeg vil delta", "Sykehus", "Ansatt"):
            await person.press(label)
        await person.say("12")
        await person.press("Fornøyd")
        # Telegram refuses the next question; its error message quotes the answer.
        quoted = f"Bad Request: can't parse entities in «{FREE_TEXT}»"
        api.fail("sendMessage", chat_id=CHAT_ID, status=400, description=quoted)
        await person.say(FREE_TEXT)
        assert person.last_text().startswith("Beklager, jeg fikk ikke vist den meldingen")
        await person.say("/resume")
        with failing_conversation(server):
            await person.say("/status")

    logged = logged_text(log_lines)
    for secret in [*NEVER_LOGGED, api.token]:
        assert secret not in logged
    found = events(log_lines)
    refused = [e for e in found if e["event"] == "Telegram refused a message (BadRequest)"]
    assert [e["level"] for e in refused] == ["warning"]
    assert_crash_logged_without_its_message(found)
