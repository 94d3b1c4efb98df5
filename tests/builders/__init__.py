"""Builders and helpers the tests share: import them from here, not from other test modules.

``api``: request bodies and HTTP steps; ``journeys``: participants built on the
aggregate without a database; ``writers``: registrations through the runtime;
``privacy``: the canary participant and erasure steps; ``audit``: checkpoints and
verification; ``projections``: read-model catch-up, rebuild and comparison;
``reports``: scripted journeys and report requests. Shared fixtures live in the
``conftest.py`` files.
"""
