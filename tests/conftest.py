"""Test-wide settings: Hypothesis without per-example deadlines, since CI machines are shared and noisy and a
slow example is not a wrong one (speed lives in benchmarks/, never in tests)."""

from hypothesis import settings

settings.register_profile("bridge", deadline=None, print_blob=True)
settings.load_profile("bridge")
