import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.checkin import (
    DEFAULT_COVERAGE,
    DEFAULT_PER_PERSON,
    CapacityWarning,
    MeasurePlan,
    Rotation,
    RotationPlan,
    capacity_warning,
    cycle_length,
    measures_for_unit,
    plan_cycle,
    plan_rotation,
)
from dialogs.model import LocalizedText, MeasureStatus
from dialogs.records import UnitRecord


def slugs(count: int) -> list[str]:
    return [f"m{i:02d}" for i in range(count)]


def whole_cycle(
    measures: Sequence[str],
    staff: Sequence[int],
    *,
    seed: str = "unit",
    cycle_index: int = 0,
    per_person: int = DEFAULT_PER_PERSON,
    k: int = DEFAULT_COVERAGE,
) -> list[Rotation]:
    """The check-ins of one cycle, asked for one period at a time as a scheduler would."""
    first = plan_rotation(measures, staff, seed=seed, per_person=per_person, k=k)
    length = first.cycle_length
    return [
        plan_rotation(measures, staff, seed=seed, period=period, per_person=per_person, k=k)
        for period in range(cycle_index * length, (cycle_index + 1) * length)
    ]


def expected_cycle_length(measures: int, staff: int, per_person: int, k: int) -> int:
    # Written from the rule, not from the implementation: the smallest c >= 1 with
    # staff * N * c >= measures * min(k, staff).
    need = measures * min(k, staff)
    c = 1
    while staff * per_person * c < need:
        c += 1
    return c


def check_cycle(
    rotations: list[Rotation],
    measures: Sequence[str],
    staff: Sequence[int],
    per_person: int,
    k: int,
) -> None:
    """Every promise of the rotation, checked on what the people are actually asked."""
    unit_measures = set(measures)
    people = set(staff)
    length = expected_cycle_length(len(unit_measures), len(people), per_person, k)
    assert len(rotations) == length
    asked: dict[str, set[int]] = defaultdict(set)
    per_cycle: Counter[int] = Counter()
    for slot, rotation in enumerate(rotations):
        assert rotation.cycle_length == length
        assert rotation.slot == slot
        assert rotation.cycle_index == rotations[0].cycle_index
        for person, asked_now in rotation.assignments.items():
            assert person in people
            assert 0 < len(asked_now) <= per_person
            assert len(set(asked_now)) == len(asked_now)
            assert set(asked_now) <= unit_measures
            per_cycle[person] += len(asked_now)
            for slug in asked_now:
                asked[slug].add(person)
    target = min(k, len(people))
    for slug in unit_measures:
        assert len(asked[slug]) >= target, slug
    # Evenly spread: nobody answers more than one question more than anyone else per cycle.
    if unit_measures and people:
        counts = [per_cycle[person] for person in people]
        assert max(counts) - min(counts) <= 1
    # The diagnostics agree with what was dealt.
    for rotation in rotations:
        assert rotation.target == target
        assert dict(rotation.coverage) == {slug: len(asked[slug]) for slug in unit_measures}


# --- measures of a unit --------------------------------------------------------------------


def unit(unit_id: str, parent: str | None) -> UnitRecord:
    return UnitRecord(id=unit_id, parent_id=parent, name=LocalizedText(nb=unit_id))


UNITS = {
    record.id: record
    for record in (
        unit("trust", None),
        unit("clinic", "trust"),
        unit("dept", "clinic"),
        unit("section", "dept"),
        unit("other", "trust"),
    )
}


def measure(slug: str, *owners: str, status: MeasureStatus = MeasureStatus.STARTED) -> MeasurePlan:
    return MeasurePlan(slug=slug, owning_units=frozenset(owners), status=status)


def test_measures_owned_by_the_unit_or_an_ancestor() -> None:
    measures = [
        measure("own", "dept"),
        measure("from-trust", "trust"),
        measure("from-clinic", "clinic"),
        measure("below", "section"),
        measure("sibling", "other"),
        measure("shared", "other", "clinic"),
    ]
    assert measures_for_unit("dept", UNITS, measures) == (
        "own",
        "from-trust",
        "from-clinic",
        "shared",
    )


def test_only_dropped_measures_are_inactive() -> None:
    measures = [measure(status.value, "dept", status=status) for status in MeasureStatus]
    assert measures_for_unit("dept", UNITS, measures) == (
        "not_started",
        "planned",
        "started",
        "done",
        "evaluated",
    )


