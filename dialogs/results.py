"""Round results from answer facts: n, %, denominators and k-suppression (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from dialogs.i18n import round_half_up, translate
from dialogs.model import LOCALES, AnswerValue, ItemKind, LocalizedText, Questionnaire, Role
from dialogs.privacy import (
    GroupNode,
    Suppression,
    SuppressionReason,
    can_show_rate,
    suppress_siblings,
    suppress_tree,
)
from dialogs.records import (
    MembershipRecord,
    ParticipationRecord,
    ParticipationStatus,
    UnitRecord,
)

COMMENT_SUFFIX = ".comment"
"""Item id suffix of the optional comment after an item."""

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
    texts: tuple[str, ...] = ()
    """Free-text answers (text items), sorted; only in the whole round's figures and only
    when at least k answered."""
    comments: tuple[str, ...] = ()
    """Comments after the item, sorted; only in the whole round's figures, at least k."""


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
    crosstab: CrossTab | None = None


class CrossTabKind(StrEnum):
    """What splits the respondents into cross-tab columns."""

    ITEM = "item"
    ROLE = "role"


@dataclass(frozen=True)
class CrossTabRequest:
    """Which columns to split the round's respondents into, and who falls in which.

    Attributes:
        by: The splitting item's id, or "role".
        kind: Whether an item or the membership role splits.
        label: What the split is called in reports.
        columns: Column key and label, in report order.
        column_of: Respondent key -> column key; respondents missing here are in no column.
    """

    by: str
    kind: CrossTabKind
    label: LocalizedText
    columns: tuple[tuple[str, LocalizedText], ...]
    column_of: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CrossTabColumn:
    """One column of a cross-tab: a group of respondents under the same k rule as a unit."""

    key: str
    label: LocalizedText
    respondents: int
    suppressed: bool
    reason: SuppressionReason | None
    items: tuple[ItemResult, ...]


@dataclass(frozen=True)
class CrossTab:
    """The round's figures split by one variable (never the whole round's free text)."""

    by: str
    kind: CrossTabKind
    label: LocalizedText
    respondents: int
    """Respondents the columns split (0 when the whole round is hidden)."""
    columns: tuple[CrossTabColumn, ...]


class CrossTabError(ValueError):
    """The requested split is not possible (unknown item, not a single choice, ...)."""


ROLE_PRECEDENCE: tuple[Role, ...] = (
    Role.LEADER,
    Role.COORDINATOR,
    Role.ADMIN,
    Role.UNION_REP,
    Role.SAFETY_REP,
    Role.STAFF,
)
"""Columns of a split by role, and which role counts when a person holds several: columns must
be disjoint, or one column minus another would reveal whoever is in both."""


def percent(n: int, denominator: int) -> Decimal | None:
    """The share n / denominator in percent, rounded half up to two decimals (None for 0/0)."""
    if denominator == 0:
        return None
    return round_half_up(Decimal(n) * 100 / Decimal(denominator), 2)


def item_results(
    questionnaire: Questionnaire,
    facts: Sequence[AnswerFact],
    suppressed: bool,
    k: int,
    hidden_items: Collection[str] = (),
    texts: bool = False,
) -> tuple[ItemResult, ...]:
    """Per-item option counts over `facts`; blank where the group is too small.

    An item is blank when the whole group, or the item's own respondents (conditional and
    optional items), are fewer than k, or when `hidden_items` names it (complementary
    suppression of the item's respondents across groups).

    Args:
        questionnaire: The round's questionnaire.
        facts: The answers of the group.
        suppressed: The group as a whole is hidden.
        k: The minimum group size.
        hidden_items: Items hidden in this group by a rule over several groups.
        texts: Include free-text answers and comments (where at least k wrote one).
    """
    by_item: dict[str, list[AnswerValue]] = {}
    for fact in facts:
        by_item.setdefault(fact.item_id, []).append(fact.value)
    results = []
    for item in questionnaire.items:
        values = by_item.get(item.id, [])
        multi = item.kind == ItemKind.MULTI
        hidden = suppressed or 0 < len(values) < k or (item.id in hidden_items and values != [])
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
        written: tuple[str, ...] = ()
        comments: tuple[str, ...] = ()
        if texts and not hidden and item.kind == ItemKind.TEXT:
            written = _sorted_texts(values)
        remarks = by_item.get(item.id + COMMENT_SUFFIX, [])
        if texts and not suppressed and len(remarks) >= k:
            comments = _sorted_texts(remarks)
        results.append(
            ItemResult(
                id=item.id,
                kind=item.kind,
                text=item.text,
                denominator_kind="respondents" if multi else "item",
                denominator=denominator,
                suppressed=hidden,
                options=options,
                texts=written,
                comments=comments,
            )
        )
    return tuple(results)


