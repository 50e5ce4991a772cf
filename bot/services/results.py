"""Results of a round as text, CSV, JSON (docs/results.schema.json) or XLSX."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from bot.services.questionnaires import QuestionnaireCatalog
from bot.services.rounds import RoundError
from bot.settings import Settings
from dialogs.i18n import format_percent, translate
from dialogs.model import ItemKind, Questionnaire
from dialogs.org import subtree
from dialogs.records import MembershipRecord, RoundRecord
from dialogs.results import (
    COMMENT_SUFFIX,
    CrossTab,
    CrossTabRequest,
    ItemResult,
    RoundResults,
    by_item,
    by_role,
    compute_results,
    redact_results,
    role_of,
)
from storage.respondents import respondent_people
from storage.stats import round_facts
from storage.store import Store

SCHEMA_VERSION = 1
BY_ROLE = "role"
"""`--by role`: split by the respondent's membership role (identified rounds only)."""

PERCENT_FORMAT = "0.00%"
"""XLSX number format of shares: stored as fractions, shown with two decimals."""


class ResultsFormat(StrEnum):
    """Output formats of `followup results`."""

    TEXT = "text"
    CSV = "csv"
    JSON = "json"
    XLSX = "xlsx"


@dataclass(frozen=True)
class ResultsRequest:
    """What a report contains beyond the whole round's figures.

    Attributes:
        by_unit: A breakdown by unit.
        by: Split by this single-choice item's answer, or by "role".
        free_text: Free-text answers and comments (whole round only, at least k writers).
        redact: Replace person names in free text with «[navn]» (implies free_text).
    """

    by_unit: bool = False
    by: str | None = None
    free_text: bool = False
    redact: bool = False


class ResultsService:
    """Computes round results with the privacy rule and renders them."""

    def __init__(self, store: Store, catalog: QuestionnaireCatalog, settings: Settings) -> None:
        self.store = store
        self.catalog = catalog
        self.k = settings.min_group_size

    async def compute(
        self, round_id: int, by_unit: bool = False, request: ResultsRequest | None = None
    ) -> tuple[RoundRecord, Questionnaire, RoundResults]:
        """The round, its questionnaire and its figures.

        Raises:
            RoundError: No such round, or a split by role of an anonymous round.
            CrossTabError: The split item does not exist or is not a single choice.
        """
        request = request or ResultsRequest(by_unit=by_unit)
        async with self.store.transaction() as tx:
            round_ = await tx.rounds.get(round_id)
            if round_ is None:
                raise RoundError(f"round {round_id} does not exist")
            if request.by == BY_ROLE and round_.anonymous:
                raise RoundError(
                    f"round {round_id} is anonymous: nothing links a person to an answer, so it "
                    "cannot be split by role; split by a questionnaire item instead (--by ITEM_ID)"
                )
            questionnaire = await self.catalog.get(tx, round_.questionnaire_version_id)
            facts = await round_facts(tx.session, round_id, round_.anonymous)
            participations = await tx.rounds.participations(round_id)
            units = await tx.org.units()
            crosstab: CrossTabRequest | None = None
            if request.by == BY_ROLE:
                people = await respondent_people(tx.session, round_id)
                memberships: dict[int, list[MembershipRecord]] = {}
                for membership in await tx.org.all_memberships():
                    memberships.setdefault(membership.person_id, []).append(membership)
                column_of: dict[str, str] = {}
                for fact in facts:
                    person = people.get(fact.respondent)
                    role = role_of(memberships.get(person, []), fact.unit_id) if person else None
                    if role is not None:
                        column_of[fact.respondent] = role.value
                crosstab = by_role(column_of)
            elif request.by is not None:
                crosstab = by_item(questionnaire, facts, request.by)
            roster = (
                [p.name for p in await tx.org.people(active_only=False) if p.name]
                if request.redact
                else []
            )
        audience = subtree(units, round_.unit_ids)
        results = compute_results(
            questionnaire,
            facts,
            participations,
            units,
            audience,
            self.k,
            request.by_unit,
            crosstab=crosstab,
            texts=request.free_text or request.redact,
        )
        if request.redact:
            results = redact_results(results, roster)
        return round_, questionnaire, results

    async def render(
        self,
        round_id: int,
        fmt: ResultsFormat,
        locale: str,
        by_unit: bool = False,
        request: ResultsRequest | None = None,
    ) -> str:
        """The report in one of the text formats (XLSX is binary: use `export`)."""
        if fmt == ResultsFormat.XLSX:
            raise ValueError("xlsx is a binary format: write it to a file")
        return (await self.export(round_id, fmt, locale, by_unit, request)).decode("utf-8")

    async def export(
        self,
        round_id: int,
        fmt: ResultsFormat,
        locale: str,
        by_unit: bool = False,
        request: ResultsRequest | None = None,
    ) -> bytes:
        """The report in any format, as the bytes to write."""
        request = request or ResultsRequest(by_unit=by_unit)
        round_, questionnaire, results = await self.compute(round_id, request=request)
        redacted = request.redact
        if fmt == ResultsFormat.JSON:
            document = to_json(round_, questionnaire, results, request.free_text or redacted)
            if request.free_text or redacted:
                document["redacted"] = redacted
            return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        if fmt == ResultsFormat.CSV:
            return to_csv(questionnaire, results, locale).encode("utf-8")
        if fmt == ResultsFormat.XLSX:
            return to_xlsx(round_, questionnaire, results, locale, redacted)
        return to_text(round_, questionnaire, results, locale, redacted).encode("utf-8")

    async def record_export(
        self, round_id: int, fmt: ResultsFormat, origin: str, person_id: int | None, now: datetime
    ) -> None:
        """Write the audit row of one export: action "export", target "round:<id>:<format>"."""
        async with self.store.transaction() as tx:
            await tx.audit.record(person_id, origin, "export", f"round:{round_id}:{fmt}", now)


