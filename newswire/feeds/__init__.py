"""Managed feeds: their store, HTTP fetching, polling, health, CLI and API."""
