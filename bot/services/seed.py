"""Loads the shipped examples into an empty database (the zero-configuration demo)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from bot.services.imports import ImportService
from bot.services.rounds import RoundService
from storage.store import Store

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
DEMO_ROUND_DAYS = 30


async def database_is_empty(store: Store) -> bool:
    """No units yet: a fresh installation."""
    async with store.transaction() as tx:
        return await tx.org.count_units() == 0


async def load_examples(
    store: Store, rounds: RoundService, now: datetime, folder: Path = EXAMPLES_DIR
) -> int:
    """Import the example organisation, roster, measures and questionnaire; open one round."""
    imports = ImportService(store)
    await imports.import_org(folder / "org.yaml")
    await imports.import_people(folder / "people.csv")
    await imports.import_measures(folder / "measures.yaml")
    questionnaire_id, _version = await rounds.load_questionnaire(
        folder / "questionnaires" / "evaluering.yaml"
    )
    async with store.transaction() as tx:
        roots = [u.id for u in await tx.org.units() if u.parent_id is None]
    round_id = await rounds.create(
        questionnaire_id, roots, now, now + timedelta(days=DEMO_ROUND_DAYS), anonymous=True
    )
    await rounds.open(round_id, now)
    return round_id