def _pct(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _item_json(item: ItemResult, texts: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind.value,
        "text": item.text.as_dict(),
        "denominator_kind": item.denominator_kind,
        "denominator": item.denominator,
        "suppressed": item.suppressed,
        "options": [
            {"id": o.id, "label": o.label.as_dict(), "n": o.n, "pct": _pct(o.pct)}
            for o in item.options
        ],
    }
    if texts:
        document["texts"] = list(item.texts)
        document["comments"] = list(item.comments)
    return document


def _crosstab_json(crosstab: CrossTab) -> dict[str, Any]:
    return {
        "by": crosstab.by,
        "kind": crosstab.kind.value,
        "label": crosstab.label.as_dict(),
        "respondents": crosstab.respondents or None,
        "columns": [
            {
                "key": column.key,
                "label": column.label.as_dict(),
                "respondents": None if column.suppressed else column.respondents,
                "suppressed": column.suppressed,
                "items": [_item_json(i) for i in column.items],
            }
            for column in crosstab.columns
        ],
    }


def to_json(
    round_: RoundRecord, questionnaire: Questionnaire, results: RoundResults, texts: bool = False
) -> dict[str, Any]:
    """The JSON document described by docs/results.schema.json (numbers locale-neutral)."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "round": {
            "id": round_.id,
            "name": round_.name,
            "anonymous": round_.anonymous,
            "kind": round_.kind.value,
            "state": round_.state.value,
        },
        "questionnaire": {
            "id": questionnaire.id,
            "version": round_.questionnaire_version_id,
            "hash": round_.content_hash,
        },
        "min_group_size": results.k,
        "invited": results.invited,
        "ineligible": results.ineligible,
        "unreachable": results.unreachable,
        "eligible": results.eligible,
        "respondents": results.respondents,
        "response_rate": _pct(results.response_rate),
        "suppressed": results.suppressed,
        "items": [_item_json(item, texts) for item in results.items],
        "groups": [
            {
                "unit": g.unit_id,
                "name": g.name.as_dict(),
                "respondents": None if g.suppressed else g.respondents,
                "suppressed": g.suppressed,
                "items": [_item_json(i) for i in g.items],
            }
            for g in results.groups
        ],
    }
    if results.crosstab is not None:
        document["crosstab"] = _crosstab_json(results.crosstab)
    return document


def _cell(value: Decimal | None, locale: str) -> str:
    if value is None:
        return ""
    return format_percent(value, locale).replace("\u00a0%", "").replace("%", "")


def _question(item: ItemResult, locale: str, default: str) -> str:
    """The item's text; a multi-select says its shares are of respondents, not of picks."""
    text = item.text.get(locale, default)
    if item.kind == ItemKind.MULTI:
        return f"{text} ({translate(locale, 'exports.of_respondents')})"
    return text


def _blocks(results: RoundResults, locale: str) -> list[tuple[str, bool, Sequence[ItemResult]]]:
    """Every group of the report: the whole round, each unit, each cross-tab column."""
    blocks: list[tuple[str, bool, Sequence[ItemResult]]] = [
        (translate(locale, "results.all"), results.suppressed, results.items)
    ]
    blocks += [(g.name.get(locale), g.suppressed, g.items) for g in results.groups]
    if results.crosstab is not None:
        by = results.crosstab.label.get(locale)
        blocks += [
            (f"{by} — {c.label.get(locale)}", c.suppressed, c.items)
            for c in results.crosstab.columns
        ]
    return blocks


def to_csv(questionnaire: Questionnaire, results: RoundResults, locale: str) -> str:
    """Localised CSV: `;` and decimal comma with a BOM in nb/nn (Excel), `,` in en.

    One row per group, item and option; cross-tab columns are groups named "split — column".
    Free text, when asked for, follows its item as rows with the text in the answer column.
    """
    buffer = io.StringIO()
    norwegian = locale in ("nb", "nn")
    writer = csv.writer(buffer, delimiter=";" if norwegian else ",", lineterminator="\r\n")
    writer.writerow(
        [
            translate(locale, f"results.csv.{c}")
            for c in ("group", "item", "question", "option", "n", "denominator", "pct")
        ]
    )
    default = questionnaire.default_locale
    too_few = translate(locale, "results.too_few")
    for group, suppressed, items in _blocks(results, locale):
        for item in items:
            question = _question(item, locale, default)
            if suppressed or item.suppressed:
                # One row per hidden item: no zero stands in for a figure that is withheld.
                writer.writerow([group, item.id, question, too_few, "", "", ""])
                continue
            for option in item.options:
                writer.writerow(
                    [
                        group,
                        item.id,
                        question,
                        option.label.get(locale, default),
                        option.n,
                        item.denominator,
                        _cell(option.pct, locale),
                    ]
                )
            for text in item.texts:
                writer.writerow([group, item.id, question, text, "", "", ""])
            for comment in item.comments:
                writer.writerow([group, item.id + COMMENT_SUFFIX, question, comment, "", "", ""])
    return ("\ufeff" if norwegian else "") + buffer.getvalue()


def to_text(
    round_: RoundRecord,
    questionnaire: Questionnaire,
    results: RoundResults,
    locale: str,
    redacted: bool = False,
) -> str:
    """A readable report for the terminal."""
    default = questionnaire.default_locale
    rate = (
        format_percent(results.response_rate, locale)
        if results.response_rate is not None
        else translate(locale, "results.too_few")
    )
    lines = [
        f"{questionnaire.title.get(locale, default)}"
        f" ({translate(locale, 'results.round')} {round_.id})",
        translate(
            locale,
            "results.summary",
            invited=results.invited,
            ineligible=results.ineligible,
            unreachable=results.unreachable,
            eligible=results.eligible,
            respondents=results.respondents,
            rate=rate,
        )
        if results.eligible is not None
        else translate(locale, "results.too_few_invited", k=results.k),
        "",
    ]
    if redacted:
        lines[-1:] = [translate(locale, "exports.redacted"), ""]
    too_few = translate(locale, "results.too_few")
    for group, suppressed, items in _blocks(results, locale):
        lines.append(f"== {group}")
        if suppressed:
            lines += [f"   {too_few}", ""]
            continue
        for item in items:
            text = item.text.get(locale, default)
            if item.kind == ItemKind.MULTI:
                basis = translate(locale, "exports.of_respondents")
                lines.append(f"{text} (n = {item.denominator}; {basis})")
            else:
                lines.append(f"{text} (n = {item.denominator})")
            if item.suppressed:
                lines.append(f"   {too_few}")
                continue
            for option in item.options:
                shown = (
                    f" ({format_percent(option.pct, locale)})" if option.pct is not None else ""
                )
                lines.append(f"   {option.label.get(locale, default)}: {option.n}{shown}")
            lines += [f"   «{t}»" for t in item.texts]
            if item.comments:
                lines.append(f"   {translate(locale, 'exports.comment')}:")
                lines += [f"   «{c}»" for c in item.comments]
        lines.append("")
    return "\n".join(lines) + "\n"


# --- XLSX ------------------------------------------------------------------------------------


def _sheet_title(locale: str, key: str) -> str:
    # Excel allows 31 characters and no []:*?/\ in a sheet title.
    return translate(locale, key)[:31]


def _header(sheet: Worksheet, row: Sequence[str]) -> None:
    sheet.append(list(row))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)


