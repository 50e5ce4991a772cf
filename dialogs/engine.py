"""The pure questionnaire dialog: its state, the events and messages, and `advance`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeAlias, TypeVar, assert_never

from dialogs.i18n import translate
from dialogs.model import AnswerValue, Item, ItemKind, LocalizedText, Option, Questionnaire
from dialogs.present import option_label, render_answer, render_number

__all__ = [
    "COMMENT_MAX_LENGTH",
    "INTRO_KEY",
    "Action",
    "ActionKind",
    "Ask",
    "Back",
    "Choice",
    "Choose",
    "DialogState",
    "Done",
    "Edit",
    "Event",
    "Finish",
    "InputMode",
    "Key",
    "Message",
    "Pause",
    "Phase",
    "Recorded",
    "Resume",
    "Say",
    "Skip",
    "Start",
    "Submit",
    "Summary",
    "SummaryRow",
    "Text",
    "Toggle",
    "Transition",
    "action_event",
    "advance",
    "comment_item",
    "comment_key",
    "current_prompt",
    "render_answer",
    "start_state",
    "visible_answers",
    "visible_items",
]


class Phase(StrEnum):
    """Where a conversation is in its questionnaire."""

    ASKING = "asking"
    COMMENT = "comment"
    SUMMARY = "summary"
    DECLINED = "declined"
    PAUSED = "paused"
    SUBMITTED = "submitted"


class Key(StrEnum):
    """Every catalogue key the engine says; each is in the nb, nn and en engine catalogues."""

    ACTION_BACK = "engine.action.back"
    ACTION_SKIP = "engine.action.skip"
    ACTION_DONE = "engine.action.done"
    ACTION_SUBMIT = "engine.action.submit"
    ACTION_EDIT = "engine.action.edit"
    ACTION_START = "engine.action.start"
    ACTION_RESUME = "engine.action.resume"
    ACTION_FINISH = "engine.action.finish"
    HINT_NO_NAMES = "engine.hint.no_names"
    HINT_MAX_LENGTH = "engine.hint.max_length"
    HINT_NUMBER = "engine.hint.number"
    HINT_INTEGER = "engine.hint.integer"
    HINT_RANGE = "engine.hint.range"
    HINT_MIN = "engine.hint.min"
    HINT_MAX = "engine.hint.max"
    HINT_MULTI = "engine.hint.multi"
    HINT_MULTI_RANGE = "engine.hint.multi_range"
    HINT_MULTI_MIN = "engine.hint.multi_min"
    HINT_MULTI_MAX = "engine.hint.multi_max"
    HINT_COMMENT = "engine.hint.comment"
    USE_BUTTONS = "engine.invalid.use_buttons"
    USE_TOGGLES = "engine.invalid.use_toggles"
    EMPTY = "engine.invalid.empty"
    TOO_LONG = "engine.invalid.too_long"
    NOT_A_NUMBER = "engine.invalid.not_a_number"
    NOT_INTEGER = "engine.invalid.not_integer"
    OUT_OF_RANGE = "engine.invalid.out_of_range"
    TOO_SMALL = "engine.invalid.too_small"
    TOO_LARGE = "engine.invalid.too_large"
    MIN_PICKS = "engine.invalid.min_picks"
    MAX_PICKS = "engine.invalid.max_picks"
    REQUIRED = "engine.invalid.required"
    STALE = "engine.stale"
    ALREADY_SUBMITTED = "engine.already_submitted"
    AT_START = "engine.at_start"
    SUBMITTED = "engine.submitted"
    CONSENT_DECLINED = "engine.consent_declined"
    PAUSED = "engine.paused"
    SUMMARY_TITLE = "engine.summary.title"
    SUMMARY_EMPTY = "engine.summary.empty"
    SUMMARY_COMMENT = "engine.summary.comment"


INTRO_KEY = "engine.intro"
"""Key of the Say carrying the questionnaire's own intro (its text is not in a catalogue)."""

COMMENT_SUFFIX = ".comment"
COMMENT_MAX_LENGTH = 2000
"""Comments have no per-item limit, but a chat message pasted by mistake should not be stored."""

CONSENT_NO = "no"
STATE_VERSION = 1

BUTTON_KINDS = frozenset(
    {
        ItemKind.SINGLE,
        ItemKind.SCALE,
        ItemKind.YES_NO_NA,
        ItemKind.CONSENT,
        ItemKind.MEASURE_STATUS,
    }
)


def comment_key(item_id: str) -> str:
    """The answer key of the optional comment on an item: "<item id>.comment"."""
    return f"{item_id}{COMMENT_SUFFIX}"