def _sorted_texts(values: Iterable[AnswerValue]) -> tuple[str, ...]:
    # Sorted, so the order never reproduces who answered first.
    return tuple(sorted(v.text.strip() for v in values if v.text and v.text.strip()))


def compute_results(
    questionnaire: Questionnaire,
    facts: Sequence[AnswerFact],
    participations: Sequence[ParticipationRecord],
    units: Sequence[UnitRecord],
    audience: set[str],
    k: int,
    by_unit: bool = False,
    crosstab: CrossTabRequest | None = None,
    texts: bool = False,
) -> RoundResults:
    """The figures of a round; no group under k respondents is shown or recoverable.

    Args:
        questionnaire: The round's questionnaire.
        facts: Every submitted answer.
        participations: Every participation (the response rate's denominators).
        units: The organisation.
        audience: The units the round was sent to, with their sub-units.
        k: The minimum group size.
        by_unit: Add a breakdown by unit.
        crosstab: Add the figures split by one variable.
        texts: Include free-text answers and comments in the whole round's figures.
    """
    status = [p.status for p in participations]
    invited = len(status)
    ineligible = status.count(ParticipationStatus.INELIGIBLE)
    unreachable = status.count(ParticipationStatus.UNREACHABLE)
    eligible = invited - ineligible - unreachable
    respondents = status.count(ParticipationStatus.COMPLETED)
    # "Forget me" removes identified answers but keeps the participation: count both.
    answered = len({fact.respondent for fact in facts})
    overall_hidden = min(respondents, answered) < k
    items = item_results(questionnaire, facts, overall_hidden, k, texts=texts)
    groups: tuple[GroupResult, ...] = ()
    if by_unit:
        groups = _groups(questionnaire, facts, units, audience, k, items)
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
        items=items,
        groups=groups,
        k=k,
        crosstab=None
        if crosstab is None
        else cross_tab(questionnaire, facts, crosstab, overall_hidden, items, k),
    )


def cut_to_scope(
    results: RoundResults, units: Sequence[UnitRecord], scope: Collection[str]
) -> RoundResults:
    """A whole round's figures (by unit) cut to the units a viewer may see.

    A report computed from the viewer's units alone would decide the k rule over their part of
    the tree only, and two viewers of nested parts could subtract each other's figures. So the
    rule runs over the whole round and the report is cut: units in scope keep their groups, and
    the overall figure becomes that of the scope's one top unit (hidden when the scope has
    several: their sum is no figure of the tree), or stays the round's when the scope is all.
    """
    groups = tuple(g for g in results.groups if g.unit_id in scope)
    if len(groups) == len(results.groups):
        return results
    parent = {u.id: u.parent_id for u in units}
    tops = [g for g in groups if parent.get(g.unit_id) not in scope]
    if len(tops) == 1:
        suppressed, items = tops[0].suppressed, tops[0].items
    else:
        suppressed = True
        items = tuple(
            replace(
                i,
                suppressed=True,
                denominator=0,
                options=tuple(replace(o, n=0, pct=None) for o in i.options),
                texts=(),
                comments=(),
            )
            for i in results.items
        )
    return replace(
        results,
        invited=None,
        ineligible=None,
        unreachable=None,
        eligible=None,
        respondents=None,
        response_rate=None,
        suppressed=suppressed,
        items=items,
        groups=groups,
        crosstab=None,
    )


