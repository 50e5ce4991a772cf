"""Round figures without a database: rounding, denominators, response rates and the k rule."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from dialogs.model import AnswerValue, LocalizedText, Questionnaire
from dialogs.records import ParticipationRecord, ParticipationStatus, UnitRecord
from dialogs.results import AnswerFact, ItemResult, RoundResults, compute_results, percent
from tests.builders import free_text, multi, questionnaire, single

K = 3
SURVEY = questionnaire(
    single("role", "Leader", "Staff"),
    multi("channels", "Meetings", "Manager", "Intranet"),  # options a, b, c
    single("follow_up", "Yes", "No"),  # asked of some respondents only
    free_text("comments", required=False),
)


# --- helpers ---------------------------------------------------------------------------------


def respondent(key: str, unit: str = "unit", **answers: str | tuple[str, ...]) -> list[AnswerFact]:
    """One respondent's answers: an option id, or a tuple of ids for a multi-select."""
    return [
        AnswerFact(
            key,
            unit,
            item_id,
            AnswerValue(choices=value) if isinstance(value, tuple) else AnswerValue(choice=value),
        )
        for item_id, value in answers.items()
    ]


def everyone(*respondents: list[AnswerFact]) -> list[AnswerFact]:
    """All answer facts of a round."""
    return [fact for answers in respondents for fact in answers]


def participations(unit: str = "unit", **statuses: int) -> list[ParticipationRecord]:
    """`completed=2, invited=3...`: that many participations with each status."""
    return [
        ParticipationRecord(1, None, unit, ParticipationStatus(status), None)
        for status, n in statuses.items()
        for _ in range(n)
    ]


def unit(unit_id: str, parent: str | None = None) -> UnitRecord:
    """A unit named after its id."""
    return UnitRecord(unit_id, parent, LocalizedText(nb=unit_id))


def compute(
    facts: Sequence[AnswerFact],
    parts: Sequence[ParticipationRecord] | None = None,
    units: Sequence[UnitRecord] = (unit("unit"),),
    q: Questionnaire = SURVEY,
    by_unit: bool = False,
) -> RoundResults:
    """The figures of a round whose audience is all of `units`; by default every respondent
    of `facts` completed and nobody else was invited."""
    if parts is None:
        keys = {(f.respondent, f.unit_id) for f in facts}
        parts = [p for _key, where in keys for p in participations(where, completed=1)]
    return compute_results(q, facts, parts, units, {u.id for u in units}, K, by_unit)


def figures(item: ItemResult) -> dict[str, tuple[int, str | None]]:
    """Option id -> (n, % as text)."""
    return {o.id: (o.n, None if o.pct is None else str(o.pct)) for o in item.options}


def item(results: RoundResults | tuple[ItemResult, ...], item_id: str) -> ItemResult:
    """One item's figures."""
    items = results.items if isinstance(results, RoundResults) else results
    return next(i for i in items if i.id == item_id)


# --- percent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "denominator", "shown"),
    [
        (2, 3, "66.67"),
        (1, 3, "33.33"),
        (1, 8, "12.50"),
        (1, 6, "16.67"),
        (1, 800, "0.13"),  # 0.125 %: half up, where banker's rounding would give 0.12
        (3, 800, "0.38"),  # 0.375 %
        (107, 4000, "2.68"),  # 2.675 %: a float would round this down to 2.67
        (0, 7, "0.00"),
        (7, 7, "100.00"),
    ],
)
def test_percent_rounds_half_up_to_two_decimals(n, denominator, shown):
    assert str(percent(n, denominator)) == shown


def test_percent_of_nobody_is_no_number():
    assert percent(0, 0) is None


# --- denominators ----------------------------------------------------------------------------


def test_multi_select_shares_are_of_respondents_and_may_sum_over_100():
    results = compute(
        everyone(
            respondent("r1", channels=("a", "b")),
            respondent("r2", channels=("a",)),
            respondent("r3", channels=("b", "c")),
        )
    )

    channels = item(results, "channels")
    assert (channels.denominator_kind, channels.denominator) == ("respondents", 3)
    assert figures(channels) == {"a": (2, "66.67"), "b": (2, "66.67"), "c": (1, "33.33")}
    assert sum(o.pct or 0 for o in channels.options) == Decimal("166.67")


def test_single_choice_denominator_is_who_answered_the_item():
    results = compute(
        everyone(
            respondent("r1", role="a", follow_up="a"),
            respondent("r2", role="a", follow_up="b"),
            respondent("r3", role="b"),
            respondent("r4", role="b"),
            respondent("r5", role="b"),
            respondent("r6", role="b"),
            respondent("r7", role="b"),
            respondent("r8", role="b", follow_up="a"),
        )
    )

    role, follow_up = item(results, "role"), item(results, "follow_up")
    assert (role.denominator_kind, role.denominator) == ("item", 8)
    assert figures(role) == {"a": (2, "25.00"), "b": (6, "75.00")}
    assert follow_up.denominator == 3
    assert figures(follow_up) == {"a": (2, "66.67"), "b": (1, "33.33")}
    assert sum(o.pct or 0 for o in follow_up.options) == Decimal("100.00")


