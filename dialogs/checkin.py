"""Pure planning of check-ins: which measures a unit is asked about, and who is asked what."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from dialogs.model import MeasureStatus
from dialogs.org import ancestor_ids
from dialogs.records import UnitRecord

DEFAULT_PER_PERSON = 5
"""Default N: at most this many measures are put to one person in one check-in."""

DEFAULT_COVERAGE = 5
"""Default k: every measure is put to at least this many staff of a unit per rotation cycle."""

_T = TypeVar("_T", bound=Hashable)

Assignments = Mapping[int, tuple[str, ...]]
"""Person id -> the measures (slugs) put to that person in one check-in."""


@dataclass(frozen=True)
class MeasurePlan:
    """What check-in planning needs to know about a measure.

    Attributes:
        slug: Stable identifier of the measure.
        owning_units: Ids of the units that own the measure.
        status: Leader-declared status; only `dropped` takes a measure out of check-ins.
    """

    slug: str
    owning_units: frozenset[str]
    status: MeasureStatus


def measures_for_unit(
    unit_id: str, units: Mapping[str, UnitRecord], measures: Sequence[MeasurePlan]
) -> tuple[str, ...]:
    """The slugs of the active measures a unit's staff are asked about.

    A unit is asked about measures owned by itself or by any ancestor. Every status except
    `dropped` is active: `done` and `evaluated` measures stay, because whether staff know
    about them is exactly the gap the digest shows.

    Args:
        unit_id: The unit whose staff are asked.
        units: The unit tree, by id (a unit missing from it only sees its own measures).
        measures: All candidate measures.

    Returns:
        The slugs in the order of `measures` (so the caller decides presentation order, e.g.
        by improvement area), each at most once.
    """
    owners = {unit_id, *ancestor_ids(units, unit_id)}
    found: dict[str, None] = {}
    for measure in measures:
        if measure.status != MeasureStatus.DROPPED and measure.owning_units & owners:
            found.setdefault(measure.slug, None)
    return tuple(found)


def cycle_length(measure_count: int, staff_count: int, per_person: int, k: int) -> int:
    """The number of consecutive check-ins one rotation cycle takes.

    The smallest c with `staff * per_person * c >= measures * min(k, staff)`. When a unit
    has fewer staff than k, every staff member is asked every measure once per cycle, so the
    cycle is `ceil(measures / per_person)` check-ins long. Small units get a longer cycle;
    N itself never rises, so nobody gets more than N questions in one check-in.

    Args:
        measure_count: Number of active measures of the unit.
        staff_count: Number of staff who can be asked (paused and inactive people excluded).
        per_person: N, the most measures one person is asked in one check-in.
        k: The number of distinct staff each measure should reach per cycle.

    Returns:
        The cycle length, at least 1 (a unit without staff or measures has nothing to rotate).

    Raises:
        ValueError: If a count is negative or `per_person` or `k` is below 1.
    """
    _check_sizes(measure_count, staff_count, per_person, k)
    demand = measure_count * min(k, staff_count)
    capacity = staff_count * per_person
    if demand == 0:
        return 1
    return max(1, -(-demand // capacity))


@dataclass(frozen=True)
class RotationPlan:
    """Every check-in of one rotation cycle of one unit.

    Attributes:
        cycle_index: Which cycle this is (0 for the first); it varies who gets which measure.
        cycle_length: Number of consecutive check-ins in the cycle.
        target: Distinct staff each measure reaches in the cycle: `min(k, number of staff)`.
        check_ins: The assignments of each check-in of the cycle, in order; people with
            nothing to answer in a check-in are left out of its assignments.
        coverage: Distinct staff asked each measure over the whole cycle, by slug.
    """

    cycle_index: int
    cycle_length: int
    target: int
    check_ins: tuple[Assignments, ...]
    coverage: Mapping[str, int]


@dataclass(frozen=True)
class Rotation:
    """One check-in of one unit: who is asked which measures.

    Attributes:
        period: The running number of the unit's check-in this plan is for.
        cycle_index: The rotation cycle the check-in belongs to (`period // cycle_length`).
        slot: Position of the check-in inside its cycle (`period % cycle_length`).
        cycle_length: Number of consecutive check-ins in the cycle.
        target: Distinct staff each measure reaches in the cycle: `min(k, number of staff)`.
        assignments: Person id -> measures to ask in this check-in, at most N each, in the
            order of the unit's measures; people with nothing to answer are left out.
        coverage: Distinct staff asked each measure over the whole cycle, by slug.
    """

    period: int
    cycle_index: int
    slot: int
    cycle_length: int
    target: int
    assignments: Assignments
    coverage: Mapping[str, int]


def plan_cycle(
    unit_measures: Sequence[str],
    staff: Sequence[int],
    *,
    seed: str,
    cycle_index: int = 0,
    per_person: int = DEFAULT_PER_PERSON,
    k: int = DEFAULT_COVERAGE,
) -> RotationPlan:
    """Plan one rotation cycle of a unit.

    Each measure is copied `target` times and the copies, measure after measure, are dealt
    round-robin over the staff; both orders are shuffled with a hash of `seed` and
    `cycle_index`. Dealing `target <= len(staff)` consecutive copies round-robin gives them to
    distinct people, and every person ends up with the same number of questions per cycle,
    give or take one. Each person's questions are then spread as evenly as possible over the
    check-ins of the cycle, so a check-in covers roughly one slice of the measures.

    The plan depends on the sets of measures and staff, not on the order they are given in
    (apart from the order of measures inside one person's check-in).

    Args:
        unit_measures: Slugs of the unit's active measures (see `measures_for_unit`).
        staff: Ids of the people who can be asked (paused and inactive people excluded).
        seed: Makes the shuffle specific to the unit; pass the unit id.
        cycle_index: Which cycle to plan; consecutive cycles pair people and measures anew.
        per_person: N, the most measures one person is asked in one check-in.
        k: The number of distinct staff each measure should reach per cycle.

    Returns:
        The plan of every check-in of the cycle.

    Raises:
        ValueError: If `cycle_index` is negative or `per_person` or `k` is below 1.
    """
    if cycle_index < 0:
        raise ValueError(f"cycle_index must not be negative, got {cycle_index}")
    measures = tuple(dict.fromkeys(unit_measures))
    people = tuple(dict.fromkeys(staff))
    length = cycle_length(len(measures), len(people), per_person, k)
    target = min(k, len(people))
    salt = f"{seed}\x1f{cycle_index}"
    dealt_measures = _shuffled(measures, salt + "\x1fmeasures")
    dealt_people = _shuffled(people, salt + "\x1fstaff")

    # Copy j goes to person j mod S: the `target` copies of one measure are consecutive and
    # target <= S, so they land on distinct people, and nobody gets the same measure twice.
    queues: dict[int, list[str]] = {person: [] for person in dealt_people}
    for index in range(len(dealt_measures) * target):
        person = dealt_people[index % len(dealt_people)]
        queues[person].append(dealt_measures[index // target])

    position = {slug: index for index, slug in enumerate(measures)}
    check_ins: list[dict[int, tuple[str, ...]]] = [{} for _ in range(length)]
    for person, queue in sorted(queues.items()):
        # An even split keeps each share at most ceil(len(queue) / length) <= per_person,
        # since len(queue) <= ceil(measures * target / staff) <= per_person * length.
        for slot in range(length):
            share = queue[slot * len(queue) // length : (slot + 1) * len(queue) // length]
            if share:
                check_ins[slot][person] = tuple(sorted(share, key=position.__getitem__))

    reached: dict[str, set[int]] = {slug: set() for slug in measures}
    for person, queue in queues.items():
        for slug in queue:
            reached[slug].add(person)
    return RotationPlan(
        cycle_index=cycle_index,
        cycle_length=length,
        target=target,
        check_ins=tuple(MappingProxyType(check_in) for check_in in check_ins),
        coverage=MappingProxyType({slug: len(people) for slug, people in reached.items()}),
    )


def plan_rotation(
    unit_measures: Sequence[str],
    staff: Sequence[int],
    *,
    seed: str,
    period: int = 0,
    per_person: int = DEFAULT_PER_PERSON,
    k: int = DEFAULT_COVERAGE,
) -> Rotation:
    """Plan one check-in of a unit: who is asked which measures.

    Over any `cycle_length` consecutive periods starting at a multiple of `cycle_length`,
    every measure is asked of at least `min(k, len(staff))` distinct staff and nobody is asked
    more than `per_person` measures in one check-in. When the unit's staff or measures change,
    the cycle length may change with them; the plan then simply continues from `period`.

    Args:
        unit_measures: Slugs of the unit's active measures (see `measures_for_unit`).
        staff: Ids of the people who can be asked (paused and inactive people excluded).
        seed: Makes the shuffle specific to the unit; pass the unit id.
        period: The running number of the unit's check-in (0 for the first).
        per_person: N, the most measures one person is asked in one check-in.
        k: The number of distinct staff each measure should reach per cycle.

    Returns:
        The assignments of the check-in and diagnostics of its cycle.

    Raises:
        ValueError: If `period` is negative or `per_person` or `k` is below 1.
    """
    if period < 0:
        raise ValueError(f"period must not be negative, got {period}")
    measures = tuple(dict.fromkeys(unit_measures))
    people = tuple(dict.fromkeys(staff))
    length = cycle_length(len(measures), len(people), per_person, k)
    cycle_index, slot = divmod(period, length)
    plan = plan_cycle(
        measures, people, seed=seed, cycle_index=cycle_index, per_person=per_person, k=k
    )
    return Rotation(
        period=period,
        cycle_index=cycle_index,
        slot=slot,
        cycle_length=length,
        target=plan.target,
        assignments=plan.check_ins[slot],
        coverage=plan.coverage,
    )


@dataclass(frozen=True)
class CapacityWarning:
    """Staff × N is below measures × k: a unit cannot cover its measures in one check-in.

    Attributes:
        staff_count: Staff who can be asked.
        measure_count: Active measures of the unit.
        per_person: N, the most measures one person is asked in one check-in.
        k: The number of distinct staff each measure should reach per cycle.
        cycle_length: Check-ins one rotation cycle then takes, or None without any staff.
    """

    staff_count: int
    measure_count: int
    per_person: int
    k: int
    cycle_length: int | None

    @property
    def text(self) -> str:
        """The warning in plain English, with the numbers (callers localise it)."""
        shortfall = (
            f"{self.staff_count} staff x {self.per_person} measures per check-in = "
            f"{self.staff_count * self.per_person}, fewer than {self.measure_count} measures "
            f"x k {self.k} = {self.measure_count * self.k}"
        )
        if self.cycle_length is None:
            return f"{shortfall}: the unit has no staff to ask."
        return f"{shortfall}: one rotation cycle takes {self.cycle_length} check-ins."


def capacity_warning(
    staff_count: int, measure_count: int, per_person: int, k: int
) -> CapacityWarning | None:
    """The warning `measures import` gives when staff × N < measures × k, or None.

    Args:
        staff_count: Staff who can be asked.
        measure_count: Active measures of the unit.
        per_person: N, the most measures one person is asked in one check-in.
        k: The number of distinct staff each measure should reach per cycle.

    Returns:
        The numbers behind the warning, or None when one check-in covers every measure.

    Raises:
        ValueError: If a count is negative or `per_person` or `k` is below 1.
    """
    _check_sizes(measure_count, staff_count, per_person, k)
    if staff_count * per_person >= measure_count * k:
        return None
    return CapacityWarning(
        staff_count=staff_count,
        measure_count=measure_count,
        per_person=per_person,
        k=k,
        cycle_length=(
            cycle_length(measure_count, staff_count, per_person, k) if staff_count else None
        ),
    )


def _check_sizes(measure_count: int, staff_count: int, per_person: int, k: int) -> None:
    if measure_count < 0 or staff_count < 0:
        raise ValueError("measure and staff counts must not be negative")
    if per_person < 1:
        raise ValueError(f"per_person must be at least 1, got {per_person}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _shuffled(items: Sequence[_T], salt: str) -> tuple[_T, ...]:
    # Sorting by a SHA-256 of salt and item is the same in every process and Python version,
    # unlike hash() (randomised per process) or random's shuffle (algorithm may change).
    def key(item: _T) -> tuple[bytes, str]:
        digest = hashlib.sha256(f"{salt}\x1f{item}".encode()).digest()
        return digest, repr(item)

    return tuple(sorted(items, key=key))
