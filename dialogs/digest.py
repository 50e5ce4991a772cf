"""A leader's weekly digest from check-in aggregates: unknown measures, gaps, rates, overdue.

Pure: the service gathers the facts of the whole organisation once per period; this module
builds each leader's sections from them. Every figure goes through the one k rule
(`dialogs/privacy.py`): a measure's figure for a unit is shown only if that unit's subtree is
shown in the organisation-wide suppression tree of that measure, so no two digests (a clinic
head's and a section leader's) can be subtracted to reveal a small group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from dialogs.model import MeasureAnswer, MeasureStatus
from dialogs.org import subtree
from dialogs.privacy import DEFAULT_K, GroupNode, Suppression, can_show_rate, suppress_tree
from dialogs.records import UnitRecord

ANSWER_CODES = tuple(answer.value for answer in MeasureAnswer)
"""The staff answers in their canonical order: started, planned, not relevant, don't know."""
LEADER_STARTED = frozenset({MeasureStatus.STARTED, MeasureStatus.DONE, MeasureStatus.EVALUATED})
LEADER_NOT_STARTED = frozenset({MeasureStatus.NOT_STARTED, MeasureStatus.PLANNED})
FINISHED = frozenset({MeasureStatus.DONE, MeasureStatus.EVALUATED, MeasureStatus.DROPPED})


@dataclass(frozen=True)
class DigestRules:
    """Thresholds of a digest.

    Attributes:
        k: Minimum respondents behind a shown figure (and invitees behind a shown rate).
        unknown_share: A measure is "unknown to staff" at or above this «Vet ikke» share.
        gap_share: More than this share of staff disagreeing with the leader makes a gap.
    """

    k: int = DEFAULT_K
    unknown_share: Decimal = Decimal("0.5")
    gap_share: Decimal = Decimal("0.5")


@dataclass(frozen=True)
class MeasureFacts:
    """What the organisation knows about one measure in the digest's window.

    Attributes:
        slug: The measure.
        leader_status: The status its owner declared.
        deadline: Its deadline, if any.
        last_change: The day of its latest status change, if any.
        answers: Unit -> answer code -> distinct staff of that very unit (not its sub-units)
            whose latest answer in the window was that code.
        asked: Units whose staff were asked about the measure in the window.
    """

    slug: str
    leader_status: MeasureStatus
    deadline: date | None
    last_change: date | None
    answers: Mapping[str, Mapping[str, int]]
    asked: frozenset[str]


@dataclass(frozen=True)
class RateFacts:
    """A unit's check-in response: the latest check-in and the one before, (answered, eligible).

    The two are different rounds, so the periods compared are disjoint.
    """

    unit_id: str
    current: tuple[int, int] | None
    previous: tuple[int, int] | None


@dataclass(frozen=True)
class MeasureFigure:
    """A shown figure: respondents and how many gave each answer."""

    slug: str
    leader_status: MeasureStatus
    n: int
    counts: Mapping[str, int]

    def share(self, code: str) -> Decimal:
        """The share (0..1) of respondents who gave `code`."""
        return Decimal(self.counts.get(code, 0)) / Decimal(self.n)


class GapKind(StrEnum):
    """Which way the leader's status and the staff's view disagree."""

    LEADER_AHEAD = "leader_ahead"
    """The leader says started (or done), most staff say planned, not relevant or don't know."""
    STAFF_AHEAD = "staff_ahead"
    """Most staff say started, the leader's status is not started or planned."""


@dataclass(frozen=True)
class Gap:
    """A measure whose leader status and staff view disagree."""

    figure: MeasureFigure
    kind: GapKind


@dataclass(frozen=True)
class RateLine:
    """A unit's check-in response rate now and before (None: hidden or no check-in)."""

    unit_id: str
    current: tuple[int, int] | None
    previous: tuple[int, int] | None
    current_hidden: bool = False
    """True when the latest check-in had fewer than k eligible invitees (rate not shown)."""
    previous_hidden: bool = False
    """The same for the check-in before it."""


@dataclass(frozen=True)
class UnitSection:
    """The digest for one unit a leader leads (its sub-units included)."""

    unit_id: str
    figures: tuple[MeasureFigure, ...]
    unknown: tuple[MeasureFigure, ...]
    gaps: tuple[Gap, ...]
    too_few: tuple[str, ...]
    unanswered: tuple[str, ...]
    overdue: tuple[str, ...]
    rates: tuple[RateLine, ...]
    owner_pending: tuple[str, ...] = field(default=())


