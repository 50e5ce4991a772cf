"""The `followup` command run in-process, checked by what it prints and what it stores.

Also home of two helpers other tests use: `followup` (run the CLI against a test database) and
`answer_as` (a demo person answers a round through the conversation service).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.sql import Select
from typer.testing import CliRunner, Result

from bot.app import Services, build_services
from bot.cli import app
from bot.services.messages import BeginRound, RedeemCode
from dialogs import engine
from storage import models as m
from storage.database import create_engine, session_factory
from storage.models import utcnow
from tests.webchat import settings_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
QUESTIONNAIRE = EXAMPLES / "questionnaires" / "evaluering.yaml"
QUESTIONNAIRE_ID = "evaluering-samhandlingsseminar"
FIXTURES = ROOT / "tests" / "fixtures" / "cli"

Plan = Mapping[str, str | Sequence[str]]
"""What one person answers: item id (or comment key) -> option id, option ids, or typed text."""


# --- helpers ---------------------------------------------------------------------------------


def followup(db_url: str, *args: object, k: int = 5, ok: bool = True) -> Result:
    """Run `followup ARGS` on the test database; by default the command must succeed."""
    env = {"DATABASE_URL": db_url, "FOLLOWUP_MIN_GROUP_SIZE": str(k), "FOLLOWUP_TIMEZONE": None}
    result = CliRunner().invoke(app, [str(arg) for arg in args], env=env)
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def fails(db_url: str, *args: object) -> Result:
    """Run a command that must fail the way a user sees it: exit code 1 and a message."""
    result = followup(db_url, *args, ok=False)
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stderr.strip(), "a failing command must say why"
    return result


def query(db_url: str, statement: Select[Any]) -> list[Any]:
    """Rows of one SELECT on the test database (single-column selects give plain values)."""

    async def run() -> list[Any]:
        engine = create_engine(db_url)
        try:
            async with session_factory(engine)() as session:
                rows = (await session.execute(statement)).all()
        finally:
            await engine.dispose()
        return [row[0] if len(row) == 1 else tuple(row) for row in rows]

    return asyncio.run(run())


def count(db_url: str, model: type[m.Base]) -> int:
    """How many rows a table has."""
    return int(query(db_url, select(func.count()).select_from(model))[0])


def set_up_examples(db_url: str, k: int = 5) -> None:
    """Import the example organisation, roster and measures, and load the questionnaire."""
    followup(db_url, "org", "import", EXAMPLES / "org.yaml", k=k)
    followup(db_url, "people", "import", EXAMPLES / "people.csv", k=k)
    followup(db_url, "measures", "import", EXAMPLES / "measures.yaml", k=k)
    followup(db_url, "questionnaire", "load", QUESTIONNAIRE, k=k)


def create_round(db_url: str, *options: object, k: int = 5) -> int:
    """`round create` for the example questionnaire; returns the printed round id."""
    printed = followup(db_url, "round", "create", "--questionnaire", QUESTIONNAIRE_ID, *options, k=k)
    assert re.fullmatch(r"\d+\n", printed.stdout), printed.stdout
    return int(printed.stdout)


def example_audience(*roots: str) -> set[str]:
    """E-mails of the example people with a membership in the roots' subtrees (from the files)."""
    children: dict[str | None, list[dict[str, Any]]] = {}

    def index(nodes: list[dict[str, Any]], parent: str | None) -> None:
        for node in nodes:
            children.setdefault(parent, []).append(node)
            index(node.get("children") or [], node["id"])

    index(yaml.safe_load((EXAMPLES / "org.yaml").read_text(encoding="utf-8"))["units"], None)
    units, pending = set(), list(roots)
    while pending:
        unit = pending.pop()
        units.add(unit)
        pending += [child["id"] for child in children.get(unit, [])]
    with (EXAMPLES / "people.csv").open(encoding="utf-8") as handle:
        return {row["email"] for row in csv.DictReader(handle) if row["unit"] in units}


def person_id(db_url: str, name: str) -> int:
    """The id of an example person."""
    return int(query(db_url, select(m.Person.id).where(m.Person.name == name))[0])


async def answer_as(
    services: Services, person: int, round_id: int, plan: Plan, now: datetime
) -> None:
    """`person` opens the round in the chat, answers exactly what `plan` says, and submits.

    Optional questions the plan leaves out are skipped; a required question it leaves out, or a
    planned answer never asked for, fails the test, so the plan is exactly what was stored.
    """
    chat = services.conversation
    address = f"test-{person}"
    await chat.link("web", address, person, now)
    reply = await chat.handle("web", address, BeginRound(round_id), now)
    asked: set[str] = set()
    while True:
        last = reply.messages[-1]
        if isinstance(last, engine.Summary):
            break
        assert isinstance(last, engine.Ask), f"expected a question, the bot said {last}"
        asked.add(last.item_id)
        for event in _events_for(last, plan):
            reply = await chat.handle("web", address, event, now)
    reply = await chat.handle("web", address, engine.Submit(), now)
    assert any(getattr(said, "key", "") == "submitted" for said in reply.messages), reply
    assert set(plan) <= asked, f"never asked: {set(plan) - asked}"


def _events_for(ask: engine.Ask, plan: Plan) -> list[engine.Event]:
    wanted = plan.get(ask.item_id)
    if wanted is None:
        assert any(a.kind is engine.ActionKind.SKIP for a in ask.actions), (
            f"the plan has no answer to the required question {ask.item_id}"
        )
        return [engine.Skip(ask.item_id)]
    if ask.input is engine.InputMode.TOGGLES:
        assert not isinstance(wanted, str)
        return [*(engine.Toggle(ask.item_id, pick) for pick in wanted), engine.Done(ask.item_id)]
    assert isinstance(wanted, str)
    if ask.input is engine.InputMode.BUTTONS:
        return [engine.Choose(ask.item_id, wanted)]
    return [engine.Text(wanted)]


def answer_in_chat(db_url: str, round_id: int, plans: Mapping[str, Plan]) -> None:
    """Each named example person answers the round with their plan."""

    async def run() -> None:
        services = build_services(settings_for(db_url))
        try:
            for name, plan in plans.items():
                await answer_as(services, person_id(db_url_sync := db_url, name), round_id, plan,
                                utcnow())
        finally:
            await services.store.close()

    asyncio.run(run())