# --- state -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DialogState:
    """Where one person is in one questionnaire; stored as JSON through `to_dict`."""

    questionnaire_hash: str
    locale: str
    phase: Phase
    current: str | None
    """The item being asked (ASKING, COMMENT, and PAUSED from those), else None."""
    answers: tuple[tuple[str, AnswerValue], ...]
    """Latest answer per key: an item id, or `comment_key(item id)` for its comment."""
    pending: tuple[str, ...] = ()
    """Multi-select picks not yet confirmed with Done."""
    trail: tuple[str, ...] = ()
    """Item ids asked so far, in the order first asked; Back only returns to these."""
    return_to_summary: bool = False
    """Set by Edit: after the answer, go back to the summary instead of onwards."""
    paused_from: Phase | None = None

    def answer(self, item_id: str) -> AnswerValue | None:
        """The latest answer stored under an item id (or a comment key)."""
        return next((value for key, value in self.answers if key == item_id), None)

    def with_locale(self, locale: str) -> DialogState:
        """The same conversation, from now on in another language."""
        return replace(self, locale=locale)

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe mapping; `from_dict` gives back an equal state."""
        return {
            "version": STATE_VERSION,
            "questionnaire_hash": self.questionnaire_hash,
            "locale": self.locale,
            "phase": self.phase.value,
            "current": self.current,
            "answers": [[key, value.to_dict()] for key, value in self.answers],
            "pending": list(self.pending),
            "trail": list(self.trail),
            "return_to_summary": self.return_to_summary,
            "paused_from": self.paused_from.value if self.paused_from else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DialogState:
        """Inverse of `to_dict`; raises ValueError on anything it did not write."""
        paused_from = _optional(data, "paused_from", str)
        return cls(
            questionnaire_hash=_required(data, "questionnaire_hash", str),
            locale=_required(data, "locale", str),
            phase=Phase(_required(data, "phase", str)),
            current=_optional(data, "current", str),
            answers=tuple(_answer_entry(entry) for entry in _required(data, "answers", list)),
            pending=_strings(data, "pending"),
            trail=_strings(data, "trail"),
            return_to_summary=_required(data, "return_to_summary", bool),
            paused_from=Phase(paused_from) if paused_from is not None else None,
        )


_T = TypeVar("_T")


def _required(data: Mapping[str, object], name: str, kind: type[_T]) -> _T:
    value = data.get(name)
    if not isinstance(value, kind):
        raise ValueError(f"dialog state: {name!r} must be a {kind.__name__}, not {value!r}")
    return value


def _optional(data: Mapping[str, object], name: str, kind: type[_T]) -> _T | None:
    return None if data.get(name) is None else _required(data, name, kind)


def _strings(data: Mapping[str, object], name: str) -> tuple[str, ...]:
    values = _required(data, name, list)
    if not all(isinstance(value, str) for value in values):
        raise ValueError(f"dialog state: {name!r} must be a list of strings")
    return tuple(str(value) for value in values)


def _answer_entry(entry: object) -> tuple[str, AnswerValue]:
    if not (
        isinstance(entry, list | tuple)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], Mapping)
    ):
        raise ValueError(f"dialog state: bad answer entry {entry!r}")
    try:
        return entry[0], AnswerValue.from_dict(entry[1])
    except InvalidOperation as error:
        raise ValueError(f"dialog state: bad number in {entry!r}") from error


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Begin (or re-show where one is); after a consent «Nei», start again from the consent."""


@dataclass(frozen=True)
class Choose:
    """A button press on a single-choice kind of item."""

    item_id: str
    option_id: str


@dataclass(frozen=True)
class Toggle:
    """A multi-select option switched on or off."""

    item_id: str
    option_id: str


@dataclass(frozen=True)
class Done:
    """Confirm the multi-select picks (or, from card channels, exactly these `picks`)."""

    item_id: str
    picks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Text:
    """Anything typed; read as an answer to what is being asked.

    Card channels name the question the input belonged to (`item_id`, or a comment key), so an
    input on an old card is refused as stale instead of answering the current question.
    """

    text: str
    item_id: str | None = None


@dataclass(frozen=True)
class Skip:
    """Skip an optional item or comment; None means whatever is being asked."""

    item_id: str | None = None


@dataclass(frozen=True)
class Back:
    """Go to the previous question."""


@dataclass(frozen=True)
class Edit:
    """Change an answer from the summary (an item id or a comment key)."""

    item_id: str


@dataclass(frozen=True)
class Submit:
    """Send the answers in, from the summary."""


@dataclass(frozen=True)
class Finish:
    """Skip the rest: send in what is answered now (only where the questionnaire allows it)."""


@dataclass(frozen=True)
class Pause:
    """Stop for now, keeping the answers."""


@dataclass(frozen=True)
class Resume:
    """Continue after a pause."""


Event: TypeAlias = (
    Start | Choose | Toggle | Done | Text | Skip | Back | Edit | Submit | Finish | Pause | Resume
)


# --- messages --------------------------------------------------------------------------------


class ActionKind(StrEnum):
    """A navigation button next to the answer options."""

    BACK = "back"
    SKIP = "skip"
    DONE = "done"
    SUBMIT = "submit"
    EDIT = "edit"
    START = "start"
    RESUME = "resume"
    FINISH = "finish"


@dataclass(frozen=True)
class Action:
    """A navigation button; `action_event` turns a press on it into an event."""

    kind: ActionKind
    label: str
    item_id: str | None = None


@dataclass(frozen=True)
class Choice:
    """An answer option as a button."""

    id: str
    label: str
    selected: bool = False


class InputMode(StrEnum):
    """How a channel should let the person answer."""

    BUTTONS = "buttons"
    TOGGLES = "toggles"
    TEXT = "text"
    NUMBER = "number"


