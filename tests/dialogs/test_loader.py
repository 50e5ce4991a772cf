"""Tests of the questionnaire definition format and its loader."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from dialogs import options as std
from dialogs.loader import (
    DefinitionError,
    QuestionnaireError,
    load_questionnaire,
    parse_questionnaire,
    validate_questionnaire,
)
from dialogs.model import (
    Condition,
    ItemKind,
    LocalizedText,
    MeasureAnswer,
    MeasureInfo,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "questionnaires" / "evaluering.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "questionnaires"
DOC = ROOT / "docs" / "questionnaire-format.md"

MEASURES = {
    "samarbeidsmoter": MeasureInfo(
        "samarbeidsmoter",
        LocalizedText(
            nb="Faste samarbeidsmøter", nn="Faste samarbeidsmøte", en="Regular meetings"
        ),
    ),
    "felles-opplaering": MeasureInfo(
        "felles-opplaering",
        LocalizedText(nb="Felles opplæring", nn="Felles opplæring", en="Joint training"),
    ),
    "utskrivningssamtale": MeasureInfo(
        "utskrivningssamtale",
        LocalizedText(nb="Utskrivningssamtale", en="Discharge conversation"),
    ),
}


def doc(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


def found(
    text: str, measures: dict[str, MeasureInfo] | None = None
) -> list[tuple[int, str | None]]:
    """(line, item id) of every error."""
    return [(e.line, e.item_id) for e in validate_questionnaire(doc(text), "t.yaml", measures)]


def only_error(text: str, measures: dict[str, MeasureInfo] | None = None) -> DefinitionError:
    errors = validate_questionnaire(doc(text), "t.yaml", measures)
    assert len(errors) == 1, errors
    return errors[0]


HEADER = """\
id: test
title: Test
items:
"""


# -- the example questionnaire --------------------------------------------------------------


def test_example_loads_without_measures() -> None:
    q = load_questionnaire(EXAMPLE)
    assert q.id == "evaluering-samhandlingsseminar"
    assert q.default_locale == "nb"
    assert [i.id for i in q.items] == [
        "samtykke",
        "arbeidssted",
        "rolle",
        "erfaring",
        "seminar_fornoyd",
        "seminar_nyttig",
        "tiltaksplan",
        "tiltaksplan_hvorfor_ikke",
        "tiltaksplan_kjent",
        "tiltaksplan_fulgt_opp",
        "informasjonskanaler",
        "tiltak.samarbeidsmoter",
        "tiltak.felles-opplaering",
        "tiltak.utskrivningssamtale",
        "andre_kommentarer",
    ]
    assert q.measures == ("samarbeidsmoter", "felles-opplaering", "utskrivningssamtale")
    assert len(q.content_hash) == 64
    int(q.content_hash, 16)

    consent = q.items[0]
    assert consent.kind is ItemKind.CONSENT
    assert [o.id for o in consent.options] == ["yes", "no"]
    assert consent.decline_message is not None
    assert consent.decline_message.nn is not None
    assert consent.decline_message.nn.startswith("Heilt i orden")

    assert [o.id for o in q.items[1].options] == ["sykehus", "kommune", "annet"]
    assert q.items[1].options[0].label == LocalizedText(nb="Sykehus", nn="Sjukehus", en="Hospital")
    assert [o.id for o in q.items[2].options] == ["leder", "ansatt", "annet"]

    years = q.items[3]
    assert (years.kind, years.min_value, years.max_value, years.integer) == (
        ItemKind.NUMBER,
        Decimal(0),
        Decimal(50),
        True,
    )

    satisfaction = q.items[4]
    assert satisfaction.options == std.SATISFACTION7
    assert satisfaction.comment is not None
    assert satisfaction.comment.nb == "Vil du si noe mer om seminaret?"

    plan = q.item("tiltaksplan")
    assert plan is not None
    assert [o.id for o in plan.options] == ["yes", "no", "na"]
    why_not = q.item("tiltaksplan_hvorfor_ikke")
    assert why_not is not None
    assert why_not.show_if == Condition("tiltaksplan", ("no",))
    assert (why_not.required, why_not.max_length) == (False, 500)
    known = q.item("tiltaksplan_kjent")
    assert known is not None
    assert known.options == std.AGREEMENT5
    assert known.text.nb == "Påstand: Tiltaksplanen er kjent blant de ansatte."
    assert known.show_if == Condition("tiltaksplan", ("yes",))
    followed_up = q.item("tiltaksplan_fulgt_opp")
    assert followed_up is not None
    assert followed_up.comment == std.COMMENT_PROMPT

    channels = q.item("informasjonskanaler")
    assert channels is not None
    assert (channels.min_picks, channels.max_picks, len(channels.options)) == (1, 3, 6)

    measure = q.item("tiltak.felles-opplaering")
    assert measure is not None
    assert measure.measure == "felles-opplaering"
    assert measure.text.nb == "Har tiltaket «felles-opplaering» startet der du jobber?"
    assert measure.help is not None
    assert (
        measure.help.nn == "Svar ut frå det du sjølv veit. «Veit ikkje» er eit heilt greitt svar."
    )

    last = q.items[-1]
    assert (last.kind, last.required, last.max_length) == (ItemKind.TEXT, False, 1000)


def test_example_has_every_text_in_nb_nn_and_en() -> None:
    q = load_questionnaire(EXAMPLE)
    texts = [q.title, q.intro, q.outro]
    for item in q.items:
        texts += [item.text, item.help, item.comment, item.decline_message]
        texts += [option.label for option in item.options]
    missing = [
        t for t in texts if t is not None and not (t.has("nb") and t.has("nn") and t.has("en"))
    ]
    assert missing == []


def test_example_nynorsk_is_not_bokmal() -> None:
    q = load_questionnaire(EXAMPLE)
    nn = " ".join(
        text.nn or ""
        for item in q.items
        for text in (item.text, item.help, *(o.label for o in item.options))
        if text is not None
    )
    for bokmal in (" ikke ", " hvordan ", " ansatte", " enheten", " hva ", " hvor ", " jeg "):
        assert bokmal not in f" {nn.lower()} ", bokmal


def test_example_loads_with_measures() -> None:
    plain = load_questionnaire(EXAMPLE)
    q = load_questionnaire(EXAMPLE, MEASURES)
    meeting = q.item("tiltak.samarbeidsmoter")
    assert meeting is not None
    assert meeting.text == LocalizedText(
        nb="Har tiltaket «Faste samarbeidsmøter» startet der du jobber?",
        nn="Har tiltaket «Faste samarbeidsmøte» starta der du jobbar?",
        en="Has the measure “Regular meetings” started where you work?",
    )
    discharge = q.item("tiltak.utskrivningssamtale")
    assert discharge is not None
    # No nn title: the measure title falls back to the default locale.
    assert discharge.text.nn == "Har tiltaket «Utskrivningssamtale» starta der du jobbar?"
    assert q.measures == plain.measures
    # The hash identifies the definition, not the titles of the measures map.
    assert q.content_hash == plain.content_hash


def test_example_with_a_measures_map_that_lacks_a_slug() -> None:
    measures = {k: v for k, v in MEASURES.items() if k != "felles-opplaering"}
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(EXAMPLE, measures)
    line = next(
        n
        for n, text in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), 1)
        if "measures: [samarbeidsmoter" in text
    )
    assert [(e.line, e.item_id, e.message) for e in caught.value.errors] == [
        (line, "tiltak", "unknown measure 'felles-opplaering'")
    ]


def test_complete_example_in_the_documentation_loads() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    q = parse_questionnaire(block, "doc", MEASURES)
    assert {i.kind for i in q.items} == set(ItemKind)
    follow_up = q.item("oppstart")
    assert follow_up is not None
    assert follow_up.show_if == Condition("tiltak.samarbeidsmoter", ("started", "planned"))


# -- errors, one class at a time -------------------------------------------------------------


def test_invalid_yaml_reports_the_line() -> None:
    error = only_error(
        """
        id: test
        title: Test
        items:
          - id: a
            kind: text
             text: Hei
        """
    )
    assert (error.line, error.item_id) == (6, None)
    assert error.message == "invalid YAML: mapping values are not allowed here"
    assert str(error) == "t.yaml:6: invalid YAML: mapping values are not allowed here"


def test_unclosed_quote_names_where_it_started() -> None:
    error = only_error(HEADER + '  - id: a\n    kind: text\n    text: "Hei\n')
    assert error.line == 7
    assert "(line 6)" in error.message


def test_empty_and_non_mapping_documents() -> None:
    assert [(e.line, e.message) for e in validate_questionnaire("", "t.yaml")] == [
        (1, "the definition is empty")
    ]
    assert found("- a\n- b\n") == [(1, None)]


def test_duplicate_item_ids() -> None:
    error = only_error(
        HEADER
        + """\
  - id: a
    kind: text
    text: A
  - id: a
    kind: text
    text: B
