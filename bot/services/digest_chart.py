"""The digest's PNG chart: status shares per measure as stacked bars (matplotlib, Agg)."""

from __future__ import annotations

import io
import textwrap

# A bare Figure renders with Agg without pyplot: no display, no global state.
from matplotlib.figure import Figure

from bot.services.digest import LeaderDigest
from dialogs.digest import ANSWER_CODES
from dialogs.i18n import translate

COLOURS = {
    "started": "#1b7837",
    "planned": "#7fbf7b",
    "not_relevant": "#bababa",
    "dont_know": "#d6604d",
}
"""Green for started, light green planned, grey not relevant, red don't know (colour-blind safe
enough with the labels; the text digest carries every number anyway)."""


def render_chart(digest: LeaderDigest, locale: str) -> bytes | None:
    """A PNG of every shown measure figure of the digest (None when nothing can be shown)."""
    rows = [
        (
            f"{digest.facts.units[section.unit_id].name.get(locale)}: "
            f"{digest.facts.titles[figure.slug].get(locale)}",
            figure,
        )
        for section in digest.sections
        for figure in section.figures
    ]
    if not rows:
        return None
    figure = Figure(figsize=(8, 1.2 + 0.6 * len(rows)), dpi=100)
    axes = figure.add_subplot()
    labels = ["\n".join(textwrap.wrap(label, 45)) for label, _ in rows]
    left = [0.0] * len(rows)
    for code in ANSWER_CODES:
        shares = [float(100 * f.share(code)) for _, f in rows]
        axes.barh(
            labels,
            shares,
            left=left,
            color=COLOURS[code],
            label=translate(locale, f"digest.answer.{code}"),
        )
        left = [a + b for a, b in zip(left, shares, strict=True)]
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("%")
    axes.set_title(translate(locale, "digest.chart.title"))
    axes.legend(ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
