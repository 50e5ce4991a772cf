"""Composition root: builds the aiohttp application and starts/stops its long-lived parts."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from bot.channels.teams.channel import TeamsChannel
from bot.channels.teams.sender import TeamsSender
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.web.routes import WebChat
from bot.channels.web.sender import WebChatSender
from bot.metrics import MeteredConversationService, Metrics
from bot.services.checkins import CheckinService
from bot.services.conversation import ConversationService
from bot.services.digest import DigestService
from bot.services.digests import DigestDelivery
from bot.services.owners import OwnerCheckinService
from bot.services.questionnaires import QuestionnaireCatalog
from bot.services.reminders import ReminderService
from bot.services.retention import RetentionService
from bot.services.rounds import RoundService
from bot.settings import Settings
from bot.web.operations import OperationsRoutes
from bot.web.routes import DashboardApp
from bot.web.unavailable import unavailable_middleware
from scheduler.jobs import CheckinScheduler
from scheduler.lease import SchedulerLease
from scheduler.outbox import OutboxDrainer
from scheduler.ratelimit import Limits
from storage.models import utcnow
from storage.store import Store


@dataclass
class Services:
    """Everything the routes and commands use, built once per app."""

    store: Store
    catalog: QuestionnaireCatalog
    conversation: ConversationService
    rounds: RoundService
    reminders: ReminderService
    drainer: OutboxDrainer
    metrics: Metrics = field(default_factory=Metrics)


SERVICES = web.AppKey("services", Services)
TEAMS_RATE = 50.0
TEAMS_CONVERSATION_RATE = 7.0
"""Teams allows about 7 messages a second into one conversation (and answers 429 beyond)."""


def send_limits(settings: Settings) -> dict[str, Limits]:
    """Per-channel send rates: Telegram's documented limits; Teams' per-conversation limit."""
    return {
        "telegram": Limits(settings.telegram_rate, settings.telegram_chat_rate),
        "teams": Limits(TEAMS_RATE, TEAMS_CONVERSATION_RATE),
    }


def build_services(settings: Settings, clock: Callable[[], datetime] = utcnow) -> Services:
    """The service graph on a new engine (no I/O yet)."""
    store = Store.connect(settings.database_url)
    catalog = QuestionnaireCatalog()
    metrics = Metrics()
    services = Services(
        store=store,
        catalog=catalog,
        conversation=MeteredConversationService(store, catalog, settings, metrics),
        rounds=RoundService(store, catalog, settings),
        reminders=ReminderService(store, catalog, settings),
        drainer=OutboxDrainer(
            store,
            {"web": WebChatSender(store)},
            clock,
            limits=send_limits(settings),
            concurrency=settings.outbox_concurrency,
            lease=settings.outbox_lease_seconds,
        ),
        metrics=metrics,
    )
    services.drainer.on_result = metrics.record_send
    return services


async def secret_key(settings: Settings, store: Store) -> bytes:
    """The configured secret, or one generated once and kept in the database."""
    if settings.secret_key:
        return settings.secret_key.get_secret_value().encode()
    async with store.transaction() as tx:
        value = await tx.service_settings.get_or_create(
            "secret_key", lambda: secrets.token_hex(32)
        )
    return value.encode()


def create_app(
    settings: Settings, clock: Callable[[], datetime] = utcnow, drain_interval: float = 1.0
) -> web.Application:
    """The application: web chat and dashboard routes, Telegram and Teams when configured."""
    app = web.Application(
        client_max_size=1024 * 1024,
        middlewares=[unavailable_middleware(settings.default_locale)],
    )
    services = build_services(settings, clock)
    app[SERVICES] = services

    chat = WebChat(services.store, services.conversation, settings, b"", clock)
    chat.register(app)
    DashboardApp(services.store, services.catalog, services.reminders, settings, clock).register(
        app
    )
    telegram = None
    if settings.telegram_bot_token is not None:
        telegram = TelegramChannel(settings, services.store, services.conversation, clock)
        telegram.register(app)
        services.drainer.senders["telegram"] = telegram.sender
    if settings.teams_enabled:
        teams = TeamsChannel(settings, services.store, services.conversation, clock)
        teams.register(app)
        services.drainer.senders["teams"] = TeamsSender(teams, services.store)
    lease = SchedulerLease(services.store, clock, ttl=settings.scheduler_lease_seconds)
    OperationsRoutes(services.store, services.metrics, lease, settings, clock).register(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        # The cookie key may live in the database, so it is read once the app starts.
        chat.secret = await secret_key(settings, services.store)
        if telegram is not None:
            await telegram.start()
        drainer = asyncio.create_task(services.drainer.run(drain_interval))
        scheduler = CheckinScheduler(
            services.store,
            CheckinService(services.store, services.catalog, settings),
            lease,
            clock,
            settings.timezone,
            services.reminders,
            OwnerCheckinService(services.store, settings),
            DigestDelivery(DigestService(services.store, settings)),
            RetentionService(services.store, settings),
        )
        await scheduler.start()
        yield
        await scheduler.stop()
        drainer.cancel()
        await asyncio.wait({drainer})  # its wind-down; a cancel of this clean-up still goes on
        if telegram is not None:
            await telegram.stop()
        await services.store.close()

    app.cleanup_ctx.append(lifecycle)
    return app
