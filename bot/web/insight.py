"""Dashboard pages built on the digest: the digest preview and the measure awareness map."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from bot.services.digest import DigestError, DigestService, OrgFacts, Period, leaders_of
from bot.services.digest_chart import render_chart
from bot.services.digest_render import section_lines
from bot.web.auth import Viewer
from dialogs import policy
from dialogs.digest import TOO_FEW, MeasureFigure, unit_figure
from dialogs.i18n import format_percent, translate
from dialogs.model import MeasureAnswer
from dialogs.org import ancestor_ids
from storage.store import Transaction

if TYPE_CHECKING:
    from bot.web.routes import DashboardApp

ORIGIN = "dashboard"


@dataclass(frozen=True)
class MapCell:
    """One unit x measure cell: a shown figure, «for få svar», or nothing asked/answered."""

    text: str
    hidden: bool


class InsightPages:
    """/dashboard/digest (preview of a leader's digest) and /dashboard/map (awareness map)."""

    def __init__(self, dashboard: DashboardApp) -> None:
        self.dashboard = dashboard
        self.digests = DigestService(dashboard.store, dashboard.settings)

    def register(self, app: web.Application, prefix: str) -> None:
        """Add the routes (behind the dashboard's session check)."""
        app.router.add_get(f"{prefix}/digest", self.dashboard.page(self.digest_page))
        app.router.add_get(f"{prefix}/map", self.dashboard.page(self.map_page))

    def _period(self, request: web.Request) -> Period | None:
        try:
            return self.digests.period(request.query.get("period") or None, self.dashboard.clock())
        except DigestError:
            return None

    async def _allowed_units(
        self, tx: Transaction, viewer: Viewer, action: policy.Action
    ) -> set[str]:
        units = {u.id: u for u in await tx.org.units()}
        return {
            unit_id
            for unit_id in units
            if policy.decide(
                viewer.actor, action, unit_id, lambda unit: ancestor_ids(units, unit)
            ).allowed
        }

    async def digest_page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """A leader's digest as they receive it: their own, or one of a leader in scope."""
        period = self._period(request)
        if period is None:
            return self.dashboard.error(viewer.locale, 400, "bad_period", viewer)
        async with self.dashboard.store.transaction() as tx:
            allowed = await self._allowed_units(tx, viewer, policy.Action.VIEW_DIGEST)
            leaders = await leaders_of(tx)
            choices = {
                leader: [u for u in units if u in allowed]
                for leader, units in sorted(leaders.items())
            }
            choices = {leader: units for leader, units in choices.items() if units}
            wanted = request.query.get("leader", "")
            default = viewer.person.id if viewer.person.id in choices else next(iter(choices), 0)
            leader = int(wanted) if wanted.isdigit() else default
            if leader not in choices:
                kind = "forbidden" if wanted else "no_digest"
                return self.dashboard.error(viewer.locale, 403, kind, viewer)
            digest = await self.digests.for_leader_in(tx, leader, period, choices[leader])
            await self.digests.record_view_in(
                tx, digest, viewer.person.id, ORIGIN, self.dashboard.clock()
            )
            people = {p.id: p for p in await tx.org.people()}
        png = render_chart(digest, viewer.locale)
        return self.dashboard.render(
            "digest.html",
            viewer.locale,
            viewer=viewer,
            period=period,
            leader=leader,
            leaders=[
                (person, (people[person].name or people[person].email or str(person)))
                for person in choices
                if person in people
            ],
            sections=[section_lines(digest, s, viewer.locale) for s in digest.sections],
            chart=base64.b64encode(png).decode() if png else None,
            chart_alt=translate(viewer.locale, "digest.chart.title"),
        )

    async def map_page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Units in scope x their measures: the «Vet ikke» share where it may be shown."""
        period = self._period(request)
        if period is None:
            return self.dashboard.error(viewer.locale, 400, "bad_period", viewer)
        async with self.dashboard.store.transaction() as tx:
            allowed = await self._allowed_units(tx, viewer, policy.Action.VIEW_RESULTS)
            if not allowed:
                return self.dashboard.error(viewer.locale, 403, "forbidden", viewer)
            facts = await self.digests.facts(tx, period)
        rows, measures = awareness_rows(facts, allowed, viewer.locale)
        return self.dashboard.render(
            "map.html",
            viewer.locale,
            viewer=viewer,
            period=period,
            measures=[(slug, facts.titles[slug].get(viewer.locale)) for slug in measures],
            rows=rows,
        )


def awareness_rows(
    facts: OrgFacts, allowed: set[str], locale: str
) -> tuple[list[tuple[str, int, list[MapCell]]], list[str]]:
    """(unit name, depth, cells) per unit in scope, in tree order, and the measure columns."""
    units = facts.units
    roots = sorted(u for u in allowed if units[u].parent_id not in allowed)
    ordered: list[tuple[str, int]] = []

    def walk(unit_id: str, depth: int) -> None:
        ordered.append((unit_id, depth))
        for child in sorted(u.id for u in units.values() if u.parent_id == unit_id):
            if child in allowed:
                walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    scopes = {unit_id: facts.scopes[unit_id] for unit_id, _ in ordered}
    measures = [
        m.slug for m in facts.measures if any(m.asked & scope for scope in scopes.values())
    ]
    by_slug = {m.slug: m for m in facts.measures}
    rows = []
    for unit_id, depth in ordered:
        cells = []
        for slug in measures:
            measure = by_slug[slug]
            if not measure.asked & scopes[unit_id]:
                cells.append(MapCell("–", False))
                continue
            found = unit_figure(unit_id, scopes[unit_id], measure, facts.suppression[slug])
            cells.append(_cell(found, locale))
        rows.append((units[unit_id].name.get(locale), depth, cells))
    return rows, measures


def _cell(found: MeasureFigure | str | None, locale: str) -> MapCell:
    if found is None:
        return MapCell(translate(locale, "dashboard.map.no_answers"), True)
    if found == TOO_FEW or not isinstance(found, MeasureFigure):
        return MapCell(translate(locale, "dashboard.map.too_few"), True)
    share = format_percent(100 * found.share(MeasureAnswer.DONT_KNOW), locale)
    return MapCell(translate(locale, "dashboard.map.cell", share=share, n=found.n), False)
