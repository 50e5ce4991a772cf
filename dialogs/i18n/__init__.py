"""Message catalogues (nb, nn, en) and Norwegian-aware number formatting.

Catalogues are gettext ``.po`` files named ``<area>.<locale>.po`` in this folder; msgids are
stable dotted keys (``engine.reprompt.buttons``) and msgstrs use ``{name}`` placeholders.
They are read with Babel at first use, so no compile step is needed.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from dialogs.model import LOCALES

CATALOGUE_DIR = Path(__file__).parent
FALLBACK_LOCALE = "en"
LANGUAGE_NAMES = {"nb": "Norsk bokmål", "nn": "Norsk nynorsk", "en": "English"}
"""Each language by its own name (as the language menu shows it)."""


@cache
def catalogue(locale: str) -> dict[str, str]:
    """Every key -> text of one locale, merged over all areas."""
    messages: dict[str, str] = {}
    for path in sorted(CATALOGUE_DIR.glob(f"*.{locale}.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=None):
                if message.id and isinstance(message.id, str) and message.string:
                    messages[message.id] = str(message.string)
    return messages


def normalize_locale(locale: str | None, default: str = "nb") -> str:
    """Map "nb-NO", "no", "nn_NO", "en-GB"... to one of the supported locales."""
    if not locale:
        return default
    base = locale.replace("_", "-").split("-")[0].lower()
    if base == "no":
        return "nb"
    return base if base in LOCALES else default


def translate(locale: str, key: str, **params: object) -> str:
    """The text for `key` in `locale` (falling back to English, then the key itself)."""
    text = catalogue(locale).get(key) or catalogue(FALLBACK_LOCALE).get(key) or key
    return text.format(**params) if params else text


def format_number(value: Decimal | float | int, locale: str, decimals: int | None = None) -> str:
    """A number as people in `locale` write it (decimal comma and space grouping in nb/nn)."""
    number = Decimal(str(value))
    if decimals is not None:
        number = round_half_up(number, decimals)
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return str(format_decimal(number, format=pattern, locale=_babel_locale(locale)))
    return str(format_decimal(number, locale=_babel_locale(locale)))


def format_percent(value: Decimal | float, locale: str) -> str:
    """A percentage with two decimals, e.g. "30,77 %" in nb/nn and "30.77%" in en."""
    text = format_number(value, locale, decimals=2)
    return f"{text}%" if locale == "en" else f"{text}\u00a0%"


def format_day(day: date, locale: str) -> str:
    """A date as people in `locale` write it, e.g. "23. november 2026"."""
    return str(format_date(day, format="long", locale=_babel_locale(locale)))


def round_half_up(value: Decimal, decimals: int) -> Decimal:
    """Round half up (not banker's rounding), as reports are read by people."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _babel_locale(locale: str) -> str:
    return {"nb": "nb_NO", "nn": "nn_NO", "en": "en_GB"}.get(locale, "nb_NO")
