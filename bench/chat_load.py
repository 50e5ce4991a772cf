"""Load benchmark: simulated people answer a 20-item questionnaire through the Telegram webhook."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import cProfile
import io
import logging
import math
import multiprocessing
import os
import platform
import pstats
import resource
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the stand-in lives in tests/, which is not an installed package
    sys.path.insert(0, str(ROOT))

from tests.peers.telegram_api import JSON, SimulatedUser, TelegramApiStandIn  # noqa: E402

# The bot under test runs in a child process of its own (started with "spawn"), so its peak RSS
# and CPU time are its own; the Bot API stand-in and the simulated respondents share this process.

TOKEN = "123456:BENCH"
SECRET = "bench-webhook-secret"
PUBLIC_URL = "https://followup.example"
WEBHOOK_PATH = "/telegram/webhook"
UNIT = "hjerteavdelingen"
TITLE = "Belastningstest"
ITEMS = 20
SINGLE = (("sykehus", "Sykehus"), ("kommune", "Kommune"), ("annet", "Annet"))
SCALE = (
    ("1", "Helt uenig"),
    ("2", "Delvis uenig"),
    ("3", "Verken enig eller uenig"),
    ("4", "Delvis enig"),
    ("5", "Helt enig"),
)
BACK, SUBMIT = "Tilbake", "Send inn"
INVITATION = "Du har åpne undersøkelser:"
SUMMARY = "Her er svarene dine. Se over dem og trykk «Send inn», eller endre et svar først."
THANKS = "Takk! Svarene dine er sendt inn."
ANSWER_TIMEOUT = 30.0
"""Seconds a respondent waits for the next question before the run is given up."""
LATE_SLACK = 0.005
"""An answer sent more than this many seconds after its slot counts as late."""
SETUP_BATCH = 10
"""Respondents enrolled at the same time during setup (not measured)."""


# --- the questionnaire ---------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One question: single choice (odd positions) or a five-point scale (even positions)."""

    id: str
    kind: str
    text: str
    options: tuple[tuple[str, str], ...]

    def label_for(self, chat_id: int) -> str:
        """The option a respondent picks (varies by chat, so answers differ)."""
        return self.options[chat_id % len(self.options)][1]

    def label_of(self, option_id: str) -> str:
        """An option's label by id."""
        return dict(self.options)[option_id]


def questionnaire() -> list[Item]:
    """The 20 items: ten single-choice and ten scale questions, alternating."""
    items = []
    for number in range(1, ITEMS + 1):
        if number % 2:
            items.append(Item(f"sted-{number}", "single", f"Spørsmål {number}: hvor?", SINGLE))
        else:
            items.append(Item(f"enig-{number}", "scale", f"Påstand {number}: det virker.", SCALE))
    return items


QUESTIONS = questionnaire()


def questionnaire_yaml() -> str:
    """The questionnaire in the format of docs/questionnaire-format.md."""
    document = {
        "id": "belastningstest",
        "title": TITLE,
        "items": [
            {
                "id": item.id,
                "kind": item.kind,
                "text": item.text,
                "options": [{"id": key, "label": label} for key, label in item.options],
            }
            for item in QUESTIONS
        ],
    }
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


# --- the bots under test (child processes) -------------------------------------------------


@dataclass(frozen=True)
class BotSpec:
    """What a child process needs to start one bot against the stand-in."""

    kind: str
    api_root: str
    database_url: str | None
    workdir: str
    invite_uses: int
    seed: bool = True
    """Whether this process fills the database (only the first of several Followup processes)."""
    profile: str | None = None
    """A file name prefix: cProfile the throughput run and write `<prefix>.pstats` and `.txt`."""


