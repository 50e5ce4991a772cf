"""The Telegram Bot API stand-in, exercised through python-telegram-bot's own Bot and types."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    Update,
    User,
    WebhookInfo,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.peers.telegram_api import (
    SECRET_HEADER,
    TelegramApiStandIn,
    command_entities,
    image_size,
    parse_html,
    parse_markdown_v2,
)

CHAT = 4201

# PTB itself reads the deprecated int form of RetryAfter.retry_after when building the error.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


def png(width: int, height: int) -> bytes:
    """A valid grey PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def retry_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data)] for text, data in pairs]
    )


@pytest.fixture
async def api() -> AsyncIterator[TelegramApiStandIn]:
    async with TelegramApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
async def bot(api: TelegramApiStandIn) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as client:
        yield client


# --- every method through PTB ---------------------------------------------------------------


async def test_get_me_parses_as_a_ptb_user(api: TelegramApiStandIn, bot: Bot) -> None:
    me = await bot.get_me()
    assert isinstance(me, User)
    assert me.api_kwargs == {}  # every field sent is one PTB knows
    assert (me.id, me.is_bot, me.username) == (123456, True, "followup_test_bot")
    assert bot.username == "followup_test_bot"  # initialize() called getMe as well
    assert [c.method for c in api.calls] == ["getMe", "getMe"]
    assert api.root.startswith("http://127.0.0.1:")


async def test_send_message_with_html_and_inline_keyboard(
    api: TelegramApiStandIn, bot: Bot
) -> None:
    api.user(CHAT, first_name="Kari")
    first = await bot.send_message(
        CHAT,
        "<b>Har tiltaket startet?</b> &lt;uke 3&gt;",
        parse_mode="HTML",
        reply_markup=keyboard(("Ja", "q1:yes"), ("Nei", "q1:no")),
    )
    second = await bot.send_message(CHAT, "Takk!")

    assert isinstance(first, Message)
    assert first.api_kwargs == {} and first.chat.api_kwargs == {}
    assert first.text == "Har tiltaket startet? <uke 3>"
    assert first.entities == (MessageEntity(MessageEntity.BOLD, 0, 21),)
    assert first.chat.id == CHAT and first.chat.first_name == "Kari"
    assert first.from_user is not None and first.from_user.is_bot
    assert first.reply_markup is not None
    assert first.reply_markup.inline_keyboard[1][0].callback_data == "q1:no"
    assert second.message_id == first.message_id + 1

    chat = api.chat(CHAT)
    assert chat.texts == ["Har tiltaket startet? <uke 3>", "Takk!"]
    assert chat.buttons(first.message_id) == [("Ja", "q1:yes"), ("Nei", "q1:no")]
    assert chat.last().buttons == []
    call = api.calls_to("sendMessage")[0]
    assert call.chat_id == CHAT and call.ok
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Ja"


async def test_send_message_errors_match_the_real_api(api: TelegramApiStandIn, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "hei")
    api.user(CHAT)
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "uke" at byte offset 5'):
        await bot.send_message(CHAT, "Svar <uke> 3", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await bot.send_message(CHAT, "Takk.", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CHAT, "  ")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(CHAT, "Velg", reply_markup=keyboard(("Ja", "x" * 65)))
    assert api.chat(CHAT).messages == []


async def test_reply_keyboards_are_kept_on_the_chat(api: TelegramApiStandIn, bot: Bot) -> None:
    api.user(CHAT)
    sent = await bot.send_message(CHAT, "Velg", reply_markup=ReplyKeyboardMarkup([["Ja", "Nei"]]))
    assert sent.reply_markup is None
    shown = api.chat(CHAT).reply_keyboard
    assert shown is not None and shown["keyboard"] == [[{"text": "Ja"}, {"text": "Nei"}]]
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("Annet", CHAT, sent.message_id)


async def test_edits_show_in_the_chat_view(api: TelegramApiStandIn, bot: Bot) -> None:
    api.user(CHAT)
    sent = await bot.send_message(CHAT, "Spørsmål 1", reply_markup=keyboard(("Ja", "yes")))

    edited = await bot.edit_message_text(
        "Spørsmål 1: <i>Ja</i>", CHAT, sent.message_id, parse_mode="HTML"
    )
    assert isinstance(edited, Message)
    assert edited.text == "Spørsmål 1: Ja" and edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard

    message = api.chat(CHAT).last()
    assert (message.text, message.history, message.buttons) == (
        "Spørsmål 1: Ja",
        ["Spørsmål 1"],
        [],
    )

    with_keys = await bot.edit_message_reply_markup(
        CHAT, sent.message_id, reply_markup=keyboard(("Angre", "undo"))
    )
    assert isinstance(with_keys, Message)
    assert api.chat(CHAT).buttons() == [("Angre", "undo")]

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(
            CHAT, sent.message_id, reply_markup=keyboard(("Angre", "undo"))
        )
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Spørsmål 1: <i>Ja</i>",
            CHAT,
            sent.message_id,
            parse_mode="HTML",
            reply_markup=keyboard(("Angre", "undo")),
        )
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", CHAT, 999)


