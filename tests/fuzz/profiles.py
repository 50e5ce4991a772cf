"""Hypothesis profiles for the fuzz tests: `ci` (small, reproducible) and `deep` (local runs).

Choose with HYPOTHESIS_PROFILE=deep; anything else (or unset) runs `ci`. The profiles are only
applied to the fuzz tests, so other property tests keep their own settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz-base",
    deadline=None,
    # One app serves all examples of a test; its fixtures are per test, on purpose.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
_BASE = settings.get_profile("fuzz-base")
settings.register_profile("ci", _BASE, max_examples=25, derandomize=True, database=None)
settings.register_profile("deep", _BASE, max_examples=1000)


def fuzz_settings(scale: float = 1.0) -> settings:
    """The chosen profile; `scale` gives cheap tests more examples (and slow ones fewer)."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    profile = settings.get_profile(name if name in ("ci", "deep") else "ci")
    return settings(profile, max_examples=max(1, round(profile.max_examples * scale)))
