"""Every figure every surface shows every viewer, for generated organisations: none under k.

Hypothesis generates small organisations (3–10 units, at most three levels below the top, 0–8
staff each, random fates and answers, k from 3 to 5). Each example gets a database of its own,
built with the builders of tests/bot/test_results_oracle.py (an identified round opened through
the round service), plus coordinators and leaders of random units. Then it collects what each
surface shows: the operator's results JSON by unit and split by an item, each coordinator's CSV
export and reminder dry run, and each viewer's dashboard page of the round (a real log-in through
the aiohttp test client). The attacker of tests/privacy_attack.py gets every figure of one kind
(respondents, one item's denominator, eligible invitees, reminder invitees) over all viewers
together and must not derive a group of 1..k-1, directly or by subtraction.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.services.reminders import ReminderError
from bot.services.results import ResultsFormat, ResultsRequest, ResultsService
from dialogs import policy
from dialogs.model import Role
from storage import models as m
from storage.database import is_sqlite
from tests.bot.test_dashboard_auth import Dashboard, dashboard
from tests.bot.test_dashboard_pages import as_person
from tests.bot.test_results_oracle import (
    OPTIONS,
    QUESTIONNAIRE,
    ROOT_UNIT,
    World,
    open_and_answer,
    write_org,
)
from tests.conftest import _db_name, _pg_admin
from tests.privacy_attack import FigureBook, Tree, find_leaks
from tests.webchat import NOW

pytestmark = pytest.mark.db

FATES = ("submitted", "submitted", "submitted", "silent", "draft", "unreachable", "ineligible")
TOO_FEW = "for få svar"
WHOLE = "*"
"""The root of a cross-tab's tree: the respondents its columns split."""


@dataclass
class Example:
    """A generated organisation, k, and who looks at it."""

    world: World
    k: int
    coordinators: list[str]
    leaders: list[str]
    books: dict[str, FigureBook] = field(default_factory=dict)

    def book(self, kind: str, tree: Tree | None = None) -> FigureBook:
        return self.books.setdefault(kind, FigureBook(tree or self.world.parent))


@st.composite
def examples(draw: st.DrawFn) -> Example:
    parent: dict[str, str | None] = {ROOT_UNIT: None}
    depth = {ROOT_UNIT: 0}
    for number in range(1, draw(st.integers(3, 10))):
        above = draw(st.sampled_from(sorted(u for u in parent if depth[u] < 3)))
        unit = f"u{number}"
        parent[unit] = above
        depth[unit] = depth[above] + 1
    world = World(parent)
    channels = st.sets(st.sampled_from(OPTIONS["kanaler"]), min_size=1, max_size=3)
    people = iter(range(1, 10_000))
    for unit in sorted(parent):
        world.staff[unit] = [next(people) for _ in range(draw(st.integers(0, 8)))]
    if not any(world.staff.values()):
        world.staff[ROOT_UNIT] = [next(people)]  # a round needs someone to invite
    for unit in sorted(parent):
        for person in world.staff[unit]:
            fate = draw(st.sampled_from(FATES))
            world.fate[person] = fate
            if fate in ("submitted", "draft"):
                chosen: dict[str, str | tuple[str, ...]] = {
                    "sted": draw(st.sampled_from(OPTIONS["sted"])),
                    "kanaler": tuple(sorted(draw(channels))),
                }
                plan = draw(st.sampled_from((*OPTIONS["plan"], None)))
                if plan is not None:
                    chosen["plan"] = plan
                world.answers[person] = chosen
    others = st.lists(st.sampled_from(sorted(parent)), max_size=2, unique=True)
    return Example(
        world,
        draw(st.integers(3, 5)),
        [ROOT_UNIT, *(u for u in draw(others) if u != ROOT_UNIT)],
        draw(others),
    )


# --- one database per example ----------------------------------------------------------------


