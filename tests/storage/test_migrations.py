from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from storage.database import normalize_url, session_factory
from storage.migrate import schema_diff
from storage.models import Person


async def test_migrations_match_models(db_url):
    assert await schema_diff(db_url) == []


async def test_datetimes_come_back_aware_utc(engine):
    oslo_summer = timezone(timedelta(hours=2))
    async with session_factory(engine)() as session, session.begin():
        session.add(
            Person(
                email="kari@example.no", created_at=datetime(2026, 6, 1, 12, tzinfo=oslo_summer)
            )
        )
    async with session_factory(engine)() as session:
        person = (await session.execute(select(Person))).scalar_one()
    assert person.created_at == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert person.created_at.tzinfo is not None


def test_urls_are_normalised_to_async_drivers():
    assert normalize_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert normalize_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"
