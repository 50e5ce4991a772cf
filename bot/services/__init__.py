"""Use cases with I/O: conversations, rounds, results, seeding."""
