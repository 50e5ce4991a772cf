"""Benchmark: one reminder round to 10,000 people, drained to the Bot API stand-in at a limit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the stand-in lives in tests/, which is not an installed package
    sys.path.insert(0, str(ROOT))

from bot.services.questionnaires import QuestionnaireCatalog  # noqa: E402
from bot.services.reminders import OPERATOR, ReminderService  # noqa: E402
from bot.services.rounds import RoundService  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402
from dialogs.model import Role  # noqa: E402
from dialogs.records import ParticipationStatus  # noqa: E402
from dialogs.rhythm import defer, norwegian_holidays  # noqa: E402
from storage import models as m  # noqa: E402
from storage.database import create_engine, is_sqlite, normalize_url  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import utcnow  # noqa: E402
from storage.store import Store  # noqa: E402
from tests.peers.telegram_api import TelegramApiStandIn  # noqa: E402

# The stand-in (which enforces the limit and records every call) runs in this process; the
# outbox is drained by the product's own `followup outbox drain --until-empty` in a child
# process, as an operator would run it, so a SIGKILL hits a real process mid-batch.

TOKEN = "123456:BENCH"
UNIT = "benkavdelingen"
TITLE = "Påminnelsestest"
CHAT_BASE = 700_000_000
"""Person n chats with the bot in private chat CHAT_BASE + n."""
CHUNK = 2000
"""Rows per bulk insert during setup."""
MIN_RATE = 20.0
"""Messages/s below which the run is given up (the drain takes too long)."""
TARGET = 0.95
"""Achieved rate / configured limit a run without a kill must reach."""


@dataclass(frozen=True)
class Config:
    """One run's options."""

    recipients: int
    rate: float
    concurrency: int
    lease: float
    kill: bool
    kill_at: float
    database_url: str | None
    invite_with_service: bool = False


@dataclass
class Drain:
    """One drainer process as the stand-in saw it."""

    process: asyncio.subprocess.Process
    started: float
    ended: float = 0.0
    returncode: int | None = None
    killed: bool = False
    output: str = ""
    cpu: float = 0.0
    """User + system CPU seconds of the drainer process."""
    times: list[float] = field(default_factory=list)
    """Stand-in receive times of the sendMessage calls it got through (answered ok)."""

    @property
    def rate(self) -> float:
        """Deliveries per second between its first and last delivery (intervals / span)."""
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


