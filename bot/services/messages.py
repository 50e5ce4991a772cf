"""Channel-neutral inbound events and outbound messages of the conversation service."""

from __future__ import annotations

from dataclasses import dataclass

from dialogs import engine


@dataclass(frozen=True)
class BeginRound:
    """The person pressed "start" on an invitation to a round."""

    round_id: int


@dataclass(frozen=True)
class SetLanguage:
    """Switch language; without a locale, ask which one."""

    locale: str | None = None


@dataclass(frozen=True)
class Help:
    """What can I do here?"""


@dataclass(frozen=True)
class ShowRounds:
    """Which questionnaires are open for me (also the greeting)."""


@dataclass(frozen=True)
class RedeemCode:
    """An invite code typed or passed in a deep link."""

    code: str


ServiceEvent = BeginRound | SetLanguage | Help | ShowRounds | RedeemCode
Event = engine.Event | ServiceEvent


@dataclass(frozen=True)
class RoundChoice:
    """One open round offered to the person."""

    round_id: int
    title: str
    label: str


@dataclass(frozen=True)
class Invitation:
    """Open rounds the person can start (or a note that there are none)."""

    key: str
    text: str
    rounds: tuple[RoundChoice, ...]


@dataclass(frozen=True)
class LanguageMenu:
    """The languages a person can pick."""

    text: str
    options: tuple[tuple[str, str], ...]


Message = engine.Message | Invitation | LanguageMenu
