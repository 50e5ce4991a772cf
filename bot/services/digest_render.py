"""A leader digest as chat text, JSON (for the CLI and tests) and an HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.services.digest import LeaderDigest
from bot.services.measures import status_label
from dialogs.digest import ANSWER_CODES, MeasureFigure, RateLine, UnitSection
from dialogs.i18n import format_day, format_percent, translate
from dialogs.model import MeasureAnswer

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
)


def _title(digest: LeaderDigest, slug: str, locale: str) -> str:
    return digest.facts.titles[slug].get(locale)


def _titles(digest: LeaderDigest, slugs: tuple[str, ...], locale: str) -> str:
    return ", ".join(f"«{_title(digest, slug, locale)}»" for slug in slugs)


def _share(figure: MeasureFigure, code: str, locale: str) -> str:
    return format_percent(100 * figure.share(code), locale)


def _rate(pair: tuple[int, int] | None, hidden: bool, locale: str) -> str:
    if pair is None:
        return translate(locale, "digest.rate.hidden" if hidden else "digest.rate.none")
    answered, eligible = pair
    rate = format_percent(100 * answered / eligible, locale)
    return translate(locale, "digest.rate.value", rate=rate, answered=answered, eligible=eligible)


def section_lines(digest: LeaderDigest, section: UnitSection, locale: str) -> list[str]:
    """One unit's part of the digest as lines of text."""
    facts = digest.facts
    unit = facts.units[section.unit_id].name.get(locale)
    period = digest.period
    iso = period.first.isocalendar()
    lines = [
        translate(
            locale,
            "digest.title",
            unit=unit,
            week=iso.week,
            first=format_day(period.first, locale),
            last=format_day(period.last, locale),
        )
    ]
    if any(u in facts.partial for u in _scope_units(digest, section)):
        lines.append(translate(locale, "digest.partial"))
    if not (section.figures or section.too_few or section.unanswered):
        lines.append(translate(locale, "digest.nothing"))
    if section.unknown:
        threshold = format_percent(100 * digest.rules.unknown_share, locale)
        lines.append(translate(locale, "digest.unknown.heading", threshold=threshold))
        lines += [
            "• "
            + translate(
                locale,
                "digest.unknown.line",
                title=_title(digest, f.slug, locale),
                count=f.counts.get(MeasureAnswer.DONT_KNOW, 0),
                n=f.n,
                share=_share(f, MeasureAnswer.DONT_KNOW, locale),
            )
            for f in section.unknown
        ]
    if section.gaps:
        lines.append(translate(locale, "digest.gaps.heading"))
        for gap in section.gaps:
            figure = gap.figure
            started = figure.counts.get(MeasureAnswer.STARTED, 0)
            count = started if gap.kind == "staff_ahead" else figure.n - started
            share = format_percent(100 * count / figure.n, locale)
            lines.append(
                "• "
                + translate(
                    locale,
                    f"digest.gap.{gap.kind}",
                    title=_title(digest, figure.slug, locale),
                    status=status_label(figure.leader_status.value, locale),
                    count=count,
                    n=figure.n,
                    share=share,
                )
            )
    for key, slugs in (
        ("digest.too_few", section.too_few),
        ("digest.unanswered", section.unanswered),
        ("digest.overdue", section.overdue),
        ("digest.owner_pending", section.owner_pending),
    ):
        if slugs:
            lines.append(translate(locale, key, titles=_titles(digest, slugs, locale)))
    if section.rates:
        lines.append(translate(locale, "digest.rates.heading"))
        lines += ["• " + _rate_line(digest, rate, locale) for rate in section.rates]
    return lines


def _rate_line(digest: LeaderDigest, rate: RateLine, locale: str) -> str:
    return translate(
        locale,
        "digest.rate.line",
        unit=digest.facts.units[rate.unit_id].name.get(locale),
        current=_rate(rate.current, rate.current_hidden, locale),
        previous=_rate(rate.previous, rate.previous_hidden, locale),
    )


def _scope_units(digest: LeaderDigest, section: UnitSection) -> frozenset[str]:
    return digest.facts.scopes[section.unit_id]


def render_text(digest: LeaderDigest, locale: str) -> str:
    """The digest as plain text (chat message, CLI `--format text`)."""
    return "\n\n".join(
        "\n".join(section_lines(digest, section, locale)) for section in digest.sections
    )


def render_json(digest: LeaderDigest) -> dict[str, Any]:
    """The digest's figures as JSON (codes, not labels; suppressed figures are absent)."""
    return {
        "leader": digest.leader_id,
        "period": digest.period.key,
        "first_day": digest.period.first.isoformat(),
        "last_day": digest.period.last.isoformat(),
        "sections": [
            {
                "unit": section.unit_id,
                "partial_cycle": bool(_scope_units(digest, section) & digest.facts.partial),
                "figures": [_figure(f) for f in section.figures],
                "unknown": [f.slug for f in section.unknown],
                "gaps": [{"measure": g.figure.slug, "kind": g.kind.value} for g in section.gaps],
                "too_few_answers": list(section.too_few),
                "unanswered": list(section.unanswered),
                "overdue": list(section.overdue),
                "owner_checkin_pending": list(section.owner_pending),
                "response_rates": [
                    {
                        "unit": r.unit_id,
                        "current": _pair(r.current),
                        "previous": _pair(r.previous),
                        "current_hidden": r.current_hidden,
                        "previous_hidden": r.previous_hidden,
                    }
                    for r in section.rates
                ],
            }
            for section in digest.sections
        ],
    }


def _figure(figure: MeasureFigure) -> dict[str, Any]:
    return {
        "measure": figure.slug,
        "leader_status": figure.leader_status.value,
        "n": figure.n,
        "counts": {code: figure.counts.get(code, 0) for code in ANSWER_CODES},
    }


def _pair(pair: tuple[int, int] | None) -> dict[str, int] | None:
    return None if pair is None else {"answered": pair[0], "eligible": pair[1]}


def render_html(digest: LeaderDigest, locale: str, chart: str | None = None) -> str:
    """The digest as a self-contained HTML page (dashboard preview, `--format html`)."""
    return _ENV.get_template("digest.html").render(
        locale=locale,
        sections=[section_lines(digest, section, locale) for section in digest.sections],
        chart=chart,
        chart_alt=translate(locale, "digest.chart.title"),
    )