def suppression_by_measure(
    units: Mapping[str, UnitRecord], measures: Sequence[MeasureFacts], k: int
) -> dict[str, Suppression]:
    """The organisation-wide k rule per measure (one tree of units each)."""
    result = {}
    for measure in measures:
        nodes = [
            GroupNode(
                unit.id,
                unit.parent_id if unit.parent_id in units else None,
                sum(measure.answers.get(unit.id, {}).values()),
            )
            for unit in units.values()
        ]
        result[measure.slug] = suppress_tree(nodes, k)
    return result


def build_section(
    unit_id: str,
    units: Mapping[str, UnitRecord],
    measures: Sequence[MeasureFacts],
    suppression: Mapping[str, Suppression],
    rates: Mapping[str, RateFacts],
    owner_pending: frozenset[str],
    today: date,
    rules: DigestRules,
    scope: frozenset[str] | None = None,
) -> UnitSection:
    """The digest section of one led unit.

    Args:
        unit_id: The unit the leader leads.
        units: Every unit of the organisation, by id.
        measures: Facts of every measure (all units).
        suppression: `suppression_by_measure(...)` of the same facts.
        rates: Check-in response per unit.
        owner_pending: Measures of this unit whose owner check-in is unanswered.
        today: The digest's day (for passed deadlines).
        rules: Thresholds.
        scope: The unit's subtree, if already known (else it is worked out from `units`).

    Returns:
        The section; measures not asked anywhere in the unit's subtree are left out.
    """
    if scope is None:
        scope = frozenset(subtree(units.values(), [unit_id]))
    figures, too_few, unanswered, overdue = [], [], [], []
    for measure in measures:
        if not measure.asked & scope:
            continue
        found = unit_figure(unit_id, scope, measure, suppression[measure.slug])
        if found is None:
            unanswered.append(measure.slug)
        elif isinstance(found, MeasureFigure):
            figures.append(found)
        else:
            too_few.append(measure.slug)
        if _overdue(measure, today):
            overdue.append(measure.slug)
    unknown = sorted(
        (f for f in figures if f.share(MeasureAnswer.DONT_KNOW) >= rules.unknown_share),
        key=lambda f: (-f.share(MeasureAnswer.DONT_KNOW), -f.n, f.slug),
    )
    return UnitSection(
        unit_id=unit_id,
        figures=tuple(figures),
        unknown=tuple(unknown),
        gaps=tuple(gap for f in figures if (gap := _gap(f, rules)) is not None),
        too_few=tuple(too_few),
        unanswered=tuple(unanswered),
        overdue=tuple(overdue),
        rates=tuple(_rate(rates[u], rules.k) for u in sorted(scope) if u in rates),
        owner_pending=tuple(sorted(owner_pending)),
    )


TOO_FEW = "too_few"
"""A figure hidden by the k rule («for få svar»)."""


def unit_figure(
    unit_id: str, scope: Set[str], measure: MeasureFacts, suppression: Suppression
) -> MeasureFigure | str | None:
    """A measure's figure over a unit's subtree `scope`: shown, TOO_FEW, or None (no answers)."""
    counts = {
        code: sum(measure.answers.get(unit, {}).get(code, 0) for unit in scope)
        for code in ANSWER_CODES
    }
    n = sum(counts.values())
    if n == 0:
        return None
    if not suppression.shown(unit_id):
        return TOO_FEW
    return MeasureFigure(measure.slug, measure.leader_status, n, counts)


def _gap(figure: MeasureFigure, rules: DigestRules) -> Gap | None:
    started = figure.share(MeasureAnswer.STARTED)
    if figure.leader_status in LEADER_STARTED and 1 - started > rules.gap_share:
        return Gap(figure, GapKind.LEADER_AHEAD)
    if figure.leader_status in LEADER_NOT_STARTED and started > rules.gap_share:
        return Gap(figure, GapKind.STAFF_AHEAD)
    return None


def _overdue(measure: MeasureFacts, today: date) -> bool:
    """A deadline passed and the status has not moved since (and the measure is not finished)."""
    if measure.deadline is None or measure.deadline >= today:
        return False
    if measure.leader_status in FINISHED:
        return False
    return measure.last_change is None or measure.last_change < measure.deadline


def _rate(facts: RateFacts, k: int) -> RateLine:
    pairs = (facts.current, facts.previous)
    shown = [pair if pair is not None and can_show_rate(pair[1], k) else None for pair in pairs]
    hidden = [pair is not None and not can_show_rate(pair[1], k) for pair in pairs]
    return RateLine(facts.unit_id, shown[0], shown[1], hidden[0], hidden[1])
