"""The dashboard's pages under /dashboard/: log-in, rounds, response rates, reminders, exports."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.services.questionnaires import QuestionnaireCatalog
from bot.services.reminders import ReminderError, ReminderService
from bot.services.results import to_csv
from bot.settings import Settings
from bot.web.auth import DashboardAuth, Viewer
from bot.web.figures import unit_rows
from bot.web.insight import InsightPages
from dialogs import policy
from dialogs.i18n import format_day, format_percent, normalize_locale, translate
from dialogs.org import ancestor_ids, subtree
from dialogs.records import RoundRecord
from dialogs.reminders import Verdict
from dialogs.results import compute_results, cut_to_scope
from storage.stats import round_facts
from storage.store import Store, Transaction

PREFIX = "/dashboard"
COOKIE = "followup_session"
LOGIN_COOKIE = "followup_login"
"""Double-submit token of the log-in form (there is no session to hold a CSRF token yet)."""
CSRF_FIELD = "csrf_token"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
ORIGIN = "dashboard"
Handler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # data: images: the digest's chart is inlined as a PNG data URI.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
}
COUNTED = (
    Verdict.REMIND,
    Verdict.ALREADY_ANSWERED,
    Verdict.CAPPED,
    Verdict.TOO_RECENT,
    Verdict.WITHOUT_IDENTITY,
    Verdict.PAUSED,
)


class DashboardApp:
    """Serves /dashboard/*; one instance per app. Every page but the log-in needs a session."""

    def __init__(
        self,
        store: Store,
        catalog: QuestionnaireCatalog,
        reminders: ReminderService,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.reminders = reminders
        self.settings = settings
        self.clock = clock
        self.k = settings.min_group_size
        self.auth = DashboardAuth(store, settings, clock)
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def register(self, app: web.Application) -> None:
        """Add the routes."""
        router = app.router
        router.add_get(PREFIX, self.redirect_home)
        router.add_get(f"{PREFIX}/login", self.login_page)
        router.add_post(f"{PREFIX}/login", self.login)
        router.add_post(f"{PREFIX}/logout", self.page(self.logout))
        router.add_get(f"{PREFIX}/", self.page(self.home))
        # At most nine digits: a longer id overflows PostgreSQL's integer (a 500, not a 404).
        rounds = PREFIX + r"/rounds/{round_id:\d{1,9}}"
        router.add_get(rounds, self.page(self.round_page))
        router.add_get(f"{rounds}/remind", self.page(self.remind_page))
        router.add_post(f"{rounds}/remind", self.page(self.remind))
        router.add_get(f"{rounds}/export.csv", self.page(self.export))
        InsightPages(self).register(app, PREFIX)
        router.add_static(f"{PREFIX}/static", STATIC)

    # -- plumbing -------------------------------------------------------------------------

    @property
    def secure(self) -> bool:
        """Cookies only over https once the service has a public (https) address."""
        return bool(self.settings.public_url)

    def page(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap a handler: a live session is required, and POSTs need its CSRF token."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            viewer = await self.auth.viewer(request.cookies.get(COOKIE))
            if viewer is None:
                expired = "?expired=1" if request.cookies.get(COOKIE) else ""
                response = web.HTTPSeeOther(f"{PREFIX}/login{expired}")
                if request.method == "GET" and not expired:
                    response = web.HTTPSeeOther(
                        f"{PREFIX}/login?next={quote(request.path_qs, safe='')}"
                    )
                response.del_cookie(COOKIE, path=PREFIX)
                raise response
            if request.method == "POST":
                form = await request.post()
                submitted = form.get(CSRF_FIELD)
                if not viewer.csrf_ok(submitted if isinstance(submitted, str) else None):
                    return self.error(viewer.locale, 403, "csrf", viewer)
            return await handler(request, viewer)

        return wrapped

    def render(
        self, template: str, locale: str, status: int = 200, **context: Any
    ) -> web.Response:
        """A page from a template, with the catalogue and formatting helpers."""

        def t(key: str, **params: object) -> str:
            return translate(locale, f"dashboard.{key}", **params)

        html = self.templates.get_template(template).render(
            locale=locale,
            t=t,
            k=self.k,
            percent=lambda value: format_percent(value, locale),
            day=lambda moment: self._day(moment, locale),
            csrf_field=CSRF_FIELD,
            prefix=PREFIX,
            **context,
        )
        return web.Response(
            text=html, status=status, content_type="text/html", headers=SECURITY_HEADERS
        )

    def error(
        self, locale: str, status: int, kind: str, viewer: Viewer | None = None
    ) -> web.Response:
        """An error page (its heading and text are `dashboard.error.<kind>`)."""
        return self.render("error.html", locale, status, kind=kind, viewer=viewer)

    def _day(self, moment: datetime, locale: str) -> str:
        return format_day(moment.astimezone(ZoneInfo(self.settings.timezone)).date(), locale)

    def _browser_locale(self, request: web.Request) -> str:
        language = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0]
        return normalize_locale(language, self.settings.default_locale)

    # -- log-in and log-out ---------------------------------------------------------------

    async def redirect_home(self, request: web.Request) -> web.StreamResponse:
        """/dashboard goes to /dashboard/."""
        raise web.HTTPFound(f"{PREFIX}/")

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        """The log-in form (the only page without a session)."""
        return self._login_form(request, request.query.get("next"))

    def _login_form(
        self,
        request: web.Request,
        next_path: str | None,
        failed: bool = False,
        username: str = "",
    ) -> web.Response:
        locale = self._browser_locale(request)
        nonce = secrets.token_urlsafe(24)
        response = self.render(
            "login.html",
            locale,
            401 if failed else 200,
            viewer=None,
            failed=failed,
            expired=request.query.get("expired") == "1",
            next=_safe_next(next_path),
            nonce=nonce,
            username=username,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            path=f"{PREFIX}/login",
            httponly=True,
            samesite="Strict",
            secure=self.secure,
        )
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Check the password; the same generic message for every refusal."""
        form = await request.post()
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        submitted = str(form.get(CSRF_FIELD, ""))
        if not nonce or not hmac.compare_digest(nonce.encode(), submitted.encode()):
            return self.error(self._browser_locale(request), 403, "csrf")
        username = str(form.get("username", ""))
        next_path = str(form.get("next", ""))
        login = await self.auth.login(username, str(form.get("password", "")))
        if login is None:
            return self._login_form(request, next_path, failed=True, username=username)
        response = web.HTTPSeeOther(_safe_next(next_path))
        response.set_cookie(
            COOKIE,
            login.token,
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=self.secure,
        )
        response.del_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
        raise response

    async def logout(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """End the session."""
        await self.auth.logout(viewer.token)
        response = web.HTTPSeeOther(f"{PREFIX}/login")
        response.del_cookie(COOKIE, path=PREFIX)
        raise response

    # -- scope ---------------------------------------------------------------------------

    async def _scope(
        self, tx: Transaction, viewer: Viewer, round_: RoundRecord, action: policy.Action
    ) -> set[str]:
        """The units of a round (audience and invitees) where the viewer may do `action`."""
        units = {u.id: u for u in await tx.org.units()}
        candidates = subtree(units.values(), round_.unit_ids)
        candidates |= {p.unit_id for p in await tx.rounds.participations(round_.id)}
        return {
            unit_id
            for unit_id in candidates
            if policy.decide(
                viewer.actor, action, unit_id, lambda unit: ancestor_ids(units, unit)
            ).allowed
        }

    async def _title(self, tx: Transaction, round_: RoundRecord, locale: str) -> str:
        return await self.reminders.title(tx, round_, locale)

    # -- pages ---------------------------------------------------------------------------

    async def home(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """The rounds the viewer may see, oldest first, with the response rate in scope."""
        rows = []
        async with self.store.transaction() as tx:
            rounds = sorted(await tx.rounds.all(), key=lambda r: (r.opens_at, r.id))
            units = {u.id: u for u in await tx.org.units()}
            for round_ in rounds:
                scope = await self._scope(tx, viewer, round_, policy.Action.VIEW_RESPONSE_RATES)
                if not scope:
                    continue
                # The same figure as the round page's whole (the rule over the whole tree).
                participations = await tx.rounds.participations(round_.id)
                whole, _ = unit_rows(units, participations, scope, self.k)
                rows.append(
                    {
                        "round": round_,
                        "title": await self._title(tx, round_, viewer.locale),
                        "figure": whole,
                    }
                )
        return self.render("home.html", viewer.locale, viewer=viewer, rows=rows)

    async def _round_or_error(
        self, tx: Transaction, request: web.Request, viewer: Viewer, action: policy.Action
    ) -> tuple[RoundRecord, set[str]] | web.Response:
        round_ = await tx.rounds.get(int(request.match_info["round_id"]))
        if round_ is None:
            return self.error(viewer.locale, 404, "not_found", viewer)
        scope = await self._scope(tx, viewer, round_, action)
        if not scope:
            return self.error(viewer.locale, 403, "forbidden", viewer)
        return round_, scope

    async def round_page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """One round: response rate per unit in scope, reminders and export when allowed."""
        async with self.store.transaction() as tx:
            found = await self._round_or_error(
                tx, request, viewer, policy.Action.VIEW_RESPONSE_RATES
            )
            if isinstance(found, web.Response):
                return found
            round_, scope = found
            units = {u.id: u for u in await tx.org.units()}
            whole, rows = unit_rows(
                units, await tx.rounds.participations(round_.id), scope, self.k
            )
            may_remind = round_.accepts_answers(self.clock()) and bool(
                await self._scope(tx, viewer, round_, policy.Action.SEND_REMINDERS)
            )
            may_export = bool(await self._scope(tx, viewer, round_, policy.Action.EXPORT_RESULTS))
            sent = await self._sent(tx, request, viewer, round_)
            title = await self._title(tx, round_, viewer.locale)
        return self.render(
            "round.html",
            viewer.locale,
            viewer=viewer,
            round=round_,
            title=title,
            table=[
                (translate(viewer.locale, "dashboard.round.whole"), whole, 0, ""),
                *((r.name.get(viewer.locale), r.figure, r.depth + 1, r.unit_id) for r in rows),
            ],
            may_remind=may_remind,
            may_export=may_export,
            sent=sent,
        )

    async def _sent(
        self, tx: Transaction, request: web.Request, viewer: Viewer, round_: RoundRecord
    ) -> str | None:
        """The confirmation after a reminder round the viewer started (?sent=<run>)."""
        raw = request.query.get("sent", "")
        run = await tx.reminders.run(int(raw)) if raw.isdigit() else None
        if run is None or run.round_id != round_.id or run.requested_by != viewer.person.id:
            return None
        report = await self.reminders.report_in(tx, run.id, viewer.locale)
        if not report.shows_counts:
            return translate(viewer.locale, "dashboard.round.sent_hidden", k=self.k)
        return translate(viewer.locale, "dashboard.round.sent", queued=run.queued)

    async def remind_page(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """The dry run of a reminder round, with a button that confirms it."""
        round_id = int(request.match_info["round_id"])
        try:
            plan = await self.reminders.plan(round_id, viewer.actor, self.clock(), viewer.locale)
        except ReminderError as error:
            return self._reminder_error(error, viewer)
        rules = self.reminders.rules
        counts = [
            (
                translate(
                    viewer.locale,
                    f"dashboard.remind.count.{verdict.value}",
                    max=rules.max_per_person,
                    gap=int(rules.gap.total_seconds() // 3600),
                ),
                plan.counts[verdict],
            )
            for verdict in COUNTED
        ]
        return self.render(
            "remind.html",
            viewer.locale,
            viewer=viewer,
            plan=plan,
            counts=counts,
            # Below k even "nobody to remind" tells too much (e.g. that everyone answered).
            may_send=bool(plan.recipients) or not plan.shows_counts,
        )

    def _reminder_error(self, error: ReminderError, viewer: Viewer) -> web.Response:
        if error.key == "reminders.unknown_round":
            return self.error(viewer.locale, 404, "not_found", viewer)
        if error.key == "reminders.denied":
            return self.error(viewer.locale, 403, "forbidden", viewer)
        return self.error(viewer.locale, 409, "not_open", viewer)

    async def remind(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Confirmed: queue the reminders, then show the round with what was queued."""
        round_id = int(request.match_info["round_id"])
        try:
            run = await self.reminders.send(
                round_id, viewer.actor, self.clock(), ORIGIN, requested_by=viewer.person.id
            )
        except ReminderError as error:
            return self._reminder_error(error, viewer)
        raise web.HTTPSeeOther(f"{PREFIX}/rounds/{round_id}?sent={run.id}")

    async def export(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """The results CSV of the viewer's export scope (recorded in the audit log)."""
        async with self.store.transaction() as tx:
            found = await self._round_or_error(tx, request, viewer, policy.Action.EXPORT_RESULTS)
            if isinstance(found, web.Response):
                return found
            round_, scope = found
            units = await tx.org.units()
            questionnaire = await self.catalog.get(tx, round_.questionnaire_version_id)
            facts = await round_facts(tx.session, round_.id, round_.anonymous)
            participations = await tx.rounds.participations(round_.id)
            await tx.audit.record(
                viewer.person.id, ORIGIN, "export", f"round:{round_.id}", self.clock()
            )
        # The k rule over the whole round, then cut: the same hidden units for every viewer.
        audience = subtree(units, round_.unit_ids)
        whole = compute_results(
            questionnaire, facts, participations, units, audience, self.k, by_unit=True
        )
        results = cut_to_scope(whole, units, scope)
        body = to_csv(questionnaire, results, viewer.locale)
        return web.Response(
            body=body.encode("utf-8"),
            headers={
                **SECURITY_HEADERS,
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="round-{round_.id}-results.csv"',
            },
        )


def _safe_next(value: str | None) -> str:
    """Only a dashboard path of this site may follow the log-in (no open redirect)."""
    if not value:
        return f"{PREFIX}/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(f"{PREFIX}/") or "\\" in value:
        return f"{PREFIX}/"
    return value
