"""Fuzzing the Telegram webhook: garbage updates, forged button presses, refused commands."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.telegram.channel import SECRET_HEADER
from bot.channels.telegram.delivery import TOKEN_PREFIX
from tests.fuzz.oracles import ErrorWatch, assert_localised, assert_unchanged, snapshot
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.strategies import almost, json_values, refused_commands, texts
from tests.peers.telegram_api import BotMessage, TelegramApiStandIn
from tests.telegram_chat import WEBHOOK_SECRET, TelegramUser, invite_code, services, telegram_app

NN_CHAT, EN_CHAT, STRANGER = 7001, 7002, 7999
LOCALE_OF = {NN_CHAT: "nn", EN_CHAT: "en"}
SHOWN = {"sendMessage", "editMessageText", "answerCallbackQuery"}


@dataclass
class Bot:
    """The app in webhook mode with two linked people half-way into the example round."""

    api: TelegramApiStandIn
    server: TestServer
    http: ClientSession
    nn: TelegramUser
    en: TelegramUser
    errors: ErrorWatch
    questions: dict[str, BotMessage]
    """Each person's open question (its buttons may go as the fuzzing goes on)."""
    tokens: dict[str, str]
    """A button token the bot gave each person at the start."""

    async def post(self, body: bytes, content_type: str = "application/json") -> int:
        """POST a raw body to the webhook with the right secret; the status."""
        headers = {SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": content_type}
        url = self.server.make_url("/telegram/webhook")
        async with self.http.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    def shown_since(self, mark: int) -> list[tuple[int | str | None, str]]:
        """(chat, text) of everything the bot showed since `mark`."""
        return [
            (call.chat_id, str(call.params.get("text", "")))
            for call in self.api.calls[mark:]
            if call.method in SHOWN and call.ok and call.params.get("text")
        ]

    async def check(self, what: object, send: Any, allowed: set[int]) -> None:
        """Run `send`; the oracles: a 200/400, no error, no change, localised replies."""
        engine = services(self.server).store.engine
        before = await snapshot(engine, "web_messages")
        self.errors.start()
        mark = len(self.api.calls)
        status = await send()
        assert status in allowed, f"{what!r} answered {status}"
        self.errors.assert_quiet(what)
        assert_unchanged(before, await snapshot(engine, "web_messages"), what)
        for chat, text in self.shown_since(mark):
            locale = LOCALE_OF.get(chat if isinstance(chat, int) else 0, "nb")
            assert_localised([text], locale, what)


async def _enroll(user: TelegramUser, code: str, locale: str) -> None:
    await user.say(f"/start {code}")
    await user.say(f"/language {locale}")
    await user.say("/start")
    invitation = user.chat.last()
    await user.user.press(invitation, invitation.buttons[0][1] or "")


@pytest.fixture
async def bot(db_url: str, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Bot]:
    async with (
        TelegramApiStandIn() as api,
        telegram_app(db_url, "webhook", api) as server,
        ClientSession() as http,
    ):
        code = await invite_code(server)
        nn, en = TelegramUser(api, NN_CHAT, "Nils"), TelegramUser(api, EN_CHAT, "Emma")
        await _enroll(nn, code, "nn")
        await _enroll(en, code, "en")
        questions = {"nn": nn.chat.last(), "en": en.chat.last()}
        tokens = {who: str(q.buttons[0][1]) for who, q in questions.items()}
        yield Bot(api, server, http, nn, en, ErrorWatch(caplog), questions, tokens)


chats = st.sampled_from([NN_CHAT, EN_CHAT, STRANGER, -1001234, 0])
chat_objects = st.builds(
    lambda chat_id, kind: {"id": chat_id, "type": kind, "first_name": "X"},
    chats,
    st.sampled_from(["private", "group", "supergroup", "channel", "weird"]),
)
users = st.builds(lambda chat_id: {"id": chat_id, "is_bot": False, "first_name": "X"}, chats)
messages = almost(
    {
        "message_id": st.integers(-1, 2**40),
        "date": 1_700_000_000,
        "chat": chat_objects,
        "from": users,
        "text": texts,
    }
)
KINDS = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "my_chat_member",
    "poll",
    "message_reaction",
    "what_is_this",
]