@dataclass(frozen=True)
class Say:
    """Information, a confirmation or why an input was refused; `key` names its meaning."""

    key: str
    text: str
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Ask:
    """A question (or a comment prompt, whose item_id is the comment key) to answer now."""

    item_id: str
    kind: ItemKind
    text: str
    input: InputMode
    choices: tuple[Choice, ...]
    actions: tuple[Action, ...]
    position: int
    total: int
    hint: str | None = None
    current: AnswerValue | None = None


@dataclass(frozen=True)
class SummaryRow:
    """One answer read back before submitting; item_id is an item id or a comment key."""

    item_id: str
    question: str
    answer: str


@dataclass(frozen=True)
class Summary:
    """Every answer read back, with Submit, one Edit per row, and Back.

    `text` is a complete plain-text rendering (heading and numbered rows, matching the numbers
    on the Edit buttons); `heading` is the heading alone for channels that lay rows out.
    """

    text: str
    rows: tuple[SummaryRow, ...]
    actions: tuple[Action, ...]
    heading: str = ""


Message: TypeAlias = Say | Ask | Summary


@dataclass(frozen=True)
class Recorded:
    """An answer given by this event; comments are recorded under their comment key."""

    item_id: str
    value: AnswerValue
    measure: str | None = None


@dataclass(frozen=True)
class Transition:
    """What one event did: the new state, what to say, and what was answered."""

    state: DialogState
    messages: tuple[Message, ...]
    recorded: tuple[Recorded, ...] = ()
    submitted: bool = False
    changed: bool = True
    """False when the state is unchanged: refused or stale events, and pure re-shows."""
    cleared: tuple[str, ...] = ()
    """Answer keys the person withdrew with Skip (an earlier answer to an optional item)."""


# --- public functions ------------------------------------------------------------------------


def start_state(questionnaire: Questionnaire, locale: str) -> DialogState:
    """A new conversation, looking at the first question (not yet shown)."""
    first = next(iter(_visible(questionnaire, {})), None)
    return DialogState(
        questionnaire_hash=questionnaire.content_hash,
        locale=locale,
        phase=Phase.ASKING if first else Phase.SUMMARY,
        current=first.id if first else None,
        answers=(),
        trail=(first.id,) if first else (),
    )


def advance(
    questionnaire: Questionnaire, state: DialogState | None, event: Event, now: datetime
) -> Transition:
    """Apply one event to a conversation (None: a new one in the default locale).

    Args:
        questionnaire: The definition the state belongs to.
        state: The stored state, or None when the person has none yet.
        event: What the person did.
        now: Accepted for the architecture's signature; the dialog itself has no deadlines.

    Returns:
        The new state, the messages to send, and the answers this event recorded.
    """
    before = (
        state if state is not None else start_state(questionnaire, questionnaire.default_locale)
    )
    step = _handle(questionnaire, before, event)
    return replace(step, changed=state is None or step.state != before)


def current_prompt(questionnaire: Questionnaire, state: DialogState) -> tuple[Message, ...]:
    """What the person should be looking at now (for /resume, reconnects and page reloads)."""
    intro: tuple[Message, ...] = ()
    if _is_fresh(state) and questionnaire.intro is not None:
        intro = (Say(INTRO_KEY, _text_of(questionnaire, state, questionnaire.intro)),)
    return (*intro, *_prompt(questionnaire, state))


def visible_items(questionnaire: Questionnaire, state: DialogState) -> tuple[Item, ...]:
    """The items shown under the current answers, in questionnaire order."""
    return _visible(questionnaire, dict(state.answers))


def visible_answers(
    questionnaire: Questionnaire, state: DialogState
) -> tuple[tuple[Item, AnswerValue], ...]:
    """What is submitted: answers to visible items, each followed by its comment.

    A comment is paired with `comment_item(item)`, whose id is the comment key.
    """
    return tuple((entry.item, entry.value) for entry in _entries(questionnaire, state))


def comment_item(item: Item) -> Item:
    """The optional comment on an item, as a free-text item of its own."""
    return Item(
        id=comment_key(item.id),
        kind=ItemKind.TEXT,
        text=item.comment if item.comment is not None else item.text,
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        measure=item.measure,
    )


def action_event(action: Action) -> Event:
    """The event a press on an action button stands for."""
    item_id = action.item_id or ""
    match action.kind:
        case ActionKind.BACK:
            return Back()
        case ActionKind.SKIP:
            return Skip(action.item_id)
        case ActionKind.DONE:
            return Done(item_id)
        case ActionKind.SUBMIT:
            return Submit()
        case ActionKind.EDIT:
            return Edit(item_id)
        case ActionKind.START:
            return Start()
        case ActionKind.RESUME:
            return Resume()
        case ActionKind.FINISH:
            return Finish()
    assert_never(action.kind)


# --- event handling --------------------------------------------------------------------------


def _handle(q: Questionnaire, s: DialogState, event: Event) -> Transition:
    if s.phase is Phase.SUBMITTED:
        # No edits after submit: in anonymous rounds the answers are no longer ours to change.
        return _unchanged(s, (_say(s, Key.ALREADY_SUBMITTED),))
    if s.phase is Phase.PAUSED:
        return _while_paused(q, s, event)
    return _dispatch(q, s, event)


