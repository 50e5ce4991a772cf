"""Two bot processes on one PostgreSQL database: webhooks on both, one scheduler, nothing twice."""

import asyncio
import dataclasses
import json
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.account import new_code
from dialogs.model import Role, RoundKind
from storage.models import utcnow
from tests.conftest import backend
from tests.peers.telegram_api import TelegramApiStandIn
from tests.process import ROOT, ServerProcess, free_port
from tests.services import open_round, seed, services_on
from tests.telegram_chat import WEBHOOK_SECRET, TelegramUser

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        backend() != "postgresql",
        reason="several processes share one database on PostgreSQL only (SQLite: one process)",
    ),
]
LEASE_SECONDS = 3
CHECKIN_UNIT = "lungeavdelingen"
ROUND_NAME = "Oppfølging i to prosesser"
ZONE = ZoneInfo("Europe/Oslo")


def quiet_hours_away_from(now: datetime) -> str:
    """A quiet-hours window that does not hold `now` (invitations go out at once)."""
    local = now.astimezone(ZONE)
    return f"{local + timedelta(hours=2):%H:%M}-{local + timedelta(hours=3):%H:%M}"


async def prepare(db_url: str, now: datetime, quiet: str) -> str:
    """Examples loaded, a check-in of CHECKIN_UNIT due an hour ago; returns an invite code."""
    code = new_code()
    due = now.astimezone(ZONE) - timedelta(hours=1)
    async with services_on(db_url, quiet_hours=quiet) as services:
        await seed(services)
        async with services.store.transaction() as tx:
            await tx.org.create_invite(
                code, now + timedelta(days=1), "hjerteavdelingen", None, Role.STAFF, 10
            )
            unit = await tx.org.unit(CHECKIN_UNIT)
            assert unit is not None
            every_day = {"weekdays": list(range(7)), "at": f"{due:%H:%M}"}
            await tx.org.upsert_unit(dataclasses.replace(unit, checkin=every_day), "department")
    return code


async def open_identified_round(db_url: str, now: datetime, quiet: str) -> int:
    """What a coordinator does meanwhile: open a round for hjerteavdelingen."""
    async with services_on(db_url, quiet_hours=quiet) as services:
        return await open_round(services, False, ("hjerteavdelingen",), now, ROUND_NAME)


async def stored(db_url: str, round_id: int) -> tuple[list[str], dict[str, list[str]]]:
    """Names of check-in rounds, and each Telegram person's answered items of `round_id`."""
    async with services_on(db_url) as services, services.store.transaction() as tx:
        checkins = [r.name or "" for r in await tx.rounds.all(RoundKind.CHECKIN)]
        answered = {}
        for chat in ("4101", "4102"):
            identity = await tx.org.identity("telegram", chat)
            assert identity is not None and identity.person_id is not None
            rows = await tx.answers.answers_of(round_id, identity.person_id)
            answered[chat] = [item for item, _ in rows]
    return checkins, answered


def health(server: ServerProcess) -> dict[str, object]:
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
        return dict(json.loads(response.read()))


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    """Whether `check` holds within about `seconds` (polled)."""
    for _ in range(int(seconds / 0.2)):
        if await check():
            return True
        await asyncio.sleep(0.2)
    return await check()


class Balancer:
    """A load balancer in front of the bot processes: it picks the process of each delivery."""

    def __init__(self, api: TelegramApiStandIn, servers: list[ServerProcess]) -> None:
        self.api = api
        self.servers = servers

    def to(self, index: int) -> None:
        self.api.webhook_url = f"{self.servers[index].url}/telegram/webhook"

    async def both(self, deliver: Callable[[], Awaitable[object]]) -> list[object]:
        """The same update to both processes at once (Telegram retried, or a double tap)."""
        tasks = []
        for index in range(len(self.servers)):
            self.to(index)
            tasks.append(asyncio.ensure_future(deliver()))
            await asyncio.sleep(0)  # the delivery has taken the URL before it changes
        return list(await asyncio.gather(*tasks))


