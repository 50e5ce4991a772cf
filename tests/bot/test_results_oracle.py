"""`followup results --format json --by-unit` of a generated organisation against a plain oracle.

The organisation (about 55 units, four levels below the top, 1..8 staff per unit so many groups
are below k) is written in bulk, an identified round of a small questionnaire (a single choice,
a multi-select and an optional yes/no item) is opened for the whole tree through the round
service, and about 60 % of the invitees submit random answers (fixed seed); the others are left
unanswered (some with an unsent draft), unreachable or ineligible.

The oracle knows only what the test generated: it computes the whole round's counts and
response rate, every item's option counts and percentages for the whole round and for each unit
subtree, and which units and items are suppressed, with its own implementation of the k rule as
the `dialogs/privacy.py` docstrings state it (fewer than k respondents in the subtree hidden, then
complementary suppression: a shown figure minus the nearest shown figures below it must reveal 0
or at least k, else the smallest of those is hidden too, ties by key; an item's respondents follow
the same rule with the hidden units kept hidden). The JSON must equal it exactly, and no shown
figure minus shown figures below it may reveal 1..k-1 respondents.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select, update

from bot.app import Services
from dialogs.model import LocalizedText, Role
from dialogs.records import UnitRecord
from storage import models as m
from tests.bot.test_cli import ROOT, followup, with_services
from tests.oracle_tree import OracleTree
from tests.webchat import NOW

K = 5
SEED = 7
ROOT_UNIT = "org"
WHOLE = "<whole round>"
"""The report's overall figure: the root above the audience's top unit in the oracle's tree."""
SCHEMA = json.loads((ROOT / "docs" / "results.schema.json").read_text(encoding="utf-8"))

QUESTIONNAIRE = """\
id: oracle-q
default_locale: nb
title: {nb: Orakel, nn: Orakel, en: Oracle}
items:
  - id: sted
    kind: single
    text: {nb: "Hvor?", nn: "Kvar?", en: "Where?"}
    options:
      - {id: a, label: {nb: A, nn: A, en: A}}
      - {id: b, label: {nb: B, nn: B, en: B}}
      - {id: c, label: {nb: C, nn: C, en: C}}
  - id: kanaler
    kind: multi
    min_picks: 1
    max_picks: 3
    text: {nb: "Kanaler?", nn: "Kanalar?", en: "Channels?"}
    options:
      - {id: k1, label: {nb: K1, nn: K1, en: K1}}
      - {id: k2, label: {nb: K2, nn: K2, en: K2}}
      - {id: k3, label: {nb: K3, nn: K3, en: K3}}
      - {id: k4, label: {nb: K4, nn: K4, en: K4}}
      - {id: k5, label: {nb: K5, nn: K5, en: K5}}
  - id: plan
    kind: yes_no_na
    required: false
    text: {nb: "Plan?", nn: "Plan?", en: "Plan?"}
"""
OPTIONS = {
    "sted": ("a", "b", "c"),
    "kanaler": ("k1", "k2", "k3", "k4", "k5"),
    "plan": ("yes", "no", "na"),
}
KINDS = {"sted": "single", "kanaler": "multi", "plan": "yes_no_na"}


@dataclass
class World(OracleTree):
    fate: dict[int, str] = field(default_factory=dict)
    """Person -> submitted, draft, silent, unreachable or ineligible."""
    answers: dict[int, dict[str, str | tuple[str, ...]]] = field(default_factory=dict)
    """Submitted answers: person -> item -> option id (multi: option ids); skipped: absent."""

    def depth(self, unit: str) -> int:
        up = self.parent[unit]
        return 0 if up is None else 1 + self.depth(up)

    def unit_of(self, person: int) -> str:
        return next(u for u, people in self.staff.items() if person in people)


def generate(rng: random.Random) -> World:
    parent: dict[str, str | None] = {ROOT_UNIT: None}
    for c in range(3):
        clinic = f"k{c}"
        parent[clinic] = ROOT_UNIT
        for d in range(rng.randint(3, 4)):
            dept = f"{clinic}-a{d}"
            parent[dept] = clinic
            for s in range(rng.randint(2, 4)):
                section = f"{dept}-s{s}"
                parent[section] = dept
                if rng.random() < 0.25:
                    for t in range(2):
                        parent[f"{section}-t{t}"] = section
    world = World(parent)
    people = iter(range(1, 10_000))
    for unit in sorted(parent):
        count = rng.randint(0, 2) if unit == ROOT_UNIT else rng.randint(1, 8)
        world.staff[unit] = [next(people) for _ in range(count)]
    for unit in sorted(parent):
        for person in world.staff[unit]:
            draw = rng.random()
            fate = (
                "unreachable"
                if draw < 0.07
                else "ineligible"
                if draw < 0.10
                else "draft"
                if draw < 0.17
                else "silent"
                if draw < 0.40
                else "submitted"
            )
            world.fate[person] = fate
            if fate in ("submitted", "draft"):
                world.answers[person] = random_answers(rng)
    return world


