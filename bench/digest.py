"""Benchmark: every leader's weekly digest of a year of check-ins, and the same at twice the size.

Not a test (not run by `./run-tests`). A fresh PostgreSQL database is filled in bulk with an
organisation (a tree of units, staff, one leader per unit), measures owned by units, and a
weekly check-in per unit with participations, responses and answers; then
`DigestService.for_all_leaders` computes every leader's digest of the last week (timed), and
`render_text` renders each of them (timed separately). The same is repeated in a second fresh
database with `--scale` times the units and staff (same measures, same weeks), and the script
prints time(scaled) / time(base): linear is `--scale`, the target at most 1.1 x `--scale`
(2.2 for the default 2). Exit code 1 if the ratio misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import random
import resource
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.services.digest import DigestService, leaders_of  # noqa: E402
from bot.services.digest_render import render_text  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from dialogs.checkin import DEFAULT_PER_PERSON, MeasurePlan, measures_for_unit  # noqa: E402
from dialogs.model import LocalizedText, MeasureAnswer, MeasureStatus, Role  # noqa: E402
from dialogs.records import ParticipationStatus, UnitRecord  # noqa: E402
from storage import models as m  # noqa: E402
from storage import stats  # noqa: E402
from storage.database import create_engine, is_sqlite, normalize_url  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.store import Store  # noqa: E402

CHUNK = 10_000
"""Rows per bulk insert."""
FIRST_MONDAY = date(2025, 12, 1)
"""The first check-in opens this Monday; one opens every Monday after it."""
OPENS_AT = (8, 0)
"""Check-ins open at 08:00 local time (Europe/Oslo)."""
ANSWER_RATE = 0.6
"""Share of invited staff who complete a check-in."""
SLACK = 1.1
"""The target: time(scaled) / time(base) at most SLACK x scale (2.2 at scale 2)."""
ZONE = "Europe/Oslo"
LOCALE = "nb"
STATUSES = (
    (MeasureStatus.NOT_STARTED, 20),
    (MeasureStatus.PLANNED, 25),
    (MeasureStatus.STARTED, 30),
    (MeasureStatus.DONE, 15),
    (MeasureStatus.EVALUATED, 5),
    (MeasureStatus.DROPPED, 5),
)
CODES = tuple(answer.value for answer in MeasureAnswer)
TRUST_WIDE = 20
"""Every 20th measure is owned by the trust (the root), the others by 1-2 random units.

So every section is asked about at least 15 of the 300 measures, everyone gets the full 5 per
check-in, and doubling the organisation doubles the answers. With owners only at random, a
section at twice the size would be asked about half as many measures (each owns half as many)
and the answers would not grow with the organisation.
"""
IN_CHUNK = 10_000
"""Round ids per query in the workaround for asyncpg's limit of 32,767 query arguments."""


@dataclass(frozen=True)
class Size:
    """One database's shape."""

    units: int
    staff: int
    measures: int
    periods: int
    seed: int


@dataclass
class Built:
    """What generation made: row counts per table and how long it took."""

    rows: dict[str, int]
    seconds: float
    period: str


@dataclass
class Measured:
    """The digest figures of one database (from the measuring child process)."""

    compute: list[float]
    facts: float
    leaders_query: float
    build: float
    render: float
    leaders: int
    sections: int
    figures: int
    too_few: int
    unanswered: int
    window_answers: int
    text_chars: int
    rss_before: float
    rss_compute: float
    rss_render: float
    profile: str
    failure: str
    """How the product's for_all_leaders failed (then measured with a workaround), if it did."""


# -- the organisation -------------------------------------------------------------------


def tree(units: int) -> list[tuple[str, str | None, str]]:
    """(id, parent, kind) of a tree of depth 4: a trust, clinics, departments, sections.

    About units/50 clinics and units/10 departments; the rest are sections, spread evenly
    over the departments (the leaves, where the staff work).
    """
    if units < 4:
        raise SystemExit("--units must be at least 4 (a trust, a clinic, a department, a section)")
    clinics = max(1, round(units / 50))
    departments = max(clinics, round(units / 10))
    departments = min(departments, units - 1 - clinics - 1)
    sections = units - 1 - clinics - departments
    result: list[tuple[str, str | None, str]] = [("foretak", None, "trust")]
    result += [(f"klinikk-{i:03d}", "foretak", "clinic") for i in range(clinics)]
    result += [
        (f"avdeling-{i:04d}", f"klinikk-{i % clinics:03d}", "department")
        for i in range(departments)
    ]
    result += [
        (f"seksjon-{i:04d}", f"avdeling-{i % departments:04d}", "section") for i in range(sections)
    ]
    return result