"""
    )
    assert (error.line, error.item_id) == (7, "a")
    assert error.message == "duplicate item id 'a' (first used on line 4)"


def test_unknown_kind_suggests_the_closest() -> None:
    error = only_error(HEADER + "  - id: a\n    kind: singel\n    text: A\n")
    assert (error.line, error.item_id) == (5, "a")
    assert error.message.startswith("unknown kind 'singel' (did you mean 'single'?)")


def test_show_if_unknown_item() -> None:
    error = only_error(
        HEADER
        + """\
  - id: a
    kind: yes_no_na
    text: A
  - id: b
    kind: text
    text: B
    show_if: {item: aa, equals: yes}
"""
    )
    assert (error.line, error.item_id) == (10, "b")
    assert error.message == "show_if refers to unknown item 'aa' (did you mean 'a'?)"


def test_show_if_forward_reference() -> None:
    error = only_error(
        HEADER
        + """\
  - id: b
    kind: text
    text: B
    show_if:
      item: a
      equals: yes
  - id: a
    kind: yes_no_na
    text: A
"""
    )
    assert (error.line, error.item_id) == (8, "b")
    assert "'a', which comes later (line 10)" in error.message


def test_show_if_on_itself() -> None:
    error = only_error(
        HEADER
        + "  - id: a\n    kind: yes_no_na\n    text: A\n    show_if: {item: a, equals: no}\n"
    )
    assert (error.line, error.item_id) == (7, "a")
    assert error.message == "show_if cannot refer to the item itself"


def test_show_if_unknown_option_names_the_line_of_the_option() -> None:
    error = only_error(
        HEADER
        + """\
  - id: a
    kind: yes_no_na
    include_na: false
    text: A
  - id: b
    kind: text
    text: B
    show_if:
      item: a
      any_of:
        - yes
        - na
