"""The pure digest: unknown measures, gaps, the k rule with complementary suppression, rates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.digest import (
    DigestRules,
    GapKind,
    MeasureFacts,
    RateFacts,
    RateLine,
    UnitSection,
    build_section,
    suppression_by_measure,
)
from dialogs.model import LocalizedText, MeasureStatus
from dialogs.records import UnitRecord

TODAY = date(2026, 11, 30)
STARTED, PLANNED, NOT_RELEVANT, DONT_KNOW = "started", "planned", "not_relevant", "dont_know"
CODES = (STARTED, PLANNED, NOT_RELEVANT, DONT_KNOW)


def org(*rows: tuple[str, str | None]) -> dict[str, UnitRecord]:
    return {key: UnitRecord(key, parent, LocalizedText(nb=key)) for key, parent in rows}


def measure(
    slug: str,
    answers: Mapping[str, Mapping[str, int]] | None = None,
    *,
    status: MeasureStatus = MeasureStatus.STARTED,
    deadline: date | None = None,
    last_change: date | None = None,
    asked: set[str] | None = None,
) -> MeasureFacts:
    answers = answers or {}
    return MeasureFacts(
        slug=slug,
        leader_status=status,
        deadline=deadline,
        last_change=last_change,
        answers=answers,
        asked=frozenset(asked if asked is not None else answers),
    )


def section(
    unit_id: str,
    units: Mapping[str, UnitRecord],
    *measures: MeasureFacts,
    rates: Mapping[str, RateFacts] | None = None,
    rules: DigestRules | None = None,
    today: date = TODAY,
) -> UnitSection:
    rules = rules or DigestRules()
    return build_section(
        unit_id,
        units,
        measures,
        suppression_by_measure(units, measures, rules.k),
        rates or {},
        frozenset(),
        today,
        rules,
    )


def shown(result: UnitSection) -> dict[str, int]:
    return {f.slug: f.n for f in result.figures}


ONE = org(("a", None))


# --- unknown to staff ------------------------------------------------------------------------


def test_unknown_at_exactly_the_threshold_is_included_and_just_below_is_not():
    half = measure("half", {"a": {DONT_KNOW: 5, STARTED: 5}})
    below = measure("below", {"a": {DONT_KNOW: 4, STARTED: 5}})  # 44.4 %
    result = section("a", ONE, half, below)
    assert shown(result) == {"half": 10, "below": 9}
    assert [f.slug for f in result.unknown] == ["half"]
    assert result.unknown[0].counts[DONT_KNOW] == 5 and result.unknown[0].n == 10


def test_unknown_threshold_is_configurable():
    m = measure("m", {"a": {DONT_KNOW: 5, STARTED: 5}})
    assert section("a", ONE, m, rules=DigestRules(unknown_share=Decimal("0.51"))).unknown == ()
    assert len(section("a", ONE, m, rules=DigestRules(unknown_share=Decimal("0.5"))).unknown) == 1


def test_unknown_sorted_by_share_then_n_then_slug():
    measures = [
        measure("m1", {"a": {DONT_KNOW: 6, PLANNED: 4}}),  # 60 %, n 10
        measure("m2", {"a": {DONT_KNOW: 9, STARTED: 1}}),  # 90 %
        measure("m3", {"a": {DONT_KNOW: 3, STARTED: 2}}),  # 60 %, n 5
        measure("m0", {"a": {DONT_KNOW: 6, NOT_RELEVANT: 4}}),  # 60 %, n 10, slug first
        measure("m4", {"a": {DONT_KNOW: 12, STARTED: 8}}),  # 60 %, n 20
        measure("m5", {"a": {DONT_KNOW: 2, STARTED: 8}}),  # 20 %: not unknown
    ]
    result = section("a", ONE, *measures)
    assert [f.slug for f in result.unknown] == ["m2", "m4", "m0", "m1", "m3"]
    # The figures themselves keep the measures' order.
    assert [f.slug for f in result.figures] == ["m1", "m2", "m3", "m0", "m4", "m5"]


# --- gaps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [MeasureStatus.STARTED, MeasureStatus.DONE, MeasureStatus.EVALUATED]
)
def test_leader_ahead_needs_more_than_half_not_started(status):
    # 6 of 10 say planned / not relevant / don't know: a gap; 5 of 10: exactly half, no gap.
    over = measure(
        "over", {"a": {STARTED: 4, PLANNED: 2, NOT_RELEVANT: 2, DONT_KNOW: 2}}, status=status
    )
    half = measure(
        "half", {"a": {STARTED: 5, PLANNED: 1, NOT_RELEVANT: 2, DONT_KNOW: 2}}, status=status
    )
    odd = measure("odd", {"a": {STARTED: 4, DONT_KNOW: 5}}, status=status)  # 5 of 9
    odd_no = measure("odd-no", {"a": {STARTED: 5, DONT_KNOW: 4}}, status=status)  # 4 of 9
    result = section("a", ONE, over, half, odd, odd_no)
    assert [(g.figure.slug, g.kind) for g in result.gaps] == [
        ("over", GapKind.LEADER_AHEAD),
        ("odd", GapKind.LEADER_AHEAD),
    ]


@pytest.mark.parametrize("status", [MeasureStatus.NOT_STARTED, MeasureStatus.PLANNED])
def test_staff_ahead_needs_more_than_half_started(status):
    over = measure("over", {"a": {STARTED: 6, DONT_KNOW: 4}}, status=status)
    half = measure("half", {"a": {STARTED: 5, PLANNED: 5}}, status=status)
    result = section("a", ONE, over, half)
    assert [(g.figure.slug, g.kind) for g in result.gaps] == [("over", GapKind.STAFF_AHEAD)]


def test_no_gap_when_leader_and_staff_agree_or_the_measure_is_dropped():
    agree_started = measure("a1", {"a": {STARTED: 10}}, status=MeasureStatus.STARTED)
    agree_planned = measure("a2", {"a": {PLANNED: 10}}, status=MeasureStatus.PLANNED)
    dropped_all_started = measure("a3", {"a": {STARTED: 10}}, status=MeasureStatus.DROPPED)
    dropped_none = measure("a4", {"a": {DONT_KNOW: 10}}, status=MeasureStatus.DROPPED)
    result = section("a", ONE, agree_started, agree_planned, dropped_all_started, dropped_none)
    assert result.gaps == ()
    assert len(result.figures) == 4


def test_gaps_come_only_from_shown_figures():
    m = measure("m", {"a": {DONT_KNOW: 4}}, status=MeasureStatus.STARTED)  # n 4 < k
    result = section("a", ONE, m)
    assert (result.figures, result.gaps, result.unknown) == ((), (), ())
    assert result.too_few == ("m",)


# --- the k rule ------------------------------------------------------------------------------


def test_fewer_than_k_respondents_is_too_few_and_no_answers_is_unanswered():
    units = org(("a", None))
    four = measure("four", {"a": {STARTED: 4}})
    five = measure("five", {"a": {STARTED: 1, DONT_KNOW: 4}})
    none = measure("none", {}, asked={"a"})
    elsewhere = measure("elsewhere", {}, asked=set())  # not asked here: left out entirely
    result = section("a", units, four, five, none, elsewhere)
    assert shown(result) == {"five": 5}
    assert result.too_few == ("four",)
    assert result.unanswered == ("none",)
    assert "elsewhere" not in {*shown(result), *result.too_few, *result.unanswered}


def test_a_figure_counts_the_whole_subtree():
    units = org(("p", None), ("c", "p"), ("g", "c"), ("other", None))
    m = measure(
        "m",
        {
            "p": {STARTED: 2},
            "c": {PLANNED: 3, DONT_KNOW: 1},
            "g": {DONT_KNOW: 5},
            "other": {STARTED: 9},
        },
    )
    (figure,) = section("p", units, m).figures
    assert figure.n == 11
    assert dict(figure.counts) == {STARTED: 2, PLANNED: 3, NOT_RELEVANT: 0, DONT_KNOW: 6}


def test_complementary_suppression_between_a_big_and_a_small_sibling():
    # Parent 12 = big 10 + small 2. The parent is shown; the small child is too few; so the
    # big child must be hidden too, or its leader's figure subtracted from the parent leader's
    # figure would give the small child's two answers.
    units = org(("p", None), ("big", "p"), ("small", "p"))
    m = measure("m", {"big": {STARTED: 6, DONT_KNOW: 4}, "small": {DONT_KNOW: 2}})
    parent, big, small = (section(u, units, m) for u in ("p", "big", "small"))
    assert shown(parent) == {"m": 12}
    assert (shown(big), big.too_few) == ({}, ("m",))
    assert (shown(small), small.too_few) == ({}, ("m",))
    assert big.unknown == big.gaps == ()


def test_small_siblings_that_together_reach_k_need_no_complement():
    units = org(("p", None), ("big", "p"), ("s1", "p"), ("s2", "p"))
    m = measure("m", {"big": {STARTED: 10}, "s1": {STARTED: 2}, "s2": {STARTED: 3}})
    assert shown(section("p", units, m)) == {"m": 15}
    assert shown(section("big", units, m)) == {"m": 10}
    assert section("s1", units, m).too_few == section("s2", units, m).too_few == ("m",)


def test_a_parents_own_staff_count_like_a_hidden_child():
    # The parent's own 3 answers are revealed by parent - a - b unless one child is hidden.
    units = org(("p", None), ("a", "p"), ("b", "p"))
    m = measure("m", {"p": {STARTED: 3}, "a": {STARTED: 10}, "b": {STARTED: 10}})
    assert shown(section("p", units, m)) == {"m": 23}
    assert shown(section("a", units, m)) == {}  # the smallest child (tie: by key) goes
    assert shown(section("b", units, m)) == {"m": 10}


def test_complementary_suppression_reaches_down_a_level():
    # c = g1 8 + g2 3: g1 is hidden with g2; p = c alone, so p - c = 0 reveals nobody.
    units = org(("p", None), ("c", "p"), ("g1", "c"), ("g2", "c"))
    m = measure("m", {"g1": {STARTED: 8}, "g2": {DONT_KNOW: 3}})
    assert shown(section("p", units, m)) == {"m": 11}
    assert shown(section("c", units, m)) == {"m": 11}
    assert shown(section("g1", units, m)) == shown(section("g2", units, m)) == {}


def test_suppression_is_per_measure():
    units = org(("p", None), ("big", "p"), ("small", "p"))
    one = measure("one", {"big": {STARTED: 10}, "small": {STARTED: 2}})
    two = measure("two", {"big": {STARTED: 10}, "small": {STARTED: 6}})
    result = section("big", units, one, two)
    assert shown(result) == {"two": 10}
    assert result.too_few == ("one",)
    suppression = suppression_by_measure(units, [one, two], 5)
    assert suppression["one"].hidden == {"big", "small"}
    assert suppression["two"].hidden == frozenset()


# --- overdue ---------------------------------------------------------------------------------

PASSED = TODAY - timedelta(days=10)


@pytest.mark.parametrize(
    ("deadline", "last_change", "status", "overdue"),
    [
        (PASSED, None, MeasureStatus.NOT_STARTED, True),
        (PASSED, PASSED - timedelta(days=1), MeasureStatus.STARTED, True),
        (PASSED, PASSED - timedelta(days=30), MeasureStatus.PLANNED, True),
        (PASSED, PASSED + timedelta(days=1), MeasureStatus.STARTED, False),  # changed since
        (PASSED, PASSED, MeasureStatus.STARTED, False),  # changed on the deadline day itself
        (TODAY - timedelta(days=1), None, MeasureStatus.STARTED, True),  # passed yesterday
        (TODAY, None, MeasureStatus.STARTED, False),  # due today: not passed yet
        (TODAY + timedelta(days=5), None, MeasureStatus.STARTED, False),
        (None, None, MeasureStatus.NOT_STARTED, False),  # no deadline
        (PASSED, None, MeasureStatus.DONE, False),  # finished statuses never are
        (PASSED, None, MeasureStatus.EVALUATED, False),
        (PASSED, None, MeasureStatus.DROPPED, False),
    ],
)
def test_overdue(deadline, last_change, status, overdue):
    m = measure(
        "m",
        {"a": {STARTED: 5}},
        status=status,
        deadline=deadline,
        last_change=last_change,
    )
    assert section("a", ONE, m).overdue == (("m",) if overdue else ())


def test_overdue_does_not_depend_on_the_k_rule_but_on_being_asked():
    units = org(("p", None), ("c", "p"), ("d", "p"))
    few = measure("few", {"c": {STARTED: 1}}, deadline=PASSED)
    unanswered = measure("unanswered", {}, asked={"c"}, deadline=PASSED)
    not_here = measure("not-here", {}, asked={"d"}, deadline=PASSED)
    result = section("c", units, few, unanswered, not_here)
    assert result.too_few == ("few",) and result.unanswered == ("unanswered",)
    assert result.overdue == ("few", "unanswered")


# --- response rates --------------------------------------------------------------------------


def test_rates_are_hidden_below_k_eligible_invitees():
    units = org(("p", None), ("a", "p"), ("b", "p"), ("c", "p"), ("d", "p"))
    rates = {
        "a": RateFacts("a", (3, 4), (5, 5)),  # current below k: hidden, previous shown
        "b": RateFacts("b", (0, 5), None),  # exactly k: shown, no previous check-in
        "c": RateFacts("c", (0, 0), (1, 1)),
        "p": RateFacts("p", (7, 12), (9, 10)),
    }
    result = section("p", units, rates=rates)
    assert result.rates == (
        RateLine("a", None, (5, 5), current_hidden=True, previous_hidden=False),
        RateLine("b", (0, 5), None, current_hidden=False, previous_hidden=False),
        RateLine("c", None, None, current_hidden=True, previous_hidden=True),
        RateLine("p", (7, 12), (9, 10), current_hidden=False, previous_hidden=False),
    )
    # A leader of one unit sees only the rates of its own subtree.
    assert section("b", units, rates=rates).rates == (RateLine("b", (0, 5), None),)
    assert section("d", units, rates=rates).rates == ()


def test_rates_follow_k():
    rates = {"a": RateFacts("a", (2, 3), (3, 3))}
    k3 = section("a", ONE, rates=rates, rules=DigestRules(k=3))
    assert k3.rates == (RateLine("a", (2, 3), (3, 3)),)


# --- the property: no subtraction reveals a small group --------------------------------------


@st.composite
def organisations(draw: st.DrawFn) -> tuple[dict[str, UnitRecord], MeasureFacts, int]:
    size = draw(st.integers(1, 14))
    rows: list[tuple[str, str | None]] = []
    for index in range(size):
        parent = draw(st.one_of(st.none(), st.integers(0, index - 1))) if index else None
        rows.append((f"u{index:02d}", None if parent is None else f"u{parent:02d}"))
    answers = {}
    for key, _ in rows:
        own = draw(st.lists(st.integers(0, 3), min_size=4, max_size=4))
        if draw(st.booleans()):  # many units have no answers of their own at all
            answers[key] = dict(zip(CODES, own, strict=True))
    k = draw(st.integers(1, 6))
    asked = {key for key, _ in rows if draw(st.booleans())} | set(answers)
    return org(*rows), measure("m", answers, asked=asked), k


def _descendants(units: Mapping[str, UnitRecord], key: str) -> set[str]:
    found, pending = set(), [u.id for u in units.values() if u.parent_id == key]
    while pending:
        current = pending.pop()
        found.add(current)
        pending.extend(u.id for u in units.values() if u.parent_id == current)
    return found


@settings(max_examples=200, deadline=None)
@given(organisations())
def test_no_shown_figure_minus_shown_descendants_reveals_a_small_group(case):
    units, facts, k = case
    rules = DigestRules(k=k)
    sections = {key: section(key, units, facts, rules=rules) for key in units}
    figure = {key: s.figures[0].n for key, s in sections.items() if s.figures}
    total = {
        key: sum(sum(facts.answers.get(u, {}).values()) for u in {key} | _descendants(units, key))
        for key in units
    }
    for key, result in sections.items():
        below = _descendants(units, key)
        if not facts.asked & (below | {key}):
            assert (result.figures, result.too_few, result.unanswered) == ((), (), ())
        elif total[key] == 0:
            assert result.unanswered == ("m",) and key not in figure
        elif total[key] < k:
            assert result.too_few == ("m",) and key not in figure
        if key not in figure:
            continue
        assert figure[key] == total[key] >= k
        # Every shown figure minus any one shown descendant: nobody, or at least k.
        for sub in below & figure.keys():
            assert figure[key] - figure[sub] == 0 or figure[key] - figure[sub] >= k
        # Minus all the nearest shown descendants (the finest a reader can split it):
        nearest = {
            sub
            for sub in below & figure.keys()
            if not any(sub in _descendants(units, mid) for mid in below & figure.keys())
        }
        rest = figure[key] - sum(figure[sub] for sub in nearest)
        assert rest == 0 or rest >= k, (key, nearest, rest)