def cpu_wait() -> float:
    """Seconds this process's threads were runnable but waiting for a CPU (Linux; else 0)."""
    total = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for task in Path("/proc/self/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def usage() -> dict[str, float]:
    """Peak RSS (KiB on Linux), CPU seconds, and seconds spent waiting for a CPU, so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rss_kib": float(own.ru_maxrss),
        "cpu_s": own.ru_utime + own.ru_stime,
        "wait_s": cpu_wait(),
    }


def loopback_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve_followup(spec: BotSpec) -> tuple[web.AppRunner, socket.socket, str]:
    """Followup's own app on a migrated database with the questionnaire and an open round."""
    from bot.app import SERVICES, create_app
    from bot.settings import load_settings
    from storage.migrate import upgrade

    url = spec.database_url or f"sqlite:///{spec.workdir}/bench.db"
    await upgrade(url)
    settings = load_settings(
        database_url=url,
        host="127.0.0.1",
        secret_key="bench-secret",
        demo_mode=False,
        load_examples=False,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=spec.api_root,
        public_url=PUBLIC_URL,
        telegram_webhook_secret=SECRET,
    )
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()  # starts PTB and sets the webhook
    code = "seeded-by-the-first-process"
    if spec.seed:
        code = await seed_followup(runner.app[SERVICES], Path(spec.workdir), spec.invite_uses)
    sock = loopback_socket()
    await web.SockSite(runner, sock).start()
    return runner, sock, code


async def seed_followup(services: Any, workdir: Path, uses: int) -> str:
    """Units, the questionnaire, an open round for one unit, and an invite code for it."""
    from bot.services.account import new_code
    from bot.services.imports import ImportService
    from bot.services.seed import EXAMPLES_DIR
    from dialogs.model import Role
    from storage.models import utcnow

    now = utcnow()
    await ImportService(services.store).import_org(EXAMPLES_DIR / "org.yaml")
    path = workdir / "belastningstest.yaml"
    path.write_text(questionnaire_yaml(), encoding="utf-8")
    questionnaire_id, _version = await services.rounds.load_questionnaire(path)
    round_id = await services.rounds.create(questionnaire_id, [UNIT], now, now + timedelta(days=7))
    await services.rounds.open(round_id, now)
    code = new_code()
    async with services.store.transaction() as tx:
        await tx.org.create_invite(code, now + timedelta(days=1), UNIT, None, Role.STAFF, uses)
    return code


def question_html(index: int) -> str:
    """Question `index` as Followup renders it: position, then the text."""
    return f"<b>{index + 1}/{ITEMS}</b> {escape(QUESTIONS[index].text)}"


def button_rows(buttons: Sequence[tuple[str, str]]) -> list[list[InlineKeyboardButton]]:
    """Followup's layout: short labels three to a row, long labels (over 18) alone."""
    rows: list[list[InlineKeyboardButton]] = []
    row: list[InlineKeyboardButton] = []
    for label, data in buttons:
        button = InlineKeyboardButton(label, callback_data=data)
        if len(label) > 18:
            rows += [row, [button]] if row else [[button]]
            row = []
            continue
        row.append(button)
        if len(row) == 3:
            rows.append(row)
            row = []
    return [*rows, row] if row else rows


def bare_question(index: int) -> tuple[str, InlineKeyboardMarkup]:
    """Question `index` with its option buttons (and Back), the way Followup sends it."""
    options = [(label, f"a:{index}:{key}") for key, label in QUESTIONS[index].options]
    back = [(BACK, "back")] if index else []
    return question_html(index), InlineKeyboardMarkup(button_rows(options) + button_rows(back))


def bare_summary() -> tuple[str, InlineKeyboardMarkup]:
    """The summary: heading, the questions, and Send inn / Endre n / Tilbake."""
    lines = [f"{n}. {escape(item.text)}" for n, item in enumerate(QUESTIONS, start=1)]
    actions = [(SUBMIT, "submit")] + [(f"Endre {n}", f"edit:{n}") for n in range(1, ITEMS + 1)]
    markup = InlineKeyboardMarkup(button_rows([*actions, (BACK, "back")]))
    return "\n\n".join([escape(SUMMARY), *lines]), markup


async def bare_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: the list of open questionnaires, as one Start button."""
    assert update.effective_chat is not None
    button = InlineKeyboardButton(f"Start: {TITLE}", callback_data="begin")
    await context.bot.send_message(
        update.effective_chat.id, INVITATION, reply_markup=InlineKeyboardMarkup([[button]])
    )


def closing_text(data: str) -> str | None:
    """The text a pressed question is edited to (question plus the answer), if any."""
    if data.startswith("a:"):
        _, index, option = data.split(":")
        label = QUESTIONS[int(index)].label_of(option)
        return f"{question_html(int(index))}\n✔ <b>{escape(label)}</b>"
    if data == "begin":
        return f"{escape(INVITATION)}\n✔ <b>{escape(f'Start: {TITLE}')}</b>"
    if data == "submit":
        return f"{escape(SUMMARY)}\n✔ <b>{SUBMIT}</b>"
    return None


def next_message(data: str) -> tuple[str, InlineKeyboardMarkup | None] | None:
    """What the bot sends after a press: the next question, the summary, or the thanks."""
    if data == "begin":
        return bare_question(0)
    if data.startswith("a:"):
        following = int(data.split(":")[1]) + 1
        return bare_question(following) if following < ITEMS else bare_summary()
    if data == "submit":
        return THANKS, None
    return None


async def bare_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button: answer the callback, close the question, send the next one. No storage."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_chat is not None
    await query.answer()
    closing = closing_text(query.data)
    if closing is not None:
        await query.edit_message_text(closing, parse_mode=ParseMode.HTML)
    following = next_message(query.data)
    if following is not None:
        text, markup = following
        await context.bot.send_message(
            update.effective_chat.id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            disable_web_page_preview=True,
        )


def bare_webhook(application: Application[Any, Any, Any, Any, Any, Any]) -> web.Application:
    """An aiohttp app whose webhook route hands each update to PTB."""

    async def webhook(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
            raise web.HTTPUnauthorized()
        update = Update.de_json(await request.json(), application.bot)
        await application.process_update(update)
        return web.Response(text="ok")

    async def lifecycle(_app: web.Application) -> Any:
        await application.initialize()
        await application.bot.set_webhook(
            PUBLIC_URL + WEBHOOK_PATH,
            secret_token=SECRET,
            allowed_updates=["message", "callback_query"],
        )
        await application.start()
        yield
        await application.stop()
        await application.shutdown()

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.cleanup_ctx.append(lifecycle)
    return app


async def serve_bare(spec: BotSpec) -> tuple[web.AppRunner, socket.socket, str]:
    """A bare python-telegram-bot application in webhook style, without storage."""
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{spec.api_root}/bot")
        .base_file_url(f"{spec.api_root}/file/bot")
        .concurrent_updates(True)
        .updater(None)
        .build()
    )
    application.add_handler(CommandHandler("start", bare_start))
    application.add_handler(CallbackQueryHandler(bare_press))
    runner = web.AppRunner(bare_webhook(application), access_log=None)
    await runner.setup()
    sock = loopback_socket()
    await web.SockSite(runner, sock).start()
    return runner, sock, "no-code-needed"


def write_profile(profiler: cProfile.Profile, prefix: str) -> None:
    """The profile as `<prefix>.pstats`, and the top functions by own and cumulative time."""
    profiler.dump_stats(f"{prefix}.pstats")
    text = io.StringIO()
    for order in ("tottime", "cumulative"):
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(40)
    Path(f"{prefix}.txt").write_text(text.getvalue(), encoding="utf-8")


async def serve(spec: BotSpec, conn: Connection) -> None:
    """Start the bot, report its address, then answer requests until told to stop.

    Requests: "usage"; "profile" / "unprofile" (cProfile on and off, when `spec.profile`);
    "stop". Each is answered with the usage so far.
    """
    start = serve_followup if spec.kind == "followup" else serve_bare
    runner, sock, code = await start(spec)
    host, port = sock.getsockname()[:2]
    conn.send({"url": f"http://{host}:{port}{WEBHOOK_PATH}", "code": code, **usage()})
    profiler = cProfile.Profile() if spec.profile else None
    while (request := await asyncio.to_thread(conn.recv)) != "stop":
        if profiler is not None and request == "profile":
            profiler.enable()  # this thread runs the event loop: the bot's own work
        elif profiler is not None and spec.profile and request == "unprofile":
            profiler.disable()
            write_profile(profiler, spec.profile)
        conn.send(usage())
    await runner.cleanup()
    conn.send(usage())


def bot_process(spec: BotSpec, conn: Connection) -> None:
    """Child process entry point."""
    logging.basicConfig(level=logging.WARNING, format=f"[{spec.kind}] %(levelname)s %(message)s")
    asyncio.run(serve(spec, conn))


class BotProcess:
    """A bot under test in its own process, and the pipe to ask it for its resource usage."""

    def __init__(self, spec: BotSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=bot_process, args=(spec, child), daemon=True)
        self.process.start()
        child.close()

    async def receive(self, timeout: float = 120.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The child's next message (it must come within `timeout` seconds)."""
        try:
            if not await asyncio.to_thread(self.conn.poll, timeout):
                raise TimeoutError(f"the bot process sent nothing within {timeout} s")
            message: dict[str, Any] = self.conn.recv()
        except EOFError:
            raise RuntimeError(f"the bot process exited ({self.process.exitcode})") from None
        return message

    async def usage(self, request: str = "usage") -> dict[str, float]:
        """Peak RSS and CPU time of the bot process so far (after `request`, see `serve`)."""
        self.conn.send(request)
        return await self.receive()

    async def stop(self) -> dict[str, float]:
        """Stop the bot; its final usage."""
        self.conn.send("stop")
        final = await self.receive()
        await asyncio.to_thread(self.process.join, 10)
        return final

    def kill(self) -> None:
        """End the child if it is still there (after an error)."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class Bots:
    """One or more processes of the same bot, used together (as behind a load balancer)."""

    def __init__(self, specs: Sequence[BotSpec]) -> None:
        self.specs = specs
        self.processes: list[BotProcess] = []
        self.urls: list[str] = []

    async def start(self) -> str:
        """Start them one after the other (the first fills the database); the invite code."""
        code = ""
        for spec in self.specs:
            process = BotProcess(spec)
            self.processes.append(process)
            ready = await process.receive()
            self.urls.append(ready["url"])
            code = code or ready["code"]
        return code

    @staticmethod
    def combined(usages: Sequence[dict[str, float]]) -> dict[str, float]:
        """Peak RSS of the largest process; CPU and CPU wait of all of them together."""
        return {
            "rss_kib": max(u["rss_kib"] for u in usages),
            "cpu_s": sum(u["cpu_s"] for u in usages),
            "wait_s": sum(u["wait_s"] for u in usages),
        }

    async def usage(self, request: str = "usage") -> dict[str, float]:
        """Usage so far, combined (see `combined`)."""
        return self.combined([await p.usage(request) for p in self.processes])

    async def stop(self) -> dict[str, float]:
        """Stop every process; their final usage, combined."""
        return self.combined([await p.stop() for p in self.processes])

    def kill(self) -> None:
        """End the children still there (after an error)."""
        for process in self.processes:
            process.kill()


# --- the load side (this process) ------------------------------------------------------------


class BenchApi(TelegramApiStandIn):
    """The stand-in, telling a waiting respondent when the bot sends its chat a message."""

    def __init__(self) -> None:
        super().__init__(token=TOKEN, webhook_timeout=ANSWER_TIMEOUT)
        self._waiting: dict[int, asyncio.Future[int]] = {}
        self.targets: list[str] = []
        """The bot processes' webhook URLs; each person's updates go to them in turn."""
        self._posted: dict[int, int] = {}

    async def _post_update(self, update: JSON, secret: Any) -> Any:
        # A load balancer without affinity: a person's consecutive updates alternate between
        # the processes (the hard case: no process sees two answers of one person in a row).
        if self.targets:
            kind = next(k for k in update if k != "update_id")
            sender = int(update[kind]["from"]["id"])
            count = self._posted.get(sender, 0)
            self._posted[sender] = count + 1
            self.webhook_url = self.targets[count % len(self.targets)]  # read before any await
        return await super()._post_update(update, secret)

    def expect(self, chat_id: int) -> asyncio.Future[int]:
        """A future for the message id of the next sendMessage to `chat_id`."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[chat_id] = future
        return future

    async def _send_message(self, params: JSON) -> JSON:
        result = await super()._send_message(params)
        future = self._waiting.pop(result["chat"]["id"], None)
        if future is not None and not future.done():
            future.set_result(result["message_id"])
        return result


@dataclass
class Respondent:
    """One simulated person: their chat, how far they are, and the question on screen."""

    user: SimulatedUser
    answered: int = 0
    message_id: int = 0

    @property
    def chat_id(self) -> int:
        """Their private chat with the bot."""
        return self.user.chat_id

    @property
    def finished(self) -> bool:
        """Whether every item is answered (the summary is on screen)."""
        return self.answered == ITEMS


@dataclass
class Phase:
    """The answers of one measurement: when each was sent, the webhook POSTs still running."""

    sent: list[tuple[int, float]] = field(default_factory=list)
    deliveries: list[asyncio.Task[Any]] = field(default_factory=list)
    late: int = 0
    max_lag: float = 0.0
    wall: float = 0.0

    @property
    def answers(self) -> int:
        """How many answers were given."""
        return len(self.sent)


def button(respondent: Respondent, label: str) -> str:
    """The callback data of the button labelled `label` on the respondent's current message."""
    message = respondent.user.chat.message(respondent.message_id)
    assert message is not None
    for text, data in message.buttons:
        if text == label and data is not None:
            return data
    raise LookupError(f"chat {respondent.chat_id}: no button {label!r} in {message.buttons}")


async def press(api: BenchApi, respondent: Respondent, label: str, phase: Phase) -> None:
    """Press a button and wait until the bot sends this chat its next message."""
    data = button(respondent, label)
    arrived = api.expect(respondent.chat_id)
    started = time.monotonic()
    pressing = respondent.user.press(respondent.message_id, data, check=False)
    phase.deliveries.append(asyncio.create_task(pressing))
    try:
        respondent.message_id = await asyncio.wait_for(arrived, ANSWER_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(
            f"chat {respondent.chat_id} pressed {label!r} (item {respondent.answered + 1}) and "
            f"got no next message within {ANSWER_TIMEOUT:g} s; {len(phase.sent)} answers of "
            f"this phase had arrived"
        ) from None
    phase.sent.append((respondent.chat_id, started))


async def answer(api: BenchApi, respondent: Respondent, phase: Phase) -> None:
    """Answer the question on screen; returns once the next question (or summary) arrived."""
    label = QUESTIONS[respondent.answered].label_for(respondent.chat_id)
    await press(api, respondent, label, phase)
    respondent.answered += 1


async def settle(phase: Phase) -> int:
    """Wait for the phase's webhook POSTs to return; how many failed."""
    results = await asyncio.gather(*phase.deliveries, return_exceptions=True)
    return sum(1 for r in results if isinstance(r, BaseException) or r.status != 200)


async def enroll(api: BenchApi, respondent: Respondent, code: str) -> None:
    """/start CODE, then press «Start: <title>»: the first question is on screen."""
    delivery = await respondent.user.send_text(f"/start {code}")
    if delivery.status != 200:
        raise RuntimeError(f"/start failed for chat {respondent.chat_id}: {delivery}")
    respondent.message_id = respondent.user.chat.last().message_id
    phase = Phase()
    await press(api, respondent, f"Start: {TITLE}", phase)
    if await settle(phase):
        raise RuntimeError(f"pressing Start failed for chat {respondent.chat_id}")


async def in_batches(
    respondents: Sequence[Respondent], step: Callable[[Respondent], Awaitable[None]]
) -> None:
    """Run `step` for every respondent, SETUP_BATCH at a time."""
    for start in range(0, len(respondents), SETUP_BATCH):
        await asyncio.gather(*(step(r) for r in respondents[start : start + SETUP_BATCH]))


async def closed_loop(api: BenchApi, respondents: Sequence[Respondent]) -> Phase:
    """Everyone answers all items as fast as the bot lets them."""
    phase = Phase()

    async def run_through(respondent: Respondent) -> None:
        while not respondent.finished:
            await answer(api, respondent, phase)

    started = time.monotonic()
    await asyncio.gather(*(run_through(r) for r in respondents))
    phase.wall = time.monotonic() - started
    return phase


async def open_loop(
    api: BenchApi, respondents: Sequence[Respondent], rate: float, answers: int
) -> Phase:
    """`answers` answers offered at `rate` per second, each by a respondent who is free."""
    phase, free = Phase(), asyncio.Queue[Respondent]()
    for respondent in respondents:
        free.put_nowait(respondent)

    async def one(respondent: Respondent) -> None:
        await answer(api, respondent, phase)
        if not respondent.finished:
            free.put_nowait(respondent)

    tasks, started = [], time.monotonic()
    for number in range(answers):
        slot = started + number / rate
        await asyncio.sleep(max(0.0, slot - time.monotonic()))
        respondent = await free.get()
        lag = time.monotonic() - slot
        if lag > LATE_SLACK:
            phase.late += 1
        phase.max_lag = max(phase.max_lag, lag)
        tasks.append(asyncio.create_task(one(respondent)))
    await asyncio.gather(*tasks)
    phase.wall = time.monotonic() - started
    return phase


def latencies(api: BenchApi, phase: Phase) -> list[float]:
    """Per answer: seconds from sending the POST to the stand-in receiving the next sendMessage.

    Both ends are time.monotonic() in this process: the send time taken here, and the time the
    stand-in's call log records when a request comes in.
    """
    received: dict[int | str | None, list[float]] = {}
    for call in api.calls:
        if call.method == "sendMessage":
            received.setdefault(call.chat_id, []).append(call.time)
    spans = []
    for chat_id, sent in phase.sent:
        times = received[chat_id]
        spans.append(times[bisect.bisect_left(times, sent)] - sent)
    return spans


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- one bot, both measurements ----------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The run's parameters."""

    respondents: int
    rate: float
    answers: int
    database_url: str | None
    processes: int = 1
    bare_processes: int = 1
    profile: str | None = None

    @property
    def latency_respondents(self) -> int:
        """Respondents in the fixed-load phase: enough to give every answer."""
        return max(self.respondents, math.ceil(self.answers / ITEMS))


@dataclass
class Result:
    """The figures for one bot."""

    throughput: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    late: int = 0
    offered: int = 0
    max_lag: float = 0.0
    rss_kib: dict[str, float] = field(default_factory=dict)
    bot_cpu: float = 0.0
    bot_wait: float = 0.0
    load_cpu: float = 0.0
    failed: int = 0
    submitted: int = 0


async def throughput_phase(
    api: BenchApi, bot: Bots, respondents: Sequence[Respondent], result: Result
) -> None:
    """Measurement 1: maximum answers per second, closed loop (profiled, if asked)."""
    before, load_before = await bot.usage("profile"), time.process_time()
    phase = await closed_loop(api, respondents)
    after = await bot.usage("unprofile")
    result.throughput = phase.answers / phase.wall
    result.bot_cpu = (after["cpu_s"] - before["cpu_s"]) / phase.wall
    result.bot_wait = (after["wait_s"] - before["wait_s"]) / phase.wall
    result.load_cpu = (time.process_time() - load_before) / phase.wall
    result.failed += await settle(phase)
    result.rss_kib["throughput"] = (await bot.usage())["rss_kib"]


async def latency_phase(
    api: BenchApi,
    bot: Bots,
    respondents: Sequence[Respondent],
    config: Config,
    result: Result,
) -> None:
    """Measurement 2: latency at a fixed offered load, open loop."""
    phase = await open_loop(api, respondents, config.rate, config.answers)
    spans = latencies(api, phase)
    result.p50, result.p99 = percentile(spans, 0.50), percentile(spans, 0.99)
    result.late, result.offered, result.max_lag = phase.late, phase.answers, phase.max_lag
    result.failed += await settle(phase)
    result.rss_kib["latency"] = (await bot.usage())["rss_kib"]


async def submit_all(api: BenchApi, respondents: Sequence[Respondent], result: Result) -> None:
    """Everyone who answered every item presses «Send inn» (not measured)."""
    phase = Phase()

    async def submit(respondent: Respondent) -> None:
        if respondent.finished:
            await press(api, respondent, SUBMIT, phase)

    await in_batches(respondents, submit)
    result.failed += await settle(phase)
    result.submitted = phase.answers


def specs(kind: str, config: Config, api: BenchApi, workdir: str) -> list[BotSpec]:
    """The processes of one bot: the first fills the database, the others only serve."""
    total = config.respondents + config.latency_respondents
    count = config.processes if kind == "followup" else config.bare_processes
    return [
        BotSpec(
            kind,
            api.root,
            config.database_url,
            workdir,
            total,
            seed=index == 0,
            profile=(
                f"{config.profile}.{kind}.{index + 1}"
                if config.profile and kind == "followup"
                else None
            ),
        )
        for index in range(count)
    ]


async def measure(kind: str, config: Config, workdir: str) -> Result:
    """Start the bot's processes, enroll everyone, run both measurements, stop them."""
    result = Result()
    async with BenchApi() as api:
        total = config.respondents + config.latency_respondents
        bot = Bots(specs(kind, config, api, workdir))
        try:
            code = await bot.start()
            api.targets = bot.urls  # what a reverse proxy would do for the public URL
            people = [Respondent(api.user(700_000 + n, f"P{n}")) for n in range(total)]
            await in_batches(people, lambda r: enroll(api, r, code))
            result.rss_kib["setup"] = (await bot.usage())["rss_kib"]
            await throughput_phase(api, bot, people[: config.respondents], result)
            await latency_phase(api, bot, people[config.respondents :], config, result)
            await submit_all(api, people, result)
            result.rss_kib["end"] = (await bot.stop())["rss_kib"]
        finally:
            bot.kill()
    return result


# --- report --------------------------------------------------------------------------------------


def machine() -> str:
    """Processor, CPU count, Python version and OS."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = f"{model} ({line.split(':', 1)[1].strip()})"
                break
    return (
        f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def cpu_per_answer(result: Result) -> float:
    """Milliseconds of bot CPU per answer in the throughput run.

    Steadier than answers/s when other work takes CPU time from the bot.
    """
    return result.bot_cpu / result.throughput * 1000 if result.throughput else 0.0


Figure = tuple[str, Callable[[Result], float], str, bool]
"""A table line: name, how to read it off a result, format, and whether a ratio makes sense."""


def figures(config: Config) -> list[Figure]:
    """The table's lines."""
    rate = f"{config.rate:g}/s"

    def rss(phase: str) -> Callable[[Result], float]:
        return lambda r: r.rss_kib[phase] / 1024

    return [
        ("max throughput (answers/s)", lambda r: r.throughput, ".1f", True),
        (f"p50 latency at {rate} (ms)", lambda r: r.p50 * 1000, ".1f", True),
        (f"p99 latency at {rate} (ms)", lambda r: r.p99 * 1000, ".1f", True),
        (f"late sends at {rate} (of {config.answers})", lambda r: r.late, ".0f", False),
        ("max lag behind schedule (ms)", lambda r: r.max_lag * 1000, ".0f", False),
        ("peak RSS after setup (MiB)", rss("setup"), ".1f", True),
        ("peak RSS after throughput run (MiB)", rss("throughput"), ".1f", True),
        ("peak RSS after latency run (MiB)", rss("latency"), ".1f", True),
        ("bot CPU at max throughput (%)", lambda r: r.bot_cpu * 100, ".0f", True),
        ("bot CPU per answer then (ms)", cpu_per_answer, ".1f", True),
        ("bot waiting for a CPU then (%)", lambda r: r.bot_wait * 100, ".0f", False),
        ("load side CPU then (%)", lambda r: r.load_cpu * 100, ".0f", False),
        ("questionnaires submitted", lambda r: r.submitted, ".0f", False),
        ("failed webhook deliveries", lambda r: r.failed, ".0f", False),
    ]


def table_line(figure: Figure, ours: Result, bare: Result) -> str:
    """One line: the figure for Followup, for bare PTB, and followup/bare."""
    name, read, fmt, with_ratio = figure
    mine, theirs = read(ours), read(bare)
    ratio = f"{mine / theirs:.2f}" if with_ratio and theirs else ""
    return f"{name:<38}{format(mine, fmt):>11}{format(theirs, fmt):>11}{ratio:>8}"


def notes(config: Config, results: dict[str, Result], load: tuple[float, float]) -> list[str]:
    """Warnings that change how the figures read."""
    lines = []
    for name, result in results.items():
        if result.late > 0.1 * result.offered:
            lines.append(
                f"note: {name} could not keep up with {config.rate:g} answers/s "
                f"({result.late} of {result.offered} sent late): its latencies are "
                "queueing delays at saturation."
            )
    if load[0] > 0.5:
        lines.append(
            f"note: the machine was busy before the run (1-minute load {load[0]:.1f} on "
            f"{os.cpu_count()} CPUs, {load[1]:.1f} after): other work shares the CPUs."
        )
    return lines


def processes(config: Config) -> str:
    """How the bots run, for the printout."""
    if config.processes == config.bare_processes == 1:
        return (
            "each bot alone in a child process (its RSS and CPU below); "
            "stand-in and respondents in the main process"
        )
    return (
        f"followup in {config.processes}, bare PTB in {config.bare_processes} child "
        "process(es) on one database; each person's updates alternate between a bot's "
        "processes (no affinity); RSS: the largest process, CPU: all of them (100 % = one core)"
    )


def report(config: Config, ours: Result, bare: Result, load: tuple[float, float]) -> str:
    """The whole printout: setup, table, notes."""
    database = "SQLite, temp file"
    if config.database_url:  # without user and password
        database = f"PostgreSQL, {config.database_url.split('@')[-1].split('://')[-1]}"
    header = f"{'':<38}{'followup':>11}{'bare PTB':>11}{'ratio':>8}"
    lines = [
        "Followup chat load: Telegram webhook path against the Bot API stand-in",
        f"machine:    {machine()}",
        f"database:   {database}",
        f"questionnaire: {ITEMS} items, single choice and 5-point scale alternating",
        f"throughput: {config.respondents} respondents, closed loop, "
        f"{config.respondents * ITEMS} answers",
        f"latency:    {config.answers} answers offered at {config.rate:g}/s over "
        f"{config.latency_respondents} respondents; POST sent -> next sendMessage received",
        f"processes:  {processes(config)}",
        "",
        header,
        "-" * len(header),
        *(table_line(figure, ours, bare) for figure in figures(config)),
        "ratio = followup / bare PTB",
        *notes(config, {"followup": ours, "bare PTB": bare}, load),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> Config:
    """Command line: sizes, rate and database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--respondents", type=int, default=50, help="closed-loop respondents")
    parser.add_argument("--rate", type=float, default=100.0, help="offered answers per second")
    parser.add_argument("--answers", type=int, default=1000, help="answers in the latency run")
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database you own (default: a temp SQLite file)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Followup processes on the one database (more than 1 needs --database-url)",
    )
    parser.add_argument(
        "--bare-processes", type=int, help="bare PTB processes (default: --processes)"
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="cProfile Followup's throughput run: PREFIX.followup.N.pstats and .txt per process",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (about 15 s)")
    args = parser.parse_args(argv)
    if args.quick:
        args.respondents, args.answers, args.rate = 3, 40, 20.0
    if args.processes < 1 or (args.bare_processes is not None and args.bare_processes < 1):
        parser.error("--processes and --bare-processes must be at least 1")
    if args.processes > 1 and not (args.database_url or "").startswith("postgres"):
        parser.error(
            f"--processes {args.processes} runs several Followup processes on one database, "
            "which needs PostgreSQL: SQLite serializes writers and is meant for one process. "
            "Pass --database-url postgresql://USER@HOST:PORT/EMPTY_DB (an empty database "
            "you own)."
        )
    bare = args.processes if args.bare_processes is None else args.bare_processes
    return Config(
        args.respondents,
        args.rate,
        args.answers,
        args.database_url,
        args.processes,
        bare,
        str(Path(args.profile).resolve()) if args.profile else None,
    )


async def main(config: Config) -> int:
    """Measure Followup, then the bare baseline, and print the table."""
    before = os.getloadavg()[0]
    stage = "followup"
    try:
        with tempfile.TemporaryDirectory(prefix="followup-bench-") as workdir:
            ours = await measure("followup", config, workdir)
            stage = "bare PTB"
            bare = await measure("bare", config, workdir)
    except (TimeoutError, RuntimeError, LookupError) as error:
        load = os.getloadavg()[0]
        print(f"benchmark aborted ({stage}; load {load:.1f}): {error!r}", file=sys.stderr)
        return 1
    print(report(config, ours, bare, (before, os.getloadavg()[0])))
    if config.profile:
        print(f"profiles: {config.profile}.followup.*.txt (and .pstats)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