"""
    )
    assert (error.line, error.item_id) == (15, "b")
    assert error.message == "item 'a' has no option 'na'; its options are yes, no"


def test_show_if_on_an_item_without_options() -> None:
    error = only_error(
        HEADER
        + """\
  - id: a
    kind: number
    text: A
  - id: b
    kind: text
    text: B
    show_if: {item: a, equals: 3}
"""
    )
    assert (error.line, error.item_id) == (10, "b")
    assert error.message == "show_if refers to 'a', a number item without options"


def test_show_if_on_a_measure_block_and_on_its_items() -> None:
    text = (
        HEADER
        + """\
  - id: tiltak
    kind: measure_status
    measures: [m1]
  - id: b
    kind: text
    text: B
    show_if: {item: tiltak, equals: started}
  - id: c
    kind: text
    text: C
    show_if: {item: tiltak.m1, any_of: [started, begun]}
"""
    )
    errors = validate_questionnaire(text, "t.yaml")
    assert [(e.line, e.item_id, e.message) for e in errors] == [
        (
            10,
            "b",
            "'tiltak' is a measure block: refer to one of its items, such as 'tiltak.<measure>'",
        ),
        (
            14,
            "c",
            "item 'tiltak.m1' has no option 'begun'; its options are "
            "started, planned, not_relevant, dont_know",
        ),
    ]


def test_show_if_needs_exactly_one_of_any_of_and_equals() -> None:
    base = HEADER + "  - id: a\n    kind: yes_no_na\n    text: A\n  - id: b\n    kind: text\n"
    both = only_error(base + "    text: B\n    show_if: {item: a, equals: yes, any_of: [no]}\n")
    assert (both.line, both.item_id) == (10, "b")
    assert both.message == "use either 'any_of' or 'equals' in show_if, not both"
    neither = only_error(base + "    text: B\n    show_if: {item: a}\n")
    assert (neither.line, neither.message) == (10, "'show_if' needs 'any_of' (or 'equals')")
    empty = only_error(base + "    text: B\n    show_if: {item: a, any_of: []}\n")
    assert (empty.line, empty.message) == (10, "'any_of' must be a non-empty list of option ids")


def test_missing_options() -> None:
    assert found(HEADER + "  - id: a\n    kind: single\n    text: A\n") == [(4, "a")]
    assert found(HEADER + "  - id: a\n    kind: multi\n    text: A\n    options: []\n") == [
        (7, "a")
    ]
    assert found(HEADER + "  - id: a\n    kind: scale\n    text: A\n") == [(4, "a")]
    error = only_error(HEADER + "  - id: a\n    kind: single\n    text: A\n")
    assert error.message == "a single item needs 'options'"


def test_duplicated_option_ids() -> None:
    error = only_error(
        HEADER
        + """\
  - id: a
    kind: single
    text: A
    options:
      - id: ja
        label: Ja
      - id: nei
        label: Nei
      - id: ja
        label: Kanskje