# --- the database --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(config: Config) -> AsyncIterator[str]:
    """A fresh database: a temp SQLite file, or a PostgreSQL database created and dropped."""
    if config.database_url is None:
        with tempfile.TemporaryDirectory(prefix="followup-bench-") as workdir:
            yield f"sqlite:///{workdir}/bench.db"
        return
    url = make_url(normalize_url(config.database_url))
    name = url.database or ""
    if is_sqlite(config.database_url) or not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit("--database-url must be postgresql://.../<new_database_name> (a-z0-9_)")
    admin = create_engine(
        url.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if exists:
                raise SystemExit(f"database {name!r} exists; the benchmark creates its own")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def questionnaire_yaml() -> str:
    """A two-item questionnaire (docs/questionnaire-format.md); its content does not matter."""
    document = {
        "id": "paminnelsestest",
        "title": TITLE,
        "items": [
            {
                "id": "sted",
                "kind": "single",
                "text": "Hvor jobber du?",
                "options": [
                    {"id": "sykehus", "label": "Sykehus"},
                    {"id": "kommune", "label": "Kommune"},
                ],
            },
            {"id": "trivsel", "kind": "scale", "text": "Jeg trives.", "scale": "agreement5"},
        ],
    }
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


async def add_people(store: Store, recipients: int) -> None:
    """One unit; `recipients` people, each with a reachable Telegram identity (bulk)."""
    async with store.engine.begin() as conn:
        await conn.execute(insert(m.Unit), [{"id": UNIT, "name_nb": "Benkavdelingen"}])
        for ids in chunks(recipients):
            await conn.execute(
                insert(m.Person),
                [
                    {"id": n, "email": f"person{n}@bench.example", "name": f"Person {n}"}
                    for n in ids
                ],
            )
            await conn.execute(
                insert(m.Identity),
                [
                    {"channel": "telegram", "external_id": str(CHAT_BASE + n), "person_id": n}
                    for n in ids
                ],
            )


async def add_members(store: Store, recipients: int, round_id: int | None, on: date) -> None:
    """Everyone staff of the unit; with `round_id`, also invited to that round (bulk)."""
    async with store.engine.begin() as conn:
        for ids in chunks(recipients):
            await conn.execute(
                insert(m.Membership),
                [{"person_id": n, "unit_id": UNIT, "role": Role.STAFF.value} for n in ids],
            )
            if round_id is not None:
                await conn.execute(
                    insert(m.Participation),
                    [
                        {
                            "round_id": round_id,
                            "person_id": n,
                            "unit_id": UNIT,
                            "status": ParticipationStatus.INVITED.value,
                            "invited_on": on,
                        }
                        for n in ids
                    ],
                )


def chunks(recipients: int) -> list[range]:
    """Person ids 1..recipients in runs of CHUNK."""
    return [
        range(start, min(recipients, start + CHUNK - 1) + 1)
        for start in range(1, recipients + 1, CHUNK)
    ]


async def invitations_went_out(store: Store, at: datetime) -> int:
    """Mark the round's invitations sent: they went out when it opened, not in this benchmark."""
    async with store.engine.begin() as conn:
        result = await conn.execute(
            update(m.OutboxMessage)
            .where(m.OutboxMessage.purpose == "invitation", m.OutboxMessage.status == "pending")
            .values(status="sent", sent_at=at)
        )
    return int(result.rowcount)


def sending_moment(settings: Settings) -> datetime:
    """The latest past weekday 09:00 UTC that quiet hours and holidays leave alone.

    The child drainer runs on the real clock, so the reminders' `not_before` (the moment they
    are sent, when it is allowed) must not be in the future.
    """
    moment = utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
    while True:
        if moment <= utcnow() and moment.weekday() < 5:
            holidays = norwegian_holidays({moment.year, moment.year + 1})
            if defer(moment, settings.timezone, settings.quiet, holidays, settings.pauses) == (
                moment
            ):
                return moment
        moment -= timedelta(days=1)


@dataclass
class Setup:
    """What setup made, and how long its service calls took."""

    round_id: int
    run_id: int
    batch: str
    now: datetime
    seconds: dict[str, float]
    invited: int
    queued: int


async def prepare(url: str, config: Config) -> Setup:
    """Migrate, add people, load the questionnaire, open a round, and queue the reminders."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    await upgrade(url)
    seconds["migrate"] = time.monotonic() - started
    settings = load_settings(
        database_url=url, secret_key="bench-secret", demo_mode=False, load_examples=False
    )
    store = Store.connect(url)
    catalog = QuestionnaireCatalog()
    rounds = RoundService(store, catalog, settings)
    reminders = ReminderService(store, catalog, settings)
    now = sending_moment(settings)
    opens_at = now - timedelta(days=3)
    try:
        started = time.monotonic()
        await add_people(store, config.recipients)
        seconds["people"] = time.monotonic() - started
        with tempfile.TemporaryDirectory(prefix="followup-bench-") as workdir:
            path = Path(workdir) / "paminnelsestest.yaml"
            path.write_text(questionnaire_yaml(), encoding="utf-8")
            questionnaire_id, _version = await rounds.load_questionnaire(path)
        round_id = await rounds.create(
            questionnaire_id, [UNIT], opens_at, now + timedelta(days=21), name=TITLE
        )
        if config.invite_with_service:
            # The product's own path: one participation and one invitation per person, in
            # one transaction. The invitations went out when the round opened.
            await add_members(store, config.recipients, None, opens_at.date())
            started = time.monotonic()
            invited = (await rounds.open(round_id, opens_at)).invited
            seconds["open"] = time.monotonic() - started
            await invitations_went_out(store, opens_at)
        else:
            # Opened before anyone is a member (so it invites nobody), then everyone invited in
            # bulk: RoundService.open costs about 10 ms per person on SQLite (see README).
            await rounds.open(round_id, opens_at)
            started = time.monotonic()
            await add_members(store, config.recipients, round_id, opens_at.date())
            seconds["invite"] = time.monotonic() - started
            invited = config.recipients
        started = time.monotonic()
        run = await reminders.send(round_id, OPERATOR, now, "cli")
        seconds["send"] = time.monotonic() - started
    finally:
        await store.close()
    return Setup(round_id, run.id, run.batch, now, seconds, invited, run.queued)


async def outcomes(url: str, batch: str) -> dict[str, int]:
    """The outbox statuses of the run's batch (what its delivery report counts)."""
    store = Store.connect(url)
    try:
        async with store.transaction() as tx:
            found = await tx.outbox.batch_outcomes(batch)
            retried = await tx.session.execute(
                select(m.OutboxMessage.attempts, m.OutboxMessage.last_error).where(
                    m.OutboxMessage.batch == batch, m.OutboxMessage.attempts > 1
                )
            )
            for attempts, error in retried:
                print(f"  retried row: {attempts} attempts, last error {error!r}")
            return found
    finally:
        await store.close()


# --- draining ------------------------------------------------------------------------------


def delivered_times(api: TelegramApiStandIn, since: int) -> list[float]:
    """Receive times of the ok sendMessage calls from call number `since` on."""
    return [c.time for c in api.calls[since:] if c.method == "sendMessage" and c.ok]


async def start_drainer(url: str, api: TelegramApiStandIn, config: Config, log: Path) -> Drain:
    """`followup outbox drain --until-empty` in a child process (its own process group)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.root,
        "FOLLOWUP_TELEGRAM_RATE": f"{config.rate:g}",
        "FOLLOWUP_OUTBOX_CONCURRENCY": str(config.concurrency),
        "FOLLOWUP_OUTBOX_LEASE_SECONDS": f"{config.lease:g}",
    }
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv/bin/followup"),
            "outbox",
            "drain",
            "--until-empty",
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    return Drain(process, time.monotonic())


async def finish(
    drain: Drain, limit: float, kill_when: int | None, done: Callable[[], int]
) -> None:
    """Wait for the drainer to end; SIGKILL it once `done()` reaches `kill_when`."""
    process = drain.process
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    deadline = time.monotonic() + limit
    try:
        while process.returncode is None:
            if kill_when is not None and done() >= kill_when:
                os.killpg(process.pid, signal.SIGKILL)
                drain.killed = True
                await process.wait()
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the drainer did not finish within {limit:.0f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 0.05)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    drain.ended, drain.returncode = time.monotonic(), process.returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    drain.cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


async def drain_all(
    url: str, api: TelegramApiStandIn, config: Config, workdir: Path
) -> list[Drain]:
    """Drain the outbox; with --kill, SIGKILL the drainer part way and start another."""
    # Generous: a drainer slower than MIN_RATE is broken, not slow.
    timeout = config.recipients / min(config.rate, MIN_RATE) + 4 * config.lease + 120
    drains = []
    runs = 2 if config.kill else 1
    for number in range(runs):
        log = workdir / f"drainer-{number + 1}.log"
        since = len(api.calls)
        drain = await start_drainer(url, api, config, log)
        kill_when = round(config.recipients * config.kill_at) if number == 0 and runs > 1 else None
        await finish(
            drain, timeout, kill_when, lambda since=since: len(delivered_times(api, since))
        )
        drain.times = delivered_times(api, since)
        drain.output = log.read_text(errors="replace")
        drains.append(drain)
        if not drain.killed and drain.returncode != 0:
            raise RuntimeError(f"drainer exited with {drain.returncode}:\n{drain.output[-3000:]}")
    return drains


# --- the report ----------------------------------------------------------------------------


def machine() -> str:
    """Processor, CPU count, Python version and OS."""
    model = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = f"{model} ({line.split(':', 1)[1].strip()})"
                break
    return (
        f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


@dataclass(frozen=True)
class Result:
    """What the stand-in and the outbox say after the run."""

    lost: int
    duplicates: int
    delivered: int
    rejected: int
    ratio: float
    statuses: dict[str, int]


def count(api: TelegramApiStandIn, recipients: int) -> tuple[int, int, int]:
    """Recipients with no delivery, extra deliveries, all deliveries (ok sendMessage calls)."""
    per_chat = Counter(c.chat_id for c in api.calls if c.method == "sendMessage" and c.ok)
    chats = range(CHAT_BASE + 1, CHAT_BASE + recipients + 1)
    lost = sum(1 for chat in chats if per_chat[chat] == 0)
    duplicates = sum(n - 1 for n in per_chat.values() if n > 1)
    return lost, duplicates, sum(per_chat.values())


def report(config: Config, setup: Setup, drains: list[Drain], result: Result) -> str:
    """The printout."""
    database = "SQLite, temp file"
    if config.database_url:
        database = f"PostgreSQL, {config.database_url.split('@')[-1].split('://')[-1]}"
    secs = setup.seconds
    lines = [
        "Followup reminder round: one reminder per non-respondent, drained to the Bot API "
        "stand-in",
        f"machine:     {machine()}",
        f"database:    {database}",
        f"recipients:  {config.recipients} people in one unit, each with a Telegram identity; "
        f"round open, nobody answered; reminders sent at {setup.now:%Y-%m-%d %H:%M} UTC",
        f"limit:       {config.rate:g} messages/s overall, enforced by the stand-in (429 beyond, "
        "1 s sliding window); the drainer set to the same rate "
        "(FOLLOWUP_TELEGRAM_RATE)",
        f"drainer:     `followup outbox drain --until-empty` in a child process, "
        f"{config.concurrency} messages in flight at most, lease {config.lease:g} s",
    ]
    if config.kill:
        lines.append(
            f"kill:        SIGKILL of the drainer after {len(drains[0].times)} deliveries, "
            "then a second drainer"
        )
    lines += [
        "",
        f"setup: migrate {secs['migrate']:.1f} s, {config.recipients} people bulk-inserted "
        f"{secs['people']:.1f} s",
        (
            f"RoundService.open: {setup.invited} invited, invitations queued   "
            f"{secs['open']:7.1f} s"
            if "open" in secs
            else f"round opened empty, then {setup.invited} invited in bulk        "
            f"{secs['invite']:7.1f} s"
        ),
        f"ReminderService.send: {setup.queued} reminders queued            {secs['send']:7.1f} s",
        "",
    ]
    for number, drain in enumerate(drains, 1):
        how = "killed" if drain.killed else f"exit {drain.returncode}"
        first = f"{drain.times[0] - drain.started:.1f} s" if drain.times else "-"
        lines.append(
            f"drainer {number}: {len(drain.times)} delivered at {drain.rate:.1f}/s, "
            f"first delivery after {first}, {drain.ended - drain.started:.1f} s wall, "
            f"{drain.cpu:.1f} s CPU, {how}"
        )
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
    bound = f" (bound: {config.concurrency} rows in flight)" if config.kill else " (must be 0)"
    lines += [
        "",
        f"achieved rate / limit       {result.ratio:.3f}"
        + ("" if config.kill else f"   (target >= {TARGET})"),
        f"lost                        {result.lost} of {config.recipients}   (must be 0)",
        f"duplicates                  {result.duplicates}{bound}",
        f"429 answers (stand-in)      {result.rejected}",
        f"outbox batch {setup.batch}: {statuses}",
        "achieved rate = (deliveries - 1) / time from the first to the last delivery at the "
        "stand-in" + (", first drainer only (before the kill)" if config.kill else ""),
    ]
    return "\n".join(lines)


def verdicts(config: Config, result: Result) -> list[str]:
    """What failed the criterion (empty: passed)."""
    failed = []
    if result.lost:
        failed.append(f"{result.lost} recipients got no reminder")
    if config.kill and result.duplicates > config.concurrency:
        failed.append(f"{result.duplicates} duplicates > {config.concurrency} in flight")
    if not config.kill and result.duplicates:
        failed.append(f"{result.duplicates} duplicates without a kill")
    if not config.kill and result.ratio < TARGET:
        failed.append(f"achieved rate / limit {result.ratio:.3f} < {TARGET}")
    return failed


async def main(config: Config) -> int:
    """Set up, queue the reminders, drain them, and print the figures."""
    load_before = os.getloadavg()[0]
    async with database(config) as url:
        setup = await prepare(url, config)
        async with TelegramApiStandIn(TOKEN, rate_limit_global=config.rate) as api:
            for n in range(1, config.recipients + 1):
                api.user(CHAT_BASE + n, f"Person {n}")
            with tempfile.TemporaryDirectory(prefix="followup-bench-") as workdir:
                try:
                    drains = await drain_all(url, api, config, Path(workdir))
                except (TimeoutError, RuntimeError) as error:
                    done = count(api, config.recipients)[2]
                    print(f"benchmark aborted after {done} deliveries: {error}", file=sys.stderr)
                    return 1
            lost, duplicates, delivered = count(api, config.recipients)
            result = Result(
                lost,
                duplicates,
                delivered,
                api.rejected,
                drains[0].rate / config.rate,
                await outcomes(url, setup.batch),
            )
    print(report(config, setup, drains, result))
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    failed = verdicts(config, result)
    for reason in failed:
        print(f"FAILED: {reason}")
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None = None) -> Config:
    """Command line: size, limit, drainer settings, kill, database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000, help="people reminded")
    parser.add_argument(
        "--rate",
        type=float,
        default=30.0,
        help="global limit, messages/s (stand-in and drainer; Telegram documents about 30)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="FOLLOWUP_OUTBOX_CONCURRENCY (rows in flight)"
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=5.0,
        help="FOLLOWUP_OUTBOX_LEASE_SECONDS (the retry after a kill)",
    )
    parser.add_argument(
        "--kill", action="store_true", help="SIGKILL the drainer part way, then restart it"
    )
    parser.add_argument(
        "--kill-at", type=float, default=0.5, help="fraction delivered when killed (--kill)"
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://user@host:port/NAME: the run creates database NAME and drops it "
        "(default: a temp SQLite file)",
    )
    parser.add_argument(
        "--invite-with-service",
        action="store_true",
        help="invite through RoundService.open (slow: about 10 ms a person on SQLite)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.kill_at < 1:
        parser.error("--kill-at must be between 0 and 1")
    return Config(
        args.recipients,
        args.rate,
        args.concurrency,
        args.lease,
        args.kill,
        args.kill_at,
        args.database_url,
        args.invite_with_service,
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