def _while_paused(q: Questionnaire, s: DialogState, event: Event) -> Transition:
    if isinstance(event, Text):
        event = _typed_action(_prompt(q, s), event.text) or event
    if isinstance(event, Pause):
        return _unchanged(s, _prompt(q, s))
    resumed = replace(s, phase=s.paused_from or Phase.ASKING, paused_from=None)
    if isinstance(event, Resume):
        return Transition(resumed, _prompt(q, resumed))
    step = _dispatch(q, resumed, event)
    # Answering resumes implicitly; a refused event leaves the person paused.
    if step.state == resumed and not isinstance(event, Start):
        return replace(step, state=s)
    return step


def _dispatch(q: Questionnaire, s: DialogState, event: Event) -> Transition:
    match event:
        case Start():
            if s.phase is Phase.DECLINED:
                return _restart_consent(q, s)
            return _unchanged(s, current_prompt(q, s))
        case Choose(item_id=item_id, option_id=option_id):
            return _on_choose(q, s, item_id, option_id)
        case Toggle(item_id=item_id, option_id=option_id):
            return _on_toggle(q, s, item_id, option_id)
        case Done(item_id=item_id, picks=picks):
            item = _current_item(q, s, item_id)
            if item is None or item.kind is not ItemKind.MULTI:
                return _stale(s)
            if picks is not None and any(item.option(p) is None for p in picks):
                return _stale(s)
            return _confirm_picks(q, s, item, s.pending if picks is None else picks)
        case Text(text=text, item_id=item_id):
            if item_id is not None and item_id != _asked_key(s):
                return _stale(s)
            return _on_text(q, s, text)
        case Skip(item_id=item_id):
            return _on_skip(q, s, item_id)
        case Back():
            return _on_back(q, s)
        case Edit(item_id=item_id):
            return _on_edit(q, s, item_id)
        case Submit():
            return _on_submit(q, s)
        case Finish():
            return _on_finish(q, s)
        case Pause():
            paused = replace(s, phase=Phase.PAUSED, paused_from=s.phase)
            return Transition(paused, _prompt(q, paused))
        case Resume():
            return _unchanged(s, current_prompt(q, s))
    assert_never(event)


def _on_choose(q: Questionnaire, s: DialogState, item_id: str, option_id: str) -> Transition:
    item = _current_item(q, s, item_id)
    if item is None or item.kind not in BUTTON_KINDS or item.option(option_id) is None:
        return _stale(s)
    return _accept(q, s, item, AnswerValue(choice=option_id))


def _asked_key(s: DialogState) -> str | None:
    """The id of what is on screen: the current item, or its comment key while commenting."""
    if s.phase is Phase.COMMENT and s.current is not None:
        return comment_key(s.current)
    return s.current if s.phase is Phase.ASKING else None


def _on_toggle(q: Questionnaire, s: DialogState, item_id: str, option_id: str) -> Transition:
    item = _current_item(q, s, item_id)
    if item is None or item.kind is not ItemKind.MULTI or item.option(option_id) is None:
        return _stale(s)
    if option_id in s.pending:
        picks = tuple(p for p in s.pending if p != option_id)
    elif item.max_picks is not None and len(s.pending) >= item.max_picks:
        return _refuse(q, s, _say(s, Key.MAX_PICKS, max=item.max_picks))
    else:
        picks = _in_option_order(item, (*s.pending, option_id))
    toggled = replace(s, pending=picks)
    return Transition(toggled, (_ask(q, toggled, item),))


def _on_text(q: Questionnaire, s: DialogState, text: str) -> Transition:
    if s.phase is Phase.ASKING:
        return _typed_answer(q, s, text)
    action = _typed_action(_prompt(q, s), text)
    if action is not None:
        return _dispatch(q, s, action)
    if s.phase is Phase.COMMENT:
        item = _item(q, s.current)
        if item is not None:
            reading = _read_text(s, text, COMMENT_MAX_LENGTH)
            if isinstance(reading, Say):
                return _refuse(q, s, reading)
            return _accept_comment(q, s, item, reading)
    return _refuse(q, s, _say(s, Key.USE_BUTTONS))


def _typed_answer(q: Questionnaire, s: DialogState, text: str) -> Transition:
    item = _item(q, s.current)
    if item is None:
        return _refuse(q, s, _say(s, Key.USE_BUTTONS))
    if item.kind in BUTTON_KINDS:
        option = _match_option(q, s, item, text)
        if option is not None:
            return _accept(q, s, item, AnswerValue(choice=option.id))
    if item.kind is ItemKind.MULTI:
        picks = _match_options(q, s, item, text)
        if picks:
            return _confirm_picks(q, s, item, picks)
    action = _typed_action(_prompt(q, s), text)
    if action is not None:
        return _dispatch(q, s, action)
    reading = _read_value(s, item, text)
    if isinstance(reading, Say):
        return _refuse(q, s, reading)
    return _accept(q, s, item, reading)


def _on_skip(q: Questionnaire, s: DialogState, item_id: str | None) -> Transition:
    if s.phase is Phase.COMMENT and s.current is not None:
        item = _item(q, s.current)
        if item is None or item_id not in (None, comment_key(s.current)):
            return _stale(s)
        return _skip(q, s, item, (comment_key(item.id),))
    item = _current_item(q, s, item_id)
    if item is None:
        return _stale(s)
    if item.required:
        return _refuse(q, s, _say(s, Key.REQUIRED))
    return _skip(q, s, item, (item.id, comment_key(item.id)))


