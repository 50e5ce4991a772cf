"""Who may do what where (role x action x scope): the one permission check for every surface."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from dialogs.model import Role


class Action(StrEnum):
    """Something a person can ask Followup to do."""

    ANSWER = "answer"
    VIEW_OWN_DATA = "view_own_data"
    FORGET_SELF = "forget_self"
    VIEW_RESULTS = "view_results"
    EXPORT_RESULTS = "export_results"
    VIEW_DIGEST = "view_digest"
    VIEW_RESPONSE_RATES = "view_response_rates"
    SET_MEASURE_STATUS = "set_measure_status"
    MANAGE_ROUNDS = "manage_rounds"
    SEND_REMINDERS = "send_reminders"
    IMPORT_ORG = "import_org"
    IMPORT_PEOPLE = "import_people"
    IMPORT_MEASURES = "import_measures"
    MANAGE_QUESTIONNAIRES = "manage_questionnaires"
    CREATE_INVITE = "create_invite"
    MANAGE_USERS = "manage_users"
    CONFIGURE = "configure"


class Scope(StrEnum):
    """Where a role's right applies, relative to the unit of the membership that grants it."""

    SELF = "self"
    OWN_UNIT = "own_unit"
    SUBTREE = "subtree"
    ALL = "all"


@dataclass(frozen=True)
class Membership:
    """A role a person holds in one unit."""

    unit_id: str
    role: Role


@dataclass(frozen=True)
class Actor:
    """Whoever asks: a known person with their memberships, or the server's operator.

    Attributes:
        person_id: The person, or None when the sender is not (yet) known to Followup.
        memberships: Every role the person holds, in every unit.
        operator: Someone at the server's command line, who has full rights anyway.
    """

    person_id: str | None
    memberships: tuple[Membership, ...] = ()
    operator: bool = False


@dataclass(frozen=True)
class Decision:
    """The answer of `decide`.

    Attributes:
        allowed: Whether the action may go ahead.
        reason: Message key: `policy.allowed`, `policy.allowed.operator`,
            `policy.allowed.own_data`, `policy.denied.unknown_person`, `policy.denied.role` (no
            role of the actor grants the action) or `policy.denied.out_of_scope` (a role does,
            but not for this unit).
    """

    allowed: bool
    reason: str


_OWN = (Action.ANSWER, Action.VIEW_OWN_DATA, Action.FORGET_SELF)
_PERSONAL_RIGHTS = frozenset({Action.VIEW_OWN_DATA, Action.FORGET_SELF})


def _rights(*subtree: Action) -> Mapping[Action, Scope]:
    # Everyone with a role is also a respondent about themselves.
    rights = dict.fromkeys(_OWN, Scope.SELF) | dict.fromkeys(subtree, Scope.SUBTREE)
    return MappingProxyType(rights)


RULES: Mapping[Role, Mapping[Action, Scope]] = MappingProxyType(
    {
        Role.STAFF: _rights(),
        # Leaders see aggregates and digests, never who answered what (privacy.py sees to that).
        Role.LEADER: _rights(
            Action.VIEW_DIGEST,
            Action.VIEW_RESULTS,
            Action.VIEW_RESPONSE_RATES,
            Action.SET_MEASURE_STATUS,
        ),
        Role.COORDINATOR: _rights(
            Action.VIEW_DIGEST,  # to preview what the leaders of their units receive
            Action.VIEW_RESULTS,
            Action.EXPORT_RESULTS,
            Action.VIEW_RESPONSE_RATES,
            Action.MANAGE_ROUNDS,
            Action.SEND_REMINDERS,
            Action.CREATE_INVITE,
            Action.IMPORT_PEOPLE,
            Action.IMPORT_MEASURES,
            Action.MANAGE_QUESTIONNAIRES,
        ),
        # The method they follow makes reps co-owners of follow-up: they read aggregates.
        Role.UNION_REP: _rights(Action.VIEW_RESULTS, Action.VIEW_RESPONSE_RATES),
        Role.SAFETY_REP: _rights(Action.VIEW_RESULTS, Action.VIEW_RESPONSE_RATES),
        # Admin's own-data rights stay SELF: "all" would mean reading other people's answers.
        Role.ADMIN: MappingProxyType(
            {action: Scope.SELF if action in _OWN else Scope.ALL for action in Action}
        ),
    }
)
"""The rights of each role. Besides these, any known person may see and delete their own data
(`view_own_data`, `forget_self`), even without a role: those rights do not depend on one."""


def decide(
    actor: Actor,
    action: Action,
    target_unit: str | None,
    ancestors: Callable[[str], Sequence[str]],
) -> Decision:
    """Whether `actor` may do `action` on `target_unit`.

    A person with several memberships gets the union of their rights.

    Args:
        actor: Who asks.
        action: What they ask to do.
        target_unit: The unit the action concerns, or None when it is not about a unit (the
            actor's own data, service-wide settings). Then only SELF and ALL rights apply.
        ancestors: The ancestors of a unit, from its parent up to the root.

    Returns:
        The decision with a message key saying why.
    """
    if actor.operator:
        return Decision(True, "policy.allowed.operator")
    if actor.person_id is None:
        return Decision(False, "policy.denied.unknown_person")
    granted = [
        (membership, RULES[membership.role][action])
        for membership in actor.memberships
        if action in RULES[membership.role]
    ]
    lineage: Sequence[str] | None = None  # asked for at most once, only when needed
    for membership, scope in granted:
        if scope is Scope.ALL:
            return Decision(True, "policy.allowed")
        if target_unit is None:
            if scope is Scope.SELF:
                return Decision(True, "policy.allowed")
            continue
        if target_unit == membership.unit_id:
            # SELF with a unit: about oneself in one's own unit, e.g. a check-in on its measures.
            return Decision(True, "policy.allowed")
        if scope is Scope.SUBTREE:
            if lineage is None:
                lineage = ancestors(target_unit)
            if membership.unit_id in lineage:
                return Decision(True, "policy.allowed")
    if action in _PERSONAL_RIGHTS and target_unit is None:
        # Seeing and deleting one's own data is a right of the person, not of a role: someone
        # removed from every unit can still say "forget me".
        return Decision(True, "policy.allowed.own_data")
    return Decision(False, "policy.denied.out_of_scope" if granted else "policy.denied.role")


_CELL = {
    Scope.SELF: "own data",
    Scope.OWN_UNIT: "own unit",
    Scope.SUBTREE: "unit + sub-units",
    Scope.ALL: "all",
}


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_roles_table() -> str:
    """The rights table as Markdown for the README: one row per action, one column per role."""
    roles = list(Role)
    lines = [
        _row(["Action", *(f"`{role}`" for role in roles)]),
        _row(["---"] * (len(roles) + 1)),
    ]
    for action in Action:
        scopes = (RULES[role].get(action) for role in roles)
        cells = ("—" if scope is None else _CELL[scope] for scope in scopes)
        lines.append(_row([f"`{action}`", *cells]))
    return "\n".join(lines) + "\n"
