"""The Microsoft Teams channel: botbuilder as transport only (Adaptive Cards, proactive sends)."""