def _on_back(q: Questionnaire, s: DialogState) -> Transition:
    if s.phase is Phase.DECLINED:
        return _restart_consent(q, s)
    item = _item(q, s.current)
    if s.phase is Phase.COMMENT and item is not None:
        return _enter(q, s, item)
    before = s.current if s.phase is Phase.ASKING else None
    previous = _previous(q, s, before)
    if previous is None:
        return _refuse(q, s, _say(s, Key.AT_START))
    return _enter(q, s, previous)


def _on_edit(q: Questionnaire, s: DialogState, key: str) -> Transition:
    if s.phase is not Phase.SUMMARY:
        return _stale(s)
    editing = replace(s, return_to_summary=True)
    for item in _visible(q, dict(s.answers)):
        if key == item.id:
            return _enter(q, editing, item)
        if key == comment_key(item.id) and item.comment is not None:
            return _enter_comment(q, editing, item)
    return _stale(s)


def _on_submit(q: Questionnaire, s: DialogState) -> Transition:
    if s.phase is not Phase.SUMMARY:
        return _stale(s)
    missing = _next_item(q, replace(s, return_to_summary=True), None)
    if missing is not None:
        return _enter(q, s, missing)
    return _submitted(q, s)


def _submitted(q: Questionnaire, s: DialogState) -> Transition:
    done = replace(s, phase=Phase.SUBMITTED, current=None, pending=(), return_to_summary=False)
    outro = q.outro
    text = _text_of(q, s, outro) if outro is not None else _t(s, Key.SUBMITTED)
    return Transition(done, (Say(Key.SUBMITTED.value, text),), submitted=True)


def _on_finish(q: Questionnaire, s: DialogState) -> Transition:
    if not q.finish_early or s.phase not in (Phase.ASKING, Phase.COMMENT, Phase.SUMMARY):
        return _stale(s)
    if any(item.required and s.answer(item.id) is None for item in _visible(q, dict(s.answers))):
        return _refuse(q, s, _say(s, Key.REQUIRED))
    # Skipping the rest means the questions not yet shown stay unanswered: submit as is.
    return _submitted(q, s)


# --- moving through the questionnaire --------------------------------------------------------


def _accept(q: Questionnaire, s: DialogState, item: Item, value: AnswerValue) -> Transition:
    answered = replace(s, answers=_put(s.answers, item.id, value), pending=())
    recorded = (Recorded(item.id, value, item.measure),)
    if item.kind is ItemKind.CONSENT and value.choice == CONSENT_NO:
        declined = replace(answered, phase=Phase.DECLINED, current=None)
        return Transition(declined, _prompt(q, declined), recorded)
    if item.comment is not None:
        return replace(_enter_comment(q, answered, item), recorded=recorded)
    return _forward(q, answered, item, recorded)


def _accept_comment(
    q: Questionnaire, s: DialogState, item: Item, value: AnswerValue
) -> Transition:
    key = comment_key(item.id)
    answered = replace(s, answers=_put(s.answers, key, value))
    return _forward(q, answered, item, (Recorded(key, value, item.measure),))


def _skip(q: Questionnaire, s: DialogState, item: Item, keys: tuple[str, ...]) -> Transition:
    cleared = tuple(key for key in keys if s.answer(key) is not None)
    kept = tuple((key, value) for key, value in s.answers if key not in keys)
    return replace(_forward(q, replace(s, answers=kept, pending=()), item), cleared=cleared)


def _confirm_picks(
    q: Questionnaire, s: DialogState, item: Item, picks: Sequence[str]
) -> Transition:
    if not picks and not item.required:
        return _skip(q, s, item, (item.id, comment_key(item.id)))
    minimum = max(item.min_picks or 0, 1)
    if len(picks) < minimum:
        return _refuse(q, s, _say(s, Key.MIN_PICKS, min=minimum, count=len(picks)))
    if item.max_picks is not None and len(picks) > item.max_picks:
        return _refuse(q, s, _say(s, Key.MAX_PICKS, max=item.max_picks))
    return _accept(q, s, item, AnswerValue(choices=_in_option_order(item, picks)))


def _forward(
    q: Questionnaire, s: DialogState, after: Item | None, recorded: tuple[Recorded, ...] = ()
) -> Transition:
    target = _next_item(q, s, after)
    if target is None:
        summary = replace(
            s, phase=Phase.SUMMARY, current=None, pending=(), return_to_summary=False
        )
        return Transition(summary, (_summary(q, summary),), recorded)
    return replace(_enter(q, s, target), recorded=recorded)


def _next_item(q: Questionnaire, s: DialogState, after: Item | None) -> Item | None:
    """The next item to ask, or None for the summary.

    Onwards means the next visible item; after an Edit it means the first visible item still
    missing, which is how an answer that reveals new questions gets them asked.
    """
    visible = _visible(q, dict(s.answers))
    missing = next((item for item in visible if _is_missing(s, item)), None)
    if s.return_to_summary or after is None:
        return missing
    position = _index(q, after.id)
    later = next((item for item in visible if _index(q, item.id) > position), None)
    return later or missing


def _is_missing(s: DialogState, item: Item) -> bool:
    # A skipped optional item was asked (it is in the trail) and stays unanswered on purpose.
    return item.id not in s.trail or (item.required and s.answer(item.id) is None)


