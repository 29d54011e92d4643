"""Settings: the service URLs follow the port settings unless a URL is given."""

from __future__ import annotations

import pytest

from newswire.settings import Settings


def test_urls_default_to_the_services_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ES_URL", "REDIS_URL", "ES_PORT", "REDIS_PORT"):
        monkeypatch.delenv(f"NEWSWIRE_{name}", raising=False)
    settings = Settings()
    assert settings.es_url == "http://127.0.0.1:9280"
    assert settings.redis_url == "redis://127.0.0.1:6380/0"


def test_urls_follow_changed_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSWIRE_ES_URL", raising=False)
    monkeypatch.delenv("NEWSWIRE_REDIS_URL", raising=False)
    monkeypatch.setenv("NEWSWIRE_ES_PORT", "19280")
    monkeypatch.setenv("NEWSWIRE_REDIS_PORT", "16380")
    settings = Settings()
    assert settings.es_url == "http://127.0.0.1:19280"
    assert settings.redis_url == "redis://127.0.0.1:16380/0"


def test_explicit_urls_win_over_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWIRE_ES_PORT", "19280")
    monkeypatch.setenv("NEWSWIRE_ES_URL", "http://search.internal:9200")
    monkeypatch.setenv("NEWSWIRE_REDIS_URL", "redis://cache.internal:6379/3")
    settings = Settings()
    assert settings.es_url == "http://search.internal:9200"
    assert settings.redis_url == "redis://cache.internal:6379/3"


def test_a_port_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWIRE_REDIS_PORT", "70000")
    with pytest.raises(ValueError, match="redis_port"):
        Settings()
