"""Anonymous rounds: nothing stored joins a person to an answer, whatever the submit order.

tests/bot/test_anonymous.py reads the anonymous tables' column names and foreign keys from the
database, and checks one fixed submit order. This adds: the ORM metadata (column types, keys,
defaults, and foreign keys from any other table into the anonymous ones); and, with hypothesis
over random submit orders of eight people answering through the web chat of the running app,
that every row written anywhere holds an answer only in the anonymous tables (web transcript,
outbox, audit log, dialog states, logs included), that no stored order follows the submit order,
that participations carry a date and no time, and on PostgreSQL that no row tied to a person
shares its transaction id (xmin) with an anonymous response alone.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Date, DateTime, Integer, String, Time, select, text

from bot.app import SERVICES, Services
from storage import models as m
from tests.conftest import backend
from tests.webchat import NOW, ChatUser, running_app

ANONYMOUS = ("anonymous_responses", "anonymous_answers")
ROUND_INDEX = "the responses of the round alone"
MAY_REFERENCE = {"rounds", "units", "measures", "anonymous_responses"}
PEOPLE = (
    "Kari Nordmann",
    "Ola Hansen",
    "Ingrid Berg",
    "Ahmed Ali",
    "Sofie Lie",
    "Per Dahl",
    "Nina Solberg",
    "Jonas Bakke",
)
FREE_TEXT = """
id: fritekst
title: Fritekst
items:
  - id: tekst
    kind: text
    text: Skriv noe (ikke personnavn)
"""


# --- schema ----------------------------------------------------------------------------------


def test_anonymous_tables_have_random_keys_no_times_and_no_way_in() -> None:
    tables = m.Base.metadata.tables
    for name in ANONYMOUS:
        table = tables[name]
        (key,) = table.primary_key.columns
        assert isinstance(key.type, String) and not isinstance(key.type, Integer), name
        assert key.default is not None and key.default.arg.__wrapped__ is m.random_key, name
        for column in table.columns:
            kind = column.type.python_type if not hasattr(column.type, "impl") else None
            impl = getattr(column.type, "impl", column.type)
            assert not isinstance(impl, DateTime | Date | Time), (name, column.name)
            assert kind not in (datetime, date, time), (name, column.name)
            assert column.server_default is None, (name, column.name)
        for foreign_key in table.foreign_keys:
            assert foreign_key.column.table.name in MAY_REFERENCE, (name, foreign_key)
    # A reference *into* the anonymous tables from anywhere else would be a link too.
    for table in tables.values():
        if table.name in ANONYMOUS:
            continue
        for foreign_key in table.foreign_keys:
            assert foreign_key.column.table.name not in ANONYMOUS, (table.name, foreign_key)
    keys = [m.random_key() for _ in range(2000)]
    assert len(set(keys)) == len(keys) and all(len(k) == 32 for k in keys)
    assert keys != sorted(keys)


# --- data ------------------------------------------------------------------------------------


class Everything(logging.Handler):
    """Every log record from INFO up (a production level; the database driver's DEBUG lines echo
    every statement), formatted: an answer must not turn up in a log line either."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def all_rows(services: Services) -> dict[str, list[str]]:
    """Every row of every table, as text."""
    found: dict[str, list[str]] = {}
    async with services.store.transaction() as tx:
        for table in m.Base.metadata.sorted_tables:
            rows = await tx.session.execute(select(table))
            found[table.name] = [repr(tuple(row)) for row in rows]
    return found


async def stored_orders(services: Services, round_id: int) -> dict[str, list[str]]:
    """The answers of the round in every order the storage could give them back."""
    join = (
        "FROM anonymous_answers a JOIN anonymous_responses r ON a.response_key = r.key "
        "WHERE r.round_id = :r"
    )
    queries = {
        "no order": f"SELECT a.text {join}",
        "response key": f"SELECT a.text {join} ORDER BY r.key",
        "answer key": f"SELECT a.text {join} ORDER BY a.key",
        ROUND_INDEX: "SELECT (SELECT a.text FROM anonymous_answers a "
        "WHERE a.response_key = r.key) FROM anonymous_responses r WHERE r.round_id = :r",
    }
    if backend() == "postgresql":
        queries["response ctid"] = f"SELECT a.text {join} ORDER BY r.ctid"
        queries["answer ctid"] = f"SELECT a.text {join} ORDER BY a.ctid"
    async with services.store.transaction() as tx:
        return {
            name: list((await tx.session.execute(text(sql), {"r": round_id})).scalars())
            for name, sql in queries.items()
        }


async def shared_xmin(services: Services, round_id: int) -> list[tuple[str, int]]:
    """Rows tied to a person or identity that share an anonymous response's xmin and so
    single someone out.

    Rows of a table tied to a person are left out when the people they belong to are exactly
    everyone who completed the round (the submit rewrites all of theirs): that names nobody.
    """
    person_tables = {
        t.name: "person_id" in t.columns
        for t in m.Base.metadata.sorted_tables
        if t.name not in ANONYMOUS and ({"person_id", "identity_id"} & set(t.columns.keys()))
    }
    found = []
    async with services.store.transaction() as tx:
        xmins = set(
            (
                await tx.session.execute(
                    text("SELECT xmin::text FROM anonymous_responses WHERE round_id = :r"),
                    {"r": round_id},
                )
            ).scalars()
        )
        completers = set(
            (
                await tx.session.execute(
                    text(
                        "SELECT person_id FROM participations WHERE round_id = :r "
                        "AND status = 'completed'"
                    ),
                    {"r": round_id},
                )
            ).scalars()
        )
        for name, has_person in person_tables.items():
            column = "person_id" if has_person else "NULL"
            rows = await tx.session.execute(text(f"SELECT xmin::text, {column} FROM {name}"))
            sharing: dict[str, set[object]] = {}
            for xmin, person in rows:
                if xmin in xmins:
                    sharing.setdefault(xmin, set()).add(person)
            for xmin, people in sharing.items():
                if not (has_person and people == completers and len(completers) > 1):
                    found.append((name, int(xmin)))
    return found


