"""A unit tree for oracle tests, in plain Python (written apart from dialogs/org.py on purpose)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OracleTree:
    """Units by parent, and the staff of each unit (person ids)."""

    parent: dict[str, str | None]
    staff: dict[str, list[int]] = field(default_factory=dict)

    def children(self, unit: str) -> list[str]:
        """The units right below `unit`, by id."""
        return sorted(u for u, p in self.parent.items() if p == unit)

    def subtree(self, unit: str) -> set[str]:
        """`unit` and every unit below it."""
        found, pending = set(), [unit]
        while pending:
            current = pending.pop()
            found.add(current)
            pending.extend(self.children(current))
        return found