def random_answers(rng: random.Random) -> dict[str, str | tuple[str, ...]]:
    chosen: dict[str, str | tuple[str, ...]] = {
        "sted": rng.choices(OPTIONS["sted"], (5, 3, 1))[0],
        "kanaler": tuple(sorted(rng.sample(OPTIONS["kanaler"], rng.randint(1, 3)))),
    }
    if rng.random() < 0.75:  # optional: a quarter skip it
        chosen["plan"] = rng.choice(OPTIONS["plan"])
    return chosen


# --- writing it ------------------------------------------------------------------------------


async def write_org(services: Services, world: World) -> dict[int, int]:
    """Units, people and staff memberships in bulk; returns our id -> person id."""
    async with services.store.transaction() as tx:
        for unit in sorted(world.parent, key=lambda u: (world.depth(u), u)):
            name = LocalizedText(nb=f"Enhet {unit}", nn=f"Eining {unit}", en=f"Unit {unit}")
            await tx.org.upsert_unit(UnitRecord(unit, world.parent[unit], name))
        rows = {
            ours: m.Person(email=f"p{ours}@example.org", name=f"P {ours}", locale="nb")
            for people in world.staff.values()
            for ours in people
        }
        tx.session.add_all(rows.values())
        await tx.session.flush()
        ids = {ours: row.id for ours, row in rows.items()}
        tx.session.add_all(
            m.Membership(person_id=ids[ours], unit_id=unit, role=Role.STAFF.value)
            for unit, people in world.staff.items()
            for ours in people
        )
    return ids


async def open_and_answer(services: Services, world: World, ids: dict[int, int]) -> int:
    """Open an identified round for the whole tree; write what each invitee did, in bulk."""
    round_id = await services.rounds.create(
        "oracle-q", [ROOT_UNIT], NOW, NOW + timedelta(days=14), False
    )
    await services.rounds.open(round_id, NOW)
    ours = {person: our for our, person in ids.items()}
    async with services.store.transaction() as tx:
        rows = await tx.session.execute(
            select(m.Participation.id, m.Participation.person_id).where(
                m.Participation.round_id == round_id
            )
        )
        participation = {ours[person]: row_id for row_id, person in rows}
        assert sorted(participation) == sorted(world.fate), "everyone in the tree is invited"
        responses = {
            our: m.Response(round_id=round_id, person_id=ids[our], unit_id=world.unit_of(our))
            for our, fate in sorted(world.fate.items())
            if fate == "submitted"
        }
        tx.session.add_all(responses.values())
        await tx.session.flush()
        answers = []
        for our, chosen in sorted(world.answers.items()):
            response = responses.get(our)  # a draft has answers but no response: never counted
            for item, value in chosen.items():
                answers.append(
                    m.Answer(
                        round_id=round_id,
                        person_id=ids[our],
                        unit_id=world.unit_of(our),
                        response_id=None if response is None else response.id,
                        item_id=item,
                        choice=value if isinstance(value, str) else None,
                        choices=None if isinstance(value, str) else list(value),
                    )
                )
        tx.session.add_all(answers)
        await tx.session.flush()

        def rows_of(fate: str) -> list[int]:
            return [participation[o] for o, f in sorted(world.fate.items()) if f == fate]

        await tx.session.execute(
            update(m.Participation)
            .where(m.Participation.id.in_(rows_of("submitted")))
            .values(status="completed", completed_on=NOW.date())
        )
        for fate in ("unreachable", "ineligible"):
            await tx.session.execute(
                update(m.Participation)
                .where(m.Participation.id.in_(rows_of(fate)))
                .values(status=fate, reason="generated")
            )
    return round_id


# --- the oracle ------------------------------------------------------------------------------