"""
    )
    assert (error.line, error.item_id) == (12, "a")
    assert error.message == "duplicate option id 'ja' (first on line 8)"


MULTI = (
    HEADER
    + """\
  - id: kanaler
    kind: multi
    text: Kanaler
    options:
      - {id: a, label: A}
      - {id: b, label: B}
      - {id: c, label: C}
"""
)


def test_min_picks_above_max_picks() -> None:
    error = only_error(MULTI + "    min_picks: 3\n    max_picks: 2\n")
    assert (error.line, error.item_id) == (11, "kanaler")
    assert error.message == "min_picks (3) is above max_picks (2)"


def test_max_picks_above_the_number_of_options() -> None:
    error = only_error(MULTI + "    min_picks: 1\n    max_picks: 4\n")
    assert (error.line, error.item_id) == (12, "kanaler")
    assert error.message == "max_picks (4) is more than the number of options (3)"
    alone = only_error(MULTI + "    min_picks: 5\n")
    assert (alone.line, alone.message) == (
        11,
        "min_picks (5) is more than the number of options (3)",
    )


def test_min_above_max_for_numbers() -> None:
    error = only_error(
        HEADER + "  - id: n\n    kind: number\n    text: N\n    min: 10\n    max: 5\n"
    )
    assert (error.line, error.item_id) == (7, "n")
    assert error.message == "min (10) is above max (5)"


def test_integer_numbers_need_whole_bounds() -> None:
    text = HEADER + "  - id: n\n    kind: number\n    text: N\n    min: 0.5\n"
    error = only_error(text)
    assert (error.line, error.message) == (7, "'min' must be a whole number (integer is true)")
    q = parse_questionnaire(doc(text + "    integer: false\n"), "t.yaml")
    assert (q.items[0].min_value, q.items[0].integer) == (Decimal("0.5"), False)


def test_missing_default_locale_on_item_text_and_option_label() -> None:
    text = (
        HEADER
        + """\
  - id: a
    kind: single
    text:
      nn: Kvar jobbar du?
      en: Where do you work?
    options:
      - id: x
        label: {nb: X}
      - id: y
        label:
          en: Y
"""
    )
    errors = validate_questionnaire(text, "t.yaml")
    assert [(e.line, e.item_id, e.message) for e in errors] == [
        (6, "a", "'text' has no text in the default locale 'nb'"),
        (13, "a", "the label of option 'y' has no text in the default locale 'nb'"),
    ]


def test_default_locale_nn_requires_nn_texts() -> None:
    text = "id: t\ndefault_locale: nn\ntitle: Test\nitems:\n  - id: a\n    kind: text\n"
    error = only_error(text + "    text: {nb: Hei}\n")
    assert (error.line, error.message) == (7, "'text' has no text in the default locale 'nn'")
    q = parse_questionnaire(text + "    text: Hei\n", "t.yaml")
    assert q.items[0].text == LocalizedText(nn="Hei")
    assert q.title == LocalizedText(nn="Test")


def test_bad_id_slugs() -> None:
    text = doc(
        """
        id: Mitt skjema
        title: Test
        items:
          - id: Bakgrunn
            kind: single
            text: A
            options:
              - {id: ja, label: Ja}
              - {id: Nei!, label: Nei}
          - id: t
            kind: measure_status
            measures: [ok-slug, Feil_Slug]
        """
    )
    errors = validate_questionnaire(text, "t.yaml")
    assert [(e.line, e.item_id) for e in errors] == [
        (1, None),
        (4, "Bakgrunn"),
        (9, "Bakgrunn"),
        (12, "t"),
    ]
    assert errors[0].message.startswith("id 'Mitt skjema' is not a valid id")
    assert errors[1].message.startswith("item id 'Bakgrunn' is not a valid id")
    assert errors[2].message.startswith("option id 'Nei!' is not a valid id")
    assert errors[3].message.startswith("measure id 'Feil_Slug' is not a valid id")


def test_unknown_keys_are_named() -> None:
    text = doc(
        """
        id: test
        titel: Test
        title: Test
        items:
          - id: a
            kind: text
            text: A
            requried: false
            maxlength: 20
          - id: b
            kind: single
            text: B
            max_length: 5
            options:
              - {id: x, label: X, lable: Y}
              - {id: y, label: Y}
        """
    )
    errors = validate_questionnaire(text, "t.yaml")
    assert [(e.line, e.item_id, e.message) for e in errors] == [
        (2, None, "unknown key 'titel' in the questionnaire (did you mean 'title'?)"),
        (8, "a", "unknown key 'requried' in an item (did you mean 'required'?)"),
        (9, "a", "unknown key 'maxlength' in an item (did you mean 'max_length'?)"),
        (13, "b", "key 'max_length' does not apply to kind 'single'"),
        (15, "b", "unknown key 'lable' in an option (did you mean 'label'?)"),
    ]


def test_keys_that_do_not_apply() -> None:
    text = HEADER + "  - id: a\n    kind: text\n    text: A\n    comment: true\n"
    assert only_error(text).message == "key 'comment' does not apply to kind 'text'"
    consent = HEADER + "  - id: c\n    kind: consent\n    text: C\n    required: false\n"
    assert only_error(consent).message == "key 'required' does not apply to kind 'consent'"
    outside = (
        HEADER
        + "  - id: s\n    kind: single\n    text: S\n    options:\n"
        + "      - {id: a, label: A}\n      - {id: b, label: B, outside_scale: true}\n"
    )
    error = only_error(outside)
    assert (error.line, error.message) == (9, "'outside_scale' only applies to scale items")


def test_duplicate_keys() -> None:
    error = only_error(HEADER + "  - id: a\n    kind: text\n    text: A\n    text: B\n")
    assert (error.line, error.item_id) == (7, "a")
    assert error.message == "key 'text' appears twice (first on line 6)"


def test_unknown_measure_slug_with_measures() -> None:
    text = (
        HEADER
        + """\
  - id: tiltak
    kind: measure_status
    measures:
      - samarbeidsmoter
      - samarbeidsmote
