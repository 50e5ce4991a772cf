"""Fuzzing questionnaire files: mutations of the example must load or fail with line numbers."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from dialogs.loader import QuestionnaireError, parse_questionnaire
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.strategies import json_values, texts

EXAMPLE = Path(__file__).parents[2] / "examples" / "questionnaires" / "evaluering.yaml"
SOURCE = EXAMPLE.read_text(encoding="utf-8")
DATA: dict[str, Any] = yaml.safe_load(SOURCE)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in the parsed definition."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(DATA)
ITEM_IDS = [item["id"] for item in DATA["items"]]


def _apply(path: tuple[Any, ...], how: str, value: Any) -> str:
    """The example with one value at `path` deleted, replaced or duplicated, as YAML."""
    data = copy.deepcopy(DATA)
    parent: Any = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "replace":
        parent[last] = value
    elif how == "duplicate-item":
        data["items"].append(copy.deepcopy(data["items"][len(path) % len(data["items"])]))
    elif how == "reference":
        parent[last] = value if isinstance(value, str) and value else "no-such-item"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


structural = st.builds(
    _apply,
    st.sampled_from(PATHS),
    st.sampled_from(["delete", "replace", "duplicate-item", "reference"]),
    st.one_of(json_values, st.sampled_from(ITEM_IDS), texts),
)
"""Deleted keys, values of the wrong type, duplicate ids, references to other or no items."""


def _splice(lines: list[str], at: int, cut: int, insert: str) -> str:
    at = at % (len(lines) + 1)
    return "\n".join([*lines[:at], *insert.splitlines(), *lines[at + cut :]])


textual = st.builds(
    _splice,
    st.just(SOURCE.splitlines()),
    st.integers(0, 400),
    st.integers(0, 3),
    st.one_of(
        texts,
        st.sampled_from(
            ["  - id: samtykke", "items:", "\t", "key: [unclosed", "&a x", "*b", "? a\n: b", "---"]
        ),
    ),
)
"""Lines deleted, replaced or inserted: broken indentation, tabs, anchors, stray documents."""


@fuzz_settings(8)
@given(text=st.one_of(structural, textual, texts))
def test_a_mutated_definition_loads_or_names_its_lines(text: str) -> None:
    try:
        questionnaire = parse_questionnaire(text, "fuzz.yaml")
    except QuestionnaireError as error:
        assert error.errors, "an error without problems"
        last = text.count("\n") + 2
        for problem in error.errors:
            assert 1 <= problem.line <= last, problem
            assert problem.file == "fuzz.yaml" and problem.message.strip(), problem
        return
    assert questionnaire.items, "a questionnaire without items loaded"
