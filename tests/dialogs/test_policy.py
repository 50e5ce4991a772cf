from types import MappingProxyType

import pytest

from dialogs import policy
from dialogs.model import Role
from dialogs.policy import (
    RULES,
    Action,
    Actor,
    Decision,
    Membership,
    Scope,
    decide,
    render_roles_table,
)

# hf -> k1 -> a1 -> s1, and hf -> k2. Every membership below is in k1.
PARENT = {"hf": None, "k1": "hf", "k2": "hf", "a1": "k1", "s1": "a1"}
calls: list[str] = []


def ancestors(unit: str) -> list[str]:
    calls.append(unit)
    chain = []
    current = PARENT[unit]
    while current is not None:
        chain.append(current)
        current = PARENT[current]
    return chain


TARGETS = {"own": "k1", "child": "a1", "grandchild": "s1", "parent": "hf", "other": "k2"}

# The table, written out independently of RULES: where each role may do each action.
OWN_DATA = {Action.ANSWER, Action.VIEW_OWN_DATA, Action.FORGET_SELF}
SUBTREE = {
    Role.STAFF: set(),
    Role.LEADER: {
        Action.VIEW_DIGEST,
        Action.VIEW_RESULTS,
        Action.VIEW_RESPONSE_RATES,
        Action.SET_MEASURE_STATUS,
    },
    Role.COORDINATOR: {
        Action.VIEW_DIGEST,
        Action.VIEW_RESULTS,
        Action.EXPORT_RESULTS,
        Action.VIEW_RESPONSE_RATES,
        Action.MANAGE_ROUNDS,
        Action.SEND_REMINDERS,
        Action.CREATE_INVITE,
        Action.IMPORT_PEOPLE,
        Action.IMPORT_MEASURES,
        Action.MANAGE_QUESTIONNAIRES,
    },
    Role.UNION_REP: {Action.VIEW_RESULTS, Action.VIEW_RESPONSE_RATES},
    Role.SAFETY_REP: {Action.VIEW_RESULTS, Action.VIEW_RESPONSE_RATES},
    Role.ADMIN: set(),
}


def expected(role: Role, action: Action, target: str) -> bool:
    if action in OWN_DATA:
        # About oneself: not unit-scoped, or in one's own unit.
        return target in ("none", "own")
    if role is Role.ADMIN:
        return True
    if action in SUBTREE[role]:
        return target in ("own", "child", "grandchild")
    return False


def person(*memberships: tuple[str, Role]) -> Actor:
    return Actor("p1", tuple(Membership(unit, role) for unit, role in memberships))


@pytest.mark.parametrize("target", [*TARGETS, "none"])
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_role_action_scope_table(role, action, target):
    decision = decide(person(("k1", role)), action, TARGETS.get(target), ancestors)
    assert decision.allowed is expected(role, action, target)
    if decision.allowed:
        assert decision.reason == "policy.allowed"
    elif action in OWN_DATA or action in SUBTREE[role]:
        assert decision.reason == "policy.denied.out_of_scope"
    else:
        assert decision.reason == "policy.denied.role"


@pytest.mark.parametrize("target", [*TARGETS.values(), None])
@pytest.mark.parametrize("action", list(Action))
def test_unknown_person_may_do_nothing(action, target):
    for actor in (Actor(None), Actor(None, (Membership("k1", Role.ADMIN),))):
        assert decide(actor, action, target, ancestors) == Decision(
            False, "policy.denied.unknown_person"
        )


@pytest.mark.parametrize("target", [*TARGETS.values(), None])
@pytest.mark.parametrize("action", list(Action))
def test_operator_may_do_everything(action, target):
    assert decide(Actor(None, operator=True), action, target, ancestors) == Decision(
        True, "policy.allowed.operator"
    )


def test_known_person_without_a_role_may_still_see_and_delete_own_data():
    nobody = person()
    assert decide(nobody, Action.FORGET_SELF, None, ancestors) == Decision(
        True, "policy.allowed.own_data"
    )
    assert decide(nobody, Action.VIEW_OWN_DATA, None, ancestors).allowed
    assert decide(nobody, Action.ANSWER, None, ancestors) == Decision(False, "policy.denied.role")
    assert not decide(nobody, Action.VIEW_RESULTS, "k1", ancestors).allowed


def test_several_memberships_give_the_union():
    # Staff in k2 and leader in a1: results for a1's subtree, own data anywhere it belongs.
    actor = person(("k2", Role.STAFF), ("a1", Role.LEADER))
    assert decide(actor, Action.VIEW_RESULTS, "s1", ancestors).allowed
    assert not decide(actor, Action.VIEW_RESULTS, "k2", ancestors).allowed
    assert not decide(actor, Action.VIEW_RESULTS, "k1", ancestors).allowed
    assert decide(actor, Action.ANSWER, "k2", ancestors).allowed
    assert decide(actor, Action.ANSWER, "a1", ancestors).allowed
    # Coordinator in k2 as well: exports there, but still not above.
    actor = person(("a1", Role.LEADER), ("k2", Role.COORDINATOR))
    assert decide(actor, Action.EXPORT_RESULTS, "k2", ancestors).allowed
    assert not decide(actor, Action.EXPORT_RESULTS, "a1", ancestors).allowed
    assert not decide(actor, Action.EXPORT_RESULTS, "hf", ancestors).allowed


def test_admin_in_any_unit_has_all_scope_even_without_a_unit():
    for action in (Action.CONFIGURE, Action.IMPORT_ORG, Action.MANAGE_USERS):
        assert decide(person(("a1", Role.ADMIN)), action, None, ancestors).allowed
        assert decide(person(("a1", Role.ADMIN)), action, "k2", ancestors).allowed


def test_only_admin_manages_the_service():
    for role, rights in RULES.items():
        for action in (Action.IMPORT_ORG, Action.MANAGE_USERS, Action.CONFIGURE):
            assert (action in rights) is (role is Role.ADMIN)


def test_ancestors_are_asked_at_most_once_and_only_when_needed():
    calls.clear()
    actor = person(("a1", Role.LEADER), ("k2", Role.LEADER), ("hf", Role.UNION_REP))
    assert decide(actor, Action.VIEW_RESULTS, "s1", ancestors).allowed
    assert decide(actor, Action.VIEW_RESULTS, "a1", ancestors).allowed
    assert calls == ["s1"]


def test_own_unit_scope(monkeypatch):
    rules = dict(RULES)
    rules[Role.STAFF] = MappingProxyType({Action.CREATE_INVITE: Scope.OWN_UNIT})
    monkeypatch.setattr(policy, "RULES", MappingProxyType(rules))
    staff = person(("k1", Role.STAFF))
    assert decide(staff, Action.CREATE_INVITE, "k1", ancestors).allowed
    for unit in ("a1", "hf", "k2", None):
        assert decide(staff, Action.CREATE_INVITE, unit, ancestors) == Decision(
            False, "policy.denied.out_of_scope"
        )


def test_rules_cover_every_role():
    assert set(RULES) == set(Role)


def test_roles_table_lists_every_action_and_role():
    table = render_roles_table()
    lines = table.splitlines()
    header = lines[0]
    assert all(f"`{role}`" in header for role in Role)
    assert [line.split("|")[1].strip() for line in lines[2:]] == [f"`{a}`" for a in Action]
    assert all(line.count("|") == len(Role) + 2 for line in lines)
    assert "| `view_digest` | — | unit + sub-units | unit + sub-units | all | — | — |" in lines
    assert "| `answer` | own data |" in table
