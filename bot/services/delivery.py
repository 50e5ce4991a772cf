"""When a proactive message to a person may go out, and the round texts it carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.settings import Settings
from dialogs.i18n import format_day, normalize_locale, translate
from dialogs.records import PersonRecord, RoundRecord, UnitRecord
from dialogs.reminders import fill_text
from dialogs.rhythm import defer, norwegian_holidays


def send_time(person: PersonRecord, zone: str, now: datetime, settings: Settings) -> datetime:
    """The first moment from `now` that avoids quiet hours, holidays, pauses and away days."""
    return defer(
        now,
        zone,
        settings.quiet,
        norwegian_holidays({now.year, now.year + 1}),
        settings.pauses + person.away,
        person.send_window,
    )


def round_text(
    texts: dict[str, str],
    round_: RoundRecord,
    title: str,
    person: PersonRecord,
    locale: str,
    default_key: str,
    zone: str,
    **params: object,
) -> str:
    """The round's own text in the person's language (placeholders filled), else the default.

    `params` are extra values for the default catalogue text (e.g. how many measures).
    """
    deadline = format_day(round_.closes_at.astimezone(ZoneInfo(zone)).date(), locale)
    own = texts.get(locale)
    if own is not None:
        return fill_text(own, title, deadline, person.name)
    return translate(locale, default_key, title=title, deadline=deadline, **params)


def invitation_body(key: str, locale: str, text: str, round_id: int, title: str) -> dict[str, Any]:
    """An outbox payload every channel renders as a text with a button that starts the round."""
    return {
        "type": "invitation",
        "key": key,
        "locale": locale,
        "text": text,
        "rounds": [
            {"round_id": round_id, "title": title, "label": translate(locale, "service.begin")}
        ],
    }


def person_locale(
    person: PersonRecord,
    unit_ids: Sequence[str],
    units: Mapping[str, UnitRecord],
    settings: Settings,
) -> str:
    """The person's own language, else their nearest unit's: the language the chat uses."""
    if person.locale:
        return normalize_locale(person.locale, settings.default_locale)
    for unit_id in unit_ids:
        unit = units.get(unit_id)
        while unit is not None:
            if unit.locale:
                return normalize_locale(unit.locale, settings.default_locale)
            unit = units.get(unit.parent_id) if unit.parent_id else None
    return settings.default_locale
