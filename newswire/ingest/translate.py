"""Translation of headlines the newsroom cannot read: a no-op by default, or a self-hosted
LibreTranslate-compatible service. A failing translator never blocks ingestion."""

from __future__ import annotations

from typing import Protocol

import httpx
import structlog

log = structlog.get_logger(__name__)


class Translator(Protocol):
    """Translate short texts; None means "no translation available"."""

    def translate(self, text: str, *, source: str, target: str) -> str | None: ...


class NoTranslator:
    """The default: nothing is translated, articles keep `needs_translation`."""

    def translate(self, text: str, *, source: str, target: str) -> str | None:
        return None


class LibreTranslate:
    """A LibreTranslate-compatible HTTP service (POST /translate), e.g. one you host yourself."""

    def __init__(self, url: str, *, api_key: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/") + "/translate"
        self.api_key = api_key
        self.client = httpx.Client(timeout=timeout)

    def translate(self, text: str, *, source: str, target: str) -> str | None:
        payload = {"q": text, "source": source, "target": target, "format": "text"}
        if self.api_key:
            payload["api_key"] = self.api_key
        try:
            response = self.client.post(self.url, json=payload)
            response.raise_for_status()
            translated = response.json().get("translatedText")
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("translation failed", error=str(exc), source=source, target=target)
            return None
        return translated if isinstance(translated, str) and translated.strip() else None


def make_translator(url: str | None, api_key: str | None, timeout: float) -> Translator:
    """The translator the settings ask for."""
    return LibreTranslate(url, api_key=api_key, timeout=timeout) if url else NoTranslator()
