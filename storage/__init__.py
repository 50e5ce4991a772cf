"""Persistence: schema, migrations, engine set-up and repositories."""
