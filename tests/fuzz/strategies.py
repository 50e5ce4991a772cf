"""Hypothesis strategies: hostile text, random JSON, and inputs that are almost right."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bot.channels.actions import ALIASES, COMMANDS

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil\u202c",  # right-to-left override
    "שלום עולם",
    "مرحبا",
    "👍🏽👨‍👩‍👧‍👦",
    "\ud7ff\ue000\uffff",
    "Ø" * 5000,
    "x" * 20_000,
    "%s %d {0} {name} {{}}",
    "<b>bold</b><script>alert(1)</script>",
    "'; DROP TABLE answers; --",
    "../../etc/passwd",
    "1e309",
    "-0",
    "NaN",
    "12,5",
    "١٢",
]

texts = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
)
"""Text people (or attackers) type: unicode, RTL, NUL, emoji, huge, format strings."""

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON document."""


def maybe_wrong(value: Any) -> st.SearchStrategy[Any]:
    """Mostly `value` (a value or a strategy), sometimes a value of the wrong type."""
    right = value if isinstance(value, st.SearchStrategy) else st.just(value)
    return st.one_of(right, right, json_values)


def almost(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`fields` with some values replaced by wrong types, some keys dropped, extras added."""
    return st.builds(
        _mutate,
        st.fixed_dictionaries({k: maybe_wrong(v) for k, v in fields.items()}),
        st.sets(st.sampled_from(sorted(fields)), max_size=2),
        st.dictionaries(st.text(max_size=10), json_values, max_size=2),
    )


def _mutate(values: dict[str, Any], dropped: set[str], extra: dict[str, Any]) -> dict[str, Any]:
    return {**extra, **{k: v for k, v in values.items() if k not in dropped}}


def command_lines(commands: list[str], junk: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`/command junk` lines."""
    return st.builds(lambda c, j: f"/{c} {j}".rstrip(), st.sampled_from(commands), junk)


refused_commands = st.one_of(
    st.builds(
        lambda a, b: f"/settings window {a}-{b}",
        st.integers(25, 99),
        st.integers(-5, 999),
    ),
    command_lines(
        ["settings", "innstillingar"],
        st.sampled_from(["window x", "window 8-", "away 2026-13-45", "away x..y", "digest maybe"]),
    ),
    command_lines(
        ["remind", "påminn"], st.sampled_from(["abc", "-1", "#x", "nr.", "9" * 11, "١"])
    ),
    command_lines(["digest", "oversikt"], st.sampled_from(["2026-W99", "x", "2026-13", "W00"])),
    st.builds(lambda a, b: f"/measures zz-{a} {b}", st.text("abc-_", max_size=8), texts),
    st.builds(lambda a: f"/measures zz-{a}", st.text("xyz-", max_size=8)),
    command_lines(["language", "språk"], st.sampled_from(["xx", "klingon", "xx-NO", "😀"])),
    command_lines(["start", "link"], st.sampled_from(["AB12-CD34", "000000", "nope-1"])),
    st.builds(
        lambda c, j: f"/{c} {j}",
        st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1).filter(
            lambda c: c not in COMMANDS and c not in ALIASES
        ),
        texts,
    ),
)
"""Commands a linked person may type that must be refused (or only shown), changing nothing."""
