"""The Telegram channel: python-telegram-bot as transport only (polling or webhook)."""
