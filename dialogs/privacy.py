"""The minimum group size rule (k): which group figures every surface may show, and which not."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType

DEFAULT_K = 5
"""Minimum number of respondents (or invitees, for a response rate) behind a shown figure."""

Period = tuple[date, date]
"""A reporting period: first and last day, both inclusive."""


class SuppressionReason(StrEnum):
    """Why a group's figure is hidden («for få svar»)."""

    TOO_FEW = "too_few"
    COMPLEMENTARY = "complementary"


@dataclass(frozen=True)
class GroupNode:
    """One group of a tree (usually a unit) and the respondents attached to it directly.

    Attributes:
        key: Unique key of the group.
        parent: Key of the parent group, or None for a top-level group.
        own_respondents: Respondents in this group itself, not in any of its child groups.
    """

    key: str
    parent: str | None
    own_respondents: int


@dataclass(frozen=True)
class Suppression:
    """The outcome of the rule: which groups may be shown, and why the others are hidden.

    Attributes:
        visible: Keys of the groups whose figures may be shown.
        reasons: Why each hidden group is hidden, by key.
    """

    visible: frozenset[str]
    reasons: Mapping[str, SuppressionReason]

    @property
    def hidden(self) -> frozenset[str]:
        """Keys of the groups that show «for få svar»."""
        return frozenset(self.reasons)

    def shown(self, key: str) -> bool:
        """Whether the figure of `key` may be shown.

        Raises:
            KeyError: `key` was not one of the groups given; a typo must not default to "show".
        """
        if key in self.visible:
            return True
        if key in self.reasons:
            return False
        raise KeyError(key)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


@dataclass(frozen=True)
class _Tree:
    own: Mapping[str, int]
    children: Mapping[str, tuple[str, ...]]
    postorder: tuple[str, ...]
    total: Mapping[str, int]

    @classmethod
    def build(cls, nodes: Sequence[GroupNode]) -> _Tree:
        own: dict[str, int] = {}
        for node in nodes:
            if node.key in own:
                raise ValueError(f"duplicate group {node.key!r}")
            if node.own_respondents < 0:
                raise ValueError(f"negative respondents in {node.key!r}")
            own[node.key] = node.own_respondents
        kids: dict[str | None, list[str]] = {}
        for node in nodes:
            if node.parent is not None and node.parent not in own:
                raise ValueError(f"group {node.key!r} has unknown parent {node.parent!r}")
            kids.setdefault(node.parent, []).append(node.key)
        children = {key: tuple(sorted(kids.get(key, ()))) for key in own}
        # Iterative post-order from the top-level groups, in key order so results never depend on
        # input order; a node not reached hangs in a parent cycle.
        postorder: list[str] = []
        stack: list[tuple[str, bool]] = [(key, False) for key in sorted(kids.get(None, ()))]
        while stack:
            key, expanded = stack.pop()
            if expanded:
                postorder.append(key)
            else:
                stack.append((key, True))
                stack.extend((child, False) for child in children[key])
        if len(postorder) != len(own):
            raise ValueError("group parents form a cycle")
        total: dict[str, int] = {}
        for key in postorder:
            total[key] = own[key] + sum(total[child] for child in children[key])
        return cls(own, children, tuple(postorder), total)


def rollup(nodes: Sequence[GroupNode]) -> dict[str, int]:
    """Respondents of each group including all its sub-groups.

    Raises:
        ValueError: Duplicate keys, unknown parents, parent cycles or negative counts.
    """
    return dict(_Tree.build(nodes).total)


def suppress_tree(
    nodes: Sequence[GroupNode],
    k: int = DEFAULT_K,
    hidden: Mapping[str, SuppressionReason] | None = None,
) -> Suppression:
    """Apply the minimum group size rule to a tree of groups whose totals roll up.

    A group with fewer than k respondents in its subtree is hidden (`TOO_FEW`); that includes
    empty groups, which have nothing to show. Then, for every shown group, the respondents that
    its figure minus the figures of the shown groups nearest below it would reveal (its own
    respondents and whatever sits in hidden sub-groups) must be 0 or at least k. Where they are
    not, the smallest such shown sub-group (ties by key) is hidden too (`COMPLEMENTARY`), and so on
    until they are. An empty group reveals nobody, so it never triggers complementary suppression.

    A group's own respondents are never a figure of their own here, only what subtraction leaves.
    A surface that lists them as a row ("direct") passes them as a child group instead.

    Top-level groups are not compared with each other: there is no figure above them. A surface
    that shows a grand total over several top-level groups must pass it as one root group.

    Args:
        nodes: The groups, in any order.
        k: The minimum group size.
        hidden: Groups already hidden by the rule applied to a wider figure (e.g. a unit hidden
            as a whole, when the figure is one item's respondents), with their reasons: they stay
            hidden and count as hidden for complementary suppression.

    Returns:
        Which groups may be shown. The result depends only on the groups, not on their order.

    Raises:
        ValueError: k < 1, duplicate keys, unknown parents, parent cycles, negative counts or a
            hidden key that is not one of the groups.
    """
    _check_k(k)
    tree = _Tree.build(nodes)
    reasons = {key: SuppressionReason.TOO_FEW for key in tree.postorder if tree.total[key] < k}
    for key, why in (hidden or {}).items():
        if key not in tree.own:
            raise ValueError(f"hidden group {key!r} is not one of the groups")
        reasons.setdefault(key, why)

    def nearest_shown(key: str) -> Iterator[str]:
        # Shown groups below `key` reached through hidden groups only: exactly those a reader
        # can subtract from the figure of `key`.
        stack = list(tree.children[key])
        while stack:
            sub = stack.pop()
            if sub in reasons:
                stack.extend(tree.children[sub])
            else:
                yield sub

    # uncovered[g]: respondents of g not inside any shown group below g. Bottom-up works in one
    # pass because hiding a group only changes what its ancestors reveal, and they come later.
    uncovered: dict[str, int] = {}
    for key in tree.postorder:
        revealed = tree.own[key] + sum(
            uncovered[child] for child in tree.children[key] if child in reasons
        )
        if key not in reasons and 0 < revealed < k:
            # total[key] == revealed + sum of the heap's totals, and total[key] >= k > revealed,
            # so the heap cannot run dry before `revealed` reaches k.
            heap = [(tree.total[sub], sub) for sub in nearest_shown(key)]
            heapq.heapify(heap)
            while 0 < revealed < k:
                _, smallest = heapq.heappop(heap)
                reasons[smallest] = SuppressionReason.COMPLEMENTARY
                revealed += uncovered[smallest]
                for sub in nearest_shown(smallest):
                    heapq.heappush(heap, (tree.total[sub], sub))
        uncovered[key] = revealed
    visible = frozenset(tree.postorder) - reasons.keys()
    return Suppression(visible, MappingProxyType(dict(sorted(reasons.items()))))


