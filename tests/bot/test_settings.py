"""Settings: defaults, clear errors naming the variable, and the README's generated tables."""

import pytest

from bot import readme
from bot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env from the developer's folder
    for name in (
        "DATABASE_URL",
        "FOLLOWUP_PORT",
        "FOLLOWUP_TIMEZONE",
        "FOLLOWUP_PUBLIC_URL",
        "FOLLOWUP_MIN_GROUP_SIZE",
        "MicrosoftAppId",
        "FOLLOWUP_TEAMS_DEV_MODE",
        "FOLLOWUP_HOST",
        "FOLLOWUP_DEFAULT_LOCALE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_no_configuration():
    settings = load_settings()
    assert settings.database_url == "sqlite:///followup.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.min_group_size == 5
    assert settings.demo_enabled


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("FOLLOWUP_PORT", "eighty", "FOLLOWUP_PORT"),
        ("FOLLOWUP_TIMEZONE", "Europe/Olso", "unknown time zone"),
        ("FOLLOWUP_PUBLIC_URL", "http://bot.example", "https://"),
        ("FOLLOWUP_MIN_GROUP_SIZE", "1", "FOLLOWUP_MIN_GROUP_SIZE"),
        ("FOLLOWUP_DEFAULT_LOCALE", "de", "FOLLOWUP_DEFAULT_LOCALE"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("MicrosoftAppId", "abc", "MicrosoftAppTenantId is required"),
    ],
)
def test_bad_values_stop_with_the_variable_named(monkeypatch, variable, value, says):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=says):
        load_settings()


def test_teams_dev_mode_refuses_a_public_host(monkeypatch):
    monkeypatch.setenv("FOLLOWUP_TEAMS_DEV_MODE", "true")
    monkeypatch.setenv("FOLLOWUP_HOST", "0.0.0.0")
    with pytest.raises(SettingsError, match="loopback"):
        load_settings()


def test_demo_people_are_never_offered_on_a_public_host(monkeypatch):
    monkeypatch.setenv("FOLLOWUP_HOST", "0.0.0.0")
    assert not load_settings().demo_enabled


def test_readme_generated_tables_are_current():
    text = readme.README.read_text(encoding="utf-8")
    assert "| `FOLLOWUP_MIN_GROUP_SIZE` | `5` |" in text
    assert "| `view_digest` |" in text
    assert readme.updated(text) == text, "README is stale: run python -m bot.readme"


def test_webhook_mode_needs_a_secret(monkeypatch):
    monkeypatch.setenv("FOLLOWUP_PUBLIC_URL", "https://followup.example.no")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET is required"):
        load_settings()
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret")
    assert load_settings().telegram_webhook_secret.get_secret_value() == "s3cret"