def half_up(n: int, denominator: int) -> float | None:
    """n / denominator in percent, two decimals, halves rounded up; None for 0 / 0."""
    if denominator == 0:
        return None
    return math.floor(Fraction(100 * n, denominator) * 100 + Fraction(1, 2)) / 100


def suppress(
    parent: dict[str, str | None], own: dict[str, int], prehidden: set[str] = frozenset()
) -> set[str]:
    """The keys whose figure may be shown, by the rule in `dialogs/privacy.py` (re-implemented).

    Hidden: every group whose subtree has fewer than k respondents, and `prehidden`. Then,
    children before parents, for every shown group: its total minus the totals of the nearest
    shown groups below it must be 0 or at least k; while it is not, hide the smallest of those
    nearest shown groups (ties by key).
    """
    kids: dict[str, list[str]] = {u: [] for u in parent}
    for unit, up in parent.items():
        if up is not None:
            kids[up].append(unit)

    def total(unit: str) -> int:
        return own.get(unit, 0) + sum(total(c) for c in kids[unit])

    totals = {u: total(u) for u in parent}
    hidden = {u for u in parent if totals[u] < K} | set(prehidden)

    def nearest_shown(unit: str) -> list[str]:
        found = []
        for child in sorted(kids[unit]):
            found += nearest_shown(child) if child in hidden else [child]
        return found

    def visit(unit: str) -> None:
        for child in sorted(kids[unit]):
            visit(child)
        if unit in hidden:
            return
        while True:
            below = nearest_shown(unit)
            left = totals[unit] - sum(totals[b] for b in below)
            if left == 0 or left >= K:
                return
            hidden.add(min(below, key=lambda b: (totals[b], b)))

    for top in (u for u, p in parent.items() if p is None):
        visit(top)
    return set(parent) - hidden


def item_figures(
    item: str, answers: list[dict[str, Any]], hidden: bool, hidden_item: bool
) -> dict[str, Any]:
    values = [a[item] for a in answers if item in a]
    hide = hidden or 0 < len(values) < K or (hidden_item and values != [])
    denominator = 0 if hide else len(values)
    options = []
    for option in OPTIONS[item]:
        n = sum(option == v if isinstance(v, str) else option in v for v in values)
        options.append(
            {
                "id": option,
                "n": 0 if hide else n,
                "pct": None if hide else half_up(n, denominator),
            }
        )
    return {
        "id": item,
        "kind": KINDS[item],
        "denominator_kind": "respondents" if item == "kanaler" else "item",
        "denominator": denominator,
        "suppressed": hide,
        "options": options,
    }


def expected_report(world: World) -> dict[str, Any]:
    fates = Counter(world.fate.values())
    invited = len(world.fate)
    eligible = invited - fates["unreachable"] - fates["ineligible"]
    respondents = fates["submitted"]
    submitted = {p: a for p, a in world.answers.items() if world.fate[p] == "submitted"}

    def answers_in(units: set[str]) -> list[dict[str, Any]]:
        return [a for p, a in sorted(submitted.items()) if world.unit_of(p) in units]

    overall_hidden = respondents < K
    everything = answers_in(set(world.parent))
    items = [item_figures(i, everything, overall_hidden, False) for i in OPTIONS]

    tree: dict[str, str | None] = {WHOLE: None, **world.parent}
    tree[ROOT_UNIT] = WHOLE
    own = Counter(world.unit_of(p) for p in submitted)
    shown = suppress(tree, own)
    hidden_units = set(tree) - shown
    item_shown = {}
    for item in OPTIONS:
        item_own = Counter(world.unit_of(p) for p, a in submitted.items() if item in a)
        item_shown[item] = suppress(tree, item_own, hidden_units)
    overall_item_hidden = {f["id"]: f["suppressed"] for f in items}
    groups = {}
    for unit in world.parent:
        scoped = answers_in(world.subtree(unit))
        hidden = unit in hidden_units
        groups[unit] = {
            "unit": unit,
            "respondents": None if hidden else len(scoped),
            "suppressed": hidden,
            "items": [
                item_figures(
                    i,
                    scoped,
                    hidden,
                    unit not in item_shown[i] or overall_item_hidden[i],
                )
                for i in OPTIONS
            ],
        }
    rate_shown = eligible >= K
    return {
        "min_group_size": K,
        "invited": invited if rate_shown else None,
        "ineligible": fates["ineligible"] if rate_shown else None,
        "unreachable": fates["unreachable"] if rate_shown else None,
        "eligible": eligible if rate_shown else None,
        "respondents": respondents if rate_shown else None,
        "response_rate": half_up(respondents, eligible) if rate_shown else None,
        "suppressed": overall_hidden,
        "items": items,
        "groups": groups,
    }


