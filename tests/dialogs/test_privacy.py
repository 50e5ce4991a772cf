from collections import defaultdict
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.privacy import (
    DEFAULT_K,
    GroupNode,
    Suppression,
    SuppressionReason,
    can_show_rate,
    require_disjoint,
    rollup,
    suppress_siblings,
    suppress_tree,
)

TOO_FEW = SuppressionReason.TOO_FEW
COMPLEMENTARY = SuppressionReason.COMPLEMENTARY


def tree(*rows: tuple[str, str | None, int]) -> list[GroupNode]:
    return [GroupNode(key, parent, own) for key, parent, own in rows]


# --- one set of siblings -------------------------------------------------------------------


def test_default_k_is_five():
    assert DEFAULT_K == 5


def test_nothing_hidden_when_every_group_is_large_enough():
    result = suppress_siblings({"a": 5, "b": 9, "c": 20})
    assert result.hidden == frozenset()
    assert all(result.shown(key) for key in "abc")


def test_one_small_group_hides_the_next_smallest_too():
    result = suppress_siblings({"a": 3, "b": 7, "c": 6, "d": 40})
    assert result.reasons == {"a": TOO_FEW, "c": COMPLEMENTARY}
    assert result.visible == {"b", "d"}


def test_two_small_groups_summing_below_k_hide_a_third():
    result = suppress_siblings({"a": 2, "b": 2, "c": 8, "d": 9})
    assert result.reasons == {"a": TOO_FEW, "b": TOO_FEW, "c": COMPLEMENTARY}


def test_small_groups_summing_to_k_need_no_complement():
    result = suppress_siblings({"a": 2, "b": 3, "c": 8})
    assert result.reasons == {"a": TOO_FEW, "b": TOO_FEW}


def test_ties_are_broken_by_key():
    assert suppress_siblings({"b": 6, "a": 6, "x": 1}).hidden == {"a", "x"}


def test_empty_group_is_hidden_but_reveals_nobody():
    result = suppress_siblings({"a": 0, "b": 6, "c": 7})
    assert result.reasons == {"a": TOO_FEW}


def test_unlisted_respondents_count_as_a_hidden_group():
    # 2 people did not answer the split question: whole - yes - no would reveal them.
    assert suppress_siblings({"yes": 10, "no": 6}, unlisted=2).reasons == {"no": COMPLEMENTARY}
    assert suppress_siblings({"yes": 10, "no": 6}, unlisted=5).hidden == frozenset()


def test_crosstab_split_by_yes_no():
    # Unit of 20 split by "are you a leader?": 3 leaders -> both columns hidden.
    assert suppress_siblings({"yes": 3, "no": 17}).reasons == {
        "yes": TOO_FEW,
        "no": COMPLEMENTARY,
    }
    # Split with 3 values: the two small ones together reach k, the big one stays.
    assert suppress_siblings({"yes": 2, "no": 15, "n/a": 3}).visible == {"no"}


def test_whole_below_k_hides_everything_as_too_few():
    assert suppress_siblings({"a": 1, "b": 2}).reasons == {"a": TOO_FEW, "b": TOO_FEW}


def test_k_of_one_hides_only_empty_groups():
    assert suppress_siblings({"a": 1, "b": 0}, k=1).reasons == {"b": TOO_FEW}


def test_shown_refuses_unknown_keys():
    with pytest.raises(KeyError):
        suppress_siblings({"a": 9}).shown("typo")


# --- trees ---------------------------------------------------------------------------------


def test_rollup_sums_subtrees():
    nodes = tree(("hf", None, 1), ("k1", "hf", 2), ("a1", "k1", 3), ("k2", "hf", 4))
    assert rollup(nodes) == {"hf": 10, "k1": 5, "a1": 3, "k2": 4}


@pytest.mark.parametrize(
    "nodes",
    [
        tree(("a", None, 1), ("a", None, 2)),
        tree(("a", "missing", 1)),
        tree(("a", "b", 1), ("b", "a", 1)),
        tree(("a", None, -1)),
    ],
    ids=["duplicate", "unknown-parent", "cycle", "negative"],
)
def test_rollup_rejects_malformed_trees(nodes):
    with pytest.raises(ValueError):
        rollup(nodes)


def test_invalid_k_is_rejected():
    with pytest.raises(ValueError):
        suppress_tree(tree(("a", None, 9)), k=0)


