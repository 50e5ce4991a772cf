"""The dashboard's response-rate figures per round and per unit, with the k rule applied (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from dialogs.model import LocalizedText
from dialogs.privacy import GroupNode, can_show_rate, suppress_tree
from dialogs.records import ParticipationRecord, ParticipationStatus, UnitRecord
from dialogs.results import percent

ELIGIBLE = frozenset({ParticipationStatus.INVITED, ParticipationStatus.COMPLETED})
"""Who counts in the denominator: ineligible and unreachable invitees are left out."""
WHOLE = "\0all"
"""The key of the whole scope in the unit tree (never a unit id)."""


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

    The rule of dialogs/privacy.py runs on eligible invitees over the unit tree (with the whole
    scope as its root), so neither a small unit nor, by subtraction, a hidden remainder under k
    shows a rate.

    Args:
        units: Every unit by id.
        participations: The round's participations (any unit; those outside `scope` are ignored).
        scope: The units the viewer may see figures of.
        k: The minimum group size.
    """
    mine = [p for p in participations if p.unit_id in scope]
    own: dict[str, int] = {}
    for participation in mine:
        own[participation.unit_id] = own.get(participation.unit_id, 0) + (
            participation.status in ELIGIBLE
        )
    # Units in scope with invitees somewhere below them (the set is closed under ancestors
    # in scope, so each node's parent is its own parent, or the whole when outside scope).
    present: set[str] = set()
    for unit_id in own:
        current: str | None = unit_id
        while current is not None and current in scope and current not in present:
            present.add(current)
            current = _parent(units, current)
    parent_of: dict[str, str] = {}
    for unit_id in present:
        parent = _parent(units, unit_id)
        parent_of[unit_id] = parent if parent is not None and parent in present else WHOLE
    nodes = [GroupNode(WHOLE, None, 0)]
    nodes += [GroupNode(u, parent_of[u], own.get(u, 0)) for u in present]
    suppression = suppress_tree(nodes, k)
    by_unit: dict[str, list[ParticipationRecord]] = {}
    for participation in mine:
        by_unit.setdefault(participation.unit_id, []).append(participation)
    children: dict[str, list[str]] = {}
    for unit_id, above in parent_of.items():
        children.setdefault(above, []).append(unit_id)

    def subtree_of(unit_id: str) -> list[ParticipationRecord]:
        found = list(by_unit.get(unit_id, ()))
        for child in children.get(unit_id, ()):
            found += subtree_of(child)
        return found

    rows: list[UnitRow] = []

    def walk(key: str, depth: int) -> None:
        for unit_id in sorted(children.get(key, ()), key=lambda u: units[u].name.get("nb")):
            figure = rate_figure(subtree_of(unit_id), k) if suppression.shown(unit_id) else HIDDEN
            rows.append(UnitRow(unit_id, units[unit_id].name, depth, figure))
            walk(unit_id, depth + 1)

    walk(WHOLE, 0)
    whole = rate_figure(mine, k) if suppression.shown(WHOLE) else HIDDEN
    return whole, rows


def _parent(units: Mapping[str, UnitRecord], unit_id: str) -> str | None:
    unit = units.get(unit_id)
    return unit.parent_id if unit else None