def _share(sheet: Worksheet, row: int, column: int, value: Decimal | None) -> None:
    """A percentage as a number (fraction of 1) shown with two decimals."""
    cell = sheet.cell(row=row, column=column)
    cell.value = None if value is None else float(value) / 100
    cell.number_format = PERCENT_FORMAT


def _item_rows(
    sheet: Worksheet,
    group: str,
    suppressed: bool,
    items: Sequence[ItemResult],
    locale: str,
    default: str,
) -> None:
    """Item rows: group, item id, question, option, n, denominator, %, % of what.

    Every figure cell of a hidden group or item is «for få svar» (no number hides behind it).
    """
    too_few = translate(locale, "results.too_few")
    for item in items:
        question = item.text.get(locale, default)
        basis = translate(
            locale, "exports.of_respondents" if item.kind == ItemKind.MULTI else "exports.of_item"
        )
        hidden = suppressed or item.suppressed
        if not item.options:
            if hidden:
                sheet.append([group, item.id, question, "", too_few, too_few, too_few, basis])
            else:
                sheet.append([group, item.id, question, "", item.denominator, item.denominator])
            continue
        for option in item.options:
            label = option.label.get(locale, default)
            if hidden:
                sheet.append([group, item.id, question, label, too_few, too_few, too_few, basis])
                continue
            sheet.append(
                [group, item.id, question, label, option.n, item.denominator, None, basis]
            )
            _share(sheet, sheet.max_row, 7, option.pct)