"""
    )
    error = only_error(text, MEASURES)
    assert (error.line, error.item_id) == (8, "tiltak")
    assert error.message == "unknown measure 'samarbeidsmote' (did you mean 'samarbeidsmoter'?)"
    # Without a measures map, slugs are not checked.
    assert validate_questionnaire(doc(text), "t.yaml") == ()


def test_measure_block_errors() -> None:
    text = (
        HEADER
        + """\
  - id: tiltak
    kind: measure_status
    text: Har tiltaket startet?
    measures: [a, b, a]
  - id: tom
    kind: measure_status
    measures: []
"""
    )
    errors = validate_questionnaire(text, "t.yaml")
    assert [(e.line, e.item_id, e.message) for e in errors] == [
        (6, "tiltak", "the question template (nb) must contain '{measure}'"),
        (7, "tiltak", "measure 'a' is listed twice (first on line 7)"),
        (10, "tom", "'measures' must be a non-empty list of measure ids"),
    ]


def test_scale_errors() -> None:
    unknown = only_error(
        HEADER + "  - id: s\n    kind: scale\n    scale: satisfaction5\n    text: S\n"
    )
    assert (unknown.line, unknown.item_id) == (6, "s")
    assert unknown.message == (
        "unknown scale 'satisfaction5' (did you mean 'satisfaction7'?); "
        "use satisfaction7, agreement5"
    )
    both = only_error(
        HEADER
        + "  - id: s\n    kind: scale\n    scale: agreement5\n    text: S\n"
        + "    options:\n      - {id: a, label: A}\n      - {id: b, label: B}\n"
    )
    assert (both.line, both.message) == (6, "use either 'scale' or 'options', not both")
    one_point = only_error(
        HEADER
        + "  - id: s\n    kind: scale\n    text: S\n    options:\n"
        + "      - {id: a, label: A}\n"
        + "      - {id: vet_ikke, label: Vet ikke, outside_scale: true}\n"
    )
    assert (one_point.line, one_point.message) == (
        7,
        "a scale needs at least two options on the scale",
    )


def test_wrong_value_types() -> None:
    text = doc(
        """
        id: test
        title: Test
        default_locale: se
        items:
          - id: a
            kind: text
            text: A
            required: nei
            max_length: 0
          - id: b
            kind: multi
            text: [B]
            options: {id: x}
        """
    )
    errors = validate_questionnaire(text, "t.yaml")
    assert [(e.line, e.item_id, e.message) for e in errors] == [
        (3, None, "'default_locale' must be nb, nn or en"),
        (8, "a", "'required' must be true or false"),
        (9, "a", "'max_length' must be a whole number of at least 1"),
        (12, "b", "'text' must be a string or a mapping of nb/nn/en"),
        (13, "b", "'options' must be a list"),
    ]


def test_all_errors_are_reported_at_once_in_line_order() -> None:
    path = FIXTURES / "many_errors.yaml"
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path, MEASURES)
    errors = caught.value.errors
    assert [(e.line, e.item_id) for e in errors] == [
        (1, None),  # id not a slug
        (3, None),  # unknown key 'itmes'
        (6, "bakgrunn"),  # unknown kind
        (13, "rolle"),  # duplicate option id
        (19, "kanaler"),  # option label without nb
        (21, "kanaler"),  # max_picks above the number of options
        (24, "erfaring"),  # text without nb
        (25, "erfaring"),  # min above max
        (27, "Kommentar"),  # item id not a slug
        (30, "Kommentar"),  # show_if forward reference
        (31, "Kommentar"),  # unknown key
        (38, "rolle"),  # duplicate item id
        (41, "rolle"),  # show_if to an option the item does not have
        (44, "tiltak"),  # unknown measure slug
    ]
    assert all(e.file == str(path) for e in errors)
    assert errors[3].message == "duplicate option id 'leder' (first on line 12)"
    assert errors[11].message == "duplicate item id 'rolle' (first used on line 8)"
    assert str(caught.value).splitlines()[0] == (
        f"{path}:1: id 'Feil-Skjema' is not a valid id: use lowercase letters, digits, '_' and '-'"
        " (starting with a letter or digit)"
    )
    assert str(errors[5]) == (
        f"{path}:21: [kanaler] max_picks (3) is more than the number of options (2)"
    )
    # validate_questionnaire gives the same list without raising.
    assert validate_questionnaire(path.read_text(encoding="utf-8"), str(path), MEASURES) == errors


def test_parse_raises_and_validate_returns_nothing_when_valid() -> None:
    text = HEADER + "  - id: a\n    kind: text\n    text: A\n"
    assert validate_questionnaire(text, "t.yaml") == ()
    with pytest.raises(QuestionnaireError) as caught:
        parse_questionnaire(text.replace("kind: text", "kind: txt"), "t.yaml")
    assert [(e.line, e.item_id) for e in caught.value.errors] == [(5, "a")]


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: test\ntitle: Spørreskjema\n".encode("latin-1"))
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    assert [(e.line, e.message) for e in caught.value.errors] == [
        (2, "the file is not valid UTF-8")
    ]


# -- content hash ---------------------------------------------------------------------------


def test_hash_is_stable_under_reformatting() -> None:
    a = load_questionnaire(FIXTURES / "minimal.yaml")
    b = load_questionnaire(FIXTURES / "minimal_reformatted.yaml")
    assert a.content_hash == b.content_hash
    assert a == b


def test_hash_ignores_comments_and_blank_lines_in_the_example() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    edited = "# a new comment\n\n" + text.replace(
        "\n  - id: rolle", "\n\n  # roles\n  - id: rolle"
    )
    assert edited != text
    original = parse_questionnaire(text, "a.yaml").content_hash
    assert parse_questionnaire(edited, "b.yaml").content_hash == original


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("en: Will you answer?", "en: Would you answer?"),  # a text
        ("scale: satisfaction7", "scale: agreement5"),  # the options
        ("required: false", "required: true"),  # a flag
        ("max_length: 500", "max_length: 400"),  # a limit
        ("equals: no", "equals: na"),  # a condition
        ("[samarbeidsmoter, felles-opplaering]", "[felles-opplaering, samarbeidsmoter]"),  # order
        ("id: kort-sjekk", "id: kort-sjekk-2"),  # the id
    ],
)
def test_hash_changes_with_content(old: str, new: str) -> None:
    text = (FIXTURES / "minimal.yaml").read_text(encoding="utf-8")
    assert old in text
    before = parse_questionnaire(text, "a.yaml").content_hash
    assert parse_questionnaire(text.replace(old, new), "b.yaml").content_hash != before


def test_hash_is_the_same_for_shorthand_and_written_out_scale() -> None:
    short = HEADER + "  - id: s\n    kind: scale\n    scale: agreement5\n    text: S\n"
    written = HEADER + "  - id: s\n    kind: scale\n    text: S\n    options:\n"
    for option in std.AGREEMENT5:
        label = option.label
        written += (
            f"      - id: {option.id}\n"
            f'        label: {{nb: {label.nb}, nn: {label.nn}, en: "{label.en}"}}\n'
        )
        if option.outside_scale:
            written += "        outside_scale: true\n"
    a = parse_questionnaire(short, "a.yaml")
    b = parse_questionnaire(written, "b.yaml")
    assert a.items[0].options == b.items[0].options
    assert a.content_hash == b.content_hash


# -- measure blocks -------------------------------------------------------------------------

BLOCK = (
    HEADER
    + """\
  - id: rolle
    kind: single
    text: Rolle
    options:
      - {id: leder, label: Leder}
      - {id: ansatt, label: Ansatt}
  - id: tiltak
    kind: measure_status
    required: false
    help: Svar ut fra det du vet.
    comment: true
    show_if: {item: rolle, equals: ansatt}
    measures: [samarbeidsmoter, utskrivningssamtale, samarbeidsmoter-2]