def _previous(q: Questionnaire, s: DialogState, before: str | None) -> Item | None:
    limit = _index(q, before) if before is not None else len(q.items)
    asked = [
        item
        for item in _visible(q, dict(s.answers))
        if item.id in s.trail and _index(q, item.id) < limit
    ]
    return asked[-1] if asked else None


def _enter(q: Questionnaire, s: DialogState, item: Item) -> Transition:
    answer = s.answer(item.id)
    pending = answer.choices if item.kind is ItemKind.MULTI and answer is not None else ()
    trail = s.trail if item.id in s.trail else (*s.trail, item.id)
    asking = replace(s, phase=Phase.ASKING, current=item.id, pending=pending, trail=trail)
    return Transition(asking, (_ask(q, asking, item),))


def _enter_comment(q: Questionnaire, s: DialogState, item: Item) -> Transition:
    commenting = replace(s, phase=Phase.COMMENT, current=item.id, pending=())
    return Transition(commenting, (_comment_ask(q, commenting, item),))


def _restart_consent(q: Questionnaire, s: DialogState) -> Transition:
    consent = _declined_item(q, s)
    if consent is None:
        return _forward(q, s, None)
    return _enter(q, s, consent)


def _unchanged(s: DialogState, messages: tuple[Message, ...]) -> Transition:
    return Transition(s, messages, changed=False)


def _refuse(q: Questionnaire, s: DialogState, reason: Say) -> Transition:
    """Say why, then show the same question again, so its buttons are at hand."""
    return _unchanged(s, (reason, *_prompt(q, s)))


def _stale(s: DialogState) -> Transition:
    # The current question is already on screen; repeating it after every double tap is noise.
    return _unchanged(s, (_say(s, Key.STALE),))


# --- reading typed input ---------------------------------------------------------------------

_OPTION_NUMBER = re.compile(r"[0-9]{1,3}")
# Fifteen digits each side keep every value within Decimal's default 28-digit precision.
_NUMBER = re.compile(r"[+-]?[0-9]{1,15}(?:[.,][0-9]{1,12})?")
_BLANKS = re.compile(r"[\s\u00a0\u202f]+")
_LIST_SEPARATORS = re.compile(r"[,;\n]")


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def _match_option(q: Questionnaire, s: DialogState, item: Item, text: str) -> Option | None:
    """The option named by its label (case-insensitive) or by its 1-based number."""
    wanted = _normalised(text)
    for option in item.options:
        if _normalised(option_label(option, s.locale, q.default_locale)) == wanted:
            return option
    number = wanted.rstrip(".)")
    if _OPTION_NUMBER.fullmatch(number) and 1 <= int(number) <= len(item.options):
        return item.options[int(number) - 1]
    return None


def _match_options(q: Questionnaire, s: DialogState, item: Item, text: str) -> tuple[str, ...]:
    """Typed multi-select picks ("1, 3", "1 3" or labels); empty unless every part matches."""
    whole = _match_option(q, s, item, text)
    if whole is not None:
        return (whole.id,)
    parts = [part for part in _LIST_SEPARATORS.split(text) if part.strip()]
    if len(parts) == 1:
        parts = parts[0].split() if all(p.isdecimal() for p in parts[0].split()) else parts
    options = [_match_option(q, s, item, part) for part in parts]
    if not options or any(option is None for option in options):
        return ()
    return _in_option_order(item, [option.id for option in options if option is not None])


def _typed_action(messages: Iterable[Message], text: str) -> Event | None:
    """A typed action label ("Tilbake", "Send inn") for channels without buttons."""
    wanted = _normalised(text)
    for message in messages:
        for action in message.actions:
            if _normalised(action.label) == wanted:
                return action_event(action)
    return None


def _read_value(s: DialogState, item: Item, text: str) -> AnswerValue | Say:
    match item.kind:
        case ItemKind.TEXT:
            return _read_text(s, text, item.max_length)
        case ItemKind.NUMBER:
            return _read_number(s, item, text)
        case ItemKind.MULTI:
            return _say(s, Key.USE_TOGGLES)
        case _:
            return _say(s, Key.USE_BUTTONS)


def _read_text(s: DialogState, text: str, limit: int | None) -> AnswerValue | Say:
    cleaned = text.strip()
    if not cleaned:
        return _say(s, Key.EMPTY)
    if limit is not None and len(cleaned) > limit:
        return _say(s, Key.TOO_LONG, length=len(cleaned), max=limit)
    return AnswerValue(text=cleaned)


def _read_number(s: DialogState, item: Item, text: str) -> AnswerValue | Say:
    compact = _BLANKS.sub("", text).replace("\u2212", "-")
    if not _NUMBER.fullmatch(compact):
        return _say(s, Key.NOT_A_NUMBER)
    value = Decimal(compact.replace(",", "."))
    if item.integer:
        if value != value.to_integral_value():
            return _say(s, Key.NOT_INTEGER)
        value = value.quantize(Decimal(1))
    too_small = item.min_value is not None and value < item.min_value
    too_large = item.max_value is not None and value > item.max_value
    bounds = _bounds(s, item, (Key.OUT_OF_RANGE, Key.TOO_SMALL, Key.TOO_LARGE))
    if bounds is not None and (too_small or too_large):
        return bounds
    return AnswerValue(number=value)