def test_tree_all_fine_hides_nothing():
    nodes = tree(
        ("hf", None, 0), ("k1", "hf", 0), ("a1", "k1", 6), ("a2", "k1", 5), ("k2", "hf", 8)
    )
    assert suppress_tree(nodes).hidden == frozenset()


def test_root_below_k_is_hidden():
    result = suppress_tree(tree(("hf", None, 1), ("k1", "hf", 3)))
    assert result.reasons == {"hf": TOO_FEW, "k1": TOO_FEW}


def test_parent_own_respondents_are_an_implicit_sibling():
    # The clinic's 2 own respondents = clinic - a1 - a2: hide the smaller department.
    nodes = tree(("k", None, 2), ("a1", "k", 9), ("a2", "k", 6))
    assert suppress_tree(nodes).reasons == {"a2": COMPLEMENTARY}


def test_own_respondents_of_at_least_k_protect_a_small_child():
    nodes = tree(("k", None, 5), ("a1", "k", 9), ("a2", "k", 3))
    assert suppress_tree(nodes).reasons == {"a2": TOO_FEW}


def test_deep_tree_applies_the_rule_at_every_level():
    nodes = tree(
        ("hf", None, 0),
        ("k1", "hf", 0),
        ("k2", "hf", 0),
        ("a1", "k1", 0),
        ("a2", "k1", 0),
        ("s1", "a1", 6),
        ("s2", "a1", 2),  # too few -> s1 hidden too
        ("s3", "a2", 7),
        ("k2a", "k2", 30),
    )
    result = suppress_tree(nodes)
    assert result.reasons == {"s2": TOO_FEW, "s1": COMPLEMENTARY}
    assert result.visible == {"hf", "k1", "k2", "a1", "a2", "s3", "k2a"}


def test_rules_cascade_across_levels():
    # k1 - a1 would reveal k1's own 1 person, so a1 is hidden; hf - k1 would reveal k2's 3.
    nodes = tree(("hf", None, 0), ("k1", "hf", 1), ("a1", "k1", 7), ("k2", "hf", 3))
    assert suppress_tree(nodes).reasons == {
        "k2": TOO_FEW,
        "a1": COMPLEMENTARY,
        "k1": COMPLEMENTARY,
    }


def test_hidden_child_with_shown_grandchildren_is_looked_through():
    # k1 is hidden to protect k2, but a1 + a2 would give it back (and hf - k1 = k2): the smaller
    # of its departments goes too, so hf - a1 leaves k2 + a2 = 9 people.
    nodes = tree(
        ("hf", None, 0), ("k1", "hf", 0), ("a1", "k1", 7), ("a2", "k1", 6), ("k2", "hf", 3)
    )
    result = suppress_tree(nodes)
    assert result.reasons == {"k2": TOO_FEW, "k1": COMPLEMENTARY, "a2": COMPLEMENTARY}
    assert result.visible == {"hf", "a1"}


def test_top_level_groups_are_not_complements_of_each_other():
    result = suppress_tree(tree(("hospital", None, 500), ("municipality", None, 3)))
    assert result.reasons == {"municipality": TOO_FEW}


# --- rates and periods ---------------------------------------------------------------------


@pytest.mark.parametrize(("invitees", "shown"), [(0, False), (4, False), (5, True), (143, True)])
def test_rate_needs_k_invitees(invitees, shown):
    assert can_show_rate(invitees) is shown


def test_rate_uses_given_k():
    assert can_show_rate(3, k=3)
    assert not can_show_rate(3, k=4)


def test_disjoint_periods_pass():
    require_disjoint((date(2025, 1, 1), date(2025, 1, 7)), (date(2025, 1, 8), date(2025, 1, 14)))
    require_disjoint((date(2025, 2, 1), date(2025, 2, 1)), (date(2025, 1, 1), date(2025, 1, 31)))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((date(2025, 1, 1), date(2025, 1, 8)), (date(2025, 1, 8), date(2025, 1, 14))),
        ((date(2025, 1, 1), date(2025, 12, 31)), (date(2025, 3, 1), date(2025, 3, 31))),
        ((date(2025, 1, 1), date(2025, 1, 1)), (date(2025, 1, 1), date(2025, 1, 1))),
        ((date(2025, 1, 9), date(2025, 1, 1)), (date(2025, 2, 1), date(2025, 2, 2))),
    ],
    ids=["shared-day", "nested", "same-day", "reversed"],
)
def test_overlapping_or_reversed_periods_raise(a, b):
    with pytest.raises(ValueError):
        require_disjoint(a, b)


