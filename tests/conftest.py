"""Shared test configuration: fixtures that start real services live in tests/fixtures/."""

pytest_plugins = ["fixtures.prometheus"]