def _fit(sheet: Worksheet, widths: Sequence[int]) -> None:
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width


def to_xlsx(
    round_: RoundRecord,
    questionnaire: Questionnaire,
    results: RoundResults,
    locale: str,
    redacted: bool = False,
) -> bytes:
    """The report as an Excel workbook: one visible sheet per view, numbers as numbers.

    Sheets: overview; items (whole round); units (with --by-unit); cross-tab (with --by); free
    text (when asked for). Shares are fractions with a percent format; every figure of a hidden
    group is the text «for få svar», so no hidden sheet, row or cell holds a suppressed number.
    """
    default = questionnaire.default_locale
    too_few = translate(locale, "results.too_few")
    workbook = Workbook()
    overview = workbook.active
    assert overview is not None  # a new workbook always has one sheet
    overview.title = _sheet_title(locale, "exports.sheet.overview")

    def field(key: str) -> str:
        return translate(locale, f"exports.field.{key}")

    overview.append([questionnaire.title.get(locale, default)])
    overview["A1"].font = Font(bold=True)
    overview.append([field("round"), round_.id])
    overview.append([field("name"), round_.name or ""])
    overview.append([field("questionnaire"), questionnaire.id])
    overview.append([field("k"), results.k])
    counts = [
        ("invited", results.invited),
        ("ineligible", results.ineligible),
        ("unreachable", results.unreachable),
        ("eligible", results.eligible),
        ("respondents", results.respondents),
    ]
    for key, value in counts:
        overview.append([field(key), too_few if value is None else value])
    if results.response_rate is None:
        overview.append([field("rate"), too_few])
    else:
        overview.append([field("rate")])
        _share(overview, overview.max_row, 2, results.response_rate)
    overview.append([])
    overview.append([translate(locale, "exports.note.k", k=results.k)])
    overview.append([translate(locale, "exports.note.multi")])
    if redacted:
        overview.append([translate(locale, "exports.redacted")])
    _fit(overview, [34, 40])

    columns = [
        translate(locale, f"results.csv.{c}")
        for c in ("group", "item", "question", "option", "n", "denominator", "pct")
    ] + [translate(locale, "exports.pct_of")]
    items = workbook.create_sheet(_sheet_title(locale, "exports.sheet.items"))
    _header(items, columns)
    _item_rows(
        items,
        translate(locale, "results.all"),
        results.suppressed,
        results.items,
        locale,
        default,
    )
    _fit(items, [24, 26, 50, 30, 10, 10, 10, 36])

    if results.groups:
        units = workbook.create_sheet(_sheet_title(locale, "exports.sheet.units"))
        _header(units, columns)
        for group in results.groups:
            _item_rows(
                units, group.name.get(locale), group.suppressed, group.items, locale, default
            )
        _fit(units, [24, 26, 50, 30, 10, 10, 10, 36])

    if results.crosstab is not None:
        _crosstab_sheet(workbook, results, locale, default)

    written = [
        (item, kind, text)
        for item in results.items
        for kind, texts in (("text", item.texts), ("comment", item.comments))
        for text in texts
    ]
    if written:
        texts = workbook.create_sheet(_sheet_title(locale, "exports.sheet.texts"))
        _header(
            texts,
            [
                columns[1],
                columns[2],
                translate(locale, "exports.kind"),
                translate(locale, "exports.text"),
            ],
        )
        for item, kind, text in written:
            label = translate(locale, "exports.answer" if kind == "text" else "exports.comment")
            texts.append([item.id, item.text.get(locale, default), label, text])
        _fit(texts, [26, 50, 12, 80])

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _crosstab_sheet(workbook: Workbook, results: RoundResults, locale: str, default: str) -> None:
    """The wide cross-tab sheet: per item a denominator row and one row per option.

    The whole round and each column get an n and a % cell, both «for få svar» where the column
    or the item is hidden.
    """
    crosstab = results.crosstab
    assert crosstab is not None
    too_few = translate(locale, "results.too_few")
    sheet = workbook.create_sheet(_sheet_title(locale, "exports.sheet.crosstab"))
    sheet.append([translate(locale, "exports.split", label=crosstab.label.get(locale, default))])
    sheet["A1"].font = Font(bold=True)
    groups: list[tuple[str, bool, int, Sequence[ItemResult]]] = [
        (
            translate(locale, "results.all"),
            results.suppressed,
            crosstab.respondents,
            results.items,
        )
    ]
    groups += [
        (c.label.get(locale, default), c.suppressed, c.respondents, c.items)
        for c in crosstab.columns
    ]
    head = [translate(locale, "results.csv.item"), translate(locale, "results.csv.question")]
    head.append(translate(locale, "results.csv.option"))
    for label, *_ in groups:
        head += [f"{label}: n", f"{label}: %"]
    _header(sheet, head)
    respondents_row: list[object] = ["", "", translate(locale, "exports.respondents")]
    for _label, hidden, n, _items in groups:
        respondents_row += [too_few if hidden else n, ""]
    sheet.append(respondents_row)
    for position, item in enumerate(results.items):
        question = item.text.get(locale, default)
        if item.kind == ItemKind.MULTI:
            question = f"{question} ({translate(locale, 'exports.of_respondents')})"
        row: list[object] = [item.id, question, translate(locale, "results.csv.denominator")]
        for _label, hidden, _n, items in groups:
            shown = items[position]
            row += [too_few if hidden or shown.suppressed else shown.denominator, ""]
        sheet.append(row)
        for option_index, option in enumerate(item.options):
            sheet.append([item.id, question, option.label.get(locale, default)])
            current = sheet.max_row
            for group_index, (_label, hidden, _n, items) in enumerate(groups):
                shown = items[position]
                n_column = 4 + 2 * group_index
                if hidden or shown.suppressed:
                    sheet.cell(row=current, column=n_column).value = too_few
                    sheet.cell(row=current, column=n_column + 1).value = too_few
                    continue
                figure = shown.options[option_index]
                sheet.cell(row=current, column=n_column).value = figure.n
                _share(sheet, current, n_column + 1, figure.pct)
    _fit(sheet, [26, 50, 30] + [12] * (2 * len(groups)))
