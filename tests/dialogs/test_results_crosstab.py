"""Cross-tabs, free text and name redaction without a database, checked against plain counts."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from dialogs.model import AnswerValue, LocalizedText, Role
from dialogs.privacy import SuppressionReason, suppress_siblings
from dialogs.records import (
    MembershipRecord,
    ParticipationRecord,
    ParticipationStatus,
    UnitRecord,
)
from dialogs.results import (
    AnswerFact,
    CrossTab,
    CrossTabError,
    RoundResults,
    by_item,
    by_role,
    compute_results,
    percent,
    redact_names,
    redact_results,
    role_of,
)
from tests.builders import free_text, multi, questionnaire, single

K = 3
SURVEY = questionnaire(
    single("leader", "Yes", "No"),  # options a, b: the split
    multi("channels", "Meetings", "Manager", "Intranet"),  # a, b, c
    single("follow_up", "Yes", "No"),  # optional: asked of some only
    free_text("comments", required=False),
)
UNIT = UnitRecord("unit", None, LocalizedText(nb="unit"))


def compute(facts: Sequence[AnswerFact], split: str = "leader", k: int = K) -> RoundResults:
    """Figures of a round where every respondent in `facts` completed, split by `split`."""
    keys = {f.respondent for f in facts}
    parts = [ParticipationRecord(1, None, "unit", ParticipationStatus.COMPLETED, None)] * len(keys)
    request = by_item(SURVEY, facts, split)
    return compute_results(SURVEY, facts, parts, [UNIT], {"unit"}, k, crosstab=request)


def generated(seed: int, people: int) -> list[AnswerFact]:
    """Random answers: a split that some skip, multi-selects, an optional item, free text."""
    draw = random.Random(seed)
    facts = []
    for n in range(people):
        key = f"p{n}"
        if draw.random() < 0.9:
            facts.append(AnswerFact(key, "unit", "leader", AnswerValue(choice=draw.choice("ab"))))
        picks = tuple(sorted(draw.sample("abc", draw.randint(1, 3))))
        facts.append(AnswerFact(key, "unit", "channels", AnswerValue(choices=picks)))
        if draw.random() < 0.4:
            facts.append(
                AnswerFact(key, "unit", "follow_up", AnswerValue(choice=draw.choice("ab")))
            )
        if draw.random() < 0.3:
            facts.append(AnswerFact(key, "unit", "comments", AnswerValue(text=f"tekst {n}")))
    return facts


def crosstab(results: RoundResults) -> CrossTab:
    """The cross-tab, which the tests always ask for."""
    assert results.crosstab is not None
    return results.crosstab


# --- the k rule on cross-tab columns, against an oracle ---------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_columns_show_exact_counts_and_never_reveal_a_small_group(seed):
    draw = random.Random(1000 + seed)
    facts = generated(seed, draw.randint(2, 16))
    results = compute(facts)
    split = crosstab(results)

    # The oracle: who is in which column, counted here.
    everyone = {f.respondent for f in facts}
    column_of = {f.respondent: f.value.choice for f in facts if f.item_id == "leader"}
    members = {c: {r for r, v in column_of.items() if v == c} for c in ("a", "b")}
    shown = {c.key: c for c in split.columns if not c.suppressed}

    if len(everyone) < K:
        assert results.suppressed and not shown
    for column in split.columns:
        if 0 < len(members[column.key]) < K:
            assert column.suppressed, column.key
        if column.suppressed:
            assert column.respondents == 0
            assert all(i.suppressed or i.denominator == 0 for i in column.items)
            assert all(o.n == 0 and o.pct is None for i in column.items for o in i.options)
    if not results.suppressed:  # a hidden whole has nothing to subtract from
        left = len(everyone) - sum(len(members[key]) for key in shown)
        assert left == 0 or left >= K, f"the whole minus shown columns leaves {left}"

    for key, column in shown.items():
        assert column.respondents == len(members[key]) >= K
        for item in column.items:
            answers = [
                f.value for f in facts if f.item_id == item.id and f.respondent in members[key]
            ]
            if item.suppressed:
                assert len(answers) > 0
                continue
            assert item.denominator == len(answers)
            for option in item.options:
                n = sum(option.id in a.option_ids() for a in answers)
                assert (option.n, option.pct) == (n, percent(n, len(answers)))
    # Each item's respondents obey the same rule: whole item minus its shown columns.
    for whole in results.items:
        if whole.suppressed:
            continue
        answered = {f.respondent for f in facts if f.item_id == whole.id}
        visible = [
            c.key
            for c in split.columns
            if not c.suppressed and not next(i for i in c.items if i.id == whole.id).suppressed
        ]
        rest = len(answered) - sum(len(answered & members[key]) for key in visible)
        assert rest == 0 or rest >= K, (whole.id, rest)


def answers(key: str, leader: str | None, **more: AnswerValue) -> list[AnswerFact]:
    """One respondent: the split answer (None: skipped) and more answers."""
    facts = (
        [] if leader is None else [AnswerFact(key, "unit", "leader", AnswerValue(choice=leader))]
    )
    return facts + [AnswerFact(key, "unit", item, value) for item, value in more.items()]


def test_one_small_column_hides_the_other_so_the_total_does_not_give_it_away():
    facts = [f for n in range(2) for f in answers(f"l{n}", "a")]
    facts += [f for n in range(6) for f in answers(f"s{n}", "b")]

    split = crosstab(compute(facts))

    assert [(c.key, c.suppressed, c.reason) for c in split.columns] == [
        ("a", True, SuppressionReason.TOO_FEW),
        ("b", True, SuppressionReason.COMPLEMENTARY),  # 8 - 6 would be the 2 leaders
    ]


def test_respondents_who_skipped_the_split_count_as_hidden():
    facts = [f for n in range(4) for f in answers(f"l{n}", "a")]
    facts += [f for n in range(4) for f in answers(f"s{n}", "b")]
    facts += answers("x", None, channels=AnswerValue(choices=("a",)))  # skipped the split

    split = crosstab(compute(facts))

    # 9 - 4 - 4 = 1: one column must go so that the rest is at least k.
    assert sum(not c.suppressed for c in split.columns) == 1


def test_an_item_answered_by_few_in_a_column_is_hidden_with_its_complement():
    facts = [f for n in range(4) for f in answers(f"l{n}", "a", follow_up=AnswerValue(choice="a"))]
    facts += [f for n in range(4) for f in answers(f"s{n}", "b")]
    facts += answers("s9", "b", follow_up=AnswerValue(choice="b"))

    results = compute(facts)
    split = crosstab(results)

    assert not any(c.suppressed for c in split.columns)
    follow_up = {c.key: next(i for i in c.items if i.id == "follow_up") for c in split.columns}
    # follow_up: 5 answered in all, 4 leaders and 1 other; showing the leaders' 4 would
    # reveal the one other answer by subtraction.
    assert follow_up["b"].suppressed
    assert follow_up["a"].suppressed
    whole = next(i for i in results.items if i.id == "follow_up")
    assert not whole.suppressed and whole.denominator == 5


def test_multi_select_in_a_column_is_a_share_of_its_respondents():
    picks = [("a", "b"), ("a",), ("b", "c"), ("a", "c")]
    facts = [
        f
        for n, chosen in enumerate(picks)
        for f in answers(f"p{n}", "a", channels=AnswerValue(choices=chosen))
    ]
    facts += [
        f for n in range(3) for f in answers(f"q{n}", "b", channels=AnswerValue(choices=("c",)))
    ]

    column = next(c for c in crosstab(compute(facts)).columns if c.key == "a")
    channels = next(i for i in column.items if i.id == "channels")

    assert (channels.denominator_kind, channels.denominator) == ("respondents", 4)
    assert {o.id: (o.n, str(o.pct)) for o in channels.options} == {
        "a": (3, "75.00"),
        "b": (2, "50.00"),
        "c": (2, "50.00"),
    }  # 175 % in all: shares of the 4 respondents, not of the 7 picks


def test_a_split_needs_a_single_choice_item_of_the_questionnaire():
    with pytest.raises(CrossTabError, match="no item 'nope'"):
        by_item(SURVEY, [], "nope")
    with pytest.raises(CrossTabError, match="multi"):
        by_item(SURVEY, [], "channels")
    with pytest.raises(CrossTabError, match="text"):
        by_item(SURVEY, [], "comments")


def test_role_split_columns_are_disjoint_and_prefer_the_role_held_where_one_answered():
    held = [
        MembershipRecord(1, "ward", Role.STAFF),
        MembershipRecord(1, "ward", Role.SAFETY_REP),
        MembershipRecord(1, "clinic", Role.LEADER),
    ]
    assert role_of(held, "ward") is Role.SAFETY_REP
    assert role_of(held, "clinic") is Role.LEADER
    assert role_of(held, "elsewhere") is Role.LEADER
    assert role_of([], "ward") is None
    request = by_role({"r1": "leader"})
    assert request.columns[0][0] == "leader"
    assert request.columns[0][1].nn == "Leiar"


def test_already_hidden_groups_stay_hidden_and_count_as_hidden():
    # Columns a and b (4 each) and one respondent in neither: column a was hidden as a whole.
    # Its item figures must stay hidden even though the item's own counts would allow them.
    assert suppress_siblings({"a": 4, "b": 4}, K).hidden == set()
    kept = suppress_siblings({"a": 4, "b": 4}, K, hidden={"a": SuppressionReason.COMPLEMENTARY})
    assert kept.hidden == {"a"}
    assert kept.reasons["a"] is SuppressionReason.COMPLEMENTARY
    # A hidden group's respondents are what subtraction reveals: with c (1) hidden too, a and c
    # together (5) are at least k, so b may show.
    both = suppress_siblings({"a": 4, "b": 4, "c": 1}, K, hidden={"a": SuppressionReason.TOO_FEW})
    assert both.hidden == {"a", "c"}
    with pytest.raises(ValueError, match="not one of the groups"):
        suppress_siblings({"a": 4}, K, hidden={"zz": SuppressionReason.TOO_FEW})


# --- free text and redaction ------------------------------------------------------------------


def test_free_text_is_listed_sorted_and_only_when_at_least_k_wrote():
    texts = ["Zebra", "Alfa", "Midt"]
    facts = [
        f
        for n, text in enumerate(texts)
        for f in answers(f"p{n}", "a", comments=AnswerValue(text=text))
    ]
    keys = {f.respondent for f in facts}
    parts = [ParticipationRecord(1, None, "unit", ParticipationStatus.COMPLETED, None)] * len(keys)

    shown = compute_results(SURVEY, facts, parts, [UNIT], {"unit"}, K, texts=True)
    hidden = compute_results(SURVEY, facts, parts, [UNIT], {"unit"}, 4, texts=True)
    without = compute_results(SURVEY, facts, parts, [UNIT], {"unit"}, K)

    def comments(results: RoundResults) -> tuple[str, ...]:
        return next(i for i in results.items if i.id == "comments").texts

    assert comments(shown) == ("Alfa", "Midt", "Zebra")  # never in the order they came
    assert comments(hidden) == ()
    assert comments(without) == ()


@pytest.mark.parametrize(
    ("written", "redacted"),
    [
        ("Kari Nordmann gjør en god jobb", "[navn] gjør en god jobb"),
        ("spør kari  nordmann", "spør [navn]"),  # full roster names in any case and spacing
        ("Snakk med Kari om det", "Snakk med [navn] om det"),  # a roster first name
        (
            "karianne og kari er ikke nevnt med stor bokstav",
            "karianne og kari er ikke nevnt med stor bokstav",
        ),
        ("Ring Anne-Lise Berg på posten", "Ring [navn] på posten"),  # a capitalised pair
        ("Vi i Helse Bergen savner NAV", "Vi i Helse Bergen savner NAV"),  # places, acronyms
        ("Møtet på Mandag Morgen var bra", "Møtet på Mandag Morgen var bra"),
        ("Ingen navn her.", "Ingen navn her."),
    ],
)
def test_names_are_redacted_conservatively(written, redacted):
    assert redact_names(written, ["Kari Nordmann", "Ola Hansen"]) == redacted


def test_redaction_reaches_every_free_text_and_comment():
    facts = [
        f
        for n, text in enumerate(["Takk til Ola Hansen", "Per Olsen var flink", "Bra"])
        for f in answers(
            f"p{n}",
            "a",
            comments=AnswerValue(text=text),
            **{"leader.comment": AnswerValue(text=f"Hilsen Ola Hansen {n}")},
        )
    ]
    parts = [ParticipationRecord(1, None, "unit", ParticipationStatus.COMPLETED, None)] * 3
    results = compute_results(SURVEY, facts, parts, [UNIT], {"unit"}, K, texts=True)

    clean = redact_results(results, ["Ola Hansen"])

    written = [t for i in clean.items for t in (*i.texts, *i.comments)]
    assert len(written) == 6
    assert not any("Ola" in t or "Hansen" in t or "Per Olsen" in t for t in written)
    assert "Takk til [navn]" in written and "[navn] var flink" in written
