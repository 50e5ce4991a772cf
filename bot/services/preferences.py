"""A person's /settings: their send window and away periods (quiet hours always apply)."""

from __future__ import annotations

from datetime import datetime, time

from bot.settings import Settings
from dialogs import engine
from dialogs.i18n import LANGUAGE_NAMES, format_day, translate
from dialogs.records import PersonRecord
from dialogs.rhythm import QuietHours, parse_period, parse_window
from storage.store import Transaction

OFF = ("off", "av", "ingen", "none")
ON = ("on", "på")


def _say(key: str, locale: str, **params: object) -> engine.Say:
    return engine.Say(key=key, text=translate(locale, key, **params))


class SettingsCommands:
    """Show and change what a person decides about when they hear from Followup."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle(
        self, tx: Transaction, person: PersonRecord, locale: str, text: str, now: datetime
    ) -> engine.Say:
        """`/settings`, `window 15-21|off`, `away FIRST..LAST|off`, `digest on|off`."""
        what, _, value = text.strip().partition(" ")
        what, value = what.lower(), value.strip()
        if what in ("window", "vindu", "vindauge"):
            return await self._window(tx, person, locale, value)
        if what in ("away", "borte", "fravær", "fråvær"):
            return await self._away(tx, person, locale, value, now)
        if what in ("digest", "oversikt") and value.lower() in (*OFF, *ON):
            opt_out = value.lower() in OFF
            await tx.org.set_digest_opt_out(person.id, opt_out)
            return _say("preferences.digest_off" if opt_out else "preferences.digest_on", locale)
        return self.show(person, locale)

    def show(self, person: PersonRecord, locale: str) -> engine.Say:
        """The person's settings and how to change them."""
        window = (
            f"{_clock(person.send_window[0])}–{_clock(person.send_window[1])}"
            if person.send_window
            else translate(locale, "preferences.any_time")
        )
        away = ", ".join(
            f"{format_day(first, locale)}–{format_day(last, locale)}"
            for first, last in person.away
        ) or translate(locale, "preferences.not_away")
        messages = "preferences.messages_paused" if person.paused else "preferences.messages_on"
        return _say(
            "preferences.show",
            locale,
            language=LANGUAGE_NAMES.get(person.locale or locale, LANGUAGE_NAMES[locale]),
            messages=translate(locale, messages),
            window=window,
            away=away,
            quiet=self._quiet_text(),
        )

    async def _window(
        self, tx: Transaction, person: PersonRecord, locale: str, value: str
    ) -> engine.Say:
        if value.lower() in OFF:
            await tx.org.set_send_window(person.id, None)
            return _say("preferences.window_cleared", locale)
        try:
            start, end = parse_window(value)
        except ValueError:
            return _say("preferences.bad_window", locale)
        if _inside(self.settings.quiet, start, end):
            return _say("preferences.window_quiet", locale, quiet=self._quiet_text())
        await tx.org.set_send_window(person.id, (start, end))
        return _say("preferences.window_set", locale, start=_clock(start), end=_clock(end))

    async def _away(
        self, tx: Transaction, person: PersonRecord, locale: str, value: str, now: datetime
    ) -> engine.Say:
        if value.lower() in OFF:
            await tx.org.set_away(person.id, ())
            return _say("preferences.away_cleared", locale)
        try:
            first, last = parse_period(value)
        except ValueError:
            return _say("preferences.bad_away", locale)
        if last < now.date():
            return _say("preferences.away_past", locale)
        kept = tuple(period for period in person.away if period[1] >= now.date())
        await tx.org.set_away(person.id, (*kept, (first, last)))
        return _say(
            "preferences.away_set",
            locale,
            first=format_day(first, locale),
            last=format_day(last, locale),
        )

    def _quiet_text(self) -> str:
        quiet = self.settings.quiet
        return f"{_clock(quiet.start)}–{_clock(quiet.end)}"


def _clock(moment: time) -> str:
    return f"{moment:%H:%M}"


def _inside(quiet: QuietHours, start: time, end: time) -> bool:
    """Whether every moment of the window [start, end) is quiet (no time left to send)."""
    minute = start
    for _ in range(24 * 60):
        if minute == end:
            return True
        if not quiet.contains(minute):
            return False
        total = minute.hour * 60 + minute.minute + 1
        minute = time((total // 60) % 24, total % 60)
    return True