async def test_delete_message(api: TelegramApiStandIn, bot: Bot) -> None:
    user = api.user(CHAT)
    sent = await bot.send_message(CHAT, "Midlertidig")
    await user.send_text("hei")
    assert await bot.delete_message(CHAT, sent.message_id) is True
    assert api.chat(CHAT).messages == [] and api.chat(CHAT).all_messages[0].deleted
    assert api.chat(CHAT).transcript() == [("user", "hei")]
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", CHAT, sent.message_id)


async def test_callback_query_round_trip(api: TelegramApiStandIn, bot: Bot) -> None:
    user = api.user(CHAT, first_name="Ola", language_code="nb")
    sent = await bot.send_message(CHAT, "Startet?", reply_markup=keyboard(("Ja", "yes")))

    first = await user.press(sent.message_id, "yes")
    second = await user.press(api.chat(CHAT).last(), "yes")
    assert first.route == "queued" and second.update_id == first.update_id + 1

    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first.update_id, second.update_id]
    query = updates[0].callback_query
    assert query is not None and query.data == "yes"
    assert query.from_user.first_name == "Ola" and query.from_user.language_code == "nb"
    assert isinstance(query.message, Message) and query.message.message_id == sent.message_id
    assert query.id != updates[1].callback_query.id  # type: ignore[union-attr]

    assert await bot.answer_callback_query(query.id, text="Lagret", show_alert=True) is True
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id)
    answer = api.chat(CHAT).callback_answers[0]
    assert (answer.text, answer.show_alert, answer.data) == ("Lagret", True, "yes")
    assert api.calls_to("answerCallbackQuery")[0].chat_id == CHAT
    assert api.chat(CHAT).transcript() == [("bot", "Startet?"), ("press", "yes"), ("press", "yes")]


async def test_press_only_offers_buttons_the_user_can_see(
    api: TelegramApiStandIn, bot: Bot
) -> None:
    user = api.user(CHAT)
    sent = await bot.send_message(CHAT, "Startet?", reply_markup=keyboard(("Ja", "yes")))
    with pytest.raises(LookupError, match="no button 'no'"):
        await user.press(sent.message_id, "no")
    with pytest.raises(LookupError, match="no bot message 77"):
        await user.press(77, "yes")
    # An old keyboard a client still shows after a restart: the message is inaccessible.
    stale = await user.press(77, "yes", check=False)
    update = Update.de_json(stale.update, bot)
    assert update.callback_query is not None
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == 77