# --- rendering -------------------------------------------------------------------------------

_INPUT_MODES = {
    ItemKind.MULTI: InputMode.TOGGLES,
    ItemKind.TEXT: InputMode.TEXT,
    ItemKind.NUMBER: InputMode.NUMBER,
}

_ACTION_KEYS = {
    ActionKind.BACK: Key.ACTION_BACK,
    ActionKind.SKIP: Key.ACTION_SKIP,
    ActionKind.DONE: Key.ACTION_DONE,
    ActionKind.SUBMIT: Key.ACTION_SUBMIT,
    ActionKind.EDIT: Key.ACTION_EDIT,
    ActionKind.START: Key.ACTION_START,
    ActionKind.RESUME: Key.ACTION_RESUME,
    ActionKind.FINISH: Key.ACTION_FINISH,
}


def _prompt(q: Questionnaire, s: DialogState) -> tuple[Message, ...]:
    """The question, summary or notice of the state's phase (without the intro)."""
    item = _item(q, s.current)
    match s.phase:
        case Phase.ASKING if item is not None:
            return (_ask(q, s, item),)
        case Phase.COMMENT if item is not None:
            return (_comment_ask(q, s, item),)
        case Phase.DECLINED:
            return (_declined(q, s),)
        case Phase.PAUSED:
            return (_say(s, Key.PAUSED, actions=(_action(s, ActionKind.RESUME),)),)
        case Phase.SUBMITTED:
            return (_say(s, Key.ALREADY_SUBMITTED),)
        case _:
            return (_summary(q, s),)


def _ask(q: Questionnaire, s: DialogState, item: Item) -> Ask:
    answer = s.answer(item.id)
    selected = s.pending if item.kind is ItemKind.MULTI else _option_ids(answer)
    actions: list[Action] = []
    if item.kind is ItemKind.MULTI:
        actions.append(_action(s, ActionKind.DONE, item.id))
    if not item.required:
        actions.append(_action(s, ActionKind.SKIP, item.id))
    if _previous(q, s, item.id) is not None:
        actions.append(_action(s, ActionKind.BACK))
    position, total = _position(q, s, item)
    if q.finish_early and position < total:
        actions.append(_action(s, ActionKind.FINISH))
    return Ask(
        item_id=item.id,
        kind=item.kind,
        text=_text_of(q, s, item.text),
        input=_INPUT_MODES.get(item.kind, InputMode.BUTTONS),
        choices=tuple(
            Choice(
                option.id, option_label(option, s.locale, q.default_locale), option.id in selected
            )
            for option in item.options
        ),
        actions=tuple(actions),
        position=position,
        total=total,
        hint=_hint(q, s, item),
        current=answer,
    )


def _comment_ask(q: Questionnaire, s: DialogState, item: Item) -> Ask:
    key = comment_key(item.id)
    position, total = _position(q, s, item)
    prompt = item.comment if item.comment is not None else item.text
    return Ask(
        item_id=key,
        kind=ItemKind.TEXT,
        text=_text_of(q, s, prompt),
        input=InputMode.TEXT,
        choices=(),
        actions=(_action(s, ActionKind.SKIP, key), _action(s, ActionKind.BACK)),
        position=position,
        total=total,
        hint=f"{_t(s, Key.HINT_COMMENT)} {_t(s, Key.HINT_NO_NAMES)}",
        current=s.answer(key),
    )


def _hint(q: Questionnaire, s: DialogState, item: Item) -> str | None:
    parts = [_text_of(q, s, item.help)] if item.help is not None else []
    match item.kind:
        case ItemKind.TEXT:
            parts.append(_t(s, Key.HINT_NO_NAMES))
            if item.max_length is not None:
                parts.append(_t(s, Key.HINT_MAX_LENGTH, max=item.max_length))
        case ItemKind.NUMBER:
            parts.append(_t(s, Key.HINT_INTEGER if item.integer else Key.HINT_NUMBER))
            bounds = _bounds(s, item, (Key.HINT_RANGE, Key.HINT_MIN, Key.HINT_MAX))
            parts.append(bounds.text if bounds is not None else "")
        case ItemKind.MULTI:
            low = str(item.min_picks) if item.min_picks is not None else None
            high = str(item.max_picks) if item.max_picks is not None else None
            keys = (Key.HINT_MULTI_RANGE, Key.HINT_MULTI_MIN, Key.HINT_MULTI_MAX)
            picks = _limits(s, low, high, keys)
            parts.append(picks.text if picks is not None else _t(s, Key.HINT_MULTI))
    return " ".join(part for part in parts if part) or None


def _bounds(s: DialogState, item: Item, keys: tuple[Key, Key, Key]) -> Say | None:
    low = render_number(item.min_value, s.locale) if item.min_value is not None else None
    high = render_number(item.max_value, s.locale) if item.max_value is not None else None
    return _limits(s, low, high, keys)


def _limits(
    s: DialogState, low: str | None, high: str | None, keys: tuple[Key, Key, Key]
) -> Say | None:
    """Said with the first key given both limits, the second given a lower, the third an upper."""
    both, lower, upper = keys
    if low is not None:
        return _say(s, both if high is not None else lower, min=low, max=high)
    if high is not None:
        return _say(s, upper, max=high)
    return None