"""
)


def test_measure_block_expands_into_one_item_per_measure() -> None:
    q = parse_questionnaire(BLOCK, "t.yaml")
    expanded = q.items[1:]
    assert [i.id for i in expanded] == [
        "tiltak.samarbeidsmoter",
        "tiltak.utskrivningssamtale",
        "tiltak.samarbeidsmoter-2",
    ]
    assert [i.measure for i in expanded] == [
        "samarbeidsmoter",
        "utskrivningssamtale",
        "samarbeidsmoter-2",
    ]
    assert q.measures == ("samarbeidsmoter", "utskrivningssamtale", "samarbeidsmoter-2")
    for item in expanded:
        assert item.kind is ItemKind.MEASURE_STATUS
        assert [o.id for o in item.options] == [a.value for a in MeasureAnswer]
        assert item.required is False
        assert item.help == LocalizedText(nb="Svar ut fra det du vet.")
        assert item.comment == std.COMMENT_PROMPT
        assert item.show_if == Condition("rolle", ("ansatt",))
    first = expanded[0]
    assert first.text == LocalizedText(
        nb="Har tiltaket «samarbeidsmoter» startet der du jobber?",
        nn="Har tiltaket «samarbeidsmoter» starta der du jobbar?",
        en="Has the measure “samarbeidsmoter” started where you work?",
    )


def test_measure_answer_labels_in_all_locales() -> None:
    q = parse_questionnaire(BLOCK, "t.yaml")
    labels = {o.id: o.label for o in q.items[1].options}
    assert labels["started"] == LocalizedText(
        nb="Tiltaket er igangsatt", nn="Tiltaket er sett i gang", en="The measure has started"
    )
    assert labels["planned"] == LocalizedText(
        nb="Tiltaket er planlagt", nn="Tiltaket er planlagt", en="The measure is planned"
    )
    assert labels["not_relevant"] == LocalizedText(
        nb="Tiltaket er ikke aktuelt for oss",
        nn="Tiltaket er ikkje aktuelt for oss",
        en="The measure is not relevant for us",
    )
    assert labels["dont_know"] == LocalizedText(nb="Vet ikke", nn="Veit ikkje", en="Don't know")


def test_measure_block_with_own_template_and_titles() -> None:
    text = (
        HEADER
        + """\
  - id: status
    kind: measure_status
    text:
      nb: "Hva er status for «{measure}» i din enhet?"
      en: "What is the status of “{measure}” in your unit?"
    measures: [felles-opplaering]
