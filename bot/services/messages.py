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


@dataclass(frozen=True)
class ShowStatus:
    """My open rounds and how far I have come in each."""


@dataclass(frozen=True)
class StopMessages:
    """Pause proactive messages (invitations, check-ins, reminders) until /start."""


@dataclass(frozen=True)
class ShowPrivacy:
    """What is stored about me and who sees what."""


@dataclass(frozen=True)
class ExportMyData:
    """Everything stored about me that can be tied to me."""


@dataclass(frozen=True)
class Forget:
    """Delete my data; asks for a confirmation first."""

    confirmed: bool = False


@dataclass(frozen=True)
class CreateLinkCode:
    """Give me a one-time code to connect another chat app to me."""


@dataclass(frozen=True)
class ShowMeasures:
    """A leader's measures with their status; with a slug, the choices for that measure."""

    measure: str | None = None


@dataclass(frozen=True)
class SetMeasureStatus:
    """A leader declares the status of a measure (the same status again confirms it)."""

    measure: str
    status: str
    note: str | None = None


@dataclass(frozen=True)
class ConfirmMeasureStatus:
    """An owner confirms a measure's status is still right (owner status check-in)."""

    measure: str


@dataclass(frozen=True)
class ManageRounds:
    """A coordinator's open rounds with response rates and a reminder button each."""


@dataclass(frozen=True)
class PlanReminder:
    """The dry run of a reminder round (None: which round? list them)."""

    round_id: int | None = None


@dataclass(frozen=True)
class SendReminders:
    """Confirmed: remind the non-respondents of a round now."""

    round_id: int


@dataclass(frozen=True)
class ChangeSettings:
    """Show the person's settings, or change one: "window 15-21", "away off"..."""

    text: str = ""


@dataclass(frozen=True)
class ShowDigest:
    """A leader's digest on demand (`/digest`, optionally for an ISO week)."""

    period: str = ""


ServiceEvent = (
    BeginRound
    | SetLanguage
    | Help
    | ShowRounds
    | RedeemCode
    | ShowStatus
    | StopMessages
    | ShowPrivacy
    | ExportMyData
    | Forget
    | CreateLinkCode
    | ShowMeasures
    | SetMeasureStatus
    | ConfirmMeasureStatus
    | ManageRounds
    | PlanReminder
    | SendReminders
    | ChangeSettings
    | ShowDigest
)
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


@dataclass(frozen=True)
class Button:
    """A button that sends a service event when pressed."""

    label: str
    event: ServiceEvent


@dataclass(frozen=True)
class Prompt:
    """A service text with buttons (confirmations)."""

    key: str
    text: str
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class DataExport:
    """A person's data as JSON text, with a short explanation."""

    text: str
    filename: str
    content: str


@dataclass(frozen=True)
class Picture:
    """A text with an image (the digest and its chart); `image` is PNG, base64-encoded."""

    key: str
    text: str
    image: str | None
    alt: str

    def payload(self) -> dict[str, object]:
        """The channel-neutral JSON (the web chat's line and the outbox body)."""
        return {
            "type": "picture",
            "key": self.key,
            "text": self.text,
            "image": self.image,
            "alt": self.alt,
        }

    @classmethod
    def from_payload(cls, body: dict[str, object]) -> Picture:
        """The inverse of `payload`."""
        image = body.get("image")
        return cls(
            str(body.get("key", "")),
            str(body.get("text", "")),
            image if isinstance(image, str) else None,
            str(body.get("alt", "")),
        )


Message = engine.Message | Invitation | LanguageMenu | Prompt | DataExport | Picture