def _summary(q: Questionnaire, s: DialogState) -> Summary:
    rows = tuple(_summary_row(q, s, entry) for entry in _entries(q, s))
    heading = _t(s, Key.SUMMARY_TITLE if rows else Key.SUMMARY_EMPTY)
    edits = tuple(
        _action(s, ActionKind.EDIT, row.item_id, number=number)
        for number, row in enumerate(rows, start=1)
    )
    back = (_action(s, ActionKind.BACK),) if _previous(q, s, None) is not None else ()
    lines = [f"{n}. {row.question}\n{row.answer}" for n, row in enumerate(rows, start=1)]
    return Summary(
        text="\n\n".join([heading, *lines]),
        rows=rows,
        actions=(_action(s, ActionKind.SUBMIT), *edits, *back),
        heading=heading,
    )


def _summary_row(q: Questionnaire, s: DialogState, entry: _Entry) -> SummaryRow:
    question = _t(s, Key.SUMMARY_COMMENT) if entry.is_comment else _text_of(q, s, entry.item.text)
    answer = render_answer(entry.item, entry.value, s.locale, q.default_locale)
    return SummaryRow(entry.item.id, question, answer)


def _declined(q: Questionnaire, s: DialogState) -> Say:
    consent = _declined_item(q, s)
    message = consent.decline_message if consent is not None else None
    text = _text_of(q, s, message) if message is not None else _t(s, Key.CONSENT_DECLINED)
    return Say(Key.CONSENT_DECLINED.value, text, (_action(s, ActionKind.START),))


def _action(
    s: DialogState, kind: ActionKind, item_id: str | None = None, **params: object
) -> Action:
    return Action(kind, _t(s, _ACTION_KEYS[kind], **params), item_id)


def _say(s: DialogState, key: Key, actions: tuple[Action, ...] = (), **params: object) -> Say:
    return Say(key.value, _t(s, key, **params), actions)


def _t(s: DialogState, key: Key, **params: object) -> str:
    return translate(s.locale, key.value, **params)


def _text_of(q: Questionnaire, s: DialogState, text: LocalizedText) -> str:
    """A questionnaire text in the person's language, else the questionnaire's own."""
    return text.get(s.locale, q.default_locale)


# --- small queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    item: Item
    value: AnswerValue
    is_comment: bool = False


def _entries(q: Questionnaire, s: DialogState) -> tuple[_Entry, ...]:
    """Answers of visible items in questionnaire order, each followed by its comment."""
    entries: list[_Entry] = []
    for item in _visible(q, dict(s.answers)):
        answer = s.answer(item.id)
        if answer is not None:
            entries.append(_Entry(item, answer))
        comment = s.answer(comment_key(item.id))
        if comment is not None and item.comment is not None:
            entries.append(_Entry(comment_item(item), comment, is_comment=True))
    return tuple(entries)


def _visible(q: Questionnaire, answers: Mapping[str, AnswerValue]) -> tuple[Item, ...]:
    shown: set[str] = set()
    for item in q.items:
        condition = item.show_if
        if condition is None:
            shown.add(item.id)
            continue
        # An answer to a hidden item is kept, but no longer counts: its question is not asked.
        value = answers.get(condition.item) if condition.item in shown else None
        if value is not None and set(value.option_ids()) & set(condition.any_of):
            shown.add(item.id)
    return tuple(item for item in q.items if item.id in shown)


def _position(q: Questionnaire, s: DialogState, item: Item) -> tuple[int, int]:
    ids = [visible.id for visible in _visible(q, dict(s.answers))]
    return (ids.index(item.id) + 1 if item.id in ids else 0), len(ids)


def _declined_item(q: Questionnaire, s: DialogState) -> Item | None:
    for item in _visible(q, dict(s.answers)):
        if item.kind is ItemKind.CONSENT and _option_ids(s.answer(item.id)) == (CONSENT_NO,):
            return item
    return None


def _current_item(q: Questionnaire, s: DialogState, item_id: str | None) -> Item | None:
    """The item being asked, if the event names it (or names none); else the press is stale."""
    if s.phase is not Phase.ASKING or (item_id is not None and item_id != s.current):
        return None
    return _item(q, s.current)


def _item(q: Questionnaire, item_id: str | None) -> Item | None:
    return q.item(item_id) if item_id is not None else None


def _index(q: Questionnaire, item_id: str) -> int:
    return next((n for n, item in enumerate(q.items) if item.id == item_id), len(q.items))


def _is_fresh(s: DialogState) -> bool:
    return s.phase is Phase.ASKING and not s.answers and len(s.trail) <= 1


def _option_ids(answer: AnswerValue | None) -> tuple[str, ...]:
    return answer.option_ids() if answer is not None else ()


def _in_option_order(item: Item, picks: Iterable[str]) -> tuple[str, ...]:
    chosen = set(picks)
    return tuple(option.id for option in item.options if option.id in chosen)


def _put(
    answers: tuple[tuple[str, AnswerValue], ...], key: str, value: AnswerValue
) -> tuple[tuple[str, AnswerValue], ...]:
    """Replace the answer under `key` in place, or add it at the end."""
    if any(k == key for k, _ in answers):
        return tuple((k, value if k == key else v) for k, v in answers)
    return (*answers, (key, value))
