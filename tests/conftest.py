"""Shared test configuration: hypothesis profiles.

The quick profile keeps CI fast; the thorough one draws many more examples:

    SCRATCHGEN_HYPOTHESIS_PROFILE=thorough python -m pytest
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "quick",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("SCRATCHGEN_HYPOTHESIS_PROFILE", "quick"))
