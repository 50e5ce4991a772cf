"""Action plans: improvement areas and measures read from YAML or CSV rows, ids and checks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from dialogs.model import LOCALES, LocalizedText

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
MAX_SLUG = 64


@dataclass(frozen=True)
class AreaSpec:
    """An improvement area as the file describes it."""

    id: str
    title: LocalizedText


@dataclass(frozen=True)
class MeasureSpec:
    """A measure as the file describes it (ids generated where the file has none)."""

    id: str
    area_id: str | None
    title: LocalizedText
    units: tuple[str, ...]
    owner: str | None
    planned_start: date | None
    deadline: date | None
    category: str | None


@dataclass(frozen=True)
class ActionPlan:
    """A parsed plan, or the problems that stop it from being imported."""

    areas: tuple[AreaSpec, ...]
    measures: tuple[MeasureSpec, ...]
    problems: tuple[str, ...]


def slugify(text: str) -> str:
    """A readable id from a title: "Økt bruk av møter" -> "okt-bruk-av-moter"."""
    folded = text.lower().replace("ø", "o").replace("æ", "ae").replace("å", "a")
    ascii_text = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:MAX_SLUG].strip("-") or "tiltak"


def _text(value: Any) -> LocalizedText:
    if isinstance(value, Mapping):
        return LocalizedText(**{k: str(v) for k, v in value.items() if k in LOCALES and v})
    return LocalizedText(nb=str(value)) if value not in (None, "") else LocalizedText()


def _date(value: Any, where: str, field: str, problems: list[str]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        problems.append(f"{where}: {field} must be a date YYYY-MM-DD, not {value!r}")
        return None


def _units(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(u).strip() for u in value if str(u).strip())
    return tuple(u for u in re.split(r"[\s,;]+", str(value or "")) if u)


class _Ids:
    """Hands out unique ids: the file's own, or generated ones ("area-a", "area-a-2"...)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        candidate, n = wanted, 1
        while candidate in self.used:
            n += 1
            candidate = f"{wanted[: MAX_SLUG - 4]}-{n}"
        self.used.add(candidate)
        return candidate


def parse_plan(rows: Sequence[Mapping[str, Any]], known_units: set[str]) -> ActionPlan:
    """Measures from flat rows (a CSV, or YAML flattened by `flatten_yaml`), all checked.

    A row has `area` (+ `area_title`), optional `id` (a slug) or `letter` (field plans number
    measures a, b, c inside each area: the id becomes "<area>-<letter>"), `title` or
    `title_nb`/`title_nn`/`title_en`, `units`, `owner`, `planned_start`, `deadline`, `category`.
    """
    problems: list[str] = []
    areas: dict[str, AreaSpec] = {}
    measures: list[MeasureSpec] = []
    ids = _Ids()
    explicit = [str(r.get("id") or "").strip() for r in rows]
    for given in explicit:
        if given and given in ids.used:
            problems.append(f"measure {given}: duplicate id")
        if given:
            ids.used.add(given)
    for number, row in enumerate(rows, start=1):
        where = f"row {number}"
        area_id = str(row.get("area") or "").strip() or None
        if area_id and not SLUG.fullmatch(area_id):
            problems.append(f"{where}: area id {area_id!r} must be a slug (a-z, 0-9, - and _)")
        if area_id and area_id not in areas:
            areas[area_id] = AreaSpec(area_id, _text(row.get("area_title") or area_id))
        title = (
            _text(row.get("title"))
            if row.get("title")
            else _text({loc: row.get(f"title_{loc}") for loc in LOCALES})
        )
        if not title.nb:
            problems.append(f"{where}: missing title (nb)")
        measure_id = explicit[number - 1]
        if measure_id and not SLUG.fullmatch(measure_id):
            problems.append(f"{where}: id {measure_id!r} must be a slug (a-z, 0-9, - and _)")
        if not measure_id:
            letter = str(row.get("letter") or "").strip().lower()
            base = f"{area_id}-{letter}" if area_id and letter else slugify(title.nb or "")
            measure_id = ids.take(slugify(base))
        where = f"measure {measure_id}"
        units = _units(row.get("units"))
        for unit in units:
            if unit not in known_units:
                problems.append(f"{where}: unknown unit {unit!r}")
        if not units:
            problems.append(f"{where}: no owning unit")
        planned = _date(row.get("planned_start"), where, "planned_start", problems)
        deadline = _date(row.get("deadline"), where, "deadline", problems)
        if planned and deadline and deadline < planned:
            problems.append(f"{where}: deadline {deadline} is before the start")
        measures.append(
            MeasureSpec(
                measure_id,
                area_id,
                title,
                units,
                _clean(row.get("owner")),
                planned,
                deadline,
                _clean(row.get("category")),
            )
        )
    return ActionPlan(tuple(areas.values()), tuple(measures), tuple(problems))


def _clean(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def flatten_yaml(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The YAML form (areas with nested measures) as flat rows for `parse_plan`."""
    rows: list[dict[str, Any]] = []
    for area in data.get("areas") or []:
        for measure in area.get("measures") or []:
            rows.append({**measure, "area": area.get("id"), "area_title": area.get("title")})
    return rows
