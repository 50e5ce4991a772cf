"""Anonymous rounds: who answered is kept apart from what was answered, with no link."""

from datetime import timedelta

import pytest
from sqlalchemy import inspect, text

from bot.services.messages import BeginRound
from dialogs import engine
from storage.database import create_engine
from tests.conftest import backend
from tests.services import link_web, seed, services_on
from tests.webchat import NOW

ONE_NUMBER = """
id: tall
title: Ett tall
items:
  - id: tall
    kind: number
    text: Skriv et tall
    min: 1
    max: 100
"""
ANONYMOUS_TABLES = ("anonymous_responses", "anonymous_answers")
FORBIDDEN = (
    "person",
    "identity",
    "participation",
    "conversation",
    "created",
    "submitted",
    "answered",
    "_at",
    "time",
    "date",
)


async def test_anonymous_tables_hold_no_link_to_people(db_url):
    engine_ = create_engine(db_url)
    async with engine_.connect() as connection:

        def describe(sync):
            inspector = inspect(sync)
            return {
                table: (
                    [c["name"] for c in inspector.get_columns(table)],
                    [fk["referred_table"] for fk in inspector.get_foreign_keys(table)],
                )
                for table in ANONYMOUS_TABLES
            }

        tables = await connection.run_sync(describe)
    await engine_.dispose()
    assert tables["anonymous_responses"][0] == ["key", "round_id", "unit_id"]
    for table, (columns, references) in tables.items():
        for column in columns:
            assert not any(word in column for word in FORBIDDEN), (table, column)
        assert set(references) <= {"rounds", "units", "anonymous_responses", "measures"}, table


async def test_submit_order_cannot_be_read_back(db_url, tmp_path):
    path = tmp_path / "tall.yaml"
    path.write_text(ONE_NUMBER, encoding="utf-8")
    async with services_on(db_url) as services:
        await seed(services)
        await services.rounds.load_questionnaire(path)
        round_id = await services.rounds.create(
            "tall",
            ["fjordsida-sykehus", "elvevik-kommune"],
            NOW,
            NOW + timedelta(days=1),
            anonymous=True,
        )
        await services.rounds.open(round_id, NOW)
        async with services.store.transaction() as tx:
            names = [p.name for p in await tx.org.people()][:10]
        for position, name in enumerate(names, start=1):  # the known submit order: 1, 2, ... 10
            browser = f"browser-{position}"
            await link_web(services, browser, name)
            handle = services.conversation.handle
            await handle("web", browser, BeginRound(round_id), NOW)
            await handle("web", browser, engine.Text(str(position)), NOW)
            reply = await handle("web", browser, engine.Submit(), NOW)
            assert any(isinstance(m, engine.Say) for m in reply.messages)

        orders = {
            "key": "SELECT a.number FROM anonymous_answers a JOIN anonymous_responses r "
            "ON a.response_key = r.key WHERE r.round_id = :r ORDER BY r.key",
            "answer key": "SELECT a.number FROM anonymous_answers a JOIN anonymous_responses r "
            "ON a.response_key = r.key WHERE r.round_id = :r ORDER BY a.key",
        }
        if backend() == "postgresql":
            orders["physical order (ctid)"] = (
                "SELECT a.number FROM anonymous_answers a JOIN anonymous_responses r "
                "ON a.response_key = r.key WHERE r.round_id = :r ORDER BY r.ctid"
            )
        async with services.store.transaction() as tx:
            submitted = sorted(
                int(n)
                for n in (await tx.session.execute(text(orders["key"]), {"r": round_id})).scalars()
            )
            assert submitted == list(range(1, 11))  # every answer is there...
            for name, query in orders.items():
                sequence = [
                    int(n)
                    for n in (await tx.session.execute(text(query), {"r": round_id})).scalars()
                ]
                assert sequence != list(range(1, 11)), f"ordering by {name} gives submit order"
            participation = await tx.rounds.participations(round_id)
            if backend() == "postgresql":
                # No response shares its transaction id with exactly one person's completion.
                links = (
                    await tx.session.execute(
                        text(
                            "SELECT r.key, count(p.id) FROM anonymous_responses r "
                            "LEFT JOIN participations p "
                            "ON p.xmin = r.xmin AND p.round_id = r.round_id "
                            "WHERE r.round_id = :r GROUP BY r.key"
                        ),
                        {"r": round_id},
                    )
                ).all()
                assert all(n in (0, 10) for _key, n in links), links
        assert sum(p.status == "completed" for p in participation) == 10


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's hidden rowid")
async def test_sqlite_anonymous_tables_have_no_rowid(db_url):
    engine_ = create_engine(db_url)
    async with engine_.connect() as connection:
        with pytest.raises(Exception, match="rowid"):
            await connection.execute(text("SELECT rowid FROM anonymous_responses"))
    await engine_.dispose()
