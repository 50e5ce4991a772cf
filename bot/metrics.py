"""Prometheus metrics of one app: messages in and out, send failures, outbox depth, response rate.

Each app has its own `CollectorRegistry` (tests build many apps in one process). Counters are
counted where things happen; the outbox depth, the check-in response rate and the scheduler
lease are read at scrape time (`refresh`). The response rate is one overall figure, shown only
when at least k (FOLLOWUP_MIN_GROUP_SIZE) eligible people were invited: a rate per unit would
reveal small groups, which the privacy rule forbids on every surface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.channels.base import RetryAfter, SendResult, Sent, Unreachable
from bot.services.conversation import ConversationService, Reply
from bot.services.messages import Event
from bot.services.questionnaires import QuestionnaireCatalog
from bot.settings import Settings
from storage import operations
from storage.store import Store

CHANNELS = ("telegram", "teams", "web")
RATE_WINDOW = timedelta(days=30)
"""Check-in rounds open now or closed within this window make up the response rate."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SERVER_ERROR = re.compile(
    r"\b5\d\d\b|internal server error|bad gateway|service unavailable|server error"
)
_TIMEOUT = re.compile(r"timed out|timeout|no answer within")
_FORBIDDEN = re.compile(r"\b403\b|forbidden|blocked|deactivated|kicked")


def failure_reason(result: SendResult) -> str | None:
    """A small, fixed set of reasons for a send that did not deliver (None: it did).

    Reasons come from the sender's SendResult; the free text inside it (which may quote a
    channel's error message) never becomes a label.
    """
    if isinstance(result, Sent):
        return None
    if isinstance(result, RetryAfter):
        return "rate_limited"
    reason = result.reason.lower()
    if isinstance(result, Unreachable):
        return "forbidden" if _FORBIDDEN.search(reason) else "unreachable"
    if _TIMEOUT.search(reason):
        return "timeout"
    if _SERVER_ERROR.search(reason):
        return "server_error"
    return "other"


@dataclass
class Snapshot:
    """What the database said at the last scrape."""

    outbox_depth: dict[str, int] = field(default_factory=dict)
    checkin_rate: float | None = None
    lease_held: bool = False


class _SnapshotCollector(Collector):
    """Gauges from the last `Snapshot` (prometheus_client collectors cannot await)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        snapshot = self.metrics.snapshot
        depth = GaugeMetricFamily(
            "followup_outbox_depth", "Proactive messages waiting to be sent.", labels=["channel"]
        )
        for channel in sorted({*CHANNELS, *snapshot.outbox_depth}):
            depth.add_metric([channel], snapshot.outbox_depth.get(channel, 0))
        held = GaugeMetricFamily(
            "followup_scheduler_lease_held",
            "1 when this process holds the scheduler lease (runs scheduled jobs).",
            value=1 if snapshot.lease_held else 0,
        )
        families: list[Metric] = [depth, held]
        if snapshot.checkin_rate is not None:
            families.append(
                GaugeMetricFamily(
                    "followup_checkin_response_rate",
                    "Completed / eligible invitees of check-in rounds open now or closed in the "
                    "last 30 days (overall only; absent below k invitees).",
                    value=snapshot.checkin_rate,
                )
            )
        return families


class Metrics:
    """The counters and gauges of one app, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages_in = Counter(
            "followup_messages_in",
            "Inbound user messages and button presses handled.",
            ["channel"],
            registry=self.registry,
        )
        self.messages_out = Counter(
            "followup_messages_out",
            "Messages delivered: replies and proactive (outbox) messages.",
            ["channel"],
            registry=self.registry,
        )
        self.send_failures = Counter(
            "followup_send_failures",
            "Proactive sends that did not deliver, by reason.",
            ["channel", "reason"],
            registry=self.registry,
        )
        for channel in CHANNELS:  # shown as 0 from the start, so rates work at once
            self.messages_in.labels(channel)
            self.messages_out.labels(channel)
        self.snapshot = Snapshot()
        self.registry.register(_SnapshotCollector(self))

    def received(self, channel: str) -> None:
        """One inbound message or press."""
        self.messages_in.labels(channel).inc()

    def delivered(self, channel: str, count: int = 1) -> None:
        """Messages that went out."""
        if count:
            self.messages_out.labels(channel).inc(count)

    def record_send(self, channel: str, result: SendResult) -> None:
        """The outcome of one outbox send."""
        reason = failure_reason(result)
        if reason is None:
            self.delivered(channel)
        else:
            self.send_failures.labels(channel, reason).inc()

    async def refresh(
        self, store: Store, now: datetime, min_group_size: int, lease_held: bool
    ) -> None:
        """Read the gauges' values from the database."""
        async with store.transaction() as tx:
            depth = await operations.outbox_depth(tx.session)
            completed, eligible = await operations.checkin_participation(
                tx.session, now - RATE_WINDOW
            )
        rate = completed / eligible if eligible >= min_group_size else None
        self.snapshot = Snapshot(depth, rate, lease_held)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything."""
        return generate_latest(self.registry)


class MeteredConversationService(ConversationService):
    """The conversation service, counting what the channels hand it and the replies it gives.

    Every channel hands each inbound message or press to `handle`, so this is the one place
    that counts them; the reply's messages are what the channel then sends back.
    """

    def __init__(
        self, store: Store, catalog: QuestionnaireCatalog, settings: Settings, metrics: Metrics
    ) -> None:
        super().__init__(store, catalog, settings)
        self.metrics = metrics

    async def handle(self, channel: str, external_id: str, event: Event, now: datetime) -> Reply:
        """Count the event, handle it, count the reply."""
        self.metrics.received(channel)
        reply = await super().handle(channel, external_id, event, now)
        self.metrics.delivered(channel, len(reply.messages))
        return reply


__all__ = ["CONTENT_TYPE", "MeteredConversationService", "Metrics", "failure_reason"]
