"""Imports of the organisation (YAML/CSV), the roster (CSV) and measures (YAML)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from dialogs.checkin import (
    DEFAULT_COVERAGE,
    DEFAULT_PER_PERSON,
    capacity_warning,
    measures_for_unit,
)
from dialogs.model import LOCALES, LocalizedText, Role
from dialogs.plan import flatten_yaml, parse_plan
from dialogs.records import UnitRecord
from dialogs.rhythm import rhythm_of
from storage.store import Store, Transaction


class ImportError_(Exception):
    """An import file with problems; every problem is listed, nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PeopleReport:
    """What a roster sync changed."""

    created: int
    updated: int
    deactivated: int


def _text(value: Any) -> LocalizedText:
    if isinstance(value, Mapping):
        return LocalizedText(**{k: str(v) for k, v in value.items() if k in LOCALES})
    return LocalizedText(nb=str(value)) if value is not None else LocalizedText()


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping (empty for an empty file)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ImportError_([f"{path}: the top level must be a mapping"])
    return data


def _read_rows(path: Path) -> list[dict[str, str]]:
    raw = path.read_text(encoding="utf-8-sig")
    dialect = csv.Sniffer().sniff(raw.splitlines()[0] if raw else ",", delimiters=",;\t")
    return [
        {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        for row in csv.DictReader(io.StringIO(raw), dialect=dialect)
    ]


def parse_org(path: Path) -> list[tuple[UnitRecord, str | None]]:
    """Units (with their kind) from an organisation YAML tree or a flat CSV."""
    if path.suffix.lower() == ".csv":
        return [
            (
                UnitRecord(
                    id=row.get("id", ""),
                    parent_id=row.get("parent") or None,
                    name=LocalizedText(
                        nb=row.get("name_nb") or row.get("name"),
                        nn=row.get("name_nn") or None,
                        en=row.get("name_en") or None,
                    ),
                    timezone=row.get("timezone") or None,
                    locale=row.get("locale") or None,
                ),
                row.get("kind") or None,
            )
            for row in _read_rows(path)
        ]
    return list(_walk_units(read_yaml(path).get("units") or [], None))


def _walk_units(
    nodes: list[Mapping[str, Any]], parent: str | None
) -> Iterator[tuple[UnitRecord, str | None]]:
    for node in nodes:
        unit_id = str(node.get("id", ""))
        yield (
            UnitRecord(
                id=unit_id,
                parent_id=parent,
                name=_text(node.get("name")),
                timezone=node.get("timezone"),
                locale=node.get("locale"),
                checkin=_checkin(node.get("checkin")),
            ),
            node.get("kind"),
        )
        yield from _walk_units(node.get("children") or [], unit_id)


def _checkin(value: Any) -> dict[str, Any] | None:
    # Dates and times from YAML become text, so the rhythm is stored as plain JSON.
    if not isinstance(value, Mapping):
        return None
    return {
        key: str(item) if isinstance(item, date | time) else item for key, item in value.items()
    }


def check_units(units: list[tuple[UnitRecord, str | None]], known: set[str]) -> list[str]:
    """Problems with a set of units: ids, parents, names, zones, locales."""
    problems: list[str] = []
    ids = [u.id for u, _ in units]
    for unit, _kind in units:
        if not unit.id:
            problems.append("a unit has no id")
        if ids.count(unit.id) > 1:
            problems.append(f"unit {unit.id}: duplicate id")
        if unit.parent_id and unit.parent_id not in set(ids) | known:
            problems.append(f"unit {unit.id}: unknown parent {unit.parent_id!r}")
        if not unit.name.nb:
            problems.append(f"unit {unit.id}: missing name (nb)")
        if unit.locale and unit.locale not in LOCALES:
            problems.append(f"unit {unit.id}: locale must be one of nb, nn, en")
        if unit.checkin is not None:
            try:
                rhythm_of(unit)
            except (ValueError, TypeError, KeyError) as error:
                problems.append(f"unit {unit.id}: bad checkin rhythm: {error}")
        if unit.timezone:
            try:
                ZoneInfo(unit.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"unit {unit.id}: unknown time zone {unit.timezone!r}")
    return sorted(set(problems), key=problems.index)


def check_cycles(
    units: list[tuple[UnitRecord, str | None]], existing: Mapping[str, str | None]
) -> list[str]:
    """Units of the file that would end up below themselves (with the stored units' parents)."""
    parents = dict(existing) | {unit.id: unit.parent_id for unit, _kind in units}
    problems: list[str] = []
    for unit, _kind in units:
        chain, current = [unit.id], unit.parent_id
        while current is not None and current not in chain:
            chain.append(current)
            current = parents.get(current)
        if current == unit.id:
            cycle = " -> ".join([*chain, unit.id])
            problems.append(f"unit {unit.id}: its parents form a cycle ({cycle})")
    return sorted(set(problems), key=problems.index)


def parents_first(
    units: list[tuple[UnitRecord, str | None]],
) -> list[tuple[UnitRecord, str | None]]:
    """The units ordered so that every parent in the file comes before its children."""
    in_file = {unit.id: unit.parent_id for unit, _kind in units}

    def depth(unit_id: str) -> int:
        parent = in_file.get(unit_id)
        return 0 if parent is None or parent not in in_file else 1 + depth(parent)

    return sorted(units, key=lambda pair: depth(pair[0].id))


@dataclass(frozen=True)
class MeasuresReport:
    """What a measures import did, and capacity warnings per unit."""

    measures: int
    created: int
    warnings: list[str]


class ImportService:
    """Validates whole files first, then writes them in one transaction."""

    def __init__(
        self, store: Store, k: int = DEFAULT_COVERAGE, per_person: int = DEFAULT_PER_PERSON
    ) -> None:
        self.store = store
        self.k = k
        self.per_person = per_person

    async def import_org(self, path: Path) -> int:
        """Create or update units; returns how many were in the file."""
        units = parse_org(path)
        async with self.store.transaction() as tx:
            existing = {u.id: u.parent_id for u in await tx.org.units()}
            problems = check_units(units, set(existing)) + check_cycles(units, existing)
            if problems:
                raise ImportError_(problems)
            for unit, kind in parents_first(units):  # a CSV may list children first
                await tx.org.upsert_unit(unit, kind)
        return len(units)

    async def import_people(self, path: Path, deactivate_missing: bool = False) -> PeopleReport:
        """Sync the roster (e-mail, name, unit, role, locale; a row per membership)."""
        rows = _read_rows(path)
        async with self.store.transaction() as tx:
            known = {u.id for u in await tx.org.units()}
            problems: list[str] = []
            people: dict[str, list[dict[str, str]]] = {}
            for number, row in enumerate(rows, start=2):
                email = row.get("email", "").lower()
                if "@" not in email:
                    problems.append(f"line {number}: missing or invalid e-mail")
                if row.get("unit") not in known:
                    problems.append(f"line {number}: unknown unit {row.get('unit')!r}")
                if (row.get("role") or "staff") not in {r.value for r in Role}:
                    problems.append(f"line {number}: unknown role {row.get('role')!r}")
                if row.get("locale") and row["locale"] not in LOCALES:
                    problems.append(f"line {number}: locale must be one of nb, nn, en")
                people.setdefault(email, []).append(row)
            if problems:
                raise ImportError_(problems)
            created = updated = 0
            for email, memberships in people.items():
                first = memberships[0]
                person, is_new = await tx.org.upsert_person(
                    email, first.get("name") or None, first.get("locale") or None
                )
                created, updated = created + is_new, updated + (not is_new)
                await tx.org.set_memberships(
                    person.id, [(r["unit"], Role(r.get("role") or "staff")) for r in memberships]
                )
            deactivated = (
                await tx.org.deactivate_people_except(set(people)) if deactivate_missing else 0
            )
        return PeopleReport(created, updated, deactivated)

    async def import_measures(self, path: Path) -> MeasuresReport:
        """Create or update improvement areas and measures from YAML or CSV.

        Nothing is written when any row has a problem. The report warns about units with too
        few staff to ask every measure of k people per check-in (see dialogs/checkin.py).
        """
        rows = _read_rows(path) if path.suffix.lower() == ".csv" else flatten_yaml(read_yaml(path))
        async with self.store.transaction() as tx:
            units = await tx.org.units()
            plan = parse_plan(rows, {u.id for u in units})
            if plan.problems:
                raise ImportError_(list(plan.problems))
            for area in plan.areas:
                await tx.measures.upsert_area(area.id, area.title)
            created = 0
            for spec in plan.measures:
                created += await tx.measures.upsert_measure(spec)
            warnings = await self._capacity(tx, units)
        return MeasuresReport(len(plan.measures), created, warnings)

    async def _capacity(self, tx: Transaction, units: list[UnitRecord]) -> list[str]:
        by_id = {u.id: u for u in units}
        plans = await tx.measures.plans()
        staff: dict[str, int] = {}
        for membership in await tx.org.all_memberships():
            if membership.role is Role.STAFF:
                staff[membership.unit_id] = staff.get(membership.unit_id, 0) + 1
        warnings = []
        for unit_id, count in sorted(staff.items()):
            measures = measures_for_unit(unit_id, by_id, plans)
            warning = capacity_warning(count, len(measures), self.per_person, self.k)
            if warning is not None:
                warnings.append(f"{unit_id}: {warning.text}")
        return warnings