def opening(n: int) -> datetime:
    """When check-in number `n` opens (aware UTC)."""
    day = FIRST_MONDAY + timedelta(weeks=n)
    local = datetime(day.year, day.month, day.day, *OPENS_AT, tzinfo=ZoneInfo(ZONE))
    return local.astimezone(UTC)


def week_key(periods: int) -> str:
    """The ISO week of the last check-in (the digest's period)."""
    iso = (FIRST_MONDAY + timedelta(weeks=periods - 1)).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


async def insert_rows(conn: AsyncConnection, model: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert `rows` in chunks of CHUNK (SQLAlchemy core, executemany)."""
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(model), rows[start : start + CHUNK])


async def copy_rows(conn: AsyncConnection, model: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk-load `rows` with COPY (asyncpg), in this connection's transaction.

    For the three big tables: several times faster than INSERT. JSON values go as their text.
    """
    if not rows:
        return
    columns = list(rows[0])
    records = [
        tuple(json.dumps(v) if isinstance(v, list) else v for v in row.values()) for row in rows
    ]
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_records_to_table(model.__tablename__, records=records, columns=columns)


async def generate(url: str, size: Size, log: Any) -> Built:
    """Fill the migrated database at `url` with the organisation and a year of check-ins."""
    started = time.monotonic()
    rng = random.Random(size.seed)
    rows: Counter[str] = Counter()
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            units = tree(size.units)
            children = {parent for _, parent, _ in units if parent}
            leaves = [uid for uid, _, _ in units if uid not in children]
            await insert_rows(
                conn,
                m.Unit,
                [
                    {
                        "id": uid,
                        "parent_id": parent,
                        "name_nb": f"{kind.title()} {uid}",
                        "kind": kind,
                    }
                    for uid, parent, kind in units
                ],
            )
            rows["units"] = len(units)

            # People: staff 1..S spread at random over the leaves; leader S+1+i leads unit i.
            staff_of: dict[str, list[int]] = defaultdict(list)
            for person in range(1, size.staff + 1):
                staff_of[leaves[rng.randrange(len(leaves))]].append(person)
            leader_of = {uid: size.staff + 1 + i for i, (uid, _, _) in enumerate(units)}
            people = size.staff + len(units)
            await insert_rows(
                conn,
                m.Person,
                [
                    {
                        "id": p,
                        "email": f"p{p}@bench.invalid",
                        "name": f"Person {p}",
                        "locale": "nb",
                    }
                    for p in range(1, people + 1)
                ],
            )
            memberships = [
                {"person_id": p, "unit_id": uid, "role": Role.STAFF.value}
                for uid, persons in staff_of.items()
                for p in persons
            ]
            memberships += [
                {"person_id": p, "unit_id": uid, "role": Role.LEADER.value}
                for uid, p in leader_of.items()
            ]
            await insert_rows(conn, m.Membership, memberships)
            rows["people"], rows["memberships"] = people, len(memberships)

            # Measures: owned by the trust or 1-2 random units, a status, some with a deadline.
            await insert_rows(
                conn,
                m.ImprovementArea,
                [{"id": f"omrade-{a}", "title_nb": f"Område {a}"} for a in range(10)],
            )
            statuses, weights = zip(*STATUSES, strict=True)
            unit_ids = [uid for uid, _, _ in units]
            plans, measure_rows, owner_rows, changes, checkins = [], [], [], [], []
            last = FIRST_MONDAY + timedelta(weeks=size.periods)
            for i in range(size.measures):
                slug = f"tiltak-{i:03d}"
                status = rng.choices(statuses, weights)[0]
                owners = (
                    [unit_ids[0]]
                    if i % TRUST_WIDE == 0
                    else rng.sample(unit_ids, rng.choice((1, 2)))
                )
                deadline = (
                    FIRST_MONDAY + timedelta(days=rng.randrange(7 * size.periods + 90))
                    if rng.random() < 0.5
                    else None
                )
                measure_rows.append(
                    {
                        "id": slug,
                        "area_id": f"omrade-{i % 10}",
                        "title_nb": f"Tiltak {i}: bedre rutiner",
                        "title_nn": f"Tiltak {i}: betre rutinar",
                        "title_en": f"Measure {i}: better routines",
                        "owner": f"Leder {owners[0]}",
                        "deadline": deadline,
                        "status": status.value,
                    }
                )
                owner_rows += [{"measure_id": slug, "unit_id": uid} for uid in owners]
                plans.append(MeasurePlan(slug, frozenset(owners), status))
                for n in range(rng.randint(1, 3)):
                    day = FIRST_MONDAY + timedelta(days=rng.randrange((last - FIRST_MONDAY).days))
                    changes.append(
                        {
                            "measure_id": slug,
                            "status": status.value if n == 0 else rng.choice(statuses).value,
                            "author_id": leader_of[owners[0]],
                            "changed_at": datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                        }
                    )
                if rng.random() < 0.3:
                    asked = opening(rng.randrange(max(1, size.periods - 8), size.periods))
                    answered = rng.random() < 0.5
                    checkins.append(
                        {
                            "measure_id": slug,
                            "person_id": leader_of[owners[0]],
                            "reason": rng.choice(("monthly", "deadline", "planned_start")),
                            "period": asked.date().isoformat(),
                            "asked_at": asked,
                            "answered_at": asked + timedelta(days=2) if answered else None,
                            "answer": "confirmed" if answered else None,
                        }
                    )
            await insert_rows(conn, m.Measure, measure_rows)
            await insert_rows(conn, m.MeasureUnit, owner_rows)
            await insert_rows(conn, m.MeasureStatusChange, changes)
            await insert_rows(conn, m.OwnerCheckin, checkins)
            rows["measures"], rows["measure_units"] = len(measure_rows), len(owner_rows)
            rows["measure_status_changes"], rows["owner_checkins"] = len(changes), len(checkins)
            # Each measure gets its own answer profile, so some are unknown and some gaps.
            profile = {p.slug: [rng.random() ** 2 + 0.02 for _ in CODES] for p in plans}

            # One shared questionnaire version; a check-in round per unit (with staff and
            # measures) and week, named checkin:<unit>:<n> as CheckinService names them.
            await insert_rows(
                conn,
                m.QuestionnaireVersion,
                [
                    {
                        "id": 1,
                        "questionnaire_id": "checkin-bench",
                        "content_hash": "0",
                        "source": "",
                    }
                ],
            )
            records = {
                uid: UnitRecord(uid, parent, LocalizedText(nb=uid)) for uid, parent, _ in units
            }
            asked_units = {
                uid: measures_for_unit(uid, records, plans) for uid in leaves if staff_of.get(uid)
            }
            asked_units = {uid: slugs for uid, slugs in asked_units.items() if slugs}
            round_rows, round_units = [], []
            round_id: dict[tuple[str, int], int] = {}
            for n in range(size.periods):
                opens = opening(n)
                for uid in asked_units:
                    rid = len(round_rows) + 1
                    round_id[(uid, n)] = rid
                    round_rows.append(
                        {
                            "id": rid,
                            "kind": "checkin",
                            "name": f"checkin:{uid}:{n}",
                            "questionnaire_version_id": 1,
                            "opens_at": opens,
                            "closes_at": opens + timedelta(days=7),
                            "anonymous": False,
                            "state": "open" if n == size.periods - 1 else "closed",
                            "created_at": opens,
                        }
                    )
                    round_units.append({"round_id": rid, "unit_id": uid})
            await insert_rows(conn, m.Round, round_rows)
            await insert_rows(conn, m.RoundUnit, round_units)
            rows["rounds"], rows["round_units"] = len(round_rows), len(round_units)
            await conn.commit()
            log(f"  organisation, measures, rounds: {time.monotonic() - started:.1f} s")

            # Week by week: participations, responses, answers.
            response_id = 0
            for n in range(size.periods):
                opens = opening(n)
                participations, responses, answers = [], [], []
                for uid, slugs in asked_units.items():
                    rid = round_id[(uid, n)]
                    for person in staff_of[uid]:
                        assigned = rng.sample(slugs, min(DEFAULT_PER_PERSON, len(slugs)))
                        done = rng.random() < ANSWER_RATE
                        at = opens + timedelta(minutes=rng.randrange(7 * 24 * 60 - 60))
                        participations.append(
                            {
                                "round_id": rid,
                                "person_id": person,
                                "unit_id": uid,
                                "status": (
                                    ParticipationStatus.COMPLETED
                                    if done
                                    else ParticipationStatus.INVITED
                                ).value,
                                "assigned": assigned,
                                "invited_on": opens.date(),
                                "completed_on": at.date() if done else None,
                                "reminders_sent": 0,  # COPY applies no Python-side defaults
                            }
                        )
                        if not done:
                            continue
                        response_id += 1
                        responses.append(
                            {
                                "id": response_id,
                                "round_id": rid,
                                "person_id": person,
                                "unit_id": uid,
                                "submitted_at": at,
                            }
                        )
                        answers += [
                            {
                                "round_id": rid,
                                "person_id": person,
                                "unit_id": uid,
                                "response_id": response_id,
                                "item_id": f"tiltak.{slug}",
                                "measure_id": slug,
                                "choice": rng.choices(CODES, profile[slug])[0],
                                "answered_at": at,
                            }
                            for slug in assigned
                        ]
                await copy_rows(conn, m.Participation, participations)
                await copy_rows(conn, m.Response, responses)
                await copy_rows(conn, m.Answer, answers)
                await conn.commit()
                rows["participations"] += len(participations)
                rows["responses"] += len(responses)
                rows["answers"] += len(answers)
                if (n + 1) % 10 == 0 or n == size.periods - 1:
                    log(
                        f"  week {n + 1}/{size.periods}: {rows['answers']:,} answers, "
                        f"{time.monotonic() - started:.0f} s"
                    )
            for table in ("people", "rounds", "responses", "questionnaire_versions"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            await conn.commit()
    finally:
        await engine.dispose()
    vacuum = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with vacuum.connect() as conn:
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await vacuum.dispose()
    return Built(dict(rows), time.monotonic() - started, week_key(size.periods))


# -- measuring (in a child process of its own, so its peak RSS is the digest's) ----------


def rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, key: str, repeat: int, profile: bool) -> Measured:
    """Entry point of the measuring child process."""
    return asyncio.run(_measure(url, key, repeat, profile))


async def _measure(url: str, key: str, repeat: int, profile: bool) -> Measured:
    settings = load_settings(
        database_url=url, secret_key="bench-secret", demo_mode=False, load_examples=False
    )
    store = Store.connect(url)
    try:
        service = DigestService(store, settings)
        period = service.period(key, datetime.now(UTC))
        async with store.transaction() as tx:  # connect (not timed)
            await tx.session.execute(text("SELECT 1"))
        rss_before = rss_mib()
        compute = []
        digests = []
        failure = ""
        for _ in range(repeat):
            digests = []  # let the previous run's digests go before the next
            started = time.perf_counter()
            try:
                digests = await service.for_all_leaders(period)
            except Exception as error:  # the product failed: say so, then work around it
                if failure:
                    raise
                failure = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                stats.participation_counts = _chunked(stats.participation_counts)
                digests = await service.for_all_leaders(period)
            compute.append(time.perf_counter() - started)
        rss_compute = rss_mib()

        render_text(digests[0], LOCALE)  # load the message catalogues (not timed)
        started = time.perf_counter()
        texts = [render_text(digest, LOCALE) for digest in digests]
        render = time.perf_counter() - started
        rss_render = rss_mib()

        # The steps of for_all_leaders, one more time, timed one by one.
        started = time.perf_counter()
        async with store.transaction() as tx:
            facts = await service.facts(tx, period)
            after_facts = time.perf_counter()
            leaders = await leaders_of(tx)
        after_leaders = time.perf_counter()
        built = [service.build(p, sorted(units), facts) for p, units in sorted(leaders.items())]
        after_build = time.perf_counter()

        profile_text = ""
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await service.for_all_leaders(period)
            for digest in built:
                render_text(digest, LOCALE)
            profiler.disable()
            out = io.StringIO()
            table = pstats.Stats(profiler, stream=out).strip_dirs()
            table.sort_stats("tottime").print_stats(15)
            table.sort_stats("cumulative").print_stats(25)
            profile_text = out.getvalue()

        sections = [s for d in digests for s in d.sections]
        return Measured(
            compute=compute,
            facts=after_facts - started,
            leaders_query=after_leaders - after_facts,
            build=after_build - after_leaders,
            render=render,
            leaders=len(digests),
            sections=len(sections),
            figures=sum(len(s.figures) for s in sections),
            too_few=sum(len(s.too_few) for s in sections),
            unanswered=sum(len(s.unanswered) for s in sections),
            window_answers=sum(
                sum(sum(codes.values()) for codes in f.answers.values()) for f in facts.measures
            ),
            text_chars=sum(len(t) for t in texts),
            rss_before=rss_before,
            rss_compute=rss_compute,
            rss_render=rss_render,
            profile=profile_text,
            failure=failure,
        )
    finally:
        await store.close()


def _chunked(original: Any) -> Any:
    """`participation_counts` asking IN_CHUNK rounds at a time (benchmark-side workaround)."""

    async def participation_counts(session: Any, round_ids: Sequence[int]) -> dict:
        counts: dict[int, dict[str, int]] = {}
        for start in range(0, len(round_ids), IN_CHUNK):
            counts.update(await original(session, round_ids[start : start + IN_CHUNK]))
        return counts

    return participation_counts


# -- databases and the run ---------------------------------------------------------------


async def admin_execute(base: str, statement: str) -> None:
    """Run one statement on the server's `postgres` database (autocommit)."""
    engine = create_engine(
        make_url(normalize_url(base)).set(database="postgres").render_as_string(False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def one_size(
    base: str, name: str, size: Size, args: argparse.Namespace, log: Any
) -> tuple[Built, Measured]:
    """Create database `name`, fill it, measure the digests, and drop it (unless --keep)."""
    url = make_url(normalize_url(base)).set(database=name).render_as_string(False)
    await admin_execute(base, f'CREATE DATABASE "{name}"')
    try:
        # Bulk loading only: a crash may lose the last commits, which a benchmark can afford.
        await admin_execute(base, f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        started = time.monotonic()
        await upgrade(url)
        log(f"  migrated in {time.monotonic() - started:.1f} s")
        built = await generate(url, size, log)
        log(f"  generated in {built.seconds:.0f} s; measuring")
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            measured = await loop.run_in_executor(
                pool, measure, url, built.period, args.repeat, args.profile
            )
        return built, measured
    finally:
        if args.keep:
            log(f"  kept database {name}")
        else:
            await admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def machine() -> str:
    """CPU model, cores and RAM of this machine."""
    model = platform.machine()
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (
        f"{model}, {os.cpu_count()} CPUs, {kib / 1024**2:.0f} GiB RAM, "
        f"Python {platform.python_version()}, Linux {platform.release()}"
    )


async def server_version(base: str) -> str:
    """The PostgreSQL server's version."""
    engine = create_engine(
        make_url(normalize_url(base)).set(database="postgres").render_as_string(False)
    )
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SHOW server_version")))
    finally:
        await engine.dispose()


def report(sizes: Sequence[tuple[str, Size]], results: Sequence[tuple[Built, Measured]]) -> None:
    """The table of figures, one column per size."""
    header = f"{'':34}" + "".join(f"{label:>18}" for label, _ in sizes)
    print(header)
    print("-" * len(header))

    def row(label: str, values: Sequence[str]) -> None:
        print(f"{label:34}" + "".join(f"{v:>18}" for v in values))

    row("units", [f"{s.units:,}" for _, s in sizes])
    row("staff", [f"{s.staff:,}" for _, s in sizes])
    row("measures / weekly periods", [f"{s.measures} / {s.periods}" for _, s in sizes])
    for table in ("rounds", "participations", "responses", "answers"):
        row(f"rows: {table}", [f"{b.rows.get(table, 0):,}" for b, _ in results])
    row("rows: all tables", [f"{sum(b.rows.values()):,}" for b, _ in results])
    row("generation (s)", [f"{b.seconds:.0f}" for b, _ in results])
    row("for_all_leaders as shipped", ["failed" if r.failure else "ok" for _, r in results])
    row("leaders (digests)", [f"{r.leaders:,}" for _, r in results])
    row("sections / figures shown", [f"{r.sections:,} / {r.figures:,}" for _, r in results])
    row("answers in the digest window", [f"{r.window_answers:,}" for _, r in results])
    row("for_all_leaders, best (s)", [f"{min(r.compute):.2f}" for _, r in results])
    row(
        "for_all_leaders, every run (s)",
        ["/".join(f"{t:.1f}" for t in r.compute) for _, r in results],
    )
    row("  facts() (s)", [f"{r.facts:.2f}" for _, r in results])
    row("  leaders_of() (s)", [f"{r.leaders_query:.2f}" for _, r in results])
    row("  build() of every leader (s)", [f"{r.build:.2f}" for _, r in results])
    row("render_text of every digest (s)", [f"{r.render:.2f}" for _, r in results])
    row("text rendered (kchars)", [f"{r.text_chars / 1000:,.0f}" for _, r in results])
    row("peak RSS before (MiB)", [f"{r.rss_before:.0f}" for _, r in results])
    row("peak RSS after compute (MiB)", [f"{r.rss_compute:.0f}" for _, r in results])
    row("peak RSS after render (MiB)", [f"{r.rss_render:.0f}" for _, r in results])


async def main(args: argparse.Namespace) -> int:
    """Run the base size and (unless --no-double) the scaled one; compare."""
    if is_sqlite(args.database_url):
        raise SystemExit("--database-url must be a PostgreSQL server: postgresql://user@host:port")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    base = Size(args.units, args.staff, args.measures, args.periods, args.seed)
    sizes = [("1x", base)]
    if not args.no_double:
        scaled = replace(
            base, units=round(base.units * args.scale), staff=round(base.staff * args.scale)
        )
        sizes.append((f"{args.scale:g}x", scaled))
    print("Followup leader digests: for_all_leaders of the last week, then render_text of each")
    print(f"machine:    {machine()}")
    print(
        f"database:   PostgreSQL {await server_version(args.database_url)}, local, fresh per size"
    )
    print(
        f"data:       a tree of depth 4, staff at random in the sections, one leader per unit; "
        f"every {TRUST_WIDE}th measure owned by the trust, the others by 1-2 random units; "
        f"a check-in per unit and week from {FIRST_MONDAY}, each staff member asked up to "
        f"{DEFAULT_PER_PERSON} of the unit's "
        f"measures, {ANSWER_RATE:.0%} answering; seed {args.seed}"
    )
    print(f"period:     {week_key(base.periods)} (the last check-in's week), locale {LOCALE}")
    print(f"timing:     best of {args.repeat} runs of for_all_leaders, in a fresh child process")
    print()
    results = []
    for label, size in sizes:
        log(
            f"{label}: {size.units} units, {size.staff} staff, {size.measures} measures, "
            f"{size.periods} weeks"
        )
        name = f"followup_bench_digest_{os.getpid()}_{label.replace('.', '_')}"
        results.append(await one_size(args.database_url, name, size, args, log))
    report(sizes, results)
    for (label, _), (_, measured) in zip(sizes, results, strict=True):
        if measured.profile:
            print(f"\ncProfile of for_all_leaders + render_text, {label}:\n{measured.profile}")
    failed = [(label, r.failure) for (label, _), (_, r) in zip(sizes, results, strict=True)]
    failed = [(label, failure) for label, failure in failed if failure]
    for label, failure in failed:
        print(
            f"\nFAIL: {label}: DigestService.for_all_leaders raised {failure}\n"
            f"  (its figures above were measured with participation_counts asking "
            f"{IN_CHUNK:,} rounds per query, a workaround inside this benchmark)"
        )
    if len(results) < 2:
        return 1 if failed else 0
    (_, one), (_, two) = results
    target = SLACK * args.scale
    compute = min(two.compute) / min(one.compute)
    render = two.render / one.render
    print()
    print(
        f"ratio for_all_leaders {sizes[1][0]} / 1x: {compute:.2f} (linear: {args.scale:g}, "
        f"target at most {target:.2f})"
    )
    print(f"ratio render_text     {sizes[1][0]} / 1x: {render:.2f}")
    if compute > target:
        print(f"FAIL: for_all_leaders grew {compute:.2f}x for {args.scale:g}x the data")
        return 1
    print("OK: linear within the target")
    return 1 if failed else 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="the PostgreSQL server (the run creates and drops its own databases)",
    )
    parser.add_argument("--units", type=int, default=500, help="units of the base size")
    parser.add_argument("--staff", type=int, default=10_000, help="staff of the base size")
    parser.add_argument("--measures", type=int, default=300, help="measures (both sizes)")
    parser.add_argument("--periods", type=int, default=52, help="weekly check-ins (both sizes)")
    parser.add_argument(
        "--scale", type=float, default=2.0, help="units and staff of the second size, x base"
    )
    parser.add_argument("--no-double", action="store_true", help="only the base size")
    parser.add_argument("--repeat", type=int, default=3, help="runs of for_all_leaders per size")
    parser.add_argument("--seed", type=int, default=1, help="random.Random seed")
    parser.add_argument("--keep", action="store_true", help="do not drop the databases")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each size")
    args = parser.parse_args(argv)
    if args.scale <= 1 or args.repeat < 1 or args.periods < 1 or args.staff < 1:
        parser.error("--scale must be above 1; --repeat, --periods and --staff at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
