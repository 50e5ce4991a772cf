"""What every fuzzed input must leave intact: the database, the logs and the reply's language."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import cache

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dialogs.i18n import catalogue
from dialogs.model import LOCALES

GUARDED = (
    "units",
    "people",
    "memberships",
    "invites",
    "measures",
    "measure_status_changes",
    "measure_units",
    "questionnaire_versions",
    "rounds",
    "round_units",
    "participations",
    "responses",
    "answers",
    "anonymous_responses",
    "anonymous_answers",
    "conversations",
    "dialog_states",
    "outbox",
    "reminder_runs",
    "owner_checkins",
    "accounts",
    "audit_log",
)
"""Tables no refused input may touch (identities, button tokens and transcripts are checked
separately: an unknown sender may leave an address, a reply issues fresh button tokens)."""

Snapshot = dict[str, list[tuple[object, ...]]]


async def snapshot(engine: AsyncEngine, *extra: str) -> Snapshot:
    """Every row of the guarded tables (and `extra` ones), plus which addresses are linked."""
    found: Snapshot = {}
    async with engine.connect() as connection:
        for table in (*GUARDED, *extra):
            rows = await connection.execute(text(f"SELECT * FROM {table}"))
            found[table] = sorted((tuple(row) for row in rows), key=repr)
        links = await connection.execute(
            text(
                "SELECT channel, external_id, person_id FROM identities"
                " WHERE person_id IS NOT NULL"
            )
        )
        found["identities (linked)"] = sorted((tuple(row) for row in links), key=repr)
    return found


def assert_unchanged(before: Snapshot, after: Snapshot, what: object) -> None:
    """The same rows in every table, naming the first table that differs."""
    for table, rows in before.items():
        assert after[table] == rows, f"{what!r} changed table {table}"


class ErrorWatch:
    """Counts ERROR records (unhandled handler exceptions, aiohttp's 'Error handling request')."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO)
        self.caplog = caplog
        self.mark = 0

    def start(self) -> None:
        """Forget what was logged so far."""
        self.mark = len(self.caplog.records)

    def assert_quiet(self, what: object) -> None:
        """Nothing logged at ERROR since `start()`."""
        errors = [
            f"{r.name}: {r.getMessage()} {r.exc_text or ''}"
            for r in self.caplog.records[self.mark :]
            if r.levelno >= logging.ERROR
        ]
        assert not errors, f"{what!r} logged errors: {errors}"


RAW_KEY = re.compile(r"[a-z_]+(\.[a-z0-9_]+)+")
LEAKS = re.compile(r"Traceback \(most recent|object at 0x|\b\w+(Error|Exception)\(|<bot\.")
MIN_LITERAL = 10
"""Template lines with less fixed text than this say too little to tell languages apart."""


@cache
def _templates() -> list[tuple[str, str, re.Pattern[str]]]:
    """(locale, literal prefix, pattern) for every line of every catalogue text."""
    found: list[tuple[str, str, re.Pattern[str]]] = []
    for locale in LOCALES:
        for value in catalogue(locale).values():
            for line in value.splitlines():
                parts = re.split(r"\{[^{}]*\}", line.strip())
                if sum(len(p) for p in parts) < MIN_LITERAL:
                    continue
                pattern = re.compile(".*?".join(re.escape(p) for p in parts), re.DOTALL)
                found.append((locale, parts[0], pattern))
    return found


def languages_of(line: str) -> set[str]:
    """The locales whose catalogue has a text this line reads as."""
    return {
        locale
        for locale, prefix, pattern in _templates()
        if line.startswith(prefix) and pattern.fullmatch(line)
    }


def assert_localised(texts: Iterable[str], locale: str, what: object) -> None:
    """No message key, no Python internals, and no line that is another language's text."""
    for said in texts:
        assert not RAW_KEY.fullmatch(said.strip()), f"{what!r}: raw key {said!r}"
        assert not LEAKS.search(said), f"{what!r}: internals shown {said!r}"
        for line in said.splitlines():
            line = line.strip()
            if RAW_KEY.fullmatch(line) and line in catalogue("en"):
                raise AssertionError(f"{what!r}: raw key {line!r} in {said!r}")
            matched = languages_of(line)
            assert not matched or locale in matched, (
                f"{what!r}: {line!r} is {sorted(matched)} text, the person reads {locale}"
            )
