"""The one validated configuration class; nothing else in Followup reads the environment."""

from __future__ import annotations

import ipaddress
import json
from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dialogs.model import LOCALES
from dialogs.rhythm import QuietHours, parse_period, parse_weekly, parse_window

OFFICIAL_TELEGRAM_API = "https://api.telegram.org"


def _env(name: str) -> AliasChoices:
    # The environment name is the documented one; the field name works in code and tests.
    return AliasChoices(name)


class Settings(BaseSettings):
    """Every setting of a Followup deployment, read from the environment and an optional .env."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        "sqlite:///followup.db",
        validation_alias=_env("DATABASE_URL"),
        description="Database URL; SQLite file in the working directory by default, "
        "`postgresql://...` in production.",
    )
    host: str = Field(
        "127.0.0.1", validation_alias=_env("FOLLOWUP_HOST"), description="Address to listen on."
    )
    port: int = Field(
        8080, ge=1, le=65535, validation_alias=_env("FOLLOWUP_PORT"), description="Port."
    )
    public_url: str | None = Field(
        None,
        validation_alias=_env("FOLLOWUP_PUBLIC_URL"),
        description="Public https base URL; switches the Telegram webhook and secure cookies on.",
    )
    secret_key: SecretStr | None = Field(
        None,
        validation_alias=_env("FOLLOWUP_SECRET_KEY"),
        description="Signs cookies; generated and stored in the database when absent.",
    )
    timezone: str = Field(
        "Europe/Oslo",
        validation_alias=_env("FOLLOWUP_TIMEZONE"),
        description="Default time zone (units may set their own).",
    )
    default_locale: Literal["nb", "nn", "en"] = Field(
        "nb",
        validation_alias=_env("FOLLOWUP_DEFAULT_LOCALE"),
        description="Default language: nb, nn or en (units and people may set their own).",
    )
    min_group_size: int = Field(
        5,
        ge=2,
        validation_alias=_env("FOLLOWUP_MIN_GROUP_SIZE"),
        description="k: groups with fewer respondents are never shown on their own.",
    )
    retention_days: int = Field(
        365,
        ge=1,
        validation_alias=_env("FOLLOWUP_RETENTION_DAYS"),
        description="Days before identifiable data is purged.",
    )
    demo_mode: bool = Field(
        True,
        validation_alias=_env("FOLLOWUP_DEMO_MODE"),
        description="Offer a 'pick a demo person' list in the web chat (only on a loopback host).",
    )
    web_new_chats_per_hour: int = Field(
        120,
        ge=1,
        validation_alias=_env("FOLLOWUP_WEB_NEW_CHATS_PER_HOUR"),
        description="New web chats one client address may start per hour (each stores rows; "
        "a browser that already has a chat is never limited).",
    )
    load_examples: bool = Field(
        True,
        validation_alias=_env("FOLLOWUP_LOAD_EXAMPLES"),
        description="Load `examples/` into an empty database at start-up.",
    )
    test_database_url: str | None = Field(
        None,
        validation_alias=_env("FOLLOWUP_TEST_DATABASE_URL"),
        description="Tests only: a PostgreSQL database the run owns (migrated once, the template "
        "of every per-test database); unset means SQLite.",
    )
    telegram_bot_token: SecretStr | None = Field(
        None,
        validation_alias=_env("TELEGRAM_BOT_TOKEN"),
        description="Bot token from BotFather; switches Telegram on.",
    )
    telegram_api_base_url: str = Field(
        OFFICIAL_TELEGRAM_API,
        validation_alias=_env("TELEGRAM_API_BASE_URL"),
        description="Bot API server root.",
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("TELEGRAM_WEBHOOK_SECRET"),
        description="Secret Telegram must send with every webhook call.",
    )
    telegram_poll_timeout: int = Field(
        30,
        ge=0,
        le=50,
        validation_alias=_env("FOLLOWUP_TELEGRAM_POLL_TIMEOUT"),
        description="Seconds a getUpdates long poll waits (polling mode).",
    )
    telegram_rate: float = Field(
        30.0,
        gt=0,
        validation_alias=_env("FOLLOWUP_TELEGRAM_RATE"),
        description="Proactive Telegram messages per second, overall.",
    )
    telegram_chat_rate: float = Field(
        1.0,
        gt=0,
        validation_alias=_env("FOLLOWUP_TELEGRAM_CHAT_RATE"),
        description="Proactive Telegram messages per second to one chat.",
    )
    outbox_concurrency: int = Field(
        16,
        ge=1,
        le=256,
        validation_alias=_env("FOLLOWUP_OUTBOX_CONCURRENCY"),
        description="Proactive messages in flight at once (bounds duplicates after a crash).",
    )
    outbox_lease_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias=_env("FOLLOWUP_OUTBOX_LEASE_SECONDS"),
        description="Seconds a claimed outbox row stays reserved before a retry.",
    )
    reminder_max: int = Field(
        3,
        ge=0,
        le=10,
        validation_alias=_env("FOLLOWUP_REMINDER_MAX"),
        description="Reminders one person gets at most per round.",
    )
    reminder_gap_hours: float = Field(
        24.0,
        ge=1,
        validation_alias=_env("FOLLOWUP_REMINDER_GAP_HOURS"),
        description="Hours at least between two reminders to one person in one round.",
    )
    quiet_hours: str = Field(
        "21:00-07:00",
        validation_alias=_env("FOLLOWUP_QUIET_HOURS"),
        description="Local hours with no proactive messages (start-end; may span midnight).",
    )
    # NoDecode: the environment gives a comma list, read by the validator below (not JSON).
    pause_periods: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("FOLLOWUP_PAUSE_PERIODS"),
        description="Periods with no proactive messages, e.g. fellesferie: "
        "`2027-07-05..2027-08-01` (comma list).",
    )
    digest_schedule: str = Field(
        "mon 08:00",
        validation_alias=_env("FOLLOWUP_DIGEST_SCHEDULE"),
        description="When leaders get the weekly digest (`mon 08:00` in FOLLOWUP_TIMEZONE), "
        "or `off`.",
    )
    microsoft_app_id: str | None = Field(
        None,
        validation_alias=_env("MicrosoftAppId"),
        description="Azure bot app id; switches Teams on.",
    )
    microsoft_app_password: SecretStr | None = Field(
        None, validation_alias=_env("MicrosoftAppPassword"), description="Azure bot secret."
    )
    microsoft_app_type: Literal["SingleTenant", "MultiTenant", "UserAssignedMSI"] = Field(
        "SingleTenant", validation_alias=_env("MicrosoftAppType"), description="Azure app type."
    )
    microsoft_app_tenant_id: str | None = Field(
        None,
        validation_alias=_env("MicrosoftAppTenantId"),
        description="Tenant id (required for SingleTenant).",
    )
    teams_allowed_tenants: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("FOLLOWUP_TEAMS_ALLOWED_TENANTS"),
        description="Optional allow-list of Microsoft 365 tenant ids (JSON list or comma list).",
    )
    teams_dev_mode: bool = Field(
        False,
        validation_alias=_env("FOLLOWUP_TEAMS_DEV_MODE"),
        description="Mount Teams without auth for the local Playground (loopback host only).",
    )
    metrics_token: SecretStr | None = Field(
        None,
        validation_alias=_env("FOLLOWUP_METRICS_TOKEN"),
        description="Bearer token for `/metrics` from other hosts (without it, loopback only).",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto",
        validation_alias=_env("FOLLOWUP_LOG_FORMAT"),
        description="`json` lines or `console`; `auto`: console on a terminal, else json.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("FOLLOWUP_LOG_LEVEL"), description="Lowest level logged."
    )
    scheduler_lease_seconds: float = Field(
        60.0,
        ge=1,
        validation_alias=_env("FOLLOWUP_SCHEDULER_LEASE_SECONDS"),
        description="Seconds before another process takes over a scheduler lease not renewed "
        "(renewed every quarter of it).",
    )

    @field_validator("quiet_hours")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)  # raises ValueError with the reason
        return value

    @field_validator("pause_periods", mode="before")
    @classmethod
    def _periods(cls, value: object) -> object:
        value = _list_of_strings(value)
        if isinstance(value, list):
            for period in value:
                parse_period(str(period))  # raises ValueError with the reason
        return value

    @field_validator("digest_schedule")
    @classmethod
    def _digest_schedule(cls, value: str) -> str:
        parse_weekly(value)  # raises ValueError with the reason
        return value

    @property
    def digest_at(self) -> tuple[int, time] | None:
        """(weekday, local time) of the weekly digest; None when switched off."""
        return parse_weekly(self.digest_schedule)

    @property
    def quiet(self) -> QuietHours:
        """Quiet hours as the scheduler's rhythm functions take them."""
        start, end = parse_window(self.quiet_hours)
        return QuietHours(start, end)

    @property
    def pauses(self) -> tuple[tuple[date, date], ...]:
        """Configured pause periods as (first day, last day)."""
        return tuple(parse_period(period) for period in self.pause_periods)

    @field_validator("teams_allowed_tenants", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _list_of_strings(value)

    @property
    def teams_enabled(self) -> bool:
        """Teams is mounted with an app id, or in dev mode (no auth, loopback only)."""
        return bool(self.microsoft_app_id) or self.teams_dev_mode

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("public_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value and not value.startswith("https://"):
            raise ValueError("must start with https://")
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.split(":", 1)[0].startswith(("sqlite", "postgres")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if (
            self.microsoft_app_id
            and self.microsoft_app_type == "SingleTenant"
            and not self.microsoft_app_tenant_id
        ):
            raise ValueError(
                "MicrosoftAppTenantId is required when MicrosoftAppType is SingleTenant"
            )
        if self.public_url and self.telegram_bot_token and not self.telegram_webhook_secret:
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET is required when FOLLOWUP_PUBLIC_URL switches Telegram "
                "to webhook mode (every update is checked against it)"
            )
        if self.teams_dev_mode and not self.loopback_host:
            raise ValueError("FOLLOWUP_TEAMS_DEV_MODE is only allowed on a loopback FOLLOWUP_HOST")
        return self

    @property
    def loopback_host(self) -> bool:
        """Whether the server listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def demo_enabled(self) -> bool:
        """Demo people are offered only on a loopback host."""
        return self.demo_mode and self.loopback_host


def _list_of_strings(value: object) -> object:
    """A list setting from the environment: a JSON list or a comma list."""
    if isinstance(value, str):
        if value.strip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SettingsError(Exception):
    """Configuration that cannot start the service; the message names each variable."""


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings, turning validation errors into one clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            field_name = str(problem["loc"][0]) if problem["loc"] else "?"
            lines.append(f"{env_name(field_name)}: {problem['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def env_name(field_name: str) -> str:
    """The environment variable that sets a field (or the name itself if unknown)."""
    field = Settings.model_fields.get(field_name)
    alias = field.validation_alias if field else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field_name


def render_config_table() -> str:
    """The README's configuration table, generated from the Settings fields."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = (
            "—"
            if default is None or default == []
            else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        )
        rows.append(f"| `{env_name(name)}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


__all__ = ["LOCALES", "Settings", "SettingsError", "load_settings", "render_config_table"]
