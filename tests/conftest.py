"""Test fixtures: a freshly migrated database per test, on SQLite or PostgreSQL.

The backend comes from FOLLOWUP_TEST_DATABASE_URL: unset means SQLite files in a temporary
folder; a PostgreSQL URL names a database this run may own, migrated once and used as the
template each test database is created from.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.database import create_engine, is_sqlite, normalize_url
from storage.migrate import upgrade

TEST_DB_ENV = "FOLLOWUP_TEST_DATABASE_URL"


def backend() -> str:
    """'postgresql' when the run targets PostgreSQL, else 'sqlite'."""
    url = os.environ.get(TEST_DB_ENV, "")
    return "postgresql" if url.startswith("postgres") else "sqlite"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def pytest_report_header() -> str:
    return f"followup database backend: {backend()}"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to copy per test (a file on SQLite, a template on PostgreSQL)."""
    url = os.environ.get(TEST_DB_ENV)
    if not url or is_sqlite(url):
        path = tmp_path_factory.mktemp("template") / "template.db"
        asyncio.run(upgrade(f"sqlite:///{path}"))
        yield f"sqlite:///{path}"
        return
    asyncio.run(upgrade(url))
    yield url


@pytest.fixture
def db_url(template_db: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if is_sqlite(template_db):
        source = Path(template_db.removeprefix("sqlite:///"))
        target = tmp_path / "test.db"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        collect_leftovers()
        return
    name = f"{template_db.rsplit('/', 1)[1]}_{uuid.uuid4().hex[:10]}"
    asyncio.run(
        _pg_admin(template_db, f'CREATE DATABASE "{name}" TEMPLATE "{_db_name(template_db)}"')
    )
    yield template_db.rsplit("/", 1)[0] + "/" + name
    collect_leftovers()
    asyncio.run(_pg_admin(template_db, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def collect_leftovers() -> None:
    """Finalise what a test left behind (say a connection of a cancelled task) now, between
    tests: collected later, inside another test's database call, SQLAlchemy's clean-up of an
    async connection would await on that test's behalf and can break its call."""
    gc.collect()


def _db_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


async def _pg_admin(url: str, statement: str) -> None:
    engine = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[object]:
    """An async engine on the test database, disposed after the test."""
    created = create_engine(db_url)
    yield created
    await created.dispose()


__all__ = ["backend", "normalize_url"]
