"""Test helpers at the service level: seeded services and people by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from bot.app import Services, build_services
from bot.services.seed import load_examples
from tests.webchat import NOW, settings_for


@asynccontextmanager
async def services_on(db_url: str, **overrides: Any) -> AsyncIterator[Services]:
    """A service graph on its own engine (one 'app instance')."""
    services = build_services(settings_for(db_url, **overrides), clock=lambda: NOW)
    try:
        yield services
    finally:
        await services.store.close()


async def seed(services: Services) -> int:
    """Load the examples; returns the id of the (anonymous) example round."""
    return await load_examples(services.store, services.rounds, NOW)


async def open_round(
    services: Services,
    anonymous: bool,
    units: tuple[str, ...] = (),
    now: datetime = NOW,
    name: str | None = None,
) -> int:
    """Open another 7-day round of the example questionnaire (whole organisation by default)."""
    async with services.store.transaction() as tx:
        roots = units or tuple(u.id for u in await tx.org.units() if u.parent_id is None)
    round_id = await services.rounds.create(
        "evaluering-samhandlingsseminar", roots, now, now + timedelta(days=7), anonymous, name
    )
    await services.rounds.open(round_id, now)
    return round_id


async def person_id(services: Services, name: str) -> int:
    """The id of an example person."""
    async with services.store.transaction() as tx:
        return next(p.id for p in await tx.org.people() if p.name == name)


async def link_web(services: Services, external_id: str, name: str) -> int:
    """Connect a web identity to an example person; returns the person id."""
    pid = await person_id(services, name)
    await services.conversation.link("web", external_id, pid, NOW)
    return pid