def _hidden_items(
    questionnaire: Questionnaire,
    facts: Sequence[AnswerFact],
    group_of: Mapping[str, str],
    suppress: Callable[[Mapping[str, int], str], Suppression],
    whole: Sequence[ItemResult],
) -> dict[str, set[str]]:
    """Group -> items hidden there, so no item's respondents under k are revealed either.

    Conditional and optional items are answered by fewer than the group: an item shown for a
    parent (or the whole) minus the item shown for the visible groups must not leave a few
    answers of a hidden group to read off.

    Args:
        questionnaire: The round's questionnaire.
        facts: Every submitted answer.
        group_of: Respondent key -> the group they count in directly (missing: none).
        suppress: The k rule for one item: its respondents per group, and the item id.
        whole: The whole round's item figures (an item hidden there is hidden everywhere).
    """
    counted: dict[str, dict[str, set[str]]] = {}
    for fact in facts:
        group = group_of.get(fact.respondent)
        if group is not None:
            counted.setdefault(fact.item_id, {}).setdefault(group, set()).add(fact.respondent)
    hidden: dict[str, set[str]] = {}
    overall = {item.id: item.suppressed for item in whole}
    for item in questionnaire.items:
        per_group = {g: len(who) for g, who in counted.get(item.id, {}).items()}
        if overall[item.id]:
            verdict_hidden: Iterable[str] = per_group
        else:
            verdict_hidden = suppress(per_group, item.id).hidden
        for group in verdict_hidden:
            hidden.setdefault(group, set()).add(item.id)
    return hidden


def _groups(
    questionnaire: Questionnaire,
    facts: Sequence[AnswerFact],
    units: Sequence[UnitRecord],
    audience: set[str],
    k: int,
    whole_items: Sequence[ItemResult],
) -> tuple[GroupResult, ...]:
    members = [u for u in units if u.id in audience]
    own: dict[str, set[str]] = {}
    for fact in facts:
        own.setdefault(fact.unit_id, set()).add(fact.respondent)
    # The report's overall figure sits above the audience's top units: with two or more of them
    # it minus the shown ones must not reveal a hidden one, so it joins the tree as their root.
    whole = "\0all"  # never a unit id
    parent_of = {u.id: u.parent_id if u.parent_id in audience else whole for u in members}
    nodes = [GroupNode(whole, None, 0)] + [
        GroupNode(u.id, parent_of[u.id], len(own.get(u.id, ()))) for u in members
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

    def suppress_item(per_unit: Mapping[str, int], _item: str) -> Suppression:
        item_nodes = [GroupNode(whole, None, 0)] + [
            GroupNode(u.id, parent_of[u.id], per_unit.get(u.id, 0)) for u in members
        ]
        return suppress_tree(item_nodes, k, suppression.reasons)

    unit_of = {f.respondent: f.unit_id for f in facts if f.unit_id in audience}
    hidden_items = _hidden_items(questionnaire, facts, unit_of, suppress_item, whole_items)
    # An item hidden in a unit is not shown for its ancestors' sums either: suppress_tree
    # already hides whatever subtraction would reveal, so the per-unit verdicts are complete.
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
                items=item_results(
                    questionnaire, scoped, hidden, k, hidden_items.get(unit.id, set())
                ),
            )
        )
    return tuple(results)


