"""Domain values of a questionnaire: items, options, texts, answers and status codes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

LOCALES: tuple[str, ...] = ("nb", "nn", "en")
"""The supported locales, in fallback order after the requested and the default one."""


class ItemKind(StrEnum):
    """What kind of answer an item asks for."""

    SINGLE = "single"
    MULTI = "multi"
    SCALE = "scale"
    YES_NO_NA = "yes_no_na"
    TEXT = "text"
    NUMBER = "number"
    CONSENT = "consent"
    MEASURE_STATUS = "measure_status"


class MeasureAnswer(StrEnum):
    """Canonical codes of the staff answer to "has this measure started where you work?"."""

    STARTED = "started"
    PLANNED = "planned"
    NOT_RELEVANT = "not_relevant"
    DONT_KNOW = "dont_know"


class MeasureStatus(StrEnum):
    """Leader-declared status of a measure."""

    NOT_STARTED = "not_started"
    PLANNED = "planned"
    STARTED = "started"
    DONE = "done"
    EVALUATED = "evaluated"
    DROPPED = "dropped"


class Role(StrEnum):
    """What a person does in a unit."""

    STAFF = "staff"
    LEADER = "leader"
    COORDINATOR = "coordinator"
    ADMIN = "admin"
    UNION_REP = "union_rep"
    SAFETY_REP = "safety_rep"


class RoundKind(StrEnum):
    """A full questionnaire round or a periodic measure check-in."""

    SURVEY = "survey"
    CHECKIN = "checkin"


class RoundState(StrEnum):
    """Life cycle of a round."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class LocalizedText:
    """A text in up to three locales; `get` falls back to the default locale, then nb, nn, en."""

    nb: str | None = None
    nn: str | None = None
    en: str | None = None

    def get(self, locale: str, default_locale: str = "nb") -> str:
        """The text in `locale`, else in the default locale, else the first one present."""
        for candidate in (locale, default_locale, *LOCALES):
            value = getattr(self, candidate, None)
            if value:
                return str(value)
        return ""

    def has(self, locale: str) -> bool:
        """Whether a non-empty text exists in exactly this locale."""
        return bool(getattr(self, locale, None))

    def as_dict(self) -> dict[str, str | None]:
        """The three locales as a plain mapping (for JSON)."""
        return {"nb": self.nb, "nn": self.nn, "en": self.en}

    @classmethod
    def of(cls, value: str | Mapping[str, str]) -> LocalizedText:
        """Build from a plain string (same in every locale) or a locale mapping."""
        if isinstance(value, str):
            return cls(nb=value, nn=value, en=value)
        return cls(nb=value.get("nb"), nn=value.get("nn"), en=value.get("en"))


@dataclass(frozen=True)
class Option:
    """One answer option; `outside_scale` marks e.g. «Vet ikke» after a labelled scale."""

    id: str
    label: LocalizedText
    outside_scale: bool = False


@dataclass(frozen=True)
class Condition:
    """Show an item only if the answer to `item` is one of `any_of` (for multi: contains one)."""

    item: str
    any_of: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    """One question of a questionnaire, with everything needed to ask and validate it."""

    id: str
    kind: ItemKind
    text: LocalizedText
    options: tuple[Option, ...] = ()
    required: bool = True
    show_if: Condition | None = None
    comment: LocalizedText | None = None
    """When set, an optional free-text comment is asked after the item, with this prompt."""
    min_picks: int | None = None
    max_picks: int | None = None
    max_length: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    integer: bool = True
    decline_message: LocalizedText | None = None
    """Consent items: what is said when the person answers «Nei»."""
    measure: str | None = None
    """Measure-status items: the slug of the measure asked about."""
    help: LocalizedText | None = None

    def option(self, option_id: str) -> Option | None:
        """The option with this id, if the item has one."""
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Questionnaire:
    """A validated questionnaire definition; `content_hash` identifies this exact version."""

    id: str
    title: LocalizedText
    items: tuple[Item, ...]
    default_locale: str = "nb"
    intro: LocalizedText | None = None
    outro: LocalizedText | None = None
    content_hash: str = ""
    measures: tuple[str, ...] = field(default=())
    """Slugs of every measure the questionnaire asks about, in order."""
    finish_early: bool = False
    """Whether a person may skip the rest and send in what they have answered (check-ins)."""

    def item(self, item_id: str) -> Item | None:
        """The item with this id, if any."""
        return next((i for i in self.items if i.id == item_id), None)

    def index(self, item_id: str) -> int:
        """Position of an item (raises KeyError for an unknown id)."""
        for position, item in enumerate(self.items):
            if item.id == item_id:
                return position
        raise KeyError(item_id)


@dataclass(frozen=True)
class AnswerValue:
    """What a person answered to one item: one of choice, choices, text or number is set."""

    choice: str | None = None
    choices: tuple[str, ...] = ()
    text: str | None = None
    number: Decimal | None = None

    def option_ids(self) -> tuple[str, ...]:
        """The chosen option ids (one for single-choice kinds, several for multi)."""
        if self.choice is not None:
            return (self.choice,)
        return self.choices

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe mapping with only the fields that are set."""
        data: dict[str, object] = {}
        if self.choice is not None:
            data["choice"] = self.choice
        if self.choices:
            data["choices"] = list(self.choices)
        if self.text is not None:
            data["text"] = self.text
        if self.number is not None:
            data["number"] = str(self.number)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> AnswerValue:
        """Inverse of `to_dict`."""
        choices = data.get("choices") or ()
        number = data.get("number")
        choice = data.get("choice")
        text = data.get("text")
        return cls(
            choice=str(choice) if choice is not None else None,
            choices=tuple(str(c) for c in choices) if isinstance(choices, list | tuple) else (),
            text=str(text) if text is not None else None,
            number=Decimal(str(number)) if number is not None else None,
        )


@dataclass(frozen=True)
class MeasureInfo:
    """What the loader needs to know of a measure to build measure-status items."""

    slug: str
    title: LocalizedText
