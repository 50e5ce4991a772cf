"""Loopback stand-ins of the chat platforms the bot talks to, for tests and benchmarks."""
