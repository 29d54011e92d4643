"""Shared fixtures for the service-free unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def seed_bytes() -> Callable[[str], bytes]:
    """Read one of the sample feeds in seeds/feeds by file name."""

    def read(name: str) -> bytes:
        return (REPO / "seeds" / "feeds" / name).read_bytes()

    return read


@pytest.fixture
def fetched_at() -> datetime:
    return datetime(2025, 3, 13, 12, 0, tzinfo=UTC)