def suppress_siblings(
    counts: Mapping[str, int],
    k: int = DEFAULT_K,
    unlisted: int = 0,
    hidden: Mapping[str, SuppressionReason] | None = None,
) -> Suppression:
    """Apply the rule to one set of disjoint groups that together make up a shown whole.

    Used for a figure split by a variable (cross-tab columns or rows, e.g. yes/no) as well as
    for sub-units of one unit without a deeper tree.

    Args:
        counts: Respondents per group.
        k: The minimum group size.
        unlisted: Respondents of the whole who are in none of the groups (e.g. did not answer
            the split question); a reader gets them by subtraction, so they count as hidden.
        hidden: Groups already hidden by a wider figure's rule (see `suppress_tree`).

    Returns:
        Which groups may be shown.

    Raises:
        ValueError: k < 1, negative counts or an unknown hidden key.
    """
    # A key longer than every group key cannot collide with one.
    whole = "\0" * (max(map(len, counts), default=0) + 1)
    nodes = [GroupNode(whole, None, unlisted)]
    nodes.extend(GroupNode(key, whole, n) for key, n in counts.items())
    result = suppress_tree(nodes, k, hidden)
    reasons = {key: why for key, why in result.reasons.items() if key != whole}
    return Suppression(result.visible - {whole}, MappingProxyType(reasons))


ALL_GROUPS = "\0all"
"""The root `suppress_scope` puts above the top groups (never a unit id)."""


@dataclass(frozen=True)
class ScopedSuppression:
    """The rule over a whole tree, as one viewer of part of it may use it.

    Attributes:
        suppression: Which groups may be shown (the same for every viewer), `ALL_GROUPS` included.
        parent: The group above each group with members below it (`ALL_GROUPS` at the top).
        total_shown: Whether the viewer's scope total may be shown.
    """

    suppression: Suppression
    parent: Mapping[str, str]
    total_shown: bool


def suppress_scope(
    own: Mapping[str, int],
    parent_of: Mapping[str, str | None],
    scope: Set[str],
    k: int = DEFAULT_K,
) -> ScopedSuppression:
    """Apply the rule to a whole unit tree, for a viewer who sees only part of it (`scope`).

    The rule runs over every group, not only the viewer's, so each viewer hides the same groups:
    with a tree cut to each scope, two viewers of nested scopes would each see a figure the
    other's page hides, and together subtract it. The scope's own total is shown only when it is
    one of the tree's shown figures or a sum of them: the scope holds every member, or each of its
    top groups is shown.

    Args:
        own: Members of each group directly (groups without members may be left out).
        parent_of: The group above each group (None at the top); unknown groups are top groups.
        scope: The groups the viewer sees (with every group below them).
        k: The minimum group size.
    """
    present: set[str] = set()
    for key in own:
        current: str | None = key
        while current is not None and current not in present:
            present.add(current)
            current = parent_of.get(current)
    parent: dict[str, str] = {}
    for key in present:
        above = parent_of.get(key)
        parent[key] = above if above is not None and above in present else ALL_GROUPS
    nodes = [GroupNode(ALL_GROUPS, None, 0)]
    nodes += [GroupNode(key, parent[key], own.get(key, 0)) for key in present]
    suppression = suppress_tree(nodes, k)
    if all(key in scope for key, n in own.items() if n):
        total_shown = suppression.shown(ALL_GROUPS)
    else:
        tops = [key for key in present & scope if parent[key] not in scope]
        total_shown = bool(tops) and all(suppression.shown(key) for key in tops)
    return ScopedSuppression(suppression, MappingProxyType(parent), total_shown)


def can_show_rate(invitees: int, k: int = DEFAULT_K) -> bool:
    """Whether a response rate may be shown for a group with this many invitees."""
    _check_k(k)
    return invitees >= k


def require_disjoint(a: Period, b: Period) -> None:
    """Check that two periods of a trend share no day.

    Overlapping periods would reveal, by subtraction, the answers given in the days only one of
    them covers, however few they are.

    Raises:
        ValueError: A period ends before it starts, or the periods overlap.
    """
    for start, end in (a, b):
        if end < start:
            raise ValueError(f"period ends before it starts: {start} > {end}")
    if a[0] <= b[1] and b[0] <= a[1]:
        raise ValueError(f"periods overlap: {a[0]}–{a[1]} and {b[0]}–{b[1]}")
