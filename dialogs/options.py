"""Standard option sets and default prompts of questionnaire items, in nb, nn and en."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from dialogs.model import LocalizedText, MeasureAnswer, Option


def _text(nb: str, nn: str, en: str) -> LocalizedText:
    return LocalizedText(nb=nb, nn=nn, en=en)


DONT_KNOW = Option(
    id="dont_know",
    label=_text("Vet ikke", "Veit ikkje", "Don't know"),
    outside_scale=True,
)
"""«Vet ikke» placed after a labelled scale, outside the scale itself."""

SATISFACTION7: tuple[Option, ...] = (
    Option("1", _text("Svært misfornøyd", "Svært misnøgd", "Very dissatisfied")),
    Option("2", _text("Misfornøyd", "Misnøgd", "Dissatisfied")),
    Option("3", _text("Litt misfornøyd", "Litt misnøgd", "Somewhat dissatisfied")),
    Option(
        "4",
        _text(
            "Verken fornøyd eller misfornøyd",
            "Verken nøgd eller misnøgd",
            "Neither satisfied nor dissatisfied",
        ),
    ),
    Option("5", _text("Litt fornøyd", "Litt nøgd", "Somewhat satisfied")),
    Option("6", _text("Fornøyd", "Nøgd", "Satisfied")),
    Option("7", _text("Svært fornøyd", "Svært nøgd", "Very satisfied")),
)
"""The 7-point satisfaction scale, ids "1" (very dissatisfied) to "7" (very satisfied)."""

AGREEMENT5: tuple[Option, ...] = (
    Option("1", _text("Helt uenig", "Heilt usamd", "Strongly disagree")),
    Option("2", _text("Delvis uenig", "Delvis usamd", "Somewhat disagree")),
    Option(
        "3",
        _text("Verken enig eller uenig", "Verken samd eller usamd", "Neither agree nor disagree"),
    ),
    Option("4", _text("Delvis enig", "Delvis samd", "Somewhat agree")),
    Option("5", _text("Helt enig", "Heilt samd", "Strongly agree")),
    DONT_KNOW,
)
"""The 5-point agreement scale, ids "1" (strongly disagree) to "5", plus «Vet ikke»."""

STANDARD_SCALES: Mapping[str, tuple[Option, ...]] = MappingProxyType(
    {"satisfaction7": SATISFACTION7, "agreement5": AGREEMENT5}
)
"""The scales a `scale:` shorthand can name."""

YES = Option("yes", _text("Ja", "Ja", "Yes"))
NO = Option("no", _text("Nei", "Nei", "No"))
NOT_APPLICABLE = Option("na", _text("Ikke aktuelt", "Ikkje aktuelt", "Not applicable"))

YES_NO_NA: tuple[Option, ...] = (YES, NO, NOT_APPLICABLE)
"""Options of a yes_no_na item (`include_na: false` keeps the first two)."""

CONSENT: tuple[Option, ...] = (
    Option("yes", _text("Ja, jeg vil delta", "Ja, eg vil vere med", "Yes, I want to take part")),
    Option(
        "no",
        _text(
            "Nei, jeg vil ikke delta",
            "Nei, eg vil ikkje vere med",
            "No, I do not want to take part",
        ),
    ),
)
"""Options of a consent item; «no» ends the questionnaire with its decline message."""

MEASURE_ANSWERS: tuple[Option, ...] = (
    Option(
        MeasureAnswer.STARTED.value,
        _text("Tiltaket er igangsatt", "Tiltaket er sett i gang", "The measure has started"),
    ),
    Option(
        MeasureAnswer.PLANNED.value,
        _text("Tiltaket er planlagt", "Tiltaket er planlagt", "The measure is planned"),
    ),
    Option(
        MeasureAnswer.NOT_RELEVANT.value,
        _text(
            "Tiltaket er ikke aktuelt for oss",
            "Tiltaket er ikkje aktuelt for oss",
            "The measure is not relevant for us",
        ),
    ),
    Option(MeasureAnswer.DONT_KNOW.value, _text("Vet ikke", "Veit ikkje", "Don't know")),
)
"""Options of a measure-status item; the ids are the `MeasureAnswer` codes."""

MEASURE_QUESTION = _text(
    "Har tiltaket «{measure}» startet der du jobber?",
    "Har tiltaket «{measure}» starta der du jobbar?",
    "Has the measure “{measure}” started where you work?",
)
"""Default question of a measure-status item; `{measure}` is the measure's title."""

COMMENT_PROMPT = _text(
    "Vil du legge til en kommentar?",
    "Vil du leggje til ein kommentar?",
    "Would you like to add a comment?",
)
"""Prompt of the optional comment asked after an item with `comment: true`."""

DECLINE_MESSAGE = _text(
    "Takk for svaret. Du får ingen flere spørsmål i denne undersøkelsen.",
    "Takk for svaret. Du får ingen fleire spørsmål i denne undersøkinga.",
    "Thank you for your answer. You will get no more questions in this survey.",
)
"""What a consent item says by default when the person answers «Nei»."""