def strip(document: dict[str, Any]) -> dict[str, Any]:
    """The report without labels and texts (the oracle checks numbers and suppression)."""
    items = [
        {
            **{k: v for k, v in i.items() if k != "text"},
            "options": [{k: v for k, v in o.items() if k != "label"} for o in i["options"]],
        }
        for i in document["items"]
    ]
    return {**document, "items": items}


# --- the test --------------------------------------------------------------------------------


def test_results_of_a_generated_organisation_match_the_oracle(db_url, tmp_path: Path):
    rng = random.Random(SEED)
    world = generate(rng)
    assert 50 <= len(world.parent) <= 70
    assert max(world.depth(u) for u in world.parent) == 4
    path = tmp_path / "oracle.yaml"
    path.write_text(QUESTIONNAIRE, encoding="utf-8")
    followup(db_url, "questionnaire", "load", path, k=K)

    async def build(services: Services) -> int:
        return await open_and_answer(services, world, await write_org(services, world))

    round_id = with_services(db_url, build)
    printed = followup(db_url, "results", round_id, "--format", "json", "--by-unit", k=K)
    report = json.loads(printed.stdout)
    Draft202012Validator(SCHEMA).validate(report)

    expected = expected_report(world)
    got = strip(report)
    groups = {g["unit"]: strip(g) for g in got.pop("groups")}
    for group in groups.values():
        group.pop("name")
    assert sorted(groups) == sorted(world.parent)
    want_groups = expected.pop("groups")
    for unit in sorted(world.parent):
        assert groups[unit] == want_groups[unit], unit
    for key, value in expected.items():
        assert got[key] == value, key

    check_no_subtraction_reveals(world, report)
    check_the_data_exercises_the_rules(world, want_groups)


def check_no_subtraction_reveals(world: World, report: dict[str, Any]) -> None:
    """A shown figure minus the shown figures nearest below it is 0 or at least k.

    For the respondents and for every item's denominator, the whole round on top.
    """
    tree: dict[str, str | None] = {WHOLE: None, **world.parent}
    tree[ROOT_UNIT] = WHOLE
    figures: dict[str, dict[str, int | None]] = {
        g["unit"]: {
            "respondents": g["respondents"],
            **{i["id"]: None if i["suppressed"] else i["denominator"] for i in g["items"]},
        }
        for g in report["groups"]
    }
    figures[WHOLE] = {
        "respondents": None if report["suppressed"] else report["respondents"],
        **{i["id"]: None if i["suppressed"] else i["denominator"] for i in report["items"]},
    }
    kids: dict[str, list[str]] = {u: [] for u in tree}
    for unit, up in tree.items():
        if up is not None:
            kids[up].append(unit)
    for key in ("respondents", *OPTIONS):

        def nearest(unit: str, key: str = key) -> list[int]:
            found: list[int] = []
            for child in kids[unit]:
                value = figures[child][key]
                found += nearest(child) if value is None else [value]
            return found

        for unit, values in figures.items():
            if values[key] is None:
                continue
            assert values[key] >= K or values[key] == 0, (unit, key)
            left = values[key] - sum(nearest(unit))
            assert left == 0 or left >= K, (unit, key, left)


def check_the_data_exercises_the_rules(world: World, groups: dict[str, dict[str, Any]]) -> None:
    """The fixed seed must produce every case the report distinguishes (else the test is weak)."""
    assert sum(len(s) < K for s in world.staff.values()) >= 10
    submitted = Counter(world.unit_of(p) for p, f in world.fate.items() if f == "submitted")
    total = {u: sum(submitted[v] for v in world.subtree(u)) for u in world.parent}
    hidden = {u for u, g in groups.items() if g["suppressed"]}
    assert any(total[u] < K for u in hidden), "k rule"
    assert any(total[u] >= K for u in hidden), "complementary suppression"
    assert len(hidden) < len(groups) - 10, "most inner units are shown"
    item_hidden_in_shown = [
        (u, i["id"])
        for u, g in groups.items()
        if u not in hidden
        for i in g["items"]
        if i["suppressed"]
    ]
    assert item_hidden_in_shown, "an item hidden in a shown unit (optional item)"
    assert {"draft", "silent", "unreachable", "ineligible"} <= set(world.fate.values())
