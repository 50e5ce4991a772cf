"""`followup results` cross-tabs, XLSX, free text, redaction and the audit log, on a database.

The scenario is tests/bot/test_results.py's: eight example people answer (k = 3). Every figure
is counted here from the answer plans; every surface (JSON, CSV, XLSX) is read back and checked
so that no group under k is shown, nor left over when shown groups are subtracted from a total.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openpyxl import load_workbook
from sqlalchemy import select

from storage import models as m
from tests.bot.test_cli import (
    BASE_PLAN,
    answer_round,
    count,
    create_round,
    csv_rows,
    fails,
    followup,
    query,
    set_up_examples,
)
from tests.bot.test_results import (
    ANSWERS,
    SCHEMA,
    Answered,
    K,
    answer_the_examples,
    half_up,
)

TOO_FEW = "for få svar"


@pytest.fixture
def answered(request: pytest.FixtureRequest, db_url: str) -> Answered:
    """The example round answered by the people in ANSWERS (anonymous unless parametrized)."""
    anonymous = bool(getattr(request, "param", True))
    return Answered(db_url, answer_the_examples(db_url, anonymous), anonymous)


ROLES = {  # from examples/people.csv: the role each respondent holds where they answered
    "Kari Nordmann": "staff",
    "Ola Hansen": "staff",
    "Ingrid Berg": "leader",
    "Ahmed Ali": "staff",
    "Sofie Lie": "staff",
    "Marit Strand": "staff",
    "Per Dahl": "leader",
    "Nina Solberg": "staff",
}


def split_plans(by: str) -> dict[str, list[Mapping[str, Any]]]:
    """Column key -> the plans of the respondents in that column (counted here)."""
    columns: dict[str, list[Mapping[str, Any]]] = {}
    for name, plan in ANSWERS.items():
        key = ROLES[name] if by == "role" else plan.get(by)
        if isinstance(key, str):
            columns.setdefault(key, []).append(plan)
    return columns


def answers_to(item: str, plans: Sequence[Mapping[str, Any]]) -> list[Any]:
    """What the plans answered to one item."""
    return [plan[item] for plan in plans if item in plan]


def picked(answers: Sequence[Any], option: str) -> int:
    """How many answers include `option` (an option id, or a list of them)."""
    return sum(option == a if isinstance(a, str) else option in a for a in answers)


def assert_split_is_safe(report: Mapping[str, Any], by: str, k: int) -> set[str]:
    """The cross-tab of a JSON report against the plans; returns the shown column keys."""
    crosstab = report["crosstab"]
    columns = {c["key"]: c for c in crosstab["columns"]}
    plans = split_plans(by)
    shown = {key for key, c in columns.items() if not c["suppressed"]}
    for key, column in columns.items():
        members = plans.get(key, [])
        if 0 < len(members) < k:
            assert key not in shown, f"{key} has {len(members)} respondents"
        if key not in shown:
            assert column["respondents"] is None
            for item in column["items"]:
                assert item["suppressed"] or item["denominator"] == 0
                assert all((o["n"], o["pct"]) == (0, None) for o in item["options"])
            continue
        assert column["respondents"] == len(members) >= k
        for item in column["items"]:
            given = answers_to(item["id"], members)
            if item["suppressed"]:
                continue
            assert item["denominator"] == len(given), (key, item["id"])
            for option in item["options"]:
                n = picked(given, option["id"])
                assert (option["n"], option["pct"]) == (n, half_up(n, len(given)))
    # Subtraction: the whole minus the shown columns, per respondent and per item.
    left = len(ANSWERS) - sum(len(plans.get(key, [])) for key in shown)
    assert left == 0 or left >= k, f"all minus shown columns leaves {left}"
    for whole in report["items"]:
        if whole["suppressed"]:
            continue
        visible = [
            key
            for key in shown
            if not next(i for i in columns[key]["items"] if i["id"] == whole["id"])["suppressed"]
        ]
        rest = whole["denominator"] - sum(
            len(answers_to(whole["id"], plans.get(key, []))) for key in visible
        )
        assert rest == 0 or rest >= k, (whole["id"], rest)
    return shown


# --- JSON ------------------------------------------------------------------------------------


def test_json_crosstab_by_an_item_shows_only_safe_columns(answered: Answered):
    report = answered.report("--by", "tiltaksplan")

    Draft202012Validator(SCHEMA).validate(report)
    assert report["crosstab"]["by"] == "tiltaksplan"
    assert report["crosstab"]["kind"] == "item"
    # yes 3, no 2, n/a 3: «no» is too few, and one more must go so 8 - shown is not 2.
    shown = assert_split_is_safe(report, "tiltaksplan", K)
    assert shown == {"yes"}
    columns = {c["key"]: c for c in report["crosstab"]["columns"]}
    assert columns["no"]["suppressed"] and columns["na"]["suppressed"]


def test_a_split_where_one_column_is_small_hides_the_other_too(answered: Answered):
    report = answered.report("--by", "rolle")  # two leaders, six staff

    assert_split_is_safe(report, "rolle", K)
    assert all(c["suppressed"] for c in report["crosstab"]["columns"])


def test_split_by_role_in_an_identified_round(db_url):
    answered = Answered(db_url, answer_the_examples(db_url, anonymous=False), anonymous=False)
    report = json.loads(answered.results("--format", "json", "--by", "role").stdout)
    assert all(c["suppressed"] for c in report["crosstab"]["columns"])  # 2 leaders < k = 3

    report = json.loads(
        followup(
            db_url, "results", answered.round_id, "--format", "json", "--by", "role", k=2
        ).stdout
    )
    Draft202012Validator(SCHEMA).validate(report)
    shown = assert_split_is_safe(report, "role", 2)
    assert shown == {"leader", "staff"}


@pytest.mark.parametrize("answered", [False], ids=["identified"], indirect=True)
def test_multi_select_is_a_share_of_respondents_and_says_so(answered: Answered):
    report = answered.report("--by", "tiltaksplan")
    yes = next(c for c in report["crosstab"]["columns"] if c["key"] == "yes")
    channels = next(i for i in yes["items"] if i["id"] == "informasjonskanaler")
    plans = split_plans("tiltaksplan")["yes"]
    given = answers_to("informasjonskanaler", plans)

    assert (channels["denominator_kind"], channels["denominator"]) == ("respondents", 3)
    assert {o["id"]: o["pct"] for o in channels["options"]} == {
        o["id"]: half_up(picked(given, o["id"]), len(given)) for o in channels["options"]
    }
    text = answered.results()
    assert "(n = 8; % av respondentene)" in text.stdout
    english = answered.results("--locale", "en").stdout
    assert "(n = 8; % of respondents)" in english


# --- CSV -------------------------------------------------------------------------------------


def test_csv_lists_crosstab_columns_and_nothing_behind_a_hidden_one(answered: Answered):
    rows = csv_rows(
        answered.results("--format", "csv", "--by", "tiltaksplan").stdout_bytes, "utf-8-sig", ";"
    )
    question = "Har din enhet laget en lokal tiltaksplan?"
    groups = {row[0] for row in rows[1:]}
    assert {f"{question} — Ja", f"{question} — Nei", f"{question} — Ikke aktuelt"} <= groups
    for row in rows[1:]:
        if row[0] in (f"{question} — Nei", f"{question} — Ikke aktuelt"):
            assert row[3:] == [TOO_FEW, "", "", ""], row
    yes = [row for row in rows if row[0] == f"{question} — Ja"]
    plans = split_plans("tiltaksplan")["yes"]
    where = {row[3]: row[4:] for row in yes if row[1] == "arbeidssted"}
    assert where["Sykehus"] == [
        str(picked(answers_to("arbeidssted", plans), "sykehus")),
        "3",
        "100,00",
    ]
    # The whole (8) minus the one shown column (3) leaves 5 >= k.
    assert len(ANSWERS) - len(plans) >= K
    assert all(len(row) == 7 for row in rows)


# --- XLSX ------------------------------------------------------------------------------------


def read_workbook(path: Path) -> dict[str, list[list[Any]]]:
    """Every cell of every sheet, after checking nothing is hidden anywhere."""
    workbook = load_workbook(path)
    sheets = {}
    for sheet in workbook.worksheets:
        assert sheet.sheet_state == "visible", sheet.title
        assert not any(d.hidden for d in sheet.row_dimensions.values()), sheet.title
        assert not any(d.hidden for d in sheet.column_dimensions.values()), sheet.title
        sheets[sheet.title] = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert not list(workbook.defined_names)
    return sheets


def test_xlsx_has_a_sheet_per_view_with_numbers_and_no_hidden_figure(
    answered: Answered, tmp_path: Path
):
    target = tmp_path / "results.xlsx"
    answered.results("--format", "xlsx", "--output", target, "--by", "tiltaksplan", "--by-unit")
    report = answered.report("--by", "tiltaksplan", "--by-unit")

    sheets = read_workbook(target)
    assert list(sheets) == ["Oversikt", "Spørsmål", "Enheter", "Krysstabell"]
    overview = {row[0]: row[1] for row in sheets["Oversikt"] if row and row[0]}
    assert overview["Svar"] == len(ANSWERS)
    assert overview["Svarprosent"] == pytest.approx(half_up(len(ANSWERS), 12) / 100)
    workbook = load_workbook(target)
    rate_cell = next(r for r in workbook["Oversikt"].iter_rows() if r[0].value == "Svarprosent")
    assert rate_cell[1].number_format == "0.00%"

    # Items: the whole round's figures, as numbers, with the denominator and its kind.
    header, *items = sheets["Spørsmål"]
    assert header[:7] == ["gruppe", "spørsmål_id", "spørsmål", "svar", "n", "grunnlag", "prosent"]
    where = {row[3]: row[4:8] for row in items if row[1] == "arbeidssted"}
    assert where["Kommune"][:3] == [1, 8, pytest.approx(0.125)]
    channels = [row for row in items if row[1] == "informasjonskanaler"]
    assert {row[7] for row in channels} == {"% av respondentene"}

    # Units: every figure cell of a hidden unit or item is the text, never a number.
    hidden_units = {g["name"]["nb"] for g in report["groups"] if g["suppressed"]}
    assert hidden_units
    for row in sheets["Enheter"][1:]:
        if row[0] in hidden_units:
            assert row[4:7] == [TOO_FEW] * 3, row

    # Cross-tab: columns of n and %; hidden columns hold only the text.
    title, head, respondents, *body = sheets["Krysstabell"]
    assert title[0] == "Fordelt på: Har din enhet laget en lokal tiltaksplan?"
    labels = {"Ja": "yes", "Nei": "no", "Ikke aktuelt": "na"}
    positions = {
        labels[h[: -len(": n")]]: i
        for i, h in enumerate(head)
        if h.endswith(": n") and h[: -len(": n")] in labels
    }
    hidden = {
        key for key, c in ((c["key"], c) for c in report["crosstab"]["columns"]) if c["suppressed"]
    }
    assert hidden == {"no", "na"}
    plans = split_plans("tiltaksplan")
    shown_total = 0
    for key, at in positions.items():
        if key in hidden:
            assert respondents[at] == TOO_FEW
            for row in body:
                denominator = row[2] == "grunnlag"  # a denominator row has no % cell
                assert row[at] == TOO_FEW, (key, row)
                assert row[at + 1] in ((None, "") if denominator else (TOO_FEW,)), (key, row)
        else:
            assert respondents[at] == len(plans[key])
            shown_total += respondents[at]
    left = respondents[3] - shown_total
    assert respondents[3] == len(ANSWERS) and (left == 0 or left >= K)
    # The figures of the shown column are the plans' counts, shares as fractions.
    at = positions["yes"]
    kjent = [row for row in body if row[0] == "tiltaksplan_kjent" and row[2] != "grunnlag"]
    given = answers_to("tiltaksplan_kjent", plans["yes"])
    for row in kjent:
        option = {
            "Helt uenig": "1",
            "Delvis uenig": "2",
            "Verken enig eller uenig": "3",
            "Delvis enig": "4",
            "Helt enig": "5",
            "Vet ikke": "dont_know",
        }[row[2]]
        assert row[at] == picked(given, option)
        assert row[at + 1] == pytest.approx(half_up(picked(given, option), len(given)) / 100)
    # No number of a hidden column is anywhere in the workbook: every numeric cell of the
    # cross-tab sits in the whole round's or a shown column's n or % position.
    numeric = {
        i for row in [*body, respondents] for i, v in enumerate(row) if isinstance(v, int | float)
    }
    allowed = {3, 4} | {positions["yes"], positions["yes"] + 1}
    assert numeric <= allowed


def test_xlsx_needs_an_output_file(db_url):
    set_up_examples(db_url)
    round_id = create_round(db_url, "--unit", "hjerteavdelingen")
    result = fails(db_url, "results", round_id, "--format", "xlsx")
    assert "--output" in result.stderr
    assert count(db_url, m.AuditEntry) == 0


# --- free text and redaction -----------------------------------------------------------------

WHY_NOT = {
    "Kari Nordmann": "Ola Hansen har ikke hatt tid til det",
    "Ola Hansen": "Spør Kari, hun vet mer",
    "Ingrid Berg": "Ingen tid. Ring Anne-Lise Strand om dette",
    "Ahmed Ali": "Vi venter på Helse Bergen og NAV",
}


def answer_with_free_text(db_url: str) -> int:
    """Four in the heart and lung departments answer «no» and say why, naming people."""
    set_up_examples(db_url)
    round_id = create_round(db_url, "--unit", "medisinsk-klinikk")
    followup(db_url, "round", "open", round_id)
    answer_round(
        db_url,
        round_id,
        {
            name: {**BASE_PLAN, "tiltaksplan": "no", "tiltaksplan_hvorfor_ikke": text}
            for name, text in WHY_NOT.items()
        },
    )
    return round_id


def test_free_text_is_shown_only_for_k_writers_and_redacted_on_request(db_url, tmp_path):
    round_id = answer_with_free_text(db_url)

    def report(*options: object, k: int = K) -> dict[str, Any]:
        out = followup(db_url, "results", round_id, "--format", "json", *options, k=k)
        return json.loads(out.stdout)

    def why(document: Mapping[str, Any]) -> list[str]:
        item = next(i for i in document["items"] if i["id"] == "tiltaksplan_hvorfor_ikke")
        return item.get("texts", [])

    assert why(report()) == []  # not asked for: exports carry no free text
    plain = report("--free-text")
    Draft202012Validator(SCHEMA).validate(plain)
    assert why(plain) == sorted(WHY_NOT.values())
    assert why(report("--free-text", k=5)) == []  # four writers < k = 5

    redacted = report("--redact")
    Draft202012Validator(SCHEMA).validate(redacted)
    assert redacted["redacted"] is True
    assert why(redacted) == sorted(
        [
            "[navn] har ikke hatt tid til det",
            "Spør [navn], hun vet mer",
            "Ingen tid. Ring [navn] om dette",
            "Vi venter på Helse Bergen og NAV",
        ]
    )
    names = ("Kari", "Ola", "Hansen", "Anne-Lise", "Strand")
    for fmt in ("csv", "text"):
        out = followup(db_url, "results", round_id, "--format", fmt, "--redact", k=K).stdout
        assert "[navn] har ikke hatt tid til det" in out
        assert not any(name in out for name in names), fmt
    target = tmp_path / "redacted.xlsx"
    followup(db_url, "results", round_id, "--format", "xlsx", "--output", target, "--redact", k=K)
    cells = [str(v) for rows in read_workbook(target).values() for row in rows for v in row if v]
    assert "Spør [navn], hun vet mer" in cells
    assert not any(name in cell for cell in cells for name in names)


# --- audit and errors ------------------------------------------------------------------------


def audit_rows(db_url: str) -> list[tuple[Any, ...]]:
    """(person, origin, action, target) of every audit entry, oldest first."""
    return query(
        db_url,
        select(
            m.AuditEntry.person_id, m.AuditEntry.origin, m.AuditEntry.action, m.AuditEntry.target
        ).order_by(m.AuditEntry.id),
    )


def test_every_cli_export_is_audited(answered: Answered, tmp_path: Path):
    answered.results("--format", "json")
    answered.results("--format", "csv", "--by", "tiltaksplan")
    answered.results("--format", "xlsx", "--output", tmp_path / "r.xlsx")
    answered.results()

    target = f"round:{answered.round_id}"
    assert audit_rows(answered.db_url) == [
        (None, "cli", "export", f"{target}:json"),
        (None, "cli", "export", f"{target}:csv"),
        (None, "cli", "export", f"{target}:xlsx"),
        (None, "cli", "export", f"{target}:text"),
    ]


@pytest.mark.parametrize(
    ("by", "message"),
    [
        ("nope", "no item 'nope'"),
        ("informasjonskanaler", "multi"),
        ("role", "anonymous"),
    ],
)
def test_impossible_splits_fail_and_write_nothing(answered: Answered, tmp_path, by, message):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "out.xlsx"

    result = fails(
        answered.db_url,
        "results",
        answered.round_id,
        "--format",
        "xlsx",
        "--output",
        target,
        "--by",
        by,
    )

    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stdout == ""
    assert list(out.iterdir()) == []
    assert audit_rows(answered.db_url) == []


def test_an_unknown_round_fails_without_an_audit_row(db_url):
    set_up_examples(db_url)
    result = fails(db_url, "results", 42, "--format", "json")
    assert result.stderr == "error: round 42 does not exist\n"
    assert audit_rows(db_url) == []
