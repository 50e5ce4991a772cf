"""Results of a round as text, CSV or JSON (docs/results.schema.json)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.services.questionnaires import QuestionnaireCatalog
from bot.services.rounds import RoundError
from bot.settings import Settings
from dialogs.i18n import format_percent, translate
from dialogs.model import Questionnaire
from dialogs.org import subtree
from dialogs.records import RoundRecord
from dialogs.results import ItemResult, RoundResults, compute_results
from storage.stats import round_facts
from storage.store import Store

SCHEMA_VERSION = 1


class ResultsFormat(StrEnum):
    """Output formats of `followup results`."""

    TEXT = "text"
    CSV = "csv"
    JSON = "json"


class ResultsService:
    """Computes round results with the privacy rule and renders them."""

    def __init__(self, store: Store, catalog: QuestionnaireCatalog, settings: Settings) -> None:
        self.store = store
        self.catalog = catalog
        self.k = settings.min_group_size

    async def compute(
        self, round_id: int, by_unit: bool = False
    ) -> tuple[RoundRecord, Questionnaire, RoundResults]:
        """The round, its questionnaire and its figures."""
        async with self.store.transaction() as tx:
            round_ = await tx.rounds.get(round_id)
            if round_ is None:
                raise RoundError(f"round {round_id} does not exist")
            questionnaire = await self.catalog.get(tx, round_.questionnaire_version_id)
            facts = await round_facts(tx.session, round_id, round_.anonymous)
            participations = await tx.rounds.participations(round_id)
            units = await tx.org.units()
        audience = subtree(units, round_.unit_ids)
        results = compute_results(
            questionnaire, facts, participations, units, audience, self.k, by_unit
        )
        return round_, questionnaire, results

    async def render(
        self, round_id: int, fmt: ResultsFormat, locale: str, by_unit: bool = False
    ) -> str:
        """The report in one format."""
        round_, questionnaire, results = await self.compute(round_id, by_unit)
        if fmt == ResultsFormat.JSON:
            return (
                json.dumps(to_json(round_, questionnaire, results), ensure_ascii=False, indent=2)
                + "\n"
            )
        if fmt == ResultsFormat.CSV:
            return to_csv(questionnaire, results, locale)
        return to_text(round_, questionnaire, results, locale)


def _pct(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _item_json(item: ItemResult) -> dict[str, Any]:
    return {
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


def to_json(
    round_: RoundRecord, questionnaire: Questionnaire, results: RoundResults
) -> dict[str, Any]:
    """The JSON document described by docs/results.schema.json (numbers locale-neutral)."""
    return {
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
        "items": [_item_json(item) for item in results.items],
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


def _cell(value: Decimal | None, locale: str) -> str:
    if value is None:
        return ""
    return format_percent(value, locale).replace("\u00a0%", "").replace("%", "")


def to_csv(questionnaire: Questionnaire, results: RoundResults, locale: str) -> str:
    """Localised CSV: `;` and decimal comma with a BOM in nb/nn (Excel), `,` in en."""
    buffer = io.StringIO()
    norwegian = locale in ("nb", "nn")
    writer = csv.writer(buffer, delimiter=";" if norwegian else ",", lineterminator="\r\n")
    writer.writerow(
        [
            translate(locale, f"results.csv.{c}")
            for c in ("group", "item", "question", "option", "n", "denominator", "pct")
        ]
    )
    blocks = [(translate(locale, "results.all"), results.suppressed, results.items)]
    blocks += [(g.name.get(locale), g.suppressed, g.items) for g in results.groups]
    default = questionnaire.default_locale
    for group, suppressed, items in blocks:
        for item in items:
            if suppressed:
                writer.writerow(
                    [
                        group,
                        item.id,
                        item.text.get(locale, default),
                        translate(locale, "results.too_few"),
                        "",
                        "",
                        "",
                    ]
                )
                continue
            for option in item.options:
                writer.writerow(
                    [
                        group,
                        item.id,
                        item.text.get(locale, default),
                        option.label.get(locale, default),
                        option.n,
                        item.denominator,
                        _cell(option.pct, locale),
                    ]
                )
    return ("\ufeff" if norwegian else "") + buffer.getvalue()


def to_text(
    round_: RoundRecord, questionnaire: Questionnaire, results: RoundResults, locale: str
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
    blocks = [(translate(locale, "results.all"), results.suppressed, results.items)]
    blocks += [(g.name.get(locale), g.suppressed, g.items) for g in results.groups]
    for group, suppressed, items in blocks:
        lines.append(f"== {group}")
        if suppressed:
            lines += [f"   {translate(locale, 'results.too_few')}", ""]
            continue
        for item in items:
            lines.append(f"{item.text.get(locale, default)} (n = {item.denominator})")
            for option in item.options:
                shown = (
                    f" ({format_percent(option.pct, locale)})" if option.pct is not None else ""
                )
                lines.append(f"   {option.label.get(locale, default)}: {option.n}{shown}")
        lines.append("")
    return "\n".join(lines) + "\n"
