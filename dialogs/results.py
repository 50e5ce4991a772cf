"""Round results from answer facts: n, %, denominators and k-suppression (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from dialogs.i18n import round_half_up
from dialogs.model import AnswerValue, ItemKind, LocalizedText, Questionnaire
from dialogs.privacy import GroupNode, can_show_rate, suppress_tree
from dialogs.records import ParticipationRecord, ParticipationStatus, UnitRecord

CHOICE_KINDS = frozenset(
    {
        ItemKind.SINGLE,
        ItemKind.SCALE,
        ItemKind.YES_NO_NA,
        ItemKind.CONSENT,
        ItemKind.MEASURE_STATUS,
    }
)


@dataclass(frozen=True)
class AnswerFact:
    """One submitted answer: who (an opaque respondent key), where, which item, what."""

    respondent: str
    unit_id: str
    item_id: str
    value: AnswerValue


@dataclass(frozen=True)
class OptionResult:
    """How many picked one option, and the share of the item's denominator."""

    id: str
    label: LocalizedText
    n: int
    pct: Decimal | None


@dataclass(frozen=True)
class ItemResult:
    """One item's figures; `suppressed` when its group is under k."""

    id: str
    kind: ItemKind
    text: LocalizedText
    denominator_kind: str
    denominator: int
    suppressed: bool
    options: tuple[OptionResult, ...]


@dataclass(frozen=True)
class GroupResult:
    """The figures of one unit's subtree (suppressed groups carry no item figures)."""

    unit_id: str
    name: LocalizedText
    respondents: int
    suppressed: bool
    items: tuple[ItemResult, ...]


@dataclass(frozen=True)
class RoundResults:
    """Everything a results report shows (counts are None when fewer than k are eligible)."""

    invited: int | None
    ineligible: int | None
    unreachable: int | None
    eligible: int | None
    respondents: int | None
    response_rate: Decimal | None
    suppressed: bool
    items: tuple[ItemResult, ...]
    groups: tuple[GroupResult, ...]
    k: int


def percent(n: int, denominator: int) -> Decimal | None:
    """The share n / denominator in percent, rounded half up to two decimals (None for 0/0)."""
    if denominator == 0:
        return None
    return round_half_up(Decimal(n) * 100 / Decimal(denominator), 2)


def item_results(
    questionnaire: Questionnaire, facts: Sequence[AnswerFact], suppressed: bool, k: int
) -> tuple[ItemResult, ...]:
    """Per-item option counts over `facts`; blank where the group is too small.

    An item is blank when the whole group, or the item's own respondents (conditional and
    optional items), are fewer than k.
    """
    by_item: dict[str, list[AnswerValue]] = {}
    for fact in facts:
        by_item.setdefault(fact.item_id, []).append(fact.value)
    results = []
    for item in questionnaire.items:
        values = by_item.get(item.id, [])
        multi = item.kind == ItemKind.MULTI
        hidden = suppressed or 0 < len(values) < k
        denominator = 0 if hidden else len(values)
        options = tuple(
            OptionResult(
                option.id,
                option.label,
                0 if hidden else sum(option.id in v.option_ids() for v in values),
                None
                if hidden
                else percent(sum(option.id in v.option_ids() for v in values), denominator),
            )
            for option in item.options
            if item.kind in CHOICE_KINDS or multi
        )
        results.append(
            ItemResult(
                id=item.id,
                kind=item.kind,
                text=item.text,
                denominator_kind="respondents" if multi else "item",
                denominator=denominator,
                suppressed=hidden,
                options=options,
            )
        )
    return tuple(results)


def compute_results(
    questionnaire: Questionnaire,
    facts: Sequence[AnswerFact],
    participations: Sequence[ParticipationRecord],
    units: Sequence[UnitRecord],
    audience: set[str],
    k: int,
    by_unit: bool = False,
) -> RoundResults:
    """The figures of a round; no group under k respondents is shown or recoverable."""
    status = [p.status for p in participations]
    invited = len(status)
    ineligible = status.count(ParticipationStatus.INELIGIBLE)
    unreachable = status.count(ParticipationStatus.UNREACHABLE)
    eligible = invited - ineligible - unreachable
    respondents = status.count(ParticipationStatus.COMPLETED)
    # "Forget me" removes identified answers but keeps the participation: count both.
    answered = len({fact.respondent for fact in facts})
    overall_hidden = min(respondents, answered) < k
    groups: tuple[GroupResult, ...] = ()
    if by_unit:
        groups = _groups(questionnaire, facts, units, audience, k)
    # With fewer than k eligible, the counts would give away what the hidden rate hides.
    shown = can_show_rate(eligible, k)
    return RoundResults(
        invited=invited if shown else None,
        ineligible=ineligible if shown else None,
        unreachable=unreachable if shown else None,
        eligible=eligible if shown else None,
        respondents=respondents if shown else None,
        response_rate=percent(respondents, eligible) if shown else None,
        suppressed=overall_hidden,
        items=item_results(questionnaire, facts, overall_hidden, k),
        groups=groups,
        k=k,
    )


def _groups(
    questionnaire: Questionnaire,
    facts: Sequence[AnswerFact],
    units: Sequence[UnitRecord],
    audience: set[str],
    k: int,
) -> tuple[GroupResult, ...]:
    members = [u for u in units if u.id in audience]
    own: dict[str, set[str]] = {}
    for fact in facts:
        own.setdefault(fact.unit_id, set()).add(fact.respondent)
    # The report's overall figure sits above the audience's top units: with two or more of them
    # it minus the shown ones must not reveal a hidden one, so it joins the tree as their root.
    whole = "\0all"  # never a unit id
    nodes = [GroupNode(whole, None, 0)] + [
        GroupNode(u.id, u.parent_id if u.parent_id in audience else whole, len(own.get(u.id, ())))
        for u in members
    ]
    suppression = suppress_tree(nodes, k)
    children: dict[str, list[str]] = {}
    for unit in members:
        if unit.parent_id in audience:
            children.setdefault(unit.parent_id, []).append(unit.id)

    def subtree(unit_id: str) -> set[str]:
        found = {unit_id}
        for child in children.get(unit_id, []):
            found |= subtree(child)
        return found

    results = []
    for unit in members:
        scope = subtree(unit.id)
        scoped = [f for f in facts if f.unit_id in scope]
        hidden = not suppression.shown(unit.id)
        results.append(
            GroupResult(
                unit_id=unit.id,
                name=unit.name,
                respondents=0 if hidden else len({f.respondent for f in scoped}),
                suppressed=hidden,
                items=item_results(questionnaire, scoped, hidden, k),
            )
        )
    return tuple(results)