def test_measures_keep_their_order_and_appear_once() -> None:
    measures = [measure("b", "dept"), measure("a", "trust"), measure("b", "clinic")]
    assert measures_for_unit("dept", UNITS, measures) == ("b", "a")


def test_unknown_unit_sees_only_its_own_measures() -> None:
    measures = [measure("own", "new"), measure("from-trust", "trust")]
    assert measures_for_unit("new", UNITS, measures) == ("own",)


# --- hand-made rotations -------------------------------------------------------------------


def test_few_measures_are_covered_in_one_check_in() -> None:
    staff = list(range(100, 112))
    rotations = whole_cycle(slugs(3), staff, per_person=5, k=5)
    assert len(rotations) == 1
    check_cycle(rotations, slugs(3), staff, 5, 5)
    # 15 questions over 12 people: nobody gets more than two.
    assert max(len(asked) for asked in rotations[0].assignments.values()) <= 2
    assert capacity_warning(12, 3, 5, 5) is None


def test_thirty_measures_for_eight_staff_take_four_check_ins() -> None:
    staff = list(range(1, 9))
    rotations = whole_cycle(slugs(30), staff, per_person=5, k=5)
    assert [rotation.cycle_length for rotation in rotations] == [4, 4, 4, 4]
    check_cycle(rotations, slugs(30), staff, 5, 5)
    asked: dict[str, set[int]] = defaultdict(set)
    for rotation in rotations:
        for person, measures in rotation.assignments.items():
            for slug in measures:
                asked[slug].add(person)
    assert {slug: len(people) for slug, people in asked.items()} == dict.fromkeys(slugs(30), 5)


def test_fewer_staff_than_k_are_all_asked_everything() -> None:
    # Two staff cannot give five distinct answers: each measure goes to both of them, and the
    # cycle takes ceil(measures / N) check-ins instead of N rising.
    rotations = whole_cycle(slugs(3), [7, 8], per_person=5, k=5)
    assert len(rotations) == 1
    assert dict(rotations[0].assignments) == {7: tuple(slugs(3)), 8: tuple(slugs(3))}

    rotations = whole_cycle(slugs(12), [7, 8], per_person=5, k=5)
    assert len(rotations) == 3
    check_cycle(rotations, slugs(12), [7, 8], 5, 5)
    for person in (7, 8):
        asked = [slug for r in rotations for slug in r.assignments.get(person, ())]
        assert sorted(asked) == slugs(12)


def test_nothing_to_ask() -> None:
    for measures, staff in (([], [1, 2, 3]), (slugs(4), []), ([], [])):
        rotation = plan_rotation(measures, staff, seed="u")
        assert rotation.cycle_length == 1
        assert dict(rotation.assignments) == {}
        assert rotation.target == min(DEFAULT_COVERAGE, len(staff))
        assert dict(rotation.coverage) == dict.fromkeys(measures, 0)


def test_measures_in_a_check_in_follow_the_unit_order() -> None:
    measures = ["zeta", "alpha", "mid", "beta"]
    rotation = plan_rotation(measures, [1, 2, 3, 4, 5], seed="u")
    for asked in rotation.assignments.values():
        assert list(asked) == sorted(asked, key=measures.index)


def test_periods_continue_into_the_next_cycle() -> None:
    rotation = plan_rotation(slugs(30), list(range(8)), seed="u", period=9)
    assert (rotation.cycle_length, rotation.cycle_index, rotation.slot) == (4, 2, 1)
    plan = plan_cycle(slugs(30), list(range(8)), seed="u", cycle_index=2)
    assert rotation.assignments == plan.check_ins[1]
    assert rotation.coverage == plan.coverage


# --- determinism and variation -------------------------------------------------------------


def as_data(rotation: Rotation) -> dict[str, list[str]]:
    return {str(person): list(asked) for person, asked in rotation.assignments.items()}


def test_same_inputs_same_plan_whatever_their_order() -> None:
    measures, staff = slugs(30), list(range(8))
    first = plan_rotation(measures, staff, seed="dept", period=5)
    again = plan_rotation(measures, staff, seed="dept", period=5)
    shuffled = plan_rotation(
        list(reversed(measures)), [3, 1, 4, 0, 5, 2, 7, 6, 1], seed="dept", period=5
    )
    assert first == again
    assert {p: set(a) for p, a in first.assignments.items()} == {
        p: set(a) for p, a in shuffled.assignments.items()
    }


