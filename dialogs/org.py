"""Pure functions over the unit tree: ancestors, subtrees and inherited settings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dialogs.records import UnitRecord


def ancestor_ids(units: Mapping[str, UnitRecord], unit_id: str) -> list[str]:
    """The ids above a unit, from its parent up to the root (cycles are cut)."""
    chain: list[str] = []
    current = units.get(unit_id)
    while current is not None and current.parent_id and current.parent_id not in chain:
        chain.append(current.parent_id)
        current = units.get(current.parent_id)
    return chain


def subtree(units: Iterable[UnitRecord], roots: Sequence[str]) -> set[str]:
    """The ids of `roots` and every unit below them."""
    children: dict[str | None, list[str]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit.id)
    found: set[str] = set()
    pending = list(roots)
    while pending:
        unit_id = pending.pop()
        if unit_id not in found:
            found.add(unit_id)
            pending.extend(children.get(unit_id, []))
    return found


def zone_of(units: Mapping[str, UnitRecord], unit_id: str, default: str) -> str:
    """The time zone of a unit: its own, else the nearest ancestor's, else `default`."""
    for candidate in (unit_id, *ancestor_ids(units, unit_id)):
        unit = units.get(candidate)
        if unit is not None and unit.timezone:
            return unit.timezone
    return default


def subtrees(units: Iterable[UnitRecord]) -> dict[str, frozenset[str]]:
    """Every unit's subtree (itself and all below), from one pass over the tree."""
    listed = list(units)
    children: dict[str | None, list[str]] = {}
    for unit in listed:
        children.setdefault(unit.parent_id, []).append(unit.id)
    found: dict[str, frozenset[str]] = {}

    def below(unit_id: str, seen: frozenset[str]) -> frozenset[str]:
        if unit_id not in found:
            kids = [c for c in children.get(unit_id, []) if c not in seen]  # cycles are cut
            inner = seen | {unit_id}
            found[unit_id] = frozenset({unit_id}).union(*(below(c, inner) for c in kids))
        return found[unit_id]

    for unit in listed:
        below(unit.id, frozenset())
    return found
