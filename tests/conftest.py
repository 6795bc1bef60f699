"""Shared fixtures. Topic-specific fixtures live in their own modules, registered here."""

from __future__ import annotations

pytest_plugins = ["tests.llm_fixtures", "tests.http_fixtures", "tests.store_fixtures"]