def test_plan_is_the_same_in_other_processes() -> None:
    # hash() differs per process; the plan must not.
    code = (
        "import json\n"
        "from dialogs.checkin import plan_rotation\n"
        "measures = [f'm{i:02d}' for i in range(30)]\n"
        "r = plan_rotation(measures, list(range(8)), seed='dept', period=6)\n"
        "print(json.dumps({str(p): list(a) for p, a in r.assignments.items()}))\n"
    )
    expected = as_data(plan_rotation(slugs(30), list(range(8)), seed="dept", period=6))
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == expected


def test_cycles_and_units_pair_people_and_measures_anew() -> None:
    measures, staff = slugs(30), list(range(8))
    cycle_0 = plan_cycle(measures, staff, seed="dept", cycle_index=0)
    cycle_1 = plan_cycle(measures, staff, seed="dept", cycle_index=1)
    other_unit = plan_cycle(measures, staff, seed="other", cycle_index=0)
    assert cycle_0.check_ins != cycle_1.check_ins
    assert cycle_0.check_ins != other_unit.check_ins

    def pairs(plan: RotationPlan) -> set[tuple[int, str]]:
        return {
            (person, slug)
            for check_in in plan.check_ins
            for person, asked in check_in.items()
            for slug in asked
        }

    # Not merely reordered: who answers which measure changes.
    assert pairs(cycle_0) != pairs(cycle_1)


# --- capacity warning ----------------------------------------------------------------------


def test_capacity_warning_numbers_and_text() -> None:
    warning = capacity_warning(staff_count=8, measure_count=30, per_person=5, k=5)
    assert warning == CapacityWarning(
        staff_count=8, measure_count=30, per_person=5, k=5, cycle_length=4
    )
    assert "8" in warning.text and "30" in warning.text and "4 check-ins" in warning.text
    assert capacity_warning(10, 10, 5, 5) is None  # 50 >= 50: exactly enough
    assert capacity_warning(2, 3, 5, 5) is not None  # the rule, even when staff < k
    no_staff = capacity_warning(0, 3, 5, 5)
    assert no_staff is not None and no_staff.cycle_length is None
    assert "no staff" in no_staff.text
    assert capacity_warning(0, 0, 5, 5) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plan_rotation(["a"], [1], seed="u", per_person=0), "per_person"),
        (lambda: plan_rotation(["a"], [1], seed="u", k=0), "k must"),
        (lambda: plan_rotation(["a"], [1], seed="u", period=-1), "period"),
        (lambda: plan_cycle(["a"], [1], seed="u", cycle_index=-1), "cycle_index"),
        (lambda: cycle_length(-1, 1, 1, 1), "negative"),
        (lambda: capacity_warning(1, 1, 1, 0), "k must"),
    ],
)
def test_bad_sizes_are_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    measures=st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=40),
    staff=st.lists(st.integers(min_value=1, max_value=10_000), unique=True, max_size=30),
    per_person=st.integers(min_value=1, max_value=8),
    k=st.integers(min_value=1, max_value=6),
    cycle_index=st.integers(min_value=0, max_value=3),
    seed=st.text(max_size=6),
)
def test_rotation_properties(
    measures: list[str],
    staff: list[int],
    per_person: int,
    k: int,
    cycle_index: int,
    seed: str,
) -> None:
    rotations = whole_cycle(
        measures, staff, seed=seed, cycle_index=cycle_index, per_person=per_person, k=k
    )
    check_cycle(rotations, measures, staff, per_person, k)


@given(
    staff_count=st.integers(min_value=0, max_value=30),
    measure_count=st.integers(min_value=0, max_value=40),
    per_person=st.integers(min_value=1, max_value=8),
    k=st.integers(min_value=1, max_value=6),
)
def test_warning_exactly_when_one_check_in_is_not_enough_at_k(
    staff_count: int, measure_count: int, per_person: int, k: int
) -> None:
    warning = capacity_warning(staff_count, measure_count, per_person, k)
    assert (warning is not None) == (staff_count * per_person < measure_count * k)
    if warning is not None and staff_count:
        assert warning.cycle_length == expected_cycle_length(
            measure_count, staff_count, per_person, k
        )
