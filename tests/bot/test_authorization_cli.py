"""The authorization matrix of the command line: `--as EMAIL` runs with that person's rights."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from typer.testing import Result

from dialogs import policy
from storage.models import utcnow
from tests.bot.test_authorization import (
    B_WORDS,
    BY_KEY,
    PERSONAS,
    UNITS,
    UNSEEN,
    Persona,
    World,
    build_world,
    expected,
    snapshot,
)
from tests.bot.test_cli import followup
from tests.services import services_on

STRANGER = "nobody@test.example"
"""The unknown person: not on the roster."""
REFUSALS = ("error: not allowed", "error: you may not remind anyone in this round")


@dataclass(frozen=True)
class CliRow:
    """A CLI command on behalf of a person, and the policy question it asks."""

    name: str
    args: Callable[[World], list[str]]
    action: policy.Action
    unit: str


def _leader(key: str) -> Callable[[World], list[str]]:
    return lambda _w: ["digest", "--leader", BY_KEY[key].email]


CLI_ROWS = (
    CliRow("digest_of_a", _leader("leader_a"), policy.Action.VIEW_DIGEST, "A"),
    CliRow("digest_of_b", _leader("leader_b"), policy.Action.VIEW_DIGEST, "B"),
    CliRow(
        "results_a", lambda w: ["results", str(w.rounds["A"])], policy.Action.VIEW_RESULTS, "A"
    ),
    CliRow(
        "export_b",
        lambda w: ["results", str(w.rounds["B"]), "--format", "csv"],
        policy.Action.EXPORT_RESULTS,
        "B",
    ),
    CliRow(
        "remind_report_b",
        lambda w: ["remind", str(w.rounds["B"]), "--report"],
        policy.Action.SEND_REMINDERS,
        "B",
    ),
    CliRow(
        "remind_dry_run_b",
        lambda w: ["remind", str(w.rounds["B"]), "--dry-run"],
        policy.Action.SEND_REMINDERS,
        "B",
    ),
    CliRow(
        "remind_a", lambda w: ["remind", str(w.rounds["A"])], policy.Action.SEND_REMINDERS, "A"
    ),
)

EXPLICIT_CLI: Mapping[tuple[str, str], bool] = {
    **{("unknown", row.name): False for row in CLI_ROWS},
    **{("staff_a", row.name): False for row in CLI_ROWS},
    **{("admin", row.name): True for row in CLI_ROWS},
    ("leader_b", "digest_of_a"): False,
    ("leader_a", "digest_of_b"): False,
    ("leader_b", "results_a"): False,
    ("coord_a", "export_b"): False,
    ("coord_a", "remind_dry_run_b"): False,
    ("coord_a", "remind_report_b"): False,
    ("leader_b", "remind_report_b"): False,
    ("coord_a", "remind_a"): True,
    ("union_a", "remind_a"): False,
    ("union_a", "results_a"): True,
}
"""Hand-written expectations for the unknown and cross-unit cases."""


def cli_expected(persona: Persona, row: CliRow) -> bool:
    """What the policy says."""
    return expected(persona, row.action, UNITS[row.unit])


def test_the_explicit_cli_table_agrees_with_the_policy() -> None:
    rows = {row.name: row for row in CLI_ROWS}
    disagree = [
        key
        for key, want in EXPLICIT_CLI.items()
        if cli_expected(BY_KEY[key[0]], rows[key[1]]) != want
    ]
    assert disagree == []


async def test_cli_commands_follow_the_policy(db_url: str, tmp_path: Path) -> None:
    async with services_on(db_url) as services:
        # The CLI reads the real clock: rounds opened an hour ago are open now.
        world = await build_world(services, tmp_path, utcnow() - timedelta(hours=1))
        # Without --as the operator sees a leader's digest: that leader's units only.
        operator = await _followup(db_url, "digest", "--leader", BY_KEY["leader_a"].email)
        assert operator.exit_code == 0 and "Medisinsk klinikk" in operator.output
        assert [word for word in B_WORDS if word in operator.output] == []
        wrong = []
        for persona in PERSONAS:
            for row in CLI_ROWS:
                wrong += await _check(world, db_url, persona, row)
    assert wrong == []


async def _followup(db_url: str, *args: str) -> Result:
    # The CLI runs its own event loop: in a thread, beside this test's.
    return await asyncio.to_thread(followup, db_url, *args, ok=False)


async def _check(world: World, db_url: str, persona: Persona, row: CliRow) -> list[str]:
    want = cli_expected(persona, row)
    before = None if want else await snapshot(world.services)
    result = await _followup(db_url, *row.args(world), "--as", persona.email or STRANGER)
    where = f"{persona.key} {row.name}"
    if (result.exit_code == 0) is not want:
        return [f"{where}: exit {result.exit_code}: {result.output.strip()}"]
    problems = []
    leaked = [word for word in UNSEEN[persona.key] if word in result.output]
    if leaked:
        problems.append(f"{where}: shows {leaked}, out of scope")
    if before is not None:
        refusals = ("no active person",) if persona.role is None else REFUSALS
        if result.exit_code != 1 or not any(r in result.output for r in refusals):
            problems.append(f"{where}: unclear refusal: {result.output.strip()}")
        if await snapshot(world.services) != before:
            problems.append(f"{where}: refused, but something changed")
    return problems