async def test_send_photo_and_document_keep_bytes_and_names(
    api: TelegramApiStandIn, bot: Bot
) -> None:
    api.user(CHAT)
    image = png(1600, 900)
    photo = await bot.send_photo(
        CHAT, InputFile(image, filename="chart.png"), caption="<b>Uke 3</b>", parse_mode="HTML"
    )
    assert isinstance(photo, Message) and photo.caption == "Uke 3"
    assert photo.caption_entities[0].type == MessageEntity.BOLD
    largest = photo.photo[-1]
    assert (largest.width, largest.height) == (1280, 720)
    assert photo.photo[0].width == 90

    document = await bot.send_document(
        CHAT, InputFile(b"a;b\n1;2\n", filename="svar.csv"), caption="Eksport"
    )
    assert document.document is not None
    assert (document.document.file_name, document.document.file_size) == ("svar.csv", 8)
    assert document.document.mime_type == "text/csv"

    shown = api.chat(CHAT).messages
    assert [m.kind for m in shown] == ["photo", "document"]
    assert shown[0].file is not None and shown[0].file.data == image
    assert shown[1].file is not None and shown[1].file.filename == "svar.csv"
    assert api.calls_to("sendDocument")[0].params["document"].filename == "svar.csv"

    again = await bot.send_photo(CHAT, largest.file_id)  # re-send by file_id
    assert again.photo[-1].width == 1280
    downloaded = await (await bot.get_file(document.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"a;b\n1;2\n"

    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(CHAT, InputFile(b"not an image", filename="x.png"))
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(CHAT, "no-such-file-id")


async def test_commands_per_scope_and_language(api: TelegramApiStandIn, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Hjelp")])
    assert await bot.set_my_commands([BotCommand("help", "Help")], language_code="en")
    private = BotCommandScopeAllPrivateChats()
    assert await bot.set_my_commands([BotCommand("language", "Språk")], scope=private)

    default = await bot.get_my_commands()
    assert all(isinstance(c, BotCommand) for c in default)
    assert [(c.command, c.description) for c in default] == [("start", "Start"), ("help", "Hjelp")]
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["help"]
    assert [c.command for c in await bot.get_my_commands(scope=private)] == ["language"]
    assert await bot.get_my_commands(language_code="nn") == ()
    assert api.commands({"type": "all_private_chats"}) == [("language", "Språk")]

    assert await bot.delete_my_commands(language_code="en")
    assert api.commands(language_code="en") == []
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start!", "x")])


async def test_unknown_method_and_wrong_token(api: TelegramApiStandIn, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTeleportation", api_kwargs={"chat_id": CHAT})
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}{api.token}/sendTeleportation") as reply:
            assert reply.status == 404
            assert await reply.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        async with http.post(f"{api.base_url}123456:WRONG/getMe") as reply:
            assert reply.status == 401
    with pytest.raises(InvalidToken):
        async with Bot("123456:WRONG", base_url=api.base_url) as wrong:
            await wrong.get_me()


async def test_json_bodies_and_case_insensitive_methods(api: TelegramApiStandIn) -> None:
    api.user(CHAT)
    markup = {"inline_keyboard": [[{"text": "Ja", "callback_data": "yes"}]]}
    async with aiohttp.ClientSession() as http:
        url = f"{api.base_url}{api.token}/SENDMESSAGE"
        async with http.post(
            url, json={"chat_id": CHAT, "text": "hei", "reply_markup": markup}
        ) as reply:
            body = await reply.json()
        async with http.post(
            url, json={"chat_id": str(CHAT), "text": "igjen", "reply_markup": json.dumps(markup)}
        ) as reply:
            again = await reply.json()
    assert body["ok"] is True
    assert Message.de_json(body["result"], None).reply_markup == InlineKeyboardMarkup.de_json(
        markup, None
    )
    assert again["result"]["reply_markup"] == markup
    assert [c.method for c in api.calls] == ["sendMessage", "sendMessage"]


# --- updates: long polling and webhook -------------------------------------------------------


async def test_long_polling_honours_offset_timeout_and_allowed_updates(
    api: TelegramApiStandIn, bot: Bot
) -> None:
    user = api.user(CHAT, first_name="Kari", language_code="nb")
    await user.send_text("/start ABC123")
    await user.send_text("hei")

    updates = await bot.get_updates(timeout=5)  # queued updates come back at once
    assert len(updates) == 2 and all(u.api_kwargs == {} for u in updates)
    start = updates[0].message
    assert start is not None and start.text == "/start ABC123"
    assert start.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert start.from_user is not None and start.from_user.language_code == "nb"
    assert updates[1].update_id == updates[0].update_id + 1
    assert (await bot.get_updates(timeout=0))[0].update_id == updates[0].update_id  # unconfirmed

    started = time.monotonic()
    assert (
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=timedelta(seconds=0.3))
        == ()
    )
    assert 0.25 <= time.monotonic() - started < 2
    assert api.pending_updates == []

    poll = asyncio.create_task(bot.get_updates(offset=updates[-1].update_id + 1, timeout=10))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await user.send_text("svar")
    woken = await poll
    assert [u.message.text for u in woken if u.message] == ["svar"]
    assert time.monotonic() - started < 1

    await bot.get_updates(offset=woken[-1].update_id + 1, timeout=0, allowed_updates=["message"])
    sent = await bot.send_message(CHAT, "Startet?", reply_markup=keyboard(("Ja", "yes")))
    assert (await user.press(sent.message_id, "yes")).route == "filtered"
    assert (await user.send_text("tekst")).route == "queued"
    assert [u.message is not None for u in await bot.get_updates(timeout=0)] == [True]


async def test_a_second_poller_terminates_the_first(api: TelegramApiStandIn, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    # A second bot process polling with the same token (one Bot polls over one connection).
    async with Bot(api.token, base_url=api.base_url) as other:
        assert await other.get_updates(timeout=0.2) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_ptb_application_polls_and_answers(api: TelegramApiStandIn) -> None:
    user = api.user(CHAT)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            f"Velkommen, kode {' '.join(context.args or [])}"
        )

    app = (
        ApplicationBuilder()
        .token(api.token)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .concurrent_updates(True)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=timedelta(seconds=1))
    await app.start()
    try:
        since = api.mark()
        await user.send_text("/start K42")
        call = await api.wait_for_call("sendMessage", chat_id=CHAT, since=since)
        assert call.params["text"] == "Velkommen, kode K42"
        assert api.chat(CHAT).transcript() == [
            ("user", "/start K42"),
            ("bot", "Velkommen, kode K42"),
        ]
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert api.calls_to("deleteWebhook")  # PTB's bootstrap before polling


class WebhookReceiver:
    """A minimal bot-side webhook endpoint that checks the secret and keeps what it got."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.updates: list[Update] = []
        self.headers: list[str | None] = []
        self.status = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(request.headers.get(SECRET_HEADER))
        if request.headers.get(SECRET_HEADER) != self.secret:
            return web.Response(status=403)
        self.updates.append(Update.de_json(await request.json(), None))
        return web.Response(status=self.status)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    hook = WebhookReceiver("s3cret-token")
    app = web.Application()
    app.router.add_post("/telegram/webhook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield hook, f"http://127.0.0.1:{port}/telegram/webhook"
    await runner.cleanup()


async def test_webhook_delivery_with_secret_and_409_for_polling(
    api: TelegramApiStandIn, bot: Bot, receiver: tuple[WebhookReceiver, str]
) -> None:
    hook, url = receiver
    user = api.user(CHAT)
    assert await bot.set_webhook(url, secret_token="s3cret-token") is True
    info = await bot.get_webhook_info()
    assert isinstance(info, WebhookInfo) and info.url == url and info.pending_update_count == 0
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)

    delivered = await user.send_text("/start ABC")
    assert (delivered.route, delivered.status) == ("webhook", 200)
    assert hook.headers == ["s3cret-token"]
    assert hook.updates[0].message is not None and hook.updates[0].message.text == "/start ABC"

    wrong = await user.send_text("hei", secret="guess")
    missing = await user.send_text("hei", secret=None)
    assert (wrong.status, missing.status) == (403, 403)
    assert hook.headers[1:] == ["guess", None]
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 2
    assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"

    redelivered = await api.redeliver()
    assert [d.status for d in redelivered] == [200, 200]
    assert [u.update_id for u in hook.updates] == [
        delivered.update_id,
        wrong.update_id,
        missing.update_id,
    ]

    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert (await bot.get_webhook_info()).url == ""
    assert (await user.send_text("tilbake")).route == "queued"
    assert len(await bot.get_updates(timeout=0)) == 1


async def test_setting_a_webhook_ends_a_long_poll(
    api: TelegramApiStandIn, bot: Bot, receiver: tuple[WebhookReceiver, str]
) -> None:
    _, url = receiver
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    await bot.set_webhook(url)
    with pytest.raises(Conflict):
        await poll


async def test_unreachable_webhook_keeps_the_update_pending(
    api: TelegramApiStandIn, bot: Bot
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    await bot.set_webhook(f"http://127.0.0.1:{closed_port}/telegram/webhook")
    delivery = await api.user(CHAT).send_text("hei")
    assert delivery.route == "webhook" and delivery.status is None and delivery.error
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message is not None
    assert info.last_error_message.startswith("Connection failed")


# --- faults and limits ---------------------------------------------------------------------------


async def test_injected_faults_surface_as_ptb_errors(api: TelegramApiStandIn, bot: Bot) -> None:
    api.user(CHAT)
    api.fail("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(CHAT, "1")
    assert retry_seconds(flood.value) == 3
    assert (await bot.send_message(CHAT, "2")).text == "2"  # one-shot

    api.fail(chat_id=CHAT, status=403, times=2)
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(CHAT, "3")
    await bot.send_message(CHAT, "4")

    api.fail("sendMessage", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(CHAT, "5")
    api.fail("sendmessage", status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(CHAT, "6")

    assert api.chat(CHAT).texts == ["2", "4"]
    assert [c.status for c in api.calls_to("sendMessage")] == [429, 200, 403, 403, 200, 500, 502]
    assert api.faults == []


async def test_blocked_user_until_unblocked(api: TelegramApiStandIn, bot: Bot) -> None:
    user = api.user(CHAT)
    api.user(CHAT + 1)
    user.block()
    for _ in range(3):
        with pytest.raises(Forbidden):
            await bot.send_message(CHAT, "hei")
    await bot.send_message(CHAT + 1, "andre chat går fint")
    user.unblock()
    await bot.send_message(CHAT, "hei igjen")
    assert api.chat(CHAT).texts == ["hei igjen"]


async def test_delay_times_the_client_out_but_the_message_arrives(
    api: TelegramApiStandIn, bot: Bot
) -> None:
    api.user(CHAT)
    api.delay("sendMessage", 0.5)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "sent late", read_timeout=0.1)
    await api.wait_for(lambda: api.chat(CHAT).texts == ["sent late"], timeout=3)
    assert api.calls_to("sendMessage")[0].ok


async def test_global_rate_limit_rejects_the_excess(api: TelegramApiStandIn, bot: Bot) -> None:
    for chat_id in range(1, 9):
        api.user(chat_id)
    api.rate_limit_global = 5
    results = await asyncio.gather(
        *(bot.send_message(chat_id, "påminnelse") for chat_id in range(1, 9)),
        return_exceptions=True,
    )
    floods = [r for r in results if isinstance(r, RetryAfter)]
    assert len([r for r in results if isinstance(r, Message)]) == 5
    assert len(floods) == 3 and api.rejected == 3
    assert all(retry_seconds(f) == 1 for f in floods)
    assert api.calls_to("getMe")[0].ok  # other methods are not counted


async def test_per_chat_rate_limit(api: TelegramApiStandIn, bot: Bot) -> None:
    api.user(CHAT)
    api.user(CHAT + 1)
    api.rate_limit_per_chat = 1
    sent = await bot.send_message(CHAT, "1")
    with pytest.raises(RetryAfter) as flood:
        await bot.edit_message_text("1b", CHAT, sent.message_id)
    assert retry_seconds(flood.value) == 1
    await bot.send_message(CHAT + 1, "other chat is fine")
    assert api.rejected == 1
    assert [c.status for c in api.calls if c.method != "getMe"] == [200, 429, 200]


async def test_wait_for_times_out_with_context(api: TelegramApiStandIn) -> None:
    with pytest.raises(TimeoutError, match="condition not met"):
        await api.wait_for(lambda: api.calls_to("sendMessage"), timeout=0.1)


# --- pure helpers -----------------------------------------------------------------------------


def test_html_parser_nests_and_counts_utf16() -> None:
    text, entities = parse_html(
        '👍 <b>fet <i>og kursiv</i></b> <a href="https://x.no/?a=1&amp;b=2">lenke</a>'
    )
    assert text == "👍 fet og kursiv lenke"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 13},
        {"type": "italic", "offset": 7, "length": 9},
        {"type": "text_link", "offset": 17, "length": 5, "url": "https://x.no/?a=1&b=2"},
    ]
    assert parse_html("a & b &nbsp; c")[0] == "a & b &nbsp; c"
    assert parse_html('<pre><code class="language-python">x = 1</code></pre>')[1] == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"}
    ]


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("a <b", "Unclosed start tag at byte offset 2"),
    ],
)
def test_html_parser_errors(markup: str, error: str) -> None:
    with pytest.raises(Exception, match=error) as raised:
        parse_html(markup)
    assert str(raised.value).startswith("Bad Request: can't parse entities: ")


def test_markdown_v2_parser() -> None:
    text, entities = parse_markdown_v2("*fet* __under__ ||spoiler|| [lenke](https://x.no) 1\\.")
    assert text == "fet under spoiler lenke 1."
    assert [e["type"] for e in entities] == ["bold", "underline", "spoiler", "text_link"]
    with pytest.raises(Exception, match="Can't find end of Bold entity at byte offset 0"):
        parse_markdown_v2("*fet")


def test_command_entities_and_image_sizes() -> None:
    assert command_entities("/start ABC") == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert command_entities("a/b and http://x/y") == []
    assert image_size(png(3, 2)) == (3, 2)
    assert image_size(b"GIF89a\x05\x00\x04\x00") == (5, 4)
    assert image_size(b"%PDF-1.7") is None