def cross_tab(
    questionnaire: Questionnaire,
    facts: Sequence[AnswerFact],
    request: CrossTabRequest,
    suppressed: bool,
    whole_items: Sequence[ItemResult],
    k: int,
) -> CrossTab:
    """The round's figures split into the request's columns under the k rule.

    A column is a group of respondents: under k it is hidden, and complementary suppression
    hides more columns until the whole round minus the shown columns (respondents in no column
    included) reveals nobody or at least k. The same holds for each item's respondents.

    Args:
        questionnaire: The round's questionnaire.
        facts: Every submitted answer.
        request: The columns and who falls in which.
        suppressed: The whole round is hidden (then every column is too).
        whole_items: The whole round's item figures.
        k: The minimum group size.
    """
    everyone = {fact.respondent for fact in facts}
    keys = [key for key, _label in request.columns]
    counts = dict.fromkeys(keys, 0)
    for respondent in everyone:
        column = request.column_of.get(respondent)
        if column in counts:
            counts[column] += 1
    column_of = {r: c for r, c in request.column_of.items() if r in everyone and c in counts}
    if suppressed:
        columns = Suppression(frozenset(), dict.fromkeys(keys, SuppressionReason.TOO_FEW))
    else:
        columns = suppress_siblings(counts, k, len(everyone) - sum(counts.values()))
    item_respondents: dict[str, set[str]] = {}
    for fact in facts:
        item_respondents.setdefault(fact.item_id, set()).add(fact.respondent)

    def suppress_item(per_column: Mapping[str, int], item_id: str) -> Suppression:
        listed = {key: per_column.get(key, 0) for key in keys}
        unlisted = len(item_respondents.get(item_id, ())) - sum(listed.values())
        return suppress_siblings(listed, k, unlisted, columns.reasons)

    hidden_items = _hidden_items(questionnaire, facts, column_of, suppress_item, whole_items)
    result = []
    for key, label in request.columns:
        hidden = not columns.shown(key)
        scoped = [f for f in facts if column_of.get(f.respondent) == key]
        result.append(
            CrossTabColumn(
                key=key,
                label=label,
                respondents=0 if hidden else counts[key],
                suppressed=hidden,
                reason=columns.reasons.get(key),
                items=item_results(questionnaire, scoped, hidden, k, hidden_items.get(key, set())),
            )
        )
    total = 0 if suppressed else len(everyone)
    return CrossTab(request.by, request.kind, request.label, total, tuple(result))


def by_item(
    questionnaire: Questionnaire, facts: Sequence[AnswerFact], item_id: str
) -> CrossTabRequest:
    """A split by the answer to one single-choice item of the questionnaire.

    Raises:
        CrossTabError: No such item, or not one answer out of fixed options.
    """
    item = questionnaire.item(item_id)
    if item is None:
        known = ", ".join(i.id for i in questionnaire.items if i.kind in CHOICE_KINDS)
        raise CrossTabError(f"no item {item_id!r} in {questionnaire.id} (choose one of: {known})")
    if item.kind not in CHOICE_KINDS or item.kind == ItemKind.MULTI:
        raise CrossTabError(
            f"item {item_id!r} is {item.kind.value}: split by a single-choice or yes/no item"
        )
    column_of = {
        fact.respondent: fact.value.choice
        for fact in facts
        if fact.item_id == item_id and fact.value.choice is not None
    }
    return CrossTabRequest(
        by=item_id,
        kind=CrossTabKind.ITEM,
        label=item.text,
        columns=tuple((option.id, option.label) for option in item.options),
        column_of=column_of,
    )


def role_of(memberships: Sequence[MembershipRecord], unit_id: str) -> Role | None:
    """The role a person answered in, for a split by role.

    Their role in the unit they answered for (in any unit if none there); the first of
    ROLE_PRECEDENCE when they hold several.
    """
    here = {m.role for m in memberships if m.unit_id == unit_id}
    held = here or {m.role for m in memberships}
    return next((role for role in ROLE_PRECEDENCE if role in held), None)


def by_role(column_of: Mapping[str, str]) -> CrossTabRequest:
    """A split by membership role (identified rounds only: see `role_of`)."""
    return CrossTabRequest(
        by="role",
        kind=CrossTabKind.ROLE,
        label=_localized("exports.role"),
        columns=tuple(
            (role.value, _localized(f"exports.role.{role.value}")) for role in ROLE_PRECEDENCE
        ),
        column_of=column_of,
    )


def _localized(key: str) -> LocalizedText:
    return LocalizedText(**{locale: translate(locale, key) for locale in LOCALES})


NAME_PART = r"[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèáó]+(?:-[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèáó]+)?"
"""A capitalised word as names are written: "Kari", "Anne-Lise" (not "NAV", not "nav")."""

