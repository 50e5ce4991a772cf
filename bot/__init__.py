"""Followup service side: settings, composition root, CLI, channels and use-case services."""
