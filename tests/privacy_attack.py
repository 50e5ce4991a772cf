"""An attacker model for shown group figures: which hidden groups under k can be derived.

Written apart from `dialogs/privacy.py` on purpose. The attacker knows the group tree (which group
lies inside which) and every figure any surface showed any viewer, and subtracts: a figure minus
the figures of the nearest shown groups below it leaves the respondents (or invitees) of exactly
the groups that are not inside any shown group below it. In a tree those remainders are the atoms
every other difference is a sum of, so checking them checks every subtraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Tree = Mapping[str, str | None]
"""Group -> the group right above it (None at the top)."""


@dataclass(frozen=True)
class Leak:
    """A group of 1..k-1 people a reader can derive.

    Attributes:
        group: The shown figure the reader starts from.
        subtracted: The shown figures below it the reader subtracts (empty: shown directly).
        people: How many people the result describes.
        why: "shown", "subtraction" or "inconsistent" (one group shown with two values).
    """

    group: str
    subtracted: tuple[str, ...]
    people: int
    why: str


class FigureBook:
    """Every figure shown of one kind (e.g. respondents), collected over surfaces and viewers."""

    def __init__(self, tree: Tree) -> None:
        self.tree = dict(tree)
        self.figures: dict[str, int] = {}
        self.where: dict[str, list[str]] = {}
        """Group -> the surfaces that showed its figure (to explain a leak)."""
        self.conflicts: list[Leak] = []

    def show(self, group: str, value: int | None, where: str = "") -> None:
        """Record that `where` shows `value` for `group` (None: hidden, nothing learnt)."""
        if group not in self.tree:
            raise KeyError(f"{where}: figure of {group!r}, which is not in the tree")
        if value is None:
            return
        self.where.setdefault(group, []).append(where)
        known = self.figures.setdefault(group, value)
        if known != value:
            self.conflicts.append(Leak(group, (), abs(known - value), f"inconsistent {where}"))

    def show_all(self, figures: Mapping[str, int | None], where: str = "") -> None:
        for group, value in figures.items():
            self.show(group, value, where)

    def leaks(self, k: int) -> list[Leak]:
        """What `find_leaks` finds in everything shown so far."""
        return self.conflicts + find_leaks(self.tree, self.figures, k)


def find_leaks(tree: Tree, shown: Mapping[str, int], k: int) -> list[Leak]:
    """Every group of 1..k-1 that the shown figures reveal, directly or by subtraction.

    Args:
        tree: Every group and the group right above it.
        shown: The figures a reader has, by group (hidden groups are absent).
        k: The minimum group size.
    """
    children: dict[str, list[str]] = {group: [] for group in tree}
    for group, up in tree.items():
        if up is not None:
            children[up].append(group)

    def nearest_shown(group: str) -> Iterable[str]:
        for child in sorted(children[group]):
            if child in shown:
                yield child
            else:
                yield from nearest_shown(child)

    found = []
    for group, value in sorted(shown.items()):
        if 0 < value < k:
            found.append(Leak(group, (), value, "shown"))
        below = tuple(nearest_shown(group))
        left = value - sum(shown[sub] for sub in below)
        if below and 0 < left < k:
            found.append(Leak(group, below, left, "subtraction"))
        if left < 0:
            found.append(Leak(group, below, left, "inconsistent (children exceed parent)"))
    return found