async def test_two_processes_serve_webhooks_and_one_runs_the_scheduler(db_url, tmp_path):
    now = utcnow()
    quiet = quiet_hours_away_from(now)
    code = await prepare(db_url, now, quiet)
    async with TelegramApiStandIn() as api:
        env = {
            "DATABASE_URL": db_url,
            "FOLLOWUP_HOST": "127.0.0.1",
            "FOLLOWUP_LOAD_EXAMPLES": "false",
            "FOLLOWUP_QUIET_HOURS": quiet,
            "FOLLOWUP_DIGEST_SCHEDULE": "off",
            "FOLLOWUP_SCHEDULER_LEASE_SECONDS": str(LEASE_SECONDS),
            "FOLLOWUP_PUBLIC_URL": "https://followup.example",
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": api.root,
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        servers = []
        for n in range(2):
            port = free_port()
            servers.append(
                ServerProcess(
                    [str(ROOT / ".venv/bin/followup"), "serve"],
                    {**env, "FOLLOWUP_PORT": str(port)},
                    port,
                    log=tmp_path / f"bot{n}.log",
                )
            )
        balancer = Balancer(api, servers)
        try:
            await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers))
            leases = [health(server)["scheduler_lease"] for server in servers]
            assert sorted(leases) == [False, True]  # started together: exactly one holder
            holder = leases.index(True)

            kari, per = TelegramUser(api, 4101, "Kari"), TelegramUser(api, 4102, "Per")
            balancer.to(0)
            await kari.say(f"/start {code}")
            balancer.to(1)
            await per.say(f"/start {code}")
            mark = api.mark()
            round_id = await open_identified_round(db_url, now, quiet)
            for user in (kari, per):
                await api.wait_for_call("sendMessage", chat_id=user.chat_id, since=mark)

            # Each press goes to the other process than the one before.
            steps = [
                (kari, f"Start: {ROUND_NAME}"),
                (per, f"Start: {ROUND_NAME}"),
                (kari, "Ja, jeg vil delta"),
                (per, "Ja, jeg vil delta"),
                (kari, "Sykehus"),
                (per, "Kommune"),
                (per, "Leder"),
            ]
            for n, (user, label) in enumerate(steps):
                balancer.to(n % 2)
                await user.press(label)
            # Kari's press reaches both processes at once: one answer is stored.
            message, data = kari.find("Ansatt")
            deliveries = await balancer.both(lambda: kari.user.press(message, data))
            assert [getattr(d, "status", None) for d in deliveries] == [200, 200]

            checkins, answered = await stored(db_url, round_id)
            leases = [health(server)["scheduler_lease"] for server in servers]

            servers[holder].kill()
            survivor = servers[1 - holder]

            async def taken_over() -> bool:
                return health(survivor)["scheduler_lease"] is True

            assert await eventually(taken_over, 5 * LEASE_SECONDS)
            balancer.to(1 - holder)
            mark = api.mark()
            await per.say("/status")
            replied = [c for c in api.calls_to("sendMessage", 4102) if c.seq >= mark]
        finally:
            for server in servers:
                server.stop()
        invitations = {
            user.chat_id: [
                c
                for c in api.calls_to("sendMessage", chat_id=user.chat_id)
                if c.status == 200 and ROUND_NAME in c.params["text"]
            ]
            for user in (kari, per)
        }

    # The scheduled check-in opened once, whichever process saw it due.
    opened = [name for name in checkins if name.startswith(f"checkin:{CHECKIN_UNIT}:")]
    assert len(opened) == 1, [server.log_text()[-2000:] for server in servers]
    assert sorted(leases) == [False, True] and leases.index(True) == holder  # still one holder
    # Every answer stored once; each invitation sent once although both processes drain.
    assert answered == {
        "4101": ["samtykke", "arbeidssted", "rolle"],
        "4102": ["samtykke", "arbeidssted", "rolle"],
    }
    assert [len(calls) for calls in invitations.values()] == [1, 1]
    assert [c.status for c in replied] == [200]  # the survivor answers the webhooks