def _foreign_safe(update: dict[str, Any]) -> bool:
    """Not a well-formed text from a linked person in a private chat (that may be an answer)."""
    message = update.get("message")
    if not isinstance(message, dict):
        return True
    chat = message.get("chat")
    return not (
        isinstance(chat, dict) and chat.get("id") in LOCALE_OF and chat.get("type") == "private"
    )


updates = st.one_of(
    json_values,
    st.builds(
        lambda update_id, kind, body: {"update_id": update_id, kind: body},
        st.one_of(st.integers(0, 2**31), json_values),
        st.sampled_from(KINDS),
        st.one_of(messages, json_values),
    ),
).filter(lambda u: not isinstance(u, dict) or _foreign_safe(u))
"""Malformed and unexpected updates; none is an answer a linked person could give."""


async def _post_update(bot: Bot, update: Any) -> int:
    return await bot.post(json.dumps(update).encode())


async def _post_bytes(bot: Bot, body: bytes) -> int:
    return await bot.post(body)


async def _press(bot: Bot, case: tuple[str, str | None, str, bool]) -> int:
    """A forged button press (random data, another chat's token, none; maybe an old query)."""
    who, data, message, old = case
    user = bot.nn if who == "nn" else bot.en
    shown = bot.questions[who]
    if data == "foreign":  # a token the bot gave the other person
        data = bot.tokens["en" if who == "nn" else "nn"]
    # An old query (redelivered after downtime) can no longer be answered.
    query_id = "1" if old else bot.api._new_query(user.chat_id, shown.message_id, data or "")
    query: dict[str, Any] = {"id": query_id, "from": user.user.user_json, "chat_instance": "1"}
    if message == "shown":
        query["message"] = shown.to_dict()
    elif message == "inaccessible":
        query["message"] = {"chat": user.user.chat_json, "message_id": shown.message_id, "date": 0}
    if data is not None:
        query["data"] = data
    return await _post_update(bot, {"update_id": 1, "callback_query": query})


async def _command(bot: Bot, case: tuple[str, str]) -> int:
    who, line = case
    user = bot.nn if who == "nn" else bot.en
    return (await user.user.send_text(line)).status or 0


async def _stranger(bot: Bot, line: str) -> int:
    return (await bot.api.user(STRANGER, first_name="Ukjend").send_text(line)).status or 0


Send = Callable[[Bot, Any], Awaitable[int]]
people = st.sampled_from(["nn", "en"])
cases: st.SearchStrategy[tuple[Send, Any, set[int]]] = st.one_of(
    st.tuples(st.just(_post_update), updates, st.just({200, 400})),
    st.tuples(
        st.just(_post_bytes),
        st.one_of(st.binary(max_size=200), st.just(b"{" * 5000), st.just(b"\xff\xfe")),
        st.just({400}),
    ),
    st.tuples(
        st.just(_press),
        st.tuples(
            people,
            st.one_of(
                texts, st.builds(lambda t: TOKEN_PREFIX + t, texts), st.just("foreign"), st.none()
            ),
            st.sampled_from(["shown", "inaccessible", "missing"]),
            st.booleans(),
        ),
        st.just({200}),
    ),
    st.tuples(st.just(_command), st.tuples(people, refused_commands), st.just({200})),
    st.tuples(st.just(_stranger), texts, st.just({200})),
)
"""Garbage updates, non-JSON bodies, forged presses, refused commands, unknown senders."""


@fuzz_settings(3)
@given(case=cases)
async def test_the_webhook_refuses_what_it_cannot_use_and_changes_nothing(
    bot: Bot, case: tuple[Send, Any, set[int]]
) -> None:
    send, value, allowed = case
    await bot.check((send.__name__, value), lambda: send(bot, value), allowed)
