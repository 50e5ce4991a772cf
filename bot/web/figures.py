"""The dashboard's response-rate figures per round and per unit, with the k rule applied (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from dialogs.model import LocalizedText
from dialogs.privacy import ALL_GROUPS, can_show_rate, suppress_scope
from dialogs.records import ParticipationRecord, ParticipationStatus, UnitRecord
from dialogs.results import percent

ELIGIBLE = frozenset({ParticipationStatus.INVITED, ParticipationStatus.COMPLETED})
"""Who counts in the denominator: ineligible and unreachable invitees are left out."""


@dataclass(frozen=True)
class RateFigure:
    """A response rate, or None everywhere when the group is under k invitees."""

    eligible: int | None
    answered: int | None
    rate: Decimal | None

    @property
    def hidden(self) -> bool:
        """Whether the group shows «for få» instead of numbers."""
        return self.rate is None


HIDDEN = RateFigure(None, None, None)


def _count(participations: Iterable[ParticipationRecord]) -> tuple[int, int]:
    eligible = answered = 0
    for participation in participations:
        if participation.status in ELIGIBLE:
            eligible += 1
            answered += participation.status is ParticipationStatus.COMPLETED
    return eligible, answered


def rate_figure(participations: Iterable[ParticipationRecord], k: int) -> RateFigure:
    """The response rate of one group, shown only for at least k eligible invitees."""
    eligible, answered = _count(participations)
    if not can_show_rate(eligible, k):
        return HIDDEN
    return RateFigure(eligible, answered, percent(answered, eligible))


@dataclass(frozen=True)
class UnitRow:
    """One line of a round's table: a unit's subtree (inside the viewer's scope)."""

    unit_id: str
    name: LocalizedText
    depth: int
    figure: RateFigure


def unit_rows(
    units: Mapping[str, UnitRecord],
    participations: Sequence[ParticipationRecord],
    scope: set[str],
    k: int,
) -> tuple[RateFigure, list[UnitRow]]:
    """The whole scope's figure and one row per unit in scope with invitees in its subtree.

    The rule runs on eligible invitees over the round's whole unit tree (`suppress_scope`), so
    every viewer hides the same units and no two viewers' tables subtract to a hidden group.

    Args:
        units: Every unit by id.
        participations: The round's participations (any unit).
        scope: The units the viewer may see figures of.
        k: The minimum group size.
    """
    own: dict[str, int] = {}
    for participation in participations:
        own[participation.unit_id] = own.get(participation.unit_id, 0) + (
            participation.status in ELIGIBLE
        )
    parent_of = {unit_id: unit.parent_id for unit_id, unit in units.items()}
    scoped = suppress_scope(own, parent_of, scope, k)
    by_unit: dict[str, list[ParticipationRecord]] = {}
    for participation in participations:
        by_unit.setdefault(participation.unit_id, []).append(participation)
    children: dict[str, list[str]] = {}
    for unit_id, above in scoped.parent.items():
        children.setdefault(above, []).append(unit_id)

    def subtree_of(unit_id: str) -> list[ParticipationRecord]:
        found = list(by_unit.get(unit_id, ()))
        for child in children.get(unit_id, ()):
            found += subtree_of(child)
        return found

    rows: list[UnitRow] = []

    def walk(key: str, depth: int) -> None:
        for unit_id in sorted(children.get(key, ()), key=lambda u: units[u].name.get("nb")):
            if unit_id not in scope:
                walk(unit_id, depth)
                continue
            shown = scoped.suppression.shown(unit_id)
            figure = rate_figure(subtree_of(unit_id), k) if shown else HIDDEN
            rows.append(UnitRow(unit_id, units[unit_id].name, depth, figure))
            walk(unit_id, depth + 1)

    walk(ALL_GROUPS, 0)
    mine = [p for p in participations if p.unit_id in scope]
    whole = rate_figure(mine, k) if scoped.total_shown else HIDDEN
    return whole, rows