async def submit_in(
    services: Services, users: list[ChatUser], order: list[int], tokens: list[str]
) -> int:
    """A new anonymous round for everyone; each person answers with their token, in `order`."""
    async with services.store.transaction() as tx:
        roots = tuple(u.id for u in await tx.org.units() if u.parent_id is None)
    round_id = await services.rounds.create(
        "fritekst", roots, NOW, NOW + timedelta(days=7), anonymous=True
    )
    await services.rounds.open(round_id, NOW)
    for person in order:
        user = users[person]
        asked = await user.send(type="begin", round_id=round_id)
        # (The outbox may deliver the new round's invitation in between: look at every line.)
        assert any(message.get("item_id") == "tekst" for message in asked), asked
        summary = await user.say(tokens[person])
        assert any(message["type"] == "summary" for message in summary), summary
        thanks = await user.action("submit")
        assert any(message.get("key") == "engine.submitted" for message in thanks), thanks
    return round_id


async def everyone_but_the_last_says_help(users: list[ChatUser], order: list[int]) -> None:
    for person in order[:-1]:
        assert await users[person].say("/help")


def check_unlinkable(
    rows: dict[str, list[str]],
    logs: list[str],
    orders: dict[str, list[str]],
    order: list[int],
    tokens: list[str],
) -> None:
    submitted = [tokens[person] for person in order]
    for table, lines in rows.items():
        for line in lines:
            leaked = [token for token in tokens if token in line]
            if table == "anonymous_answers":
                assert len(leaked) <= 1, line
            else:
                assert not leaked, f"an answer in {table}: {line}"
    stored = [t for line in rows["anonymous_answers"] for t in tokens if t in line]
    assert sorted(stored) == sorted(submitted), "every answer stored once"
    for line in logs:
        assert not any(token in line for token in tokens), f"an answer in the log: {line}"
    for name, sequence in orders.items():
        assert sorted(sequence) == sorted(submitted), name
    follow = [name for name, sequence in orders.items() if sequence == submitted]
    assert not follow, f"these orders give the submit order: {follow}"


def test_no_stored_row_links_a_person_to_an_anonymous_answer(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "fritekst.yaml"
    path.write_text(FREE_TEXT, encoding="utf-8")
    loop = asyncio.new_event_loop()
    handler = Everything()
    logging.getLogger().addHandler(handler)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    started: list[Any] = []

    async def start() -> tuple[Services, list[ChatUser]]:
        app = running_app(db_url, seed=True)
        server = await app.__aenter__()
        started.append(app)
        services = server.app[SERVICES]
        await services.rounds.load_questionnaire(path)
        users = []
        for name in PEOPLE:
            browser = ChatUser.on(server)
            user = await browser.__aenter__()
            started.append(browser)
            await user.be(name)
            users.append(user)
        return services, users

    try:
        services, users = loop.run_until_complete(start())

        @settings(
            max_examples=8,
            deadline=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a shrink replays the app
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(st.permutations(range(len(PEOPLE))))
        def submit_order(order: list[int]) -> None:
            tokens = [f"svar-{secrets.token_hex(6)}" for _ in PEOPLE]
            handler.lines.clear()
            round_id = loop.run_until_complete(submit_in(services, users, order, tokens))
            rows = loop.run_until_complete(all_rows(services))
            orders = loop.run_until_complete(stored_orders(services, round_id))
            check_unlinkable(rows, handler.lines, orders, order, tokens)
            participations = loop.run_until_complete(participation_rows(services, round_id))
            assert {day for day, _ in participations if day is not None} == {NOW.date()}
            assert all(reminded is None for _, reminded in participations)
            if backend() == "postgresql":
                shared = loop.run_until_complete(shared_xmin(services, round_id))
                assert not shared, f"rows sharing a response's xmin: {shared}"
                # The others write on afterwards; the last submitter's rows must not stand out.
                loop.run_until_complete(everyone_but_the_last_says_help(users, order))
                shared = loop.run_until_complete(shared_xmin(services, round_id))
                assert not shared, f"rows sharing a response's xmin, later: {shared}"

        submit_order()
    finally:
        for context in reversed(started):
            loop.run_until_complete(context.__aexit__(None, None, None))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)


async def participation_rows(
    services: Services, round_id: int
) -> list[tuple[date | None, datetime | None]]:
    """(completed_on, last_reminded_at) of each participation: a date, and no time of submit."""
    async with services.store.transaction() as tx:
        rows = await tx.session.execute(
            select(m.Participation.completed_on, m.Participation.last_reminded_at).where(
                m.Participation.round_id == round_id
            )
        )
        return [(day, reminded) for day, reminded in rows]
