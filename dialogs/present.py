"""How answers and options read to a person: option labels, scale values, numbers and lists."""

from __future__ import annotations

from decimal import Decimal

from dialogs.i18n import format_number
from dialogs.model import AnswerValue, Item, ItemKind, Option

SCALE_SEPARATOR = " – "
LIST_SEPARATOR = ", "


def render_number(value: Decimal, locale: str) -> str:
    """A number with exactly the decimals it was given ("12,50" stays "12,50" in nb)."""
    exponent = value.as_tuple().exponent
    # Babel's default pattern keeps at most three decimals; a person's answer keeps them all.
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return format_number(value, locale, decimals=decimals)


def option_label(option: Option, locale: str, default_locale: str) -> str:
    """The label of an option as shown on its button."""
    return option.label.get(locale, default_locale)


def scale_value(item: Item, option: Option) -> int | None:
    """The 1-based value of a scale option, or None for options outside the scale."""
    if item.kind is not ItemKind.SCALE or option.outside_scale:
        return None
    in_scale = [o.id for o in item.options if not o.outside_scale]
    return in_scale.index(option.id) + 1 if option.id in in_scale else None


def render_option(item: Item, option_id: str, locale: str, default_locale: str) -> str:
    """One chosen option as read back: "Ja", "3 – Litt fornøyd", "Vet ikke"."""
    option = item.option(option_id)
    if option is None:
        # An answer to an option removed in a later version still reads as something.
        return option_id
    label = option_label(option, locale, default_locale)
    value = scale_value(item, option)
    if value is None or label.strip() == str(value):
        return label
    return f"{value}{SCALE_SEPARATOR}{label}"


def render_answer(item: Item, value: AnswerValue, locale: str, default_locale: str) -> str:
    """An answer as one line of text, e.g. "Ja", "Alternativ A, Alternativ C" or "12,5"."""
    if value.number is not None:
        return render_number(value.number, locale)
    if value.text is not None:
        return value.text
    return LIST_SEPARATOR.join(
        render_option(item, option_id, locale, default_locale) for option_id in value.option_ids()
    )