"""
    )
    q = parse_questionnaire(text, "t.yaml", MEASURES)
    assert q.items[0].id == "status.felles-opplaering"
    assert q.items[0].text == LocalizedText(
        nb="Hva er status for «Felles opplæring» i din enhet?",
        en="What is the status of “Joint training” in your unit?",
    )


def test_show_if_can_refer_to_an_expanded_measure_item() -> None:
    text = BLOCK + "  - id: hvorfor\n    kind: text\n    text: Hvorfor?\n"
    text += "    show_if: {item: tiltak.utskrivningssamtale, any_of: [planned, dont_know]}\n"
    q = parse_questionnaire(text, "t.yaml")
    assert q.items[-1].show_if == Condition("tiltak.utskrivningssamtale", ("planned", "dont_know"))


# -- standard scales and shorthands ---------------------------------------------------------


def test_satisfaction7_in_all_three_locales() -> None:
    q = parse_questionnaire(
        HEADER + "  - id: s\n    kind: scale\n    scale: satisfaction7\n    text: S\n", "t.yaml"
    )
    options = q.items[0].options
    assert [o.id for o in options] == ["1", "2", "3", "4", "5", "6", "7"]
    assert not any(o.outside_scale for o in options)
    assert [o.label.get("nb") for o in (options[0], options[3], options[6])] == [
        "Svært misfornøyd",
        "Verken fornøyd eller misfornøyd",
        "Svært fornøyd",
    ]
    assert [o.label.get("nn") for o in (options[0], options[3], options[6])] == [
        "Svært misnøgd",
        "Verken nøgd eller misnøgd",
        "Svært nøgd",
    ]
    assert [o.label.get("en") for o in (options[0], options[3], options[6])] == [
        "Very dissatisfied",
        "Neither satisfied nor dissatisfied",
        "Very satisfied",
    ]


def test_agreement5_with_dont_know_outside_the_scale() -> None:
    q = parse_questionnaire(
        HEADER + "  - id: s\n    kind: scale\n    scale: agreement5\n    text: S\n", "t.yaml"
    )
    options = q.items[0].options
    assert [o.id for o in options] == ["1", "2", "3", "4", "5", "dont_know"]
    assert [o.outside_scale for o in options] == [False] * 5 + [True]
    assert options[0].label == LocalizedText(
        nb="Helt uenig", nn="Heilt usamd", en="Strongly disagree"
    )
    assert options[4].label == LocalizedText(nb="Helt enig", nn="Heilt samd", en="Strongly agree")
    assert options[5].label == LocalizedText(nb="Vet ikke", nn="Veit ikkje", en="Don't know")


def test_standard_option_sets_are_complete_in_every_locale() -> None:
    sets = [
        std.SATISFACTION7,
        std.AGREEMENT5,
        std.YES_NO_NA,
        std.CONSENT,
        std.MEASURE_ANSWERS,
    ]
    for options in sets:
        for option in options:
            assert option.label.has("nb") and option.label.has("nn") and option.label.has("en")
    for text in (std.MEASURE_QUESTION, std.COMMENT_PROMPT, std.DECLINE_MESSAGE):
        assert text.has("nb") and text.has("nn") and text.has("en")


def test_equals_is_shorthand_for_any_of_and_no_stays_text() -> None:
    base = HEADER + "  - id: a\n    kind: yes_no_na\n    text: A\n  - id: b\n    kind: text\n"
    short = parse_questionnaire(base + "    text: B\n    show_if: {item: a, equals: no}\n", "x")
    long = parse_questionnaire(base + "    text: B\n    show_if: {item: a, any_of: [no]}\n", "x")
    assert short.items[1].show_if == Condition("a", ("no",))
    assert long.items[1].show_if == Condition("a", ("no",))
    assert short.content_hash == long.content_hash


def test_comment_shorthands() -> None:
    base = HEADER + "  - id: a\n    kind: yes_no_na\n    text: A\n"
    assert parse_questionnaire(base + "    comment: true\n", "x").items[0].comment == (
        std.COMMENT_PROMPT
    )
    assert parse_questionnaire(base + "    comment: false\n", "x").items[0].comment is None
    own = parse_questionnaire(base + "    comment: Hvorfor?\n", "x").items[0].comment
    assert own == LocalizedText(nb="Hvorfor?")
    assert std.COMMENT_PROMPT.nn == "Vil du leggje til ein kommentar?"


def test_yes_no_na_and_consent_options() -> None:
    text = HEADER + "  - id: a\n    kind: yes_no_na\n    text: A\n    include_na: false\n"
    text += "  - id: c\n    kind: consent\n    text: Vil du delta?\n"
    q = parse_questionnaire(text, "x")
    assert [o.id for o in q.items[0].options] == ["yes", "no"]
    consent = q.items[1]
    assert [o.id for o in consent.options] == ["yes", "no"]
    assert consent.options[1].label.get("nn") == "Nei, eg vil ikkje vere med"
    assert consent.decline_message == std.DECLINE_MESSAGE
    assert consent.required is True


def test_defaults_and_plain_string_texts() -> None:
    text = HEADER + "  - id: t\n    kind: text\n    text: Fritekst\n"
    text += "  - id: n\n    kind: number\n    text: Tall\n"
    q = parse_questionnaire(text, "x")
    free, number = q.items
    assert (free.required, free.max_length, free.show_if, free.comment) == (True, 1000, None, None)
    assert free.text == LocalizedText(nb="Fritekst")
    assert (number.integer, number.min_value, number.max_value) == (True, None, None)
    assert q.title == LocalizedText(nb="Test")
    assert (q.intro, q.outro, q.measures) == (None, None, ())


def test_block_scalars_are_trimmed() -> None:
    text = (
        HEADER + "  - id: t\n    kind: text\n    text:\n      nb: |\n        Hei\n      nn: >-\n"
    )
    text += "        Hei på\n        deg\n"
    q = parse_questionnaire(text, "x")
    assert q.items[0].text == LocalizedText(nb="Hei", nn="Hei på deg")