@asynccontextmanager
async def fresh_database(template: str, folder: Path, number: int) -> AsyncIterator[str]:
    """A migrated database of its own, copied from the session's template (as `db_url` does)."""
    if is_sqlite(template):
        target = folder / f"example-{number}.db"
        shutil.copyfile(Path(template.removeprefix("sqlite:///")), target)
        yield f"sqlite:///{target}"
        return
    name = f"{_db_name(template)}_surfaces_{number}"
    await _pg_admin(template, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _pg_admin(template, f'CREATE DATABASE "{name}" TEMPLATE "{_db_name(template)}"')
    try:
        yield template.rsplit("/", 1)[0] + "/" + name
    finally:
        await _pg_admin(template, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def email(role: Role, unit: str) -> str:
    return f"{role.value}-{unit}@example.org"


async def add_viewers(d: Dashboard, example: Example) -> None:
    """Coordinators and leaders, added after the round opened (so they are not invited)."""
    viewers = [(Role.COORDINATOR, u) for u in example.coordinators]
    viewers += [(Role.LEADER, u) for u in example.leaders]
    async with d.services.store.transaction() as tx:
        for role, unit in viewers:
            person = m.Person(email=email(role, unit), name=f"{role.value} {unit}", locale="nb")
            tx.session.add(person)
            await tx.session.flush()
            tx.session.add(m.Membership(person_id=person.id, unit_id=unit, role=role.value))
    for role, unit in viewers:
        await d.add_account(email(role, unit))


# --- what each surface shows -----------------------------------------------------------------


def unit_of_name(example: Example, name: str, whole: str) -> str:
    """The unit a report row is about: "Enhet <id>", or the report's whole ("Alle")."""
    return whole if name == "Alle" else name.removeprefix("Enhet ")


def results_json(example: Example, document: dict[str, Any]) -> None:
    """The operator's JSON by unit: respondents and each item's denominator, whole round = top."""
    respondents = example.book("respondents")
    whole = None if document["suppressed"] else document["respondents"]
    respondents.show(ROOT_UNIT, whole, "json")
    for group in document["groups"]:
        respondents.show(group["unit"], group["respondents"], "json")
        for item in group["items"]:
            example.book(f"item {item['id']}").show(
                group["unit"], None if item["suppressed"] else item["denominator"], "json"
            )
    for item in document["items"]:
        example.book(f"item {item['id']}").show(
            ROOT_UNIT, None if item["suppressed"] else item["denominator"], "json"
        )


def crosstab_json(example: Example, by: str, document: dict[str, Any]) -> None:
    """A split by an item: its columns (and their items) are a tree below the respondents."""
    crosstab = document["crosstab"]
    columns = crosstab["columns"]
    tree: dict[str, str | None] = {WHOLE: None, **{c["key"]: WHOLE for c in columns}}
    book = example.book(f"split {by}: respondents", tree)
    book.show(WHOLE, crosstab["respondents"], "crosstab")
    for column in columns:
        book.show(column["key"], column["respondents"], "crosstab")
    for item in document["items"]:
        items = example.book(f"split {by}: item {item['id']}", tree)
        items.show(WHOLE, None if item["suppressed"] else item["denominator"], "crosstab")
        for column in columns:
            found = next(i for i in column["items"] if i["id"] == item["id"])
            items.show(
                column["key"], None if found["suppressed"] else found["denominator"], "crosstab"
            )


def export_csv(example: Example, unit: str, body: str) -> None:
    """A coordinator's CSV export: each group's item denominators ("Alle": their scope)."""
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    for group, item, _question, option, _n, denominator, _pct in rows[1:]:
        shown = None if option == TOO_FEW or not denominator else int(denominator)
        if option == TOO_FEW:
            assert denominator == ""
        example.book(f"item {item}").show(
            unit_of_name(example, group, unit), shown, f"csv of {unit}"
        )


ROW = re.compile(r"<tr(?: data-unit=\"([^\"]+)\")?>\s*<th scope=\"row\"(.*?)</tr>", re.S)
NUMBER = re.compile(r'<td class="num">(\d+)</td>')


def round_page(example: Example, unit: str, html: str) -> None:
    """The dashboard's rate table: eligible invitees per unit ("whole": the viewer's unit)."""
    found = ROW.findall(html)
    assert found, html
    for key, cells in found:
        numbers = NUMBER.findall(cells)
        assert len(numbers) in (0, 2), cells
        eligible = int(numbers[0]) if numbers else None
        example.book("eligible").show(key or unit, eligible, f"page of {unit}")


async def look_at_everything(d: Dashboard, example: Example, round_id: int) -> None:
    results = ResultsService(d.services.store, d.services.catalog, d.settings)
    document = json.loads(
        await results.render(round_id, ResultsFormat.JSON, "nb", request=ResultsRequest(True))
    )
    results_json(example, document)
    for by in ("sted", "plan"):
        split = await results.render(
            round_id, ResultsFormat.JSON, "nb", request=ResultsRequest(by=by)
        )
        crosstab_json(example, by, json.loads(split))
    for unit in example.coordinators:
        await as_person(d, email(Role.COORDINATOR, unit))
        page = await d.client.get(f"/dashboard/rounds/{round_id}")
        assert page.status == 200
        round_page(example, unit, await page.text())
        export = await d.client.get(f"/dashboard/rounds/{round_id}/export.csv")
        assert export.status == 200
        export_csv(example, unit, await export.text())
        actor = policy.Actor("viewer", (policy.Membership(unit, Role.COORDINATOR),))
        try:
            plan = await d.services.reminders.plan(round_id, actor, NOW)
        except ReminderError as error:  # nobody invited in their units: nothing shown
            assert error.key == "reminders.denied"
            continue
        example.book("reminder invitees").show(
            unit, plan.invitees if plan.shows_counts else None, f"dry run of {unit}"
        )
    for unit in example.leaders:
        await as_person(d, email(Role.LEADER, unit))
        page = await d.client.get(f"/dashboard/rounds/{round_id}")
        assert page.status == 200
        round_page(example, unit, await page.text())


async def check(example: Example, template: str, folder: Path, number: int, path: Path) -> None:
    async with (
        fresh_database(template, folder, number) as url,
        dashboard(url, seed=False, min_group_size=example.k) as d,
    ):
        await d.services.rounds.load_questionnaire(path)
        ids = await write_org(d.services, example.world)
        round_id = await open_and_answer(d.services, example.world, ids)
        await add_viewers(d, example)
        await look_at_everything(d, example, round_id)
    leaks = [
        f"{kind}: {leak} shown by {[book.where[g] for g in (leak.group, *leak.subtracted)]}"
        for kind, book in sorted(example.books.items())
        for leak in book.leaks(example.k)
    ]
    assert not leaks, "\n".join(leaks)


def test_no_surface_reveals_a_group_under_k(template_db: str, tmp_path: Path) -> None:
    path = tmp_path / "oracle.yaml"
    path.write_text(QUESTIONNAIRE, encoding="utf-8")
    counter = iter(range(1_000_000))

    @settings(
        max_examples=6,
        deadline=None,
        # Shrinking rebuilds databases for minutes; the failure message prints the example.
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(examples())
    def run(example: Example) -> None:
        asyncio.run(check(example, template_db, tmp_path, next(counter), path))

    run()


# --- the attacker can fail -------------------------------------------------------------------


def test_the_attacker_flags_unsuppressed_and_cross_viewer_figures() -> None:
    tree: Tree = {"org": None, "a": "org", "b": "org", "a1": "a", "a2": "a"}
    # Everything shown as it is: b (2) directly, and a - a1 - a2 leaves a's own 1.
    raw = {"org": 14, "a": 12, "a1": 6, "a2": 5, "b": 2}
    assert {(leak.group, leak.why) for leak in find_leaks(tree, raw, 5)} == {
        ("a", "subtraction"),
        ("b", "shown"),
    }
    # Each viewer's page is fine on its own; together org - a leaves b's 2.
    book = FigureBook(tree)
    book.show_all({"org": 14}, "top coordinator (a hidden to protect b)")
    book.show_all({"a": 12}, "leader of a")
    assert [(leak.group, leak.people) for leak in book.leaks(5)] == [("org", 2)]
    assert find_leaks(tree, {"org": 14, "a": 12, "b": 2}, 2) == []
    # Two surfaces showing one group with different numbers is flagged too.
    book.show("a", 11, "another page")
    assert any(leak.why.startswith("inconsistent") for leak in book.leaks(5))