_NOT_NAMES_TEXT = """
    Jeg Eg Vi Du De Dei Han Hun Ho Den Det Dette Denne Og Men Eller Som Når Der Her Hvis Om
    Ikke Ikkje Ja Nei Takk Hei Kjære Mvh Hilsen Helse Helsefellesskap Sykehus Sjukehus Sykehuset
    Sjukehuset Kommune Kommunen Klinikk Klinikken Avdeling Avdelingen Seksjon Seksjonen Post
    Posten Legevakt Legevakten Hjemmetjenesten Heimetenesta Sykehjem Sjukeheim Norge Noreg
    Oslo Bergen Trondheim Tromsø Stavanger Mandag Tirsdag Onsdag Torsdag Fredag Lørdag Søndag
    Måndag Tysdag Laurdag Sundag Januar Februar Mars April Mai Juni Juli August September
    Oktober November Desember Fjordsida Elvevik Teams Telegram Followup
"""
NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
"""Capitalised words that start many sentences or name places and services, never people."""

REDACTED = "[navn]"
"""What a redacted name becomes (the same in every locale, so exports stay comparable)."""


def redact_names(text: str, roster: Iterable[str]) -> str:
    """Replace person names in a free-text answer with «[navn]».

    Three passes, all conservative (they may miss a name; they should not eat ordinary words):

    1. Full names from the roster, case-insensitive and with any spacing.
    2. Fallback: two or three capitalised words in a row ("Ola Nordmann", "Anne-Lise Berg
       Hansen") where none is a common sentence opener, place or service name (`NOT_NAMES`).
       At the start of a sentence the first word is taken for an opener, not a name part, when
       three follow each other or when the second alone is a roster name ("Ring Anne-Lise
       Berg", "Spør Kari"). All-caps words (acronyms) never match.
    3. Parts of roster names (at least three letters) written capitalised as a whole word
       ("Kari", not "kari" or "Karianne"), unless the part is a common capitalised word.

    Args:
        text: The answer as written.
        roster: Names of the people in the roster.

    Returns:
        The text with every name found replaced by «[navn]».
    """
    names = sorted({" ".join(n.split()) for n in roster if n and n.strip()}, key=len, reverse=True)
    for name in names:
        pattern = r"\s+".join(re.escape(part) for part in name.split())
        text = re.sub(rf"(?<!\w){pattern}(?!\w)", REDACTED, text, flags=re.IGNORECASE)
    parts = {
        part
        for name in names
        for part in name.split()
        if len(part) >= 3 and part[0].isupper() and part not in NOT_NAMES
    }

    def run(match: re.Match[str]) -> str:
        words = match.group(0).split()
        before = match.string[: match.start()].rstrip()
        opening = before == "" or before[-1] in ".!?:"
        if opening and (len(words) == 3 or (words[1] in parts and words[0] not in parts)):
            return words[0] + " " + names_in(words[1:])
        return names_in(words)

    def names_in(words: Sequence[str]) -> str:
        if len(words) == 1:
            return words[0]  # a single capitalised word is left to the roster pass
        return " ".join(words) if any(w in NOT_NAMES for w in words) else REDACTED

    text = re.sub(rf"(?<![\w-]){NAME_PART}(?:[ ]+{NAME_PART}){{1,2}}(?![\w-])", run, text)
    for part in sorted(parts, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(part)}(?![\w-])", REDACTED, text)
    return text


def redact_results(results: RoundResults, roster: Iterable[str]) -> RoundResults:
    """The figures with names replaced in every free-text answer and comment.

    Free text sits only in the whole round's items; see `redact_names` for what a name is.
    """
    names = tuple(roster)
    items = tuple(
        replace(
            item,
            # Sorted again: the order of the originals would hint at the names' letters.
            texts=tuple(sorted(redact_names(t, names) for t in item.texts)),
            comments=tuple(sorted(redact_names(c, names) for c in item.comments)),
        )
        for item in results.items
    )
    return replace(results, items=items)
