"""Structured logs: JSON lines (or console) through structlog, with no answers or personal data.

`configure_logging` is called once by `followup serve`, never at import time. The standard
library's `logging` goes through the same handler, so `logging.getLogger(__name__)` calls keep
working. What keeps answers and personal data out of the log, in one place for both paths:

- keys that carry content or people (text, answer, name, e-mail, chat ids...) are redacted;
- an exception is logged as its types and stack frames only: an exception's message may quote
  what a person wrote (Telegram's "can't parse entities" does), so it is never rendered;
- libraries log at WARNING and above only: their DEBUG and INFO records carry request payloads
  (python-telegram-bot logs every Bot API call with its parameters; httpx logs URLs with the
  bot token);
- bot tokens are masked wherever they appear;
- the access log records method, path (without the query string), status and duration, never
  the client address.

Our own log calls pass identifiers of rows (ids), kinds and counts, never message bodies.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Literal, TextIO

import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from structlog.typing import EventDict, Processor, WrappedLogger

OWN_PACKAGES = frozenset({"bot", "scheduler", "storage", "dialogs"})
REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "text",
        "answer",
        "answers",
        "value",
        "values",
        "comment",
        "message",
        "messages",
        "body",
        "payload",
        "data",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "username",
        "email",
        "e_mail",
        "mail",
        "upn",
        "phone",
        "phone_number",
        "chat_id",
        "user_id",
        "external_id",
        "from_id",
        "address",
        "label",
        "caption",
        "query",
        "remote",
        "ip",
        "password",
        "token",
        "secret",
        "authorization",
        "cookie",
    }
)
"""Event keys whose values never reach the log (compared in lower case, '-' as '_')."""
_BOT_TOKEN = re.compile(r"\d{3,}:[A-Za-z0-9_-]{4,}")
_FORMATTER_MARK = "_followup_handler"


def redact_sensitive(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace the values of sensitive keys; mask bot tokens in every string."""
    for key in list(event_dict):
        if key.lower().replace("-", "_") in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(event_dict[key], str):
            event_dict[key] = _BOT_TOKEN.sub("[token]", event_dict[key])
    return event_dict


def safe_traceback(exc: BaseException) -> str:
    """Frames and exception types of a (chained) exception, without any exception's message."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts = []
    for error in reversed(chain):
        frames = "".join(traceback.format_tb(error.__traceback__))
        kind = type(error)
        name = f"{kind.__module__}.{kind.__qualname__}"
        parts.append(f"Traceback (most recent call last):\n{frames}{name}")
    return "\n\nDuring handling, another exception occurred:\n\n".join(parts)


def safe_exception(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Turn exc_info into `exception`: the safe traceback (types and frames only)."""
    info = event_dict.pop("exc_info", None)
    event_dict.pop("stack_info", None)
    error: BaseException | None = None
    if isinstance(info, BaseException):
        error = info
    elif isinstance(info, tuple) and len(info) == 3:
        error = info[1]
    elif info is True:
        error = sys.exc_info()[1]
    if error is not None:
        event_dict["exception"] = safe_traceback(error)
    elif isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = REDACTED  # a pre-rendered traceback would carry messages
    return event_dict


class OwnOrWarning(logging.Filter):
    """Followup's own records at any level; other libraries' at WARNING and above only."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record?"""
        return record.name.split(".", 1)[0] in OWN_PACKAGES or record.levelno >= logging.WARNING


def _renderer(log_format: Literal["json", "console"]) -> Processor:
    if log_format == "json":
        return structlog.processors.JSONRenderer(ensure_ascii=False)
    return structlog.dev.ConsoleRenderer(colors=False)


def configure_logging(
    log_format: Literal["auto", "json", "console"] = "auto",
    level: str | int = "INFO",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route structlog and the standard library's logging through one safe handler.

    `auto` writes console lines to a terminal and JSON lines otherwise. Calling it again
    replaces the handler it installed before. Returns the handler (tests remove it).
    """
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "console" if stream.isatty() else "json"
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                safe_exception,
                redact_sensitive,
                _renderer(log_format),
            ],
        )
    )
    handler.addFilter(OwnOrWarning())
    setattr(handler, _FORMATTER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _FORMATTER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


class AccessLogger(AbstractAccessLogger):
    """One `request` event per HTTP request: method, path without query, status, duration."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logging.getLogger("bot.access"), log_format)
        self.events = structlog.stdlib.get_logger("bot.access")

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one request (the query string and client address can identify people)."""
        self.events.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status,
            duration_ms=round(time * 1000, 1),
        )

    @property
    def enabled(self) -> bool:
        """Whether INFO is logged at all."""
        return self.logger.isEnabledFor(logging.INFO)


__all__ = ["AccessLogger", "configure_logging", "safe_traceback"]
