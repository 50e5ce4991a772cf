"""Fault tests: chat APIs answering 429/5xx/403/timeouts, a database restart, a killed bot."""