# --- properties, checked without the implementation's traversal ----------------------------


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[GroupNode], int]:
    size = draw(st.integers(1, 14))
    # Keys in random order so that key order and depth are unrelated.
    keys = draw(st.permutations([f"g{i:02}" for i in range(size)]))
    nodes = []
    for i, key in enumerate(keys):
        parent_index = draw(st.integers(-1, i - 1)) if i else -1
        parent = keys[parent_index] if parent_index >= 0 else None
        nodes.append(GroupNode(key, parent, draw(st.integers(0, 12))))
    return nodes, draw(st.integers(2, 6))


def ancestors_or_self(nodes: list[GroupNode], key: str) -> list[str]:
    parent = {node.key: node.parent for node in nodes}
    chain: list[str] = []
    current: str | None = key
    while current is not None:
        chain.append(current)
        current = parent[current]
    return chain


def totals(nodes: list[GroupNode]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for node in nodes:
        for key in ancestors_or_self(nodes, node.key):
            total[key] += node.own_respondents
    return {node.key: total[node.key] for node in nodes}


def assert_safe(nodes: list[GroupNode], k: int, result: Suppression) -> None:
    total = totals(nodes)
    assert result.visible | result.hidden == set(total)
    assert not result.visible & result.hidden
    shown = result.visible
    # (a) No shown group has fewer than k respondents; TOO_FEW means exactly that.
    for key, n in total.items():
        assert (key in shown) == (n >= k and result.reasons.get(key) is None)
        assert (result.reasons.get(key) == TOO_FEW) == (n < k)
    # (b) For every shown parent, its hidden child groups plus its own respondents (never a
    #     figure of their own, so always an implicit hidden group) hold 0 or at least k.
    for parent in shown:
        own = next(node.own_respondents for node in nodes if node.key == parent)
        hidden = sum(
            total[node.key] for node in nodes if node.parent == parent and node.key not in shown
        )
        hidden += own
        assert hidden == 0 or hidden >= k, (parent, hidden)
    # (b') Stronger, the whole of what shown figures reveal by any addition or subtraction:
    #     the shown groups are nested sets, so the finest groups a reader can isolate are the
    #     classes of people contained in exactly the same shown groups. Each class that lies
    #     inside some shown group must hold 0 or at least k respondents.
    classes: dict[frozenset[str], int] = defaultdict(int)
    for node in nodes:
        signature = frozenset(ancestors_or_self(nodes, node.key)) & shown
        classes[signature] += node.own_respondents
    for signature, n in classes.items():
        if signature:
            assert n == 0 or n >= k, (sorted(signature), n)


@settings(max_examples=500)
@given(trees())
def test_tree_suppression_never_reveals_a_small_group(case):
    nodes, k = case
    assert_safe(nodes, k, suppress_tree(nodes, k))


@given(trees(), st.randoms(use_true_random=False))
def test_tree_suppression_is_deterministic_and_order_free(case, rnd):
    nodes, k = case
    first = suppress_tree(nodes, k)
    shuffled = list(nodes)
    rnd.shuffle(shuffled)
    again = suppress_tree(shuffled, k)
    assert again.visible == first.visible
    assert dict(again.reasons) == dict(first.reasons)


@given(trees())
def test_complementary_hiding_only_where_a_small_group_needs_it(case):
    nodes, k = case
    result = suppress_tree(nodes, k)
    own = {node.key: node.own_respondents for node in nodes}
    if all(n == 0 or n >= k for n in own.values()):
        # Nothing small anywhere: every non-empty subtree is at least k and nothing hides.
        assert all(why == TOO_FEW for why in result.reasons.values())


@given(
    st.dictionaries(st.text("abc", min_size=1, max_size=3), st.integers(0, 12), max_size=8),
    st.integers(0, 12),
    st.integers(2, 6),
)
def test_sibling_suppression_never_reveals_a_small_group(counts, unlisted, k):
    result = suppress_siblings(counts, k, unlisted)
    assert result.visible | result.hidden == set(counts)
    assert all(counts[key] >= k for key in result.visible)
    whole = sum(counts.values()) + unlisted
    if whole >= k:
        revealed = whole - sum(counts[key] for key in result.visible)
        assert revealed == 0 or revealed >= k
    assert suppress_siblings(dict(reversed(counts.items())), k, unlisted) == result