def test_answers_to_unknown_items_and_free_text_count_no_options():
    facts = everyone(*(respondent(f"r{n}", role="a") for n in range(3)))
    facts += [
        AnswerFact("r0", "unit", "comments", AnswerValue(text="Bra")),
        AnswerFact("r0", "unit", "role.comment", AnswerValue(text="Ingen navn")),
    ]

    results = compute(facts)

    # One answer to an optional item is a group of one: hidden, even with the round shown.
    assert item(results, "comments").suppressed and item(results, "comments").denominator == 0
    assert item(results, "comments").options == ()
    assert [i.id for i in results.items] == ["role", "channels", "follow_up", "comments"]


# --- response rate ---------------------------------------------------------------------------


def test_response_rate_uses_the_eligible_denominator():
    parts = participations(completed=4, invited=2, ineligible=1, unreachable=2)

    results = compute(everyone(*(respondent(f"r{n}", role="a") for n in range(4))), parts)

    assert (results.invited, results.ineligible, results.unreachable) == (9, 1, 2)
    assert (results.eligible, results.respondents) == (6, 4)
    assert str(results.response_rate) == "66.67"  # 4 of 6, not 4 of 9


def test_response_rate_is_withheld_below_k_eligible():
    parts = participations(completed=2, ineligible=3)

    results = compute(everyone(respondent("r1", role="a"), respondent("r2", role="b")), parts)

    assert (results.invited, results.eligible) == (None, None)  # they would give it away
    assert results.response_rate is None


# --- the k rule ------------------------------------------------------------------------------


def test_fewer_than_k_respondents_show_no_figures():
    results = compute(everyone(respondent("r1", role="a"), respondent("r2", role="b")))

    assert results.suppressed
    assert results.respondents is None  # 2 of 2 invited would be a rate of a group under k
    for shown in results.items:
        assert shown.suppressed
        assert shown.denominator == 0
        assert all(o.n == 0 and o.pct is None for o in shown.options)


def test_exactly_k_respondents_are_shown():
    results = compute(everyone(*(respondent(f"r{n}", role="a") for n in range(K))))

    assert not results.suppressed
    assert figures(item(results, "role")) == {"a": (3, "100.00"), "b": (0, "0.00")}


def by_unit(units: Sequence[UnitRecord], respondents: dict[str, int]) -> dict[str, int | None]:
    """Unit -> respondents shown (None when suppressed) for so many respondents per unit."""
    facts = everyone(
        *(
            respondent(f"{where}-{n}", where, role="a")
            for where, count in respondents.items()
            for n in range(count)
        )
    )
    results = compute(facts, units=units, by_unit=True)
    return {g.unit_id: None if g.suppressed else g.respondents for g in results.groups}


def test_a_small_unit_hides_its_smallest_sibling_too():
    units = [
        unit("clinic"),
        unit("heart", "clinic"),
        unit("lung", "clinic"),
        unit("ward", "clinic"),
    ]

    shown = by_unit(units, {"heart": 4, "lung": 5, "ward": 1})

    # ward alone is under k; clinic minus heart and lung would reveal it, so heart goes too.
    assert shown == {"clinic": 10, "heart": None, "lung": 5, "ward": None}


def test_the_overall_figure_does_not_reveal_a_small_top_unit():
    units = [unit("hospital"), unit("heart", "hospital"), unit("municipality")]

    shown = by_unit(units, {"heart": 5, "municipality": 1})

    # All (6) minus the hospital (5) would be the municipality's single respondent.
    assert shown["municipality"] is None
    assert shown["hospital"] is None
    assert shown["heart"] is None


def test_large_enough_top_units_are_all_shown():
    units = [unit("hospital"), unit("heart", "hospital"), unit("municipality")]

    shown = by_unit(units, {"heart": 5, "municipality": 3})

    assert shown == {"hospital": 5, "heart": 5, "municipality": 3}


def test_forgotten_respondents_do_not_let_a_smaller_group_show():
    # Three completed (k = 3), but one used "forget me": only two sets of answers remain.
    facts = everyone(*(respondent(f"r{n}", role="a") for n in range(2)))
    results = compute(facts, participations(completed=3))
    assert results.suppressed
    assert item(results, "role").denominator == 0


def test_a_hidden_response_rate_hides_the_counts_it_comes_from():
    facts = everyone(*(respondent(f"r{n}", role="a") for n in range(2)))
    results = compute(facts, participations(completed=2))  # 2 invited < k
    assert results.response_rate is None
    assert (results.invited, results.eligible, results.respondents) == (None, None, None)
